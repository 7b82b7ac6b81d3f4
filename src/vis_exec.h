/*-------------------------------------------------------------------------
 *
 * vis_exec.h
 *	  Row-level security at run time: the policies' predicate, the planner's
 *	  support and cost model, the range scan and the executor guard.
 *
 * IDENTIFICATION
 *	  src/vis_exec.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VIS_EXEC_H
#define VIS_EXEC_H

#include "vis_engine.h"

/* ---------------------------------------------------------------------
 * The policies' predicate (vis_policy.c), beneath the executor guard, the
 * planner support and the range scan
 * ---------------------------------------------------------------------
 */
typedef enum VisStoreTable
{
	VIS_STORE_NONE = -1,
	VIS_STORE_PROGRESS = 0,		/* can_view_stats(p, user_id, content_id, context_group_id) */
	VIS_STORE_ENROLLMENTS = 1,	/* can_view_stats(p, user_id, content_id) */
	VIS_STORE_USERS = 2			/* can_view_user(p, user_id) */
} VisStoreTable;

extern void vis_policy_init(void);
extern VisStoreTable vis_store_table(Oid relid);
struct FuncExpr;
extern bool vis_is_principal_call(Node *node);
extern bool vis_plan_calls_principal(PlannedStmt *plan);
extern struct FuncExpr *vis_policy_call(Node *clause, VisStoreTable table, Oid relid,
										Index scanrelid, List *indextlist);
extern VisResult *vis_plan_time_result(Node *arg);

/* ---------------------------------------------------------------------
 * The cost model's inputs (vis_plancost.c; its constants: vis_plancost.h)
 * ---------------------------------------------------------------------
 */
struct RelOptInfo;
struct IndexOptInfo;
struct Bitmapset;
extern double vis_plan_share(double members, const char *relname);
extern bool vis_has_equality(struct RelOptInfo *rel, Oid opfamily, Node *column);
extern struct Bitmapset *vis_rel_attrs(struct RelOptInfo *rel);
extern bool vis_index_holds(struct IndexOptInfo *index, struct Bitmapset *attrs);
extern bool vis_index_covers(struct IndexOptInfo *index);

/* ---------------------------------------------------------------------
 * The range scan (vis_rangescan.c), the planner support (vis_planner.c)
 * and the executor guard (vis_exec.c)
 * ---------------------------------------------------------------------
 */
extern bool vis_enable_rangescan;
extern void vis_rangescan_init(void);
struct PlannerInfo;
extern bool vis_rangescan_offered(struct PlannerInfo *root, struct IndexOptInfo *index,
								  Node *policy);
struct Plan;
extern bool vis_is_rangescan(struct Plan *plan);

extern bool vis_row_shortcut;
extern void vis_exec_init(void);

#endif							/* VIS_EXEC_H */
