/*-------------------------------------------------------------------------
 *
 * vis_rangescan.c
 *	  The range scan: a narrow principal's scan of lms.progress or
 *	  lms.enrollments that reads an index by the runs of consecutive ids
 *	  of U(p) or C(p), tests the principal's row rule on each index tuple
 *	  before anything else is done with it, and returns the tuples that
 *	  pass as an index-only scan would, or their rows from the heap.
 *
 * The index condition of vis_planner.c, "user_id = ANY (ids)", costs a
 * descent of the btree per id on PostgreSQL 15 and 16, which start each
 * array element from the root (17 and later step to the next element on
 * the same leaf page, and still come out slower: doc/performance.md, "The range
 * scan on 15 and 18", bench/rangescan.sh), and every index tuple it reads
 * goes through the executor's slot, visibility map check and quals before
 * the policy can drop it.  A
 * principal's ids mostly come in runs (a group's members were created
 * together, a catalog's courses too): the range scan descends once per run
 * and drops the tuples the principal may not see straight from the index
 * page; a query that needs more columns than the index holds fetches from
 * the heap only the rows that pass.  The policy stays in the scan's quals,
 * so what the scan returns is still exactly what the policy admits; the
 * rule tested here only spares work:
 *
 *	- the runs are those of U(p) or C(p) when the scan starts, as the
 *	  array of the index condition is evaluated once per scan;
 *	- the rule is tested only while the cache entry it comes from is valid
 *	  (vis_cache_epoch unchanged); after that every tuple of the runs goes
 *	  to the quals.
 *
 * The planner offers the path (set_rel_pathlist_hook) for a table of the
 * store whose quals hold the policy of the caller's own principal, on a
 * btree index led by user_id or content_id that holds the policy's columns;
 * it is costed with the model of vis_planner.c (a heap fetch for each row
 * that passes when the index lacks a column the query reads, or lies on a
 * page not all-visible) and the planner chooses.
 * lms.enable_rangescan = off turns it off (any role may: it changes plans,
 * never answers).  The path is not parallel-safe: a worker would build the
 * principal's entry for itself.
 *
 * IDENTIFICATION
 *	  src/vis_rangescan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_compat.h"

#include <math.h>

#include "access/genam.h"
#include "access/itup.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include VIS_EXPLAIN_FORMAT_HEADER
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "storage/bufmgr.h"
#include "storage/predicate.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "vis_cache.h"
#include "vis_exec.h"
#include "vis_principal.h"
#include "vis_plancost.h"

bool		vis_enable_rangescan = true;

static set_rel_pathlist_hook_type prev_set_rel_pathlist = NULL;

static Plan *range_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
						List *tlist, List *clauses, List *custom_plans);
static Node *range_create_state(CustomScan *cscan);
static void range_begin(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *range_exec(CustomScanState *node);
static void range_end(CustomScanState *node);
static void range_rescan(CustomScanState *node);
static void range_explain(CustomScanState *node, List *ancestors, ExplainState *es);

static const CustomPathMethods range_path_methods = {
	.CustomName = "LmsRangeScan",
	.PlanCustomPath = range_plan,
};

static const CustomScanMethods range_scan_methods = {
	.CustomName = "LmsRangeScan",
	.CreateCustomScanState = range_create_state,
};

static const CustomExecMethods range_exec_methods = {
	.CustomName = "LmsRangeScan",
	.BeginCustomScan = range_begin,
	.ExecCustomScan = range_exec,
	.EndCustomScan = range_end,
	.ReScanCustomScan = range_rescan,
	.ExplainCustomScan = range_explain,
};

/*
 * The plan's custom_private: a list of the index's OID (an OID list) and
 * of integers, at these positions: the side, the positions in the index of
 * the policy's columns (0: none), the longest gap between runs to read
 * through, and whether the rows come from the heap.
 */
#define RS_PRIVATE_INDEX 0		/* list_make1_oid(index) */
#define RS_PRIVATE_INTS 1		/* the integers: */
#define RS_INT_SIDE 0
#define RS_INT_USER_POS 1
#define RS_INT_CONTENT_POS 2
#define RS_INT_CONTEXT_POS 3
#define RS_INT_GAP 4
#define RS_INT_HEAP 5

/* A range scan as it runs */
typedef struct RangeScanState
{
	CustomScanState css;
	Oid			indexid;
	VisSide		side;			/* the runs of U(p) or of C(p) */
	int			pos[3];			/* user, content, context column in the index */
	ExprState  *principal;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *tableslot;	/* for heap fetches of pages not all-visible */
	Buffer		vmbuf;
	ScanKeyData key;			/* lead >= lo of a run */
	bool		started;
	bool		positioned;
	int64	   *ranges;			/* (lo, hi) pairs */
	int			nranges;
	int			run;			/* the run being read */
	int64		gap_limit;		/* read through gaps of at most so many ids */
	bool		heap;			/* return the table's rows, not the index's */
	VisResult  *r;				/* the rule, while epoch holds; NULL: none */
	uint64		epoch;
	uint64		heap_fetches;
} RangeScanState;

/*
 * range_policy returns the policy's predicate among the quals of rel, a
 * base relation of lms.progress or lms.enrollments, when the range scan can
 * test it on the index: a context argument that is the column or a null.
 */
static FuncExpr *
range_policy(RelOptInfo *rel, Oid relid)
{
	VisStoreTable table = vis_store_table(relid);
	FuncExpr   *best = NULL;
	Index		best_level = 0;
	ListCell   *lc;

	if (table != VIS_STORE_PROGRESS && table != VIS_STORE_ENROLLMENTS)
		return NULL;
	/* the row-level security policy's (lowest security level) first */
	foreach(lc, rel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		FuncExpr   *call = vis_policy_call((Node *) rinfo->clause, table, relid, rel->relid, NIL);

		if (call != NULL && (best == NULL || rinfo->security_level < best_level))
		{
			best = call;
			best_level = rinfo->security_level;
		}
	}
	if (best != NULL)
	{
		Node	   *context = lfourth(best->args);

		if (!((IsA(context, Var) && ((Var *) context)->varno == rel->relid &&
			   ((Var *) context)->varlevelsup == 0 && ((Var *) context)->vartype == INT8OID) ||
			  (IsA(context, Const) && ((Const *) context)->constisnull)))
			best = NULL;
	}
	return best;
}

/*
 * index_usable tells whether a range scan can read index at all: a plain
 * btree of columns led by a bigint that the query does not already
 * restrict to values (a point query is better served as it is).
 */
static bool
index_usable(IndexOptInfo *index)
{
	int			i;

	if (index->relam != BTREE_AM_OID || index->indpred != NIL || index->nkeycolumns < 1 ||
		index->opfamily[0] != INTEGER_BTREE_FAM_OID || index->opcintype[0] != INT8OID)
		return false;
	for (i = 0; i < index->ncolumns; i++)
		if (index->indexkeys[i] <= 0)
			return false;
	return !vis_has_equality(index->rel, index->opfamily[0],
							 (Node *) makeVar(index->rel->relid, index->indexkeys[0], INT8OID, -1,
											  InvalidOid, 0));
}

/*
 * reads_system_columns tells whether the query reads a system column or
 * the whole row (what an UPDATE, a DELETE or a row lock needs): no range
 * scan serves it.
 */
static bool
reads_system_columns(Bitmapset *attrs)
{
	int			first = bms_next_member(attrs, -1);

	return first >= 0 && first < 1 - FirstLowInvalidHeapAttributeNumber;
}

/*
 * range_index returns the side a usable index can be range-scanned by (led
 * by user_id or by content_id), sets pos to the positions of the policy's
 * columns in it and heap to whether the query reads columns (attrs, from
 * vis_rel_attrs) the index does not hold; VIS_SIDE_NONE if it cannot.
 */
static VisSide
range_index(IndexOptInfo *index, FuncExpr *call, Bitmapset *attrs, int pos[3], bool *heap)
{
	AttrNumber	attnos[3];
	VisSide		side;
	int			i,
				k;

	attnos[0] = ((Var *) lsecond(call->args))->varattno;
	attnos[1] = ((Var *) lthird(call->args))->varattno;
	attnos[2] = IsA(lfourth(call->args), Var) ? ((Var *) lfourth(call->args))->varattno : 0;
	if (index->indexkeys[0] == attnos[0])
		side = VIS_SIDE_USERS;
	else if (index->indexkeys[0] == attnos[1])
		side = VIS_SIDE_CONTENT;
	else
		return VIS_SIDE_NONE;
	for (k = 0; k < 3; k++)
	{
		pos[k] = 0;
		for (i = 0; i < index->ncolumns && attnos[k] != 0; i++)
			if (index->indexkeys[i] == attnos[k])
			{
				pos[k] = i + 1;
				break;
			}
		if (attnos[k] != 0 && pos[k] == 0)
			return VIS_SIDE_NONE;
	}
	*heap = !vis_index_holds(index, attrs);
	return side;
}

/*
 * vis_rangescan_offered tells the planner support of vis_planner.c whether
 * the range scan will be offered on index for the policy's predicate: then
 * the index condition "= ANY (ids)" on the same index would read the same
 * tuples with more descents, and is not worth offering.
 */
bool
vis_rangescan_offered(PlannerInfo *root, IndexOptInfo *index, Node *policy)
{
	RelOptInfo *rel = index->rel;
	RangeTblEntry *rte;
	FuncExpr   *call;
	VisResult  *r;
	Bitmapset  *attrs;
	int			pos[3];
	bool		heap;

	if (!vis_enable_rangescan || rel->reloptkind != RELOPT_BASEREL || rel->tuples <= 0 ||
		!index_usable(index))
		return false;
	rte = planner_rt_fetch(rel->relid, root);
	if (rte->rtekind != RTE_RELATION)
		return false;
	attrs = vis_rel_attrs(rel);
	if (reads_system_columns(attrs))
		return false;
	call = range_policy(rel, rte->relid);
	if (call == NULL || !equal(call, policy))
		return false;
	r = vis_plan_time_result(linitial(call->args));
	return r != NULL && !r->sees_all &&
		range_index(index, call, attrs, pos, &heap) != 0;
}

/*
 * runs_selectivity returns the share of rel's rows whose column lead lies in
 * one of the runs, from the column's statistics: the ids a principal sees
 * may hold most of the rows (a tenant's own) or few of them, which the
 * share of ids alone does not tell.
 */
static Selectivity
runs_selectivity(PlannerInfo *root, RelOptInfo *rel, Node *lead, const int64 *ranges, int nranges)
{
	Oid			ge = get_opfamily_member(INTEGER_BTREE_FAM_OID, INT8OID, INT8OID, BTGreaterEqualStrategyNumber);
	Oid			le = get_opfamily_member(INTEGER_BTREE_FAM_OID, INT8OID, INT8OID, BTLessEqualStrategyNumber);
	Selectivity sel = 0;
	int			i;

	for (i = 0; i < nranges; i++)
	{
		Const	   *lo = makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
								   Int64GetDatum(ranges[2 * i]), false, FLOAT8PASSBYVAL);
		Const	   *hi = makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
								   Int64GetDatum(ranges[2 * i + 1]), false, FLOAT8PASSBYVAL);
		List	   *clauses = list_make2(make_opclause(ge, BOOLOID, false, (Expr *) lead, (Expr *) lo,
													   InvalidOid, InvalidOid),
										 make_opclause(le, BOOLOID, false, (Expr *) lead, (Expr *) hi,
													   InvalidOid, InvalidOid));

		sel += clauselist_selectivity(root, clauses, rel->relid, JOIN_INNER, NULL);
	}
	return Min(sel, 1.0);
}

/*
 * range_path builds the path: its cost is the share of the sequential
 * scan's that the model gives (one descent per run, the tuples of the runs,
 * the rows that pass), and its rows come out in the index's order.
 */
static Path *
range_path(PlannerInfo *root, RelOptInfo *rel, IndexOptInfo *index, FuncExpr *call,
		   VisSide side, int pos[3], bool heap, VisResult *r)
{
	CustomPath *cp = makeNode(CustomPath);
	double		nids = (side == VIS_SIDE_USERS) ? r->nusers : r->ncontent;
	double		share = vis_plan_share(nids, side == VIS_SIDE_USERS ? "users" : "content");
	double		tuples;
	double		ns;
	double		seq_cost;
	double		gap_limit;
	const int64 *ranges;
	int			nranges;

	if (share < 0)
		return NULL;
	ranges = vis_result_ranges(r, side, &nranges);
	tuples = clamp_row_est(share * rel->tuples);
	/* a gap of ids costs its rows; a descent past it costs VIS_COST_DESCENT */
	gap_limit = floor(VIS_COST_DESCENT / (VIS_COST_RANGE_TUPLE * Max(tuples / Max(nids, 1.0), 1.0)));
	/* a few runs: their rows as the column's statistics count them */
	if (nranges <= VIS_RANGE_ESTIMATE_RUNS &&
		SearchSysCacheExists3(STATRELATTINH, ObjectIdGetDatum(planner_rt_fetch(rel->relid, root)->relid),
							  Int16GetDatum(index->indexkeys[0]), BoolGetDatum(false)))
		tuples = clamp_row_est(runs_selectivity(root, rel, (Node *) list_nth(call->args, side),
												ranges, nranges) * rel->tuples);
	ns = nranges * VIS_COST_DESCENT + tuples * VIS_COST_RANGE_TUPLE +
		rel->rows * (VIS_COST_RANGE_ROW + (heap ? 1.0 : 1.0 - rel->allvisfrac) * VIS_COST_HEAP_FETCH);
	seq_cost = rel->pages * seq_page_cost +
		rel->tuples * (cpu_tuple_cost + rel->baserestrictcost.per_tuple) +
		rel->baserestrictcost.startup;

	cp->path.pathtype = T_CustomScan;
	cp->path.parent = rel;
	cp->path.pathtarget = rel->reltarget;
	cp->path.param_info = NULL;
	cp->path.parallel_aware = false;
	cp->path.parallel_safe = false;
	cp->path.parallel_workers = 0;
	cp->path.rows = rel->rows;
	cp->path.startup_cost = rel->baserestrictcost.startup;
	cp->path.total_cost = cp->path.startup_cost +
		seq_cost * ns / (rel->tuples * VIS_COST_SEQ_ROW) +
		rel->reltarget->cost.per_tuple * rel->rows;
	cp->path.pathkeys = truncate_useless_pathkeys(root, rel,
												  build_index_pathkeys(root, index, ForwardScanDirection));
	cp->flags = 0;
	/* in the order of RS_PRIVATE_* and RS_INT_* */
	cp->custom_private = list_make2(list_make1_oid(index->indexoid),
									lappend_int(list_make5_int(side, pos[0], pos[1], pos[2],
															   (int) Min(gap_limit, 1000000.0)),
												heap));
	cp->methods = &range_path_methods;
	return &cp->path;
}

static void
range_set_rel_pathlist(PlannerInfo *root, RelOptInfo *rel, Index rti, RangeTblEntry *rte)
{
	VisStoreTable table;
	List	   *usable = NIL;
	Bitmapset  *attrs;
	FuncExpr   *call;
	VisResult  *r;
	ListCell   *lc;

	if (prev_set_rel_pathlist)
		prev_set_rel_pathlist(root, rel, rti, rte);
	if (!vis_enable_rangescan || rel->reloptkind != RELOPT_BASEREL ||
		rte->rtekind != RTE_RELATION || rel->tuples <= 0)
		return;
	/* cheap tests first: a point query's planning pays for them */
	table = vis_store_table(rte->relid);
	if (table != VIS_STORE_PROGRESS && table != VIS_STORE_ENROLLMENTS)
		return;
	foreach(lc, rel->indexlist)
		if (index_usable(lfirst_node(IndexOptInfo, lc)))
			usable = lappend(usable, lfirst(lc));
	if (usable == NIL)
		return;
	attrs = vis_rel_attrs(rel);
	if (reads_system_columns(attrs))
		return;
	call = range_policy(rel, rte->relid);
	if (call == NULL)
		return;
	r = vis_plan_time_result(linitial(call->args));
	if (r == NULL || r->sees_all)
		return;
	foreach(lc, usable)
	{
		IndexOptInfo *index = lfirst_node(IndexOptInfo, lc);
		int			pos[3];
		bool		heap;
		VisSide		side = range_index(index, call, attrs, pos, &heap);
		Path	   *path;

		if (side != VIS_SIDE_NONE && (path = range_path(root, rel, index, call, side, pos, heap, r)) != NULL)
			add_path(rel, path);
	}
}

/*
 * range_plan makes the plan: the scan returns the index's columns
 * (custom_scan_tlist), or the table's when it reads the heap; its quals are
 * all the relation's, the policy among them, and its one expression is the
 * policy's principal argument.
 */
static Plan *
range_plan(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
		   List *tlist, List *clauses, List *custom_plans)
{
	CustomScan *cs = makeNode(CustomScan);
	RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
	Oid			indexid = linitial_oid(list_nth(best_path->custom_private, RS_PRIVATE_INDEX));
	FuncExpr   *call = range_policy(rel, rte->relid);
	IndexOptInfo *index = NULL;
	List	   *scan_tlist = NIL;
	ListCell   *lc;
	int			i;

	foreach(lc, rel->indexlist)
		if (lfirst_node(IndexOptInfo, lc)->indexoid == indexid)
			index = lfirst_node(IndexOptInfo, lc);
	if (index == NULL || call == NULL)
		elog(ERROR, "lms_visibility: the range scan's index or policy is gone");
	/* reading the heap, the scan returns the table's rows */
	for (i = 0; i < index->ncolumns && !list_nth_int(list_nth(best_path->custom_private, RS_PRIVATE_INTS), RS_INT_HEAP); i++)
	{
		Oid			type;
		int32		typmod;
		Oid			collation;

		get_atttypetypmodcoll(rte->relid, index->indexkeys[i], &type, &typmod, &collation);
		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry((Expr *) makeVar(rel->relid, index->indexkeys[i],
															  type, typmod, collation, 0),
											 i + 1, NULL, false));
	}
	cs->scan.plan.targetlist = tlist;
	cs->scan.plan.qual = extract_actual_clauses(clauses, false);
	cs->scan.scanrelid = rel->relid;
	cs->flags = best_path->flags;
	cs->custom_exprs = list_make1(copyObject(linitial(call->args)));
	cs->custom_private = best_path->custom_private;
	cs->custom_scan_tlist = scan_tlist;
	cs->methods = &range_scan_methods;
	return &cs->scan.plan;
}

/* vis_is_rangescan tells whether plan is a range scan */
bool
vis_is_rangescan(Plan *plan)
{
	return IsA(plan, CustomScan) && ((CustomScan *) plan)->methods == &range_scan_methods;
}

static Node *
range_create_state(CustomScan *cscan)
{
	RangeScanState *s = palloc0(sizeof(RangeScanState));
	List	   *ints = list_nth(cscan->custom_private, RS_PRIVATE_INTS);

	NodeSetTag(s, T_CustomScanState);
	s->css.flags = cscan->flags;
	s->css.methods = &range_exec_methods;
	s->indexid = linitial_oid(list_nth(cscan->custom_private, RS_PRIVATE_INDEX));
	s->side = (VisSide) list_nth_int(ints, RS_INT_SIDE);
	s->pos[0] = list_nth_int(ints, RS_INT_USER_POS);
	s->pos[1] = list_nth_int(ints, RS_INT_CONTENT_POS);
	s->pos[2] = list_nth_int(ints, RS_INT_CONTEXT_POS);
	s->gap_limit = list_nth_int(ints, RS_INT_GAP);
	s->heap = list_nth_int(ints, RS_INT_HEAP);
	s->vmbuf = InvalidBuffer;
	return (Node *) s;
}

static void
range_begin(CustomScanState *node, EState *estate, int eflags)
{
	RangeScanState *s = (RangeScanState *) node;
	CustomScan *cs = (CustomScan *) node->ss.ps.plan;
	Relation	heap = node->ss.ss_currentRelation;

	s->principal = ExecInitExpr(linitial(cs->custom_exprs), &node->ss.ps);
	s->index = index_open(s->indexid, exec_rt_fetch(cs->scan.scanrelid, estate)->rellockmode);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	s->tableslot = ExecAllocTableSlot(&estate->es_tupleTable, RelationGetDescr(heap),
									  table_slot_callbacks(heap));
	s->scan = index_beginscan_compat(heap, s->index, estate->es_snapshot, 1, 0);
	s->scan->xs_want_itup = true;
	ScanKeyInit(&s->key, 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(0));
}

/*
 * range_start evaluates the principal argument and takes its runs (none for
 * a null principal: the policy admits no row then) and its rule.
 */
static void
range_start(RangeScanState *s)
{
	ExprContext *econtext = s->css.ss.ps.ps_ExprContext;
	bool		isnull;
	Datum		d = ExecEvalExprSwitchContext(s->principal, econtext, &isnull);

	if (s->ranges)
		pfree(s->ranges);
	s->ranges = NULL;
	s->nranges = 0;
	s->r = NULL;
	if (!isnull)
	{
		int64		p = DatumGetInt64(d);
		VisResult  *r;
		bool		kept;
		const int64 *ranges;

		/* the same check and entry as the policy's own calls */
		vis_check_principal_arg(p);
		r = vis_cache_get_rows(p, &kept);
		ranges = vis_result_ranges(r, s->side, &s->nranges);
		s->ranges = palloc(sizeof(int64) * 2 * Max(s->nranges, 1));
		memcpy(s->ranges, ranges, sizeof(int64) * 2 * s->nranges);
		s->r = kept ? r : NULL;
		s->epoch = vis_cache_epoch;
	}
	s->run = 0;
	s->positioned = false;
	s->started = true;
}

/* index_tuple_visible applies the rule of s->r to an index tuple */
static inline bool
index_tuple_visible(RangeScanState *s, IndexTuple itup, TupleDesc desc)
{
	bool		isnull;
	int64		user_id;
	int64		content_id;
	int64		context_id = 0;
	bool		has_context = false;

	user_id = DatumGetInt64(index_getattr(itup, s->pos[0], desc, &isnull));
	if (isnull)
		return false;
	content_id = DatumGetInt64(index_getattr(itup, s->pos[1], desc, &isnull));
	if (isnull)
		return false;
	if (s->pos[2] > 0)
	{
		Datum		d = index_getattr(itup, s->pos[2], desc, &isnull);

		has_context = !isnull;
		if (has_context)
			context_id = DatumGetInt64(d);
	}
	return vis_result_sees(s->r, user_id, content_id, has_context, context_id);
}

/*
 * range_next returns the next index tuple of the runs that the rule admits,
 * as an index-only scan does: the heap is read only for a page not marked
 * all-visible, to learn whether the tuple is visible to the snapshot.
 *
 * The index is positioned with one key, "lead >= lo" of a run, and read on
 * past the run's end: a tuple beyond it belongs to a later run or to a gap
 * between runs.  A short gap is read through (its tuples are dropped on
 * their leading column alone); past a long one the scan is positioned
 * again.  One key rather than two halves the comparisons PostgreSQL 15
 * makes per tuple, and reading through short gaps spares descents.
 */
static TupleTableSlot *
range_next(ScanState *ss)
{
	RangeScanState *s = (RangeScanState *) ss;
	TupleTableSlot *slot = ss->ss_ScanTupleSlot;
	IndexScanDesc scan = s->scan;
	ItemPointer tid;
	bool		isnull;
	int64		lead;

	if (!s->started)
		range_start(s);
	for (;;)
	{
		if (s->run >= s->nranges)
			return ExecClearTuple(slot);
		if (!s->positioned)
		{
			s->key.sk_argument = Int64GetDatum(s->ranges[2 * s->run]);
			index_rescan(scan, &s->key, 1, NULL, 0);
			s->positioned = true;
		}
		tid = index_getnext_tid(scan, ForwardScanDirection);
		if (tid == NULL)
		{
			s->run = s->nranges;	/* nothing from lo on is left */
			continue;
		}
		CHECK_FOR_INTERRUPTS();
		lead = DatumGetInt64(index_getattr(scan->xs_itup, 1, scan->xs_itupdesc, &isnull));
		if (lead > s->ranges[2 * s->run + 1])
		{
			while (s->run < s->nranges && lead > s->ranges[2 * s->run + 1])
				s->run++;
			if (s->run >= s->nranges)
				continue;
			if (lead < s->ranges[2 * s->run])
			{
				/* in a gap: read through it, or position past it */
				if (s->ranges[2 * s->run] - lead > s->gap_limit)
					s->positioned = false;
				continue;
			}
		}
		if (s->r != NULL && s->epoch == vis_cache_epoch &&
			!index_tuple_visible(s, scan->xs_itup, scan->xs_itupdesc))
		{
			/* read, as an index-only scan would have before its quals */
			if (IsolationIsSerializable())
				PredicateLockPage(scan->heapRelation, ItemPointerGetBlockNumber(tid),
								  ss->ps.state->es_snapshot);
			continue;
		}
		if (s->heap)
		{
			/* the row from the heap, the version the snapshot sees */
			s->heap_fetches++;
			if (!index_fetch_heap(scan, s->tableslot))
				continue;
			if (scan->xs_heap_continue)
				elog(ERROR, "non-MVCC snapshots are not supported in lms_visibility range scans");
			return ExecCopySlot(slot, s->tableslot);
		}
		if (!VM_ALL_VISIBLE(scan->heapRelation, ItemPointerGetBlockNumber(tid), &s->vmbuf))
		{
			s->heap_fetches++;
			if (!index_fetch_heap(scan, s->tableslot))
				continue;		/* no version visible to the snapshot */
			ExecClearTuple(s->tableslot);
			if (scan->xs_heap_continue)
				elog(ERROR, "non-MVCC snapshots are not supported in index-only scans");
		}
		else
			PredicateLockPage(scan->heapRelation, ItemPointerGetBlockNumber(tid),
							  ss->ps.state->es_snapshot);
		ExecClearTuple(slot);
		index_deform_tuple(scan->xs_itup, scan->xs_itupdesc, slot->tts_values, slot->tts_isnull);
		return ExecStoreVirtualTuple(slot);
	}
}

/* the scan's rows come from the index only: nothing to recheck them with */
static bool
range_recheck(ScanState *ss, TupleTableSlot *slot)
{
	elog(ERROR, "EvalPlanQual recheck is not supported in lms_visibility range scans");
	return false;
}

static TupleTableSlot *
range_exec(CustomScanState *node)
{
	return ExecScan(&node->ss, range_next, range_recheck);
}

static void
range_end(CustomScanState *node)
{
	RangeScanState *s = (RangeScanState *) node;

	if (s->vmbuf != InvalidBuffer)
		ReleaseBuffer(s->vmbuf);
	s->vmbuf = InvalidBuffer;
	if (s->scan)
		index_endscan(s->scan);
	s->scan = NULL;
	if (s->index)
		index_close(s->index, NoLock);
	s->index = NULL;
}

static void
range_rescan(CustomScanState *node)
{
	RangeScanState *s = (RangeScanState *) node;

	s->started = false;
	ExecScanReScan(&node->ss);
}

static void
range_explain(CustomScanState *node, List *ancestors, ExplainState *es)
{
	RangeScanState *s = (RangeScanState *) node;
	char	   *name = get_rel_name(s->indexid);

	ExplainPropertyText("Index", name ? name : "?", es);
	ExplainPropertyText("Runs Of", s->side == VIS_SIDE_USERS ? "visible users" : "accessible content", es);
	ExplainPropertyText("Reads", s->heap ? "index and heap" : "index only", es);
	if (es->analyze)
		ExplainPropertyInteger("Heap Fetches", NULL, (int64) s->heap_fetches, es);
}

void
vis_rangescan_init(void)
{
	RegisterCustomScanMethods(&range_scan_methods);
	prev_set_rel_pathlist = set_rel_pathlist_hook;
	set_rel_pathlist_hook = range_set_rel_pathlist;
}
