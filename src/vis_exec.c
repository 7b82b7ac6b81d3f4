/*-------------------------------------------------------------------------
 *
 * vis_exec.c
 *	  The executor side of the policies: the per-row check of a scan of the
 *	  store, done inline instead of through a function call.
 *
 * The policies call can_view_stats(p, user_id, content_id, context_group_id)
 * (can_view_user(p, user_id) on lms.users) for every row.  At executor start,
 * once the session's principal p is known, each scan of lms.progress,
 * lms.enrollments and lms.users that applies the policy gets in front of
 * its quals a guard:
 *
 *		principal argument = p, and nothing changed since executor start
 *		(cache epoch, principal settings, current role)
 *			-> the row rule of p, inline: the columns read straight from
 *			   the scan's slot and tested against U(p) and C(p); the
 *			   scan's other quals after it
 *		otherwise
 *			-> the original quals, unchanged, policy first
 *
 * so the answer is exactly the policy's whatever the argument turns out to
 * be (a correlated principal, another principal in a superuser's query, a
 * principal changed by a function inside the statement).
 *
 * When the database holds one tenant, its platform_admin and
 * learner_manager see every user and every content item, hence every row:
 * the foreign keys tie each row to a user and a content item of that
 * tenant.  For them the guard alone decides and no column is read.  That
 * only holds for the store's tables, whose columns the foreign keys
 * constrain; application tables protected with lms.protect_table keep the
 * function call.
 *
 * IDENTIFICATION
 *	  src/vis_exec.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "vis_cache.h"
#include "vis_exec.h"
#include "vis_principal.h"

bool		vis_row_shortcut = true;

static ExecutorStart_hook_type prev_ExecutorStart = NULL;

typedef struct PolicyScan
{
	ExprState  *guard;			/* principal argument = p; NULL: always */
	int			paramid;		/* the argument is this executor param, or -1 */
	int64		p;
	ExprState  *rest;			/* the scan's other quals; NULL: none */
	ExprState  *full;			/* the scan's quals as planned */
	/* what p's row rule was decided under */
	uint64		epoch;			/* vis_cache_epoch */
	uint64		principal_epoch;	/* vis_principal_epoch */
	void	   *stack;			/* vis_principal_stack() */
	Oid			role;			/* GetOuterUserId() */
	/* the row rule: NULL when p sees every row */
	VisResult  *r;
	AttrNumber	user_att;		/* the columns in the scan's slot */
	AttrNumber	content_att;	/* 0: can_view_user */
	AttrNumber	context_att;	/* 0: no context (a null constant) */
	AttrNumber	max_att;
} PolicyScan;

/*
 * slot_attno returns the attribute number in the scan's slot of node, a
 * bigint column of the scan (of the index, for an index-only scan), or 0
 * for anything else.
 */
static AttrNumber
slot_attno(Node *node, Index scanrelid)
{
	Var		   *v = (Var *) node;

	if (node == NULL || !IsA(v, Var) || v->varlevelsup != 0 || v->vartype != INT8OID ||
		v->varattno < 1 || (v->varno != scanrelid && v->varno != INDEX_VAR))
		return 0;
	return v->varattno;
}

/*
 * row_visible applies p's row rule to the row in the scan's slot, as
 * can_view_stats and can_view_user do with their arguments.
 */
static inline bool
row_visible(PolicyScan *s, TupleTableSlot *slot)
{
	int64		user_id;
	int64		content_id;
	bool		has_context;

	slot_getsomeattrs(slot, s->max_att);
	if (slot->tts_isnull[s->user_att - 1])
		return false;
	user_id = DatumGetInt64(slot->tts_values[s->user_att - 1]);
	if (s->content_att == 0)
		return vis_result_has_user(s->r, user_id);
	if (slot->tts_isnull[s->content_att - 1])
		return false;
	content_id = DatumGetInt64(slot->tts_values[s->content_att - 1]);
	has_context = s->context_att > 0 && !slot->tts_isnull[s->context_att - 1];
	return vis_result_sees(s->r, user_id, content_id, has_context,
						   has_context ? DatumGetInt64(slot->tts_values[s->context_att - 1]) : 0);
}

static Datum
policy_eval(ExprState *state, ExprContext *econtext, bool *isnull)
{
	PolicyScan *s = (PolicyScan *) state->evalfunc_private;
	bool		same;

	*isnull = false;
	if (s->epoch != vis_cache_epoch || s->principal_epoch != vis_principal_epoch ||
		s->stack != vis_principal_stack() || s->role != GetOuterUserId())
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
	if (!same)
		return BoolGetDatum(ExecQual(s->full, econtext));
	if (s->r != NULL && !row_visible(s, econtext->ecxt_scantuple))
		return BoolGetDatum(false);
	return BoolGetDatum(ExecQual(s->rest, econtext));
}

/* A scan whose quals hold the policy's predicate */
typedef struct Candidate
{
	ScanState  *ss;
	FuncExpr   *call;			/* the predicate */
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
	VisStoreTable table;
	List	   *indextlist;
	List	   *rest = NIL;
	Candidate  *c = NULL;
	ListCell   *lc;

	if (scan->plan.qual == NIL || ss->ss_currentRelation == NULL)
		return NULL;
	relid = RelationGetRelid(ss->ss_currentRelation);
	table = vis_store_table(relid);
	if (table == VIS_STORE_NONE)
		return NULL;
	if (IsA(scan, IndexOnlyScan))
		indextlist = ((IndexOnlyScan *) scan)->indextlist;
	else if (IsA(scan, CustomScan))
		indextlist = ((CustomScan *) scan)->custom_scan_tlist;
	else
		indextlist = NIL;
	foreach(lc, scan->plan.qual)
	{
		Node	   *clause = lfirst(lc);
		FuncExpr   *call = (c == NULL) ?
			vis_policy_call(clause, table, relid, scan->scanrelid, indextlist) : NULL;

		if (call != NULL)
		{
			c = palloc0(sizeof(Candidate));
			c->ss = ss;
			c->call = call;
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
		IsA(ps, BitmapHeapScanState) || (IsA(ps, CustomScanState) && vis_is_rangescan(ps->plan)))
	{
		Candidate  *c = find_candidate((ScanState *) ps);

		if (c != NULL)
			*candidates = lappend(*candidates, c);
	}
	return planstate_tree_walker(ps, find_candidates, context);
}

/*
 * guard_scan puts the guard of principal p in front of a candidate's quals,
 * with p's row rule inline unless r sees every row.
 */
static void
guard_scan(Candidate *c, int64 p, VisResult *r)
{
	ScanState  *ss = c->ss;
	Scan	   *scan = (Scan *) ss->ps.plan;
	Expr	   *principal = linitial(c->call->args);
	PolicyScan *s;
	ExprState  *state;

	if (IsA(principal, Const) &&
		(((Const *) principal)->constisnull || DatumGetInt64(((Const *) principal)->constvalue) != p))
		return;
	s = palloc0(sizeof(PolicyScan));
	if (!r->sees_all)
	{
		Node	   *context = list_length(c->call->args) == 4 ? lfourth(c->call->args) : NULL;

		s->r = r;
		s->user_att = slot_attno(lsecond(c->call->args), scan->scanrelid);
		s->content_att = list_length(c->call->args) == 4 ?
			slot_attno(lthird(c->call->args), scan->scanrelid) : 0;
		s->context_att = context ? slot_attno(context, scan->scanrelid) : 0;
		/* a context that is neither a column nor a null constant: no inline */
		if (s->user_att == 0 || (list_length(c->call->args) == 4 && s->content_att == 0) ||
			(context != NULL && s->context_att == 0 &&
			 !(IsA(context, Const) && ((Const *) context)->constisnull)))
			return;
		s->max_att = Max(s->user_att, Max(s->content_att, s->context_att));
	}
	s->epoch = vis_cache_epoch;
	s->principal_epoch = vis_principal_epoch;
	s->stack = vis_principal_stack();
	s->role = GetOuterUserId();
	s->p = p;
	s->paramid = (IsA(principal, Param) && ((Param *) principal)->paramkind == PARAM_EXEC) ?
		((Param *) principal)->paramid : -1;
	s->full = ss->ps.qual;
	s->rest = ExecInitQual(c->rest, &ss->ps);
	/*
	 * The argument is p without a test when it is a constant, or the call
	 * lms.current_principal() itself (the policies of a Citus cluster,
	 * which may not hold the InitPlan): policy_eval falls back to the
	 * quals as planned once the principal's settings or the role change,
	 * and until then the call answers p, as it did at executor start.
	 */
	if (!IsA(principal, Const) && !vis_is_principal_call((Node *) principal))
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
	state->expr = (Expr *) ss->ps.plan->qual;
	state->parent = &ss->ps;
	state->evalfunc = policy_eval;
	state->evalfunc_private = s;
	ss->ps.qual = state;
	if (r->sees_all)
		vis_shortcut_scans++;
	else
		vis_inline_scans++;
}

/*
 * vis_executor_start: after the standard executor start, guard the scans
 * of the store that apply the policy.  The principal and its visibility
 * are only looked at when some scan applies the policy (not for writes,
 * nor for queries that bypass row-level security).  A result the cache did
 * not keep (born stale) is left to the function calls.  For a parallel
 * query, the current principal's cached entry is then shared with the
 * workers.
 */
static void
vis_executor_start(QueryDesc *queryDesc, int eflags)
{
	List	   *candidates = NIL;
	int64		p;
	VisResult  *r;
	bool		kept;
	ListCell   *lc;
	MemoryContext old;

	/* before Citus's executor starts sending the statement to other nodes */
	if (!(eflags & EXEC_FLAG_EXPLAIN_ONLY))
		vis_citus_check_statement(queryDesc->plannedstmt);
	/*
	 * The policies call lms.current_principal() in every process that reads
	 * rows, and a parallel worker takes lms.principal without the scope it
	 * was set with (see resolve_principal).  The leader resolves it first,
	 * before any worker starts, so that a value it refuses (a session-level
	 * principal, an untrusted role's) fails the query even when no row
	 * reaches the leader.
	 */
	if (queryDesc->plannedstmt->parallelModeNeeded && !IsParallelWorker() &&
		vis_principal_setting != NULL && vis_principal_setting[0] != '\0' &&
		!(eflags & EXEC_FLAG_EXPLAIN_ONLY) && vis_plan_calls_principal(queryDesc->plannedstmt))
		(void) vis_current_principal(&p);
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	vis_cache_statement_start();
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	if (vis_row_shortcut && queryDesc->planstate != NULL)
	{
		old = MemoryContextSwitchTo(queryDesc->estate->es_query_cxt);
		find_candidates(queryDesc->planstate, &candidates);
		if (candidates != NIL && vis_current_principal_quiet(&p) &&
			(r = vis_cache_get_rows(p, &kept)) != NULL && kept)
		{
			foreach(lc, candidates)
				guard_scan(lfirst(lc), p, r);
		}
		MemoryContextSwitchTo(old);
	}
	/* the workers of a parallel query read the leader's entry */
	if (queryDesc->plannedstmt->parallelModeNeeded && vis_current_principal_quiet(&p))
		vis_cache_share(p);
}

void
vis_exec_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = vis_executor_start;
}
