/*-------------------------------------------------------------------------
 *
 * vis_plancost.c
 *	  What the planner support and the range scan cost a principal's scan
 *	  by: the principal's share of a relation, the restrictions the query
 *	  already has, the columns it reads and whether an index holds them.
 *
 * IDENTIFICATION
 *	  src/vis_plancost.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "catalog/pg_class.h"
#include "nodes/pathnodes.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "vis_exec.h"
#include "vis_plancost.h"

static double
reltuples(const char *relname)
{
	Oid			relid = vis_relid(relname, true);
	HeapTuple	tp;
	double		n = -1;

	if (!OidIsValid(relid))
		return -1;
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(tp))
	{
		n = ((Form_pg_class) GETSTRUCT(tp))->reltuples;
		ReleaseSysCache(tp);
	}
	return n;
}

/* vis_plan_share returns members / rows of relname, in [0, 1], or -1 if unknown */
double
vis_plan_share(double members, const char *relname)
{
	double		n = reltuples(relname);

	if (n <= 0)
		return -1;
	return Min(1.0, members / n);
}

/*
 * vis_has_equality tells whether the relation already has a restriction
 * "column = <constant or parameter>" (or = ANY of an array that reads no
 * column, such as lms.accessible_content_ids()) usable on the index: then an
 * index condition on the principal's thousands of ids would only add work
 * to the query's own.
 */
bool
vis_has_equality(RelOptInfo *rel, Oid opfamily, Node *column)
{
	ListCell   *lc;

	foreach(lc, rel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		Node	   *clause = (Node *) rinfo->clause;
		Oid			opno;
		List	   *args;
		Node	   *other;

		if (IsA(clause, OpExpr))
		{
			opno = ((OpExpr *) clause)->opno;
			args = ((OpExpr *) clause)->args;
		}
		else if (IsA(clause, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) clause)->useOr)
		{
			opno = ((ScalarArrayOpExpr *) clause)->opno;
			args = ((ScalarArrayOpExpr *) clause)->args;
		}
		else
			continue;
		if (list_length(args) != 2 || !op_in_opfamily(opno, opfamily) ||
			get_op_opfamily_strategy(opno, opfamily) != BTEqualStrategyNumber)
			continue;
		if (equal(linitial(args), column))
			other = lsecond(args);
		else if (equal(lsecond(args), column))
			other = linitial(args);
		else
			continue;
		if (!contain_var_clause(other) && !contain_volatile_functions(other))
			return true;
	}
	return false;
}

/*
 * vis_rel_attrs returns the columns the query reads from rel (its target
 * list and restrictions, the policy's columns among them), as offsets from
 * FirstLowInvalidHeapAttributeNumber; vis_index_holds tells whether the
 * index returns every one of them.
 */
Bitmapset *
vis_rel_attrs(RelOptInfo *rel)
{
	Bitmapset  *attrs = NULL;
	ListCell   *lc;

	pull_varattnos((Node *) rel->reltarget->exprs, rel->relid, &attrs);
	foreach(lc, rel->baserestrictinfo)
		pull_varattnos((Node *) lfirst_node(RestrictInfo, lc)->clause, rel->relid, &attrs);
	return attrs;
}

bool
vis_index_holds(IndexOptInfo *index, Bitmapset *attrs)
{
	int			m = -1;
	int			i;

	while ((m = bms_next_member(attrs, m)) >= 0)
	{
		for (i = 0; i < index->ncolumns; i++)
			if (index->indexkeys[i] > 0 && index->canreturn[i] &&
				index->indexkeys[i] - FirstLowInvalidHeapAttributeNumber == m)
				break;
		if (i == index->ncolumns)
			return false;
	}
	return true;
}

/*
 * vis_index_covers tells whether an index-only scan of index can answer the
 * relation's part of the query: the index holds every column the query
 * reads, an index-only scan is allowed and nearly all the table's pages
 * are all-visible.  It is the planner's own test (check_index_only) in
 * short.
 */
bool
vis_index_covers(IndexOptInfo *index)
{
	RelOptInfo *rel = index->rel;

	if (!enable_indexonlyscan || rel->allvisfrac < VIS_INDEX_MIN_ALLVISIBLE)
		return false;
	return vis_index_holds(index, vis_rel_attrs(rel));
}

