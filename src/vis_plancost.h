/*-------------------------------------------------------------------------
 *
 * vis_plancost.h
 *	  Every cost and limit of the planner's model for a principal's scan,
 *	  in one place: the planner support's index condition (vis_planner.c),
 *	  the range scan (vis_rangescan.c) and the inputs both read
 *	  (vis_plancost.c).
 *
 * Costs are nanoseconds, measured on bench/run.sh's tenant (100,000 users,
 * about 1,000,000 progress rows) and checked on PostgreSQL 15 and 18 by
 * bench/rangescan.sh (doc/performance.md, "The range scan on 15 and 18"):
 * the planner's choice is the faster plan on both, with the same constants.
 *
 * IDENTIFICATION
 *	  src/vis_plancost.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VIS_PLANCOST_H
#define VIS_PLANCOST_H

/* what a scan costs, per unit */
#define VIS_COST_DESCENT 2200.0		/* one descent of a btree */
#define VIS_COST_SEQ_ROW 80.0		/* one row of a sequential scan */
#define VIS_COST_INDEX_TUPLE 125.0	/* one index tuple of "= ANY (ids)" */
#define VIS_COST_RANGE_TUPLE 60.0	/* one the range scan's rule drops on the page */
#define VIS_COST_RANGE_ROW 110.0	/* one it lets through to the slot and quals */
#define VIS_COST_HEAP_FETCH 1600.0	/* a row read from the heap, by its tid */

/*
 * When the index condition on the principal's ids is offered
 * (vis_planner.c): as an index-only scan while its estimate stays under
 * VIS_INDEX_ONLY_MAX of the sequential scan's, on a table at least
 * VIS_INDEX_MIN_ALLVISIBLE all-visible; else with heap fetches, for a share
 * of the rows up to VIS_INDEX_SMALL_SHARE, or up to VIS_INDEX_MAX_SHARE
 * while the array holds at most VIS_INDEX_MAX_IDS ids.
 */
#define VIS_INDEX_ONLY_MAX 0.6
#define VIS_INDEX_MIN_ALLVISIBLE 0.9
#define VIS_INDEX_SMALL_SHARE 0.05
#define VIS_INDEX_MAX_SHARE 0.25
#define VIS_INDEX_MAX_IDS 20000

/* up to so many runs, the range scan counts their rows with the statistics */
#define VIS_RANGE_ESTIMATE_RUNS 16

#endif							/* VIS_PLANCOST_H */
