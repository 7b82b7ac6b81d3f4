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
	int			paramid;		/* the argument is this executor param, or -1 */
	int64		p;
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

	bool		same;

	*isnull = false;
	if (s->epoch != vis_cache_epoch)
		return BoolGetDatum(ExecQual(s->full, econtext));
	if (s->guard == NULL)
		same = true;
	else if (s->paramid >= 0 && econtext->ecxt_param_exec_vals[s->paramid].execPlan == NULL)
	{
		/* the policy's InitPlan has run (or the value came from the leader) */
		ParamExecData *prm = &econtext->ecxt_param_exec_vals[s->paramid];

		same = !prm->isnull && DatumGetInt64(prm->value) == s->p;
	}
	else
		same = ExecQual(s->guard, econtext);
	return BoolGetDatum(ExecQual(same ? s->rest : s->full, econtext));
}

/* A scan whose quals hold the policy's predicate */
typedef struct Candidate
{
	ScanState  *ss;
	Expr	   *principal;		/* the predicate's principal argument */
	List	   *rest;			/* the scan's other quals */
} Candidate;

/*
 * find_candidate returns the scan as a candidate when it reads a table of
 * the store and one of its quals is the policy's predicate; NULL otherwise.
 */
static Candidate *
find_candidate(ScanState *ss)
{
	Scan	   *scan = (Scan *) ss->ps.plan;
	Oid			relid;
	int			which;
	List	   *indextlist;
	List	   *rest = NIL;
	Candidate  *c = NULL;
	ListCell   *lc;

	if (scan->plan.qual == NIL || ss->ss_currentRelation == NULL)
		return NULL;
	relid = RelationGetRelid(ss->ss_currentRelation);
	which = store_index(relid);
	if (which < 0)
		return NULL;
	indextlist = IsA(scan, IndexOnlyScan) ? ((IndexOnlyScan *) scan)->indextlist : NIL;
	foreach(lc, scan->plan.qual)
	{
		Node	   *clause = lfirst(lc);
		Expr	   *arg = (c == NULL) ?
			policy_call(clause, which, relid, scan->scanrelid, indextlist) : NULL;

		if (arg != NULL)
		{
			c = palloc0(sizeof(Candidate));
			c->ss = ss;
			c->principal = arg;
		}
		else
			rest = lappend(rest, clause);
	}
	if (c != NULL)
		c->rest = rest;
	return c;
}

static bool
find_candidates(PlanState *ps, void *context)
{
	List	  **candidates = (List **) context;

	if (ps == NULL)
		return false;
	if (IsA(ps, SeqScanState) || IsA(ps, IndexScanState) || IsA(ps, IndexOnlyScanState) ||
		IsA(ps, BitmapHeapScanState))
	{
		Candidate  *c = find_candidate((ScanState *) ps);

		if (c != NULL)
			*candidates = lappend(*candidates, c);
	}
	return planstate_tree_walker(ps, find_candidates, context);
}

/* guard_scan puts the guard of principal p in front of a candidate's quals */
static void
guard_scan(Candidate *c, int64 p)
{
	ScanState  *ss = c->ss;
	Shortcut   *s;
	ExprState  *state;

	if (IsA(c->principal, Const) &&
		(((Const *) c->principal)->constisnull || DatumGetInt64(((Const *) c->principal)->constvalue) != p))
		return;
	s = palloc0(sizeof(Shortcut));
	s->epoch = vis_cache_epoch;
	s->p = p;
	s->paramid = (IsA(c->principal, Param) && ((Param *) c->principal)->paramkind == PARAM_EXEC) ?
		((Param *) c->principal)->paramid : -1;
	s->full = ss->ps.qual;
	s->rest = ExecInitQual(c->rest, &ss->ps);
	if (!IsA(c->principal, Const))
	{
		Expr	   *eq = (Expr *) makeFuncExpr(F_INT8EQ, BOOLOID,
											   list_make2(copyObject(c->principal),
														  makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
																	Int64GetDatum(p), false, FLOAT8PASSBYVAL)),
											   InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);

		s->guard = ExecInitQual(list_make1(eq), &ss->ps);
	}
	state = makeNode(ExprState);
	state->flags = EEO_FLAG_IS_QUAL;
	state->expr = (Expr *) ss->ps.plan->qual;
	state->parent = &ss->ps;
	state->evalfunc = shortcut_eval;
	state->evalfunc_private = s;
	ss->ps.qual = state;
	vis_shortcut_scans++;
}

/*
 * vis_executor_start: after the standard executor start, guard the scans
 * of the store that apply the policy, when the session's principal sees
 * every row.  The principal and its visibility are only looked at when
 * some scan applies the policy (not for writes, nor for queries that
 * bypass row-level security).
 */
static void
vis_executor_start(QueryDesc *queryDesc, int eflags)
{
	List	   *candidates = NIL;
	int64		p;
	VisResult  *r;
	ListCell   *lc;
	MemoryContext old;

	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (!vis_row_shortcut || (eflags & EXEC_FLAG_EXPLAIN_ONLY) || queryDesc->planstate == NULL)
		return;
	old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);
	find_candidates(queryDesc->planstate, &candidates);
	if (candidates != NIL && vis_current_principal_quiet(&p) &&
		(r = vis_cache_get_rows(p)) != NULL && r->sees_all)
	{
		foreach(lc, candidates)
			guard_scan(lfirst(lc), p);
	}
	MemoryContextSwitchTo(old);
}

void
vis_exec_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = vis_executor_start;
	CacheRegisterRelcacheCallback(forget_store_rels, (Datum) 0);
}
