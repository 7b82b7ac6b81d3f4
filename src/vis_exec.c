/*-------------------------------------------------------------------------
 *
 * vis_exec.c
 *	  The executor side of the policies: a principal who sees every row of
 *	  the store skips the per-row check.
 *
 * When the database holds one tenant, its platform_admin and
 * learner_manager see every user and every content item, hence every row
 * of lms.progress, lms.enrollments and lms.users: the foreign keys tie each
 * row to a user and a content item of that tenant.  For them the policy's
 * call can_view_stats(p, user_id, content_id, context_group_id) would only
 * decode three columns of every row to answer true.  At executor start we
 * put in front of such a scan's quals a guard that does not read the row:
 *
 *		principal argument = p, and nothing changed since (cache epoch)
 *			-> the row is visible; the scan's other quals still apply
 *		otherwise
 *			-> the original quals, unchanged, policy first
 *
 * so the answer is exactly the policy's whatever the argument turns out to
 * be (a correlated principal, another principal in a superuser's query, a
 * principal changed by a function inside the statement).  p is the
 * session's own principal, decided at executor start, and the guard is only
 * built on tables whose columns the foreign keys constrain; application
 * tables protected with lms.protect_table keep the per-row check.
 *
 * IDENTIFICATION
 *	  src/vis_exec.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "lms_visibility.h"

bool		vis_row_shortcut = true;
uint64		vis_shortcut_scans = 0;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;

/* the store's tables the guard applies to, looked up once */
static Oid	store_rel[3];		/* progress, enrollments, users */
static const char *const store_relname[3] = {"progress", "enrollments", "users"};

typedef struct Shortcut
{
	ExprState  *guard;			/* principal argument = p; NULL: always */
	ExprState  *rest;			/* the scan's other quals; NULL: none */
	ExprState  *full;			/* the scan's quals as planned */
	uint64		epoch;			/* vis_cache_epoch when p was found to see all */
} Shortcut;

static void
forget_store_rels(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < lengthof(store_rel); i++)
		if (relid == InvalidOid || relid == store_rel[i])
			store_rel[i] = InvalidOid;
}

/* store_index returns 0..2 for progress, enrollments, users; -1 otherwise */
static int
store_index(Oid relid)
{
	int			i;

	for (i = 0; i < lengthof(store_rel); i++)
	{
		if (!OidIsValid(store_rel[i]))
			store_rel[i] = vis_relid(store_relname[i], true);
		if (OidIsValid(relid) && relid == store_rel[i])
			return i;
	}
	return -1;
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
 * policy_call returns the principal argument of clause when clause is the
 * policy's predicate over this scan's own key columns:
 * lms.can_view_stats(p, user_id, content_id, ...) on progress and
 * enrollments, lms.can_view_user(p, user_id) on users, with a principal
 * argument that reads no column and can be evaluated again freely.
 */
static Expr *
policy_call(Node *clause, int which, Oid relid, Index scanrelid, List *indextlist)
{
	FuncExpr   *f = (FuncExpr *) clause;
	const char *fname = (which == 2) ? "can_view_user" : "can_view_stats";
	int			nargs = (which == 2) ? 2 : 4;
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
	return (Expr *) principal;
}

static Datum
shortcut_eval(ExprState *state, ExprContext *econtext, bool *isnull)
{
	Shortcut   *s = (Shortcut *) state->evalfunc_private;

	*isnull = false;
	if (s->epoch == vis_cache_epoch && (s->guard == NULL || ExecQual(s->guard, econtext)))
	{
		return BoolGetDatum(ExecQual(s->rest, econtext));
	}
	return BoolGetDatum(ExecQual(s->full, econtext));
}

/*
 * guard_scan puts the guard in front of one scan's quals, when one of them
 * is the policy's predicate and p sees every row.
 */
static void
guard_scan(ScanState *ss, int64 p, EState *estate)
{
	Scan	   *scan = (Scan *) ss->ps.plan;
	Oid			relid = RelationGetRelid(ss->ss_currentRelation);
	int			which = store_index(relid);
	List	   *indextlist = IsA(scan, IndexOnlyScan) ? ((IndexOnlyScan *) scan)->indextlist : NIL;
	List	   *rest = NIL;
	Expr	   *principal = NULL;
	ListCell   *lc;
	Shortcut   *s;
	ExprState  *state;
	MemoryContext old;

	if (which < 0 || scan->plan.qual == NIL)
		return;
	foreach(lc, scan->plan.qual)
	{
		Expr	   *arg = (principal == NULL) ?
			policy_call(lfirst(lc), which, relid, scan->scanrelid, indextlist) : NULL;

		if (arg != NULL)
			principal = arg;
		else
			rest = lappend(rest, lfirst(lc));
	}
	if (principal == NULL)
		return;
	if (IsA(principal, Const) &&
		(((Const *) principal)->constisnull || DatumGetInt64(((Const *) principal)->constvalue) != p))
		return;

	old = MemoryContextSwitchTo(estate->es_query_cxt);
	s = palloc0(sizeof(Shortcut));
	s->epoch = vis_cache_epoch;
	s->full = ss->ps.qual;
	s->rest = ExecInitQual(rest, &ss->ps);
	if (!IsA(principal, Const))
	{
		Expr	   *eq = (Expr *) makeFuncExpr(F_INT8EQ, BOOLOID,
											   list_make2(copyObject(principal),
														  makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
																	Int64GetDatum(p), false, FLOAT8PASSBYVAL)),
											   InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

		s->guard = ExecInitQual(list_make1(eq), &ss->ps);
	}
	state = makeNode(ExprState);
	state->flags = EEO_FLAG_IS_QUAL;
	state->expr = (Expr *) scan->plan.qual;
	state->parent = &ss->ps;
	state->evalfunc = shortcut_eval;
	state->evalfunc_private = s;
	ss->ps.qual = state;
	MemoryContextSwitchTo(old);
	vis_shortcut_scans++;
}

static bool
guard_walker(PlanState *ps, void *context)
{
	void	  **args = (void **) context;

	if (ps == NULL)
		return false;
	if (IsA(ps, SeqScanState) || IsA(ps, IndexScanState) || IsA(ps, IndexOnlyScanState) ||
		IsA(ps, BitmapHeapScanState))
		guard_scan((ScanState *) ps, *(int64 *) args[0], (EState *) args[1]);
	return planstate_tree_walker(ps, guard_walker, context);
}

/*
 * vis_executor_start: after the standard executor start, guard the scans
 * of the store when the session's principal sees every row.
 */
static void
vis_executor_start(QueryDesc *queryDesc, int eflags)
{
	int64		p;
	VisResult  *r;
	ListCell   *lc;
	bool		any = false;
	void	   *args[2];

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (!vis_row_shortcut || (eflags & EXEC_FLAG_EXPLAIN_ONLY) || queryDesc->planstate == NULL)
		return;
	foreach(lc, queryDesc->plannedstmt->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION && store_index(rte->relid) >= 0)
		{
			any = true;
			break;
		}
	}
	if (!any || !vis_current_principal_quiet(&p))
		return;
	r = vis_cache_get_rows(p);
	if (r == NULL || !r->sees_all)
		return;
	args[0] = &p;
	args[1] = queryDesc->estate;
	guard_walker(queryDesc->planstate, args);
}

void
vis_exec_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = vis_executor_start;
	CacheRegisterRelcacheCallback(forget_store_rels, (Datum) 0);
}
