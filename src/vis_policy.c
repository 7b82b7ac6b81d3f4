/*-------------------------------------------------------------------------
 *
 * vis_policy.c
 *	  Recognising the policies' predicate and its principal: which store
 *	  tables the executor guard applies to, the predicate over a scan's own
 *	  columns (lms.can_view_stats on progress and enrollments,
 *	  lms.can_view_user on users), and the principal's result when the
 *	  planner may know it.  Beneath the executor guard (vis_exec.c), the
 *	  planner support (vis_planner.c) and the range scan (vis_rangescan.c).
 *
 * IDENTIFICATION
 *	  src/vis_policy.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "vis_cache.h"
#include "vis_exec.h"
#include "vis_principal.h"

/* the store's tables the guard applies to, looked up once; by VisStoreTable */
static Oid	store_rel[3];
static const char *const store_relname[3] = {"progress", "enrollments", "users"};

static void
forget_store_rels(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < lengthof(store_rel); i++)
		if (relid == InvalidOid || relid == store_rel[i])
			store_rel[i] = InvalidOid;
}

/* is_local_shard tells whether relid is a shard of Citus table logical here */
static bool
is_local_shard(Oid logical, Oid relid)
{
	VisParts	parts;
	int			k;

	if (!vis_citus_parts(logical, &parts))
		return false;
	for (k = 0; k < parts.nparts; k++)
		if (parts.relids[k] == relid)
			return true;
	return false;
}

/*
 * vis_store_table tells which store table with a guarded policy relid is:
 * the table, or on a Citus node this node's shard of it (vis_relid gives a
 * reference table's one shard; a distributed table has several).
 */
VisStoreTable
vis_store_table(Oid relid)
{
	int			i;

	if (!OidIsValid(relid))
		return VIS_STORE_NONE;
	for (i = 0; i < lengthof(store_rel); i++)
	{
		if (!OidIsValid(store_rel[i]))
			store_rel[i] = vis_relid(store_relname[i], true);
		if (relid == store_rel[i] || is_local_shard(store_rel[i], relid))
			return (VisStoreTable) i;
	}
	return VIS_STORE_NONE;
}

/*
 * column_is tells whether node is the scan's Var for column name of relid.
 * An index-only scan's quals read index columns (INDEX_VAR): indextlist
 * maps them back to the table's.
 */
static bool
column_is(Node *node, Index scanrelid, List *indextlist, Oid relid, const char *name)
{
	Var		   *v = (Var *) node;

	if (node == NULL || !IsA(v, Var) || v->varlevelsup != 0)
		return false;
	if (v->varno == INDEX_VAR && indextlist != NIL)
	{
		if (v->varattno < 1 || v->varattno > list_length(indextlist))
			return false;
		v = (Var *) list_nth_node(TargetEntry, indextlist, v->varattno - 1)->expr;
		if (!IsA(v, Var))
			return false;
	}
	return v->varno == scanrelid && v->varattno == get_attnum(relid, name);
}

/*
 * vis_policy_call returns the policy's predicate when clause is it over this
 * scan's own key columns: lms.can_view_stats(p, user_id, content_id, ...) on
 * progress and enrollments, lms.can_view_user(p, user_id) on users, with a
 * principal argument that reads no column and can be evaluated again freely.
 */
FuncExpr *
vis_policy_call(Node *clause, VisStoreTable table, Oid relid, Index scanrelid, List *indextlist)
{
	FuncExpr   *f = (FuncExpr *) clause;
	const char *fname = (table == VIS_STORE_USERS) ? "can_view_user" : "can_view_stats";
	int			nargs = (table == VIS_STORE_USERS) ? 2 : 4;
	char	   *name;
	bool		match;
	Node	   *principal;

	if (!IsA(f, FuncExpr) || list_length(f->args) != nargs ||
		get_func_namespace(f->funcid) != get_rel_namespace(relid))
		return NULL;
	name = get_func_name(f->funcid);
	match = name != NULL && strcmp(name, fname) == 0;
	if (name)
		pfree(name);
	if (!match)
		return NULL;
	principal = linitial(f->args);
	if (exprType(principal) != INT8OID || contain_var_clause(principal) ||
		contain_volatile_functions(principal) || contain_subplans(principal))
		return NULL;
	if (!column_is(lsecond(f->args), scanrelid, indextlist, relid, "user_id"))
		return NULL;
	if (nargs == 4 && !column_is(lthird(f->args), scanrelid, indextlist, relid, "content_id"))
		return NULL;
	return f;
}

/*
 * vis_is_principal_call tells whether node is the call
 * lms.current_principal() (of the extension's schema, no arguments).
 */
bool
vis_is_principal_call(Node *node)
{
	FuncExpr   *f = (FuncExpr *) node;
	char	   *name;
	bool		match;

	if (node == NULL || !IsA(f, FuncExpr) || f->args != NIL ||
		get_func_namespace(f->funcid) != get_namespace_oid("lms", true))
		return false;
	name = get_func_name(f->funcid);
	match = name != NULL && strcmp(name, "current_principal") == 0;
	if (name)
		pfree(name);
	return match;
}

/*
 * vis_plan_calls_principal tells whether plan calls lms.current_principal()
 * anywhere (a policy's argument, an InitPlan, an index condition), from
 * the functions the plan depends on: one look-up of the function and a
 * scan of a short list, no walk of the plan's expressions.
 */
bool
vis_plan_calls_principal(PlannedStmt *plan)
{
	Oid			fn;
	uint32		hash;
	ListCell   *lc;

	if (plan->invalItems == NIL)
		return false;
	fn = LookupFuncName(list_make2(makeString("lms"), makeString("current_principal")),
						0, NULL, true);
	if (!OidIsValid(fn))
		return false;
	hash = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(fn));
	foreach(lc, plan->invalItems)
	{
		PlanInvalItem *item = lfirst_node(PlanInvalItem, lc);

		if (item->cacheId == PROCOID && item->hashValue == hash)
			return true;
	}
	return false;
}

/*
 * vis_plan_time_result returns U(p) and C(p) of the principal argument when it
 * is the caller's own principal: the call lms.current_principal() (the
 * policies' argument), a Param (the InitPlan (SELECT lms.current_principal())
 * of policies written before 0.6.0 and of application queries) or a Const
 * equal to it.
 * Anything else gets no estimate: row counts in EXPLAIN must not reveal
 * what another principal sees.
 */
VisResult *
vis_plan_time_result(Node *arg)
{
	int64		current;

	if (!vis_current_principal(&current))
		return NULL;
	if (IsA(arg, Const))
	{
		Const	   *c = (Const *) arg;

		if (c->constisnull || DatumGetInt64(c->constvalue) != current)
			return NULL;
	}
	else if (!IsA(arg, Param) && !vis_is_principal_call(arg))
		return NULL;
	return vis_cache_get(current, NULL);
}

void
vis_policy_init(void)
{
	CacheRegisterRelcacheCallback(forget_store_rels, (Datum) 0);
}
