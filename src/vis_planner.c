/*-------------------------------------------------------------------------
 *
 * vis_planner.c
 *	  Planner support for the policy predicates can_view_stats and
 *	  can_view_user: the selectivity of the principal's visible share, and
 *	  index conditions (user_id = ANY (lms.visible_user_ids(p))) that let
 *	  a narrow principal's query use an index instead of a full scan.  For
 *	  the dimensions' can_view_content and can_view_group, the selectivity
 *	  alone: a BI tool's star join is planned for the rows the principal
 *	  sees, not a third of them.
 *
 * IDENTIFICATION
 *	  src/vis_planner.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "vis_exec.h"
#include "vis_plancost.h"

/*
 * When an index condition on the principal's ids is worth offering.  The
 * planner costs "col = ANY (array)" as if the array had 10 elements, so we
 * decide here, with a small cost model in nanoseconds measured on the
 * benchmark (bench/run.sh): one index descent per id, then one index tuple
 * per matching row, against one heap row of a sequential scan (the
 * constants, the range scan's with them, are in vis_plancost.h).
 *
 * An index that holds every column the query needs, on a table whose pages
 * are nearly all visible, gives an index-only scan: the side (users or
 * content) with the lower estimate is offered while it stays well under
 * the sequential scan.  Otherwise each matching row is a heap fetch, and
 * in a table not clustered by user a tenth of the users' rows lie on nearly
 * every page (measured: 100,000 ids over 10,000,000 rows took 4x as long as
 * the sequential scan): then only a small share, or a moderate one while
 * the array is short.
 */

static Oid
array_function(const char *name)
{
	Oid			argtypes[1] = {INT8OID};

	return LookupFuncName(list_make2(makeString("lms"), makeString(pstrdup(name))),
						  1, argtypes, true);
}

/* index_only_cost estimates an index-only scan of nids ids matching rows */
static double
index_only_cost(double nids, double rows)
{
	return nids * VIS_COST_DESCENT + rows * VIS_COST_INDEX_TUPLE;
}

/*
 * worth_index tells whether to offer the index condition on one side of
 * the policy (VIS_SIDE_USERS or VIS_SIDE_CONTENT) for this index.
 */
static bool
worth_index(SupportRequestIndexCondition *req, VisResult *r, VisSide side, bool two_sided)
{
	double		tuples = req->index->rel->tuples;
	double		nids = (side == VIS_SIDE_USERS) ? r->nusers : r->ncontent;
	double		share = vis_plan_share(nids, side == VIS_SIDE_USERS ? "users" : "content");

	if (share < 0)
		return false;
	if (tuples > 0 && vis_index_covers(req->index))
	{
		double		mine = index_only_cost(nids, share * tuples);

		if (two_sided)
		{
			double		onids = (side == VIS_SIDE_USERS) ? r->ncontent : r->nusers;
			double		oshare = vis_plan_share(onids, side == VIS_SIDE_USERS ? "content" : "users");

			/* the other side is cheaper: leave the scan to its index */
			if (oshare >= 0 && index_only_cost(onids, oshare * tuples) < mine)
				return false;
		}
		return mine <= VIS_INDEX_ONLY_MAX * VIS_COST_SEQ_ROW * tuples;
	}
	return share <= VIS_INDEX_SMALL_SHARE ||
		(share <= VIS_INDEX_MAX_SHARE && nids <= VIS_INDEX_MAX_IDS);
}

PG_FUNCTION_INFO_V1(lms_visibility_support);

/*
 * lms_visibility_support answers the planner's questions about
 * can_view_stats(p, user_id, content_id, context) and
 * can_view_user(p, user_id).
 */
Datum
lms_visibility_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);

	if (IsA(rawreq, SupportRequestSelectivity))
	{
		SupportRequestSelectivity *req = (SupportRequestSelectivity *) rawreq;
		VisResult  *r;
		double		fu,
					fc = 1.0;

		if (req->is_join || list_length(req->args) < 2)
			PG_RETURN_POINTER(NULL);
		r = vis_plan_time_result(linitial(req->args));
		if (r == NULL)
			PG_RETURN_POINTER(NULL);
		fu = vis_plan_share(r->nusers, "users");
		if (list_length(req->args) == 4)
			fc = vis_plan_share(r->ncontent, "content");
		if (fu < 0 || fc < 0)
			PG_RETURN_POINTER(NULL);
		req->selectivity = Max(fu * fc, 1e-7);
		PG_RETURN_POINTER(req);
	}

	if (IsA(rawreq, SupportRequestIndexCondition))
	{
		SupportRequestIndexCondition *req = (SupportRequestIndexCondition *) rawreq;
		FuncExpr   *f = (FuncExpr *) req->node;
		Node	   *principal;
		Node	   *column;
		VisResult  *r;
		const char *fn;
		Oid			fnoid;
		Oid			opno;
		ScalarArrayOpExpr *saop;

		if (!IsA(f, FuncExpr) || list_length(f->args) < 2)
			PG_RETURN_POINTER(NULL);
		principal = linitial(f->args);
		column = list_nth(f->args, req->indexarg);
		if (req->indexarg == 1)
			fn = "visible_user_ids";
		else if (req->indexarg == 2 && list_length(f->args) == 4)
			fn = "accessible_content_ids";
		else
			PG_RETURN_POINTER(NULL);
		if (exprType(column) != INT8OID || contain_var_clause(principal) ||
			contain_volatile_functions(principal) ||
			vis_has_equality(req->index->rel, req->opfamily, lsecond(f->args)) ||
			(list_length(f->args) == 4 &&
			 vis_has_equality(req->index->rel, req->opfamily, lthird(f->args))))
			PG_RETURN_POINTER(NULL);

		r = vis_plan_time_result(principal);
		if (r == NULL || !worth_index(req, r, (VisSide) req->indexarg, list_length(f->args) == 4) ||
			vis_rangescan_offered(req->root, req->index, (Node *) f))
			PG_RETURN_POINTER(NULL);

		opno = get_opfamily_member(req->opfamily, INT8OID, INT8OID, BTEqualStrategyNumber);
		fnoid = array_function(fn);
		if (!OidIsValid(opno) || !OidIsValid(fnoid))
			PG_RETURN_POINTER(NULL);

		saop = makeNode(ScalarArrayOpExpr);
		saop->opno = opno;
		saop->opfuncid = get_opcode(opno);
		saop->useOr = true;
		saop->inputcollid = InvalidOid;
		saop->args = list_make2(copyObject(column),
								makeFuncExpr(fnoid, INT8ARRAYOID,
											 list_make1(copyObject(principal)),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
		saop->location = -1;
		req->lossy = true;		/* the predicate itself stays as a filter */
		PG_RETURN_POINTER(list_make1(saop));
	}

	PG_RETURN_POINTER(NULL);
}

/*
 * on_memberships tells whether arg is a column of lms.group_members.  Its
 * policy tests the group and the user; the members of the groups a
 * principal sees are mostly users it sees, so the user test alone carries
 * the estimate: multiplying both shares would count one restriction twice
 * and plan a narrow principal's star join for a hundredth of its rows.
 */
static bool
on_memberships(PlannerInfo *root, Node *arg)
{
	Var		   *v = (Var *) arg;

	if (root == NULL || arg == NULL || !IsA(v, Var) || v->varlevelsup != 0 ||
		v->varno < 1 || v->varno >= root->simple_rel_array_size)
		return false;
	return planner_rt_fetch(v->varno, root)->relid == vis_relid("group_members", true);
}

PG_FUNCTION_INFO_V1(lms_dimension_support);

/*
 * lms_dimension_support estimates the selectivity of can_view_content and
 * can_view_group: the principal's share of lms.content or lms.groups.
 */
Datum
lms_dimension_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSelectivity *req;
	VisResult  *r;
	char	   *name;
	double		share;

	if (!IsA(rawreq, SupportRequestSelectivity))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSelectivity *) rawreq;
	if (req->is_join || list_length(req->args) != 2)
		PG_RETURN_POINTER(NULL);
	r = vis_plan_time_result(linitial(req->args));
	name = get_func_name(req->funcid);
	if (r == NULL || name == NULL)
		PG_RETURN_POINTER(NULL);
	if (strcmp(name, "can_view_group") == 0 && on_memberships(req->root, lsecond(req->args)))
		share = 1.0;
	else if (strcmp(name, "can_view_group") == 0)
		share = vis_plan_share(r->ngroups, "groups");
	else
		share = vis_plan_share(r->ncontent, "content");
	if (share < 0)
		PG_RETURN_POINTER(NULL);
	req->selectivity = Max(share, 1e-7);
	PG_RETURN_POINTER(req);
}
