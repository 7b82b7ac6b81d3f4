/*-------------------------------------------------------------------------
 *
 * vis_cache.h
 *	  The caches of results: each backend's own, shared with its parallel
 *	  workers, and the server's shared cache when the library is preloaded.
 *
 * IDENTIFICATION
 *	  src/vis_cache.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VIS_CACHE_H
#define VIS_CACHE_H

#include "vis_engine.h"

/* ---------------------------------------------------------------------
 * The per-backend cache (vis_cache.c)
 * ---------------------------------------------------------------------
 */
extern void vis_cache_init(void);
extern VisResult *vis_cache_get(int64 principal, bool *kept);
extern VisResult *vis_cache_compute(int64 principal);
extern uint64 vis_cache_generation(void);
extern MemoryContext vis_cache_context(void);
extern int	vis_cache_max_principals;
extern int	vis_cache_memory_kb;
extern uint64 vis_shortcut_scans;
extern uint64 vis_inline_scans;

/* ---------------------------------------------------------------------
 * Sharing cached entries with parallel workers (vis_share.c), and the
 * cache's side of it (vis_cache.c)
 * ---------------------------------------------------------------------
 */
struct dsm_segment;
extern struct dsm_segment *vis_share_create(VisResult *r);
extern void vis_share_stale(struct dsm_segment *seg);
extern void vis_share_drop(struct dsm_segment *seg, int64 principal);
extern VisResult *vis_share_attach(int64 principal, MemoryContext cxt);
extern VisResult *vis_cache_get_rows(int64 principal, bool *kept);
extern void vis_cache_share(int64 principal);
extern char *vis_share_flatten(VisResult *r, keyset_hash *keys, Size *len);
extern bool vis_share_reads(const char *blob, VisKey key);
extern VisResult *vis_share_result(const char *blob, MemoryContext cxt);
extern void vis_share_result_free(VisResult *r);
extern bool vis_share_result_derived(const VisResult *r);
extern Size vis_share_result_bytes(VisResult *r);

/* ---------------------------------------------------------------------
 * The server's shared cache (vis_shcache.c), when the library is preloaded
 * ---------------------------------------------------------------------
 */
typedef struct VisShRef
{
	int			slot;			/* -1: none */
	uint64		serial;			/* the slot's entry when it was found */
} VisShRef;

typedef enum VisShPublish
{
	VIS_SH_PUBLISHED,			/* the entry is shared: use *blob */
	VIS_SH_STALE,				/* a change raced the build: use it once */
	VIS_SH_NO_ROOM				/* keep it privately */
} VisShPublish;

typedef struct VisShStats
{
	int64		bytes;
	int64		entries;
	int64		hits;
	int64		builds;
	int64		duplicate_builds;
	int64		evictions;
	int64		invalidations;
} VisShStats;

extern int	vis_shared_cache_memory_kb;
extern int	vis_shared_cache_min_ids;
extern void vis_shcache_request(void);
extern bool vis_shcache_usable(void);
extern const char *vis_shcache_find(int64 principal, Oid store, VisShRef *ref);
extern const char *vis_shcache_repin(VisShRef *ref);
extern void vis_shcache_build_start(void);
extern VisShPublish vis_shcache_publish(int64 principal, Oid store, const char *blob,
										Size len, keyset_hash *keys, VisShRef *ref,
										const char **shared);
extern void vis_shcache_unpin_all(void);
extern bool vis_shcache_stats(VisShStats *s);

extern void vis_cache_statement_start(void);
extern uint64 vis_cache_epoch;

#endif							/* VIS_CACHE_H */
