/*-------------------------------------------------------------------------
 *
 * vis_cache.c
 *	  Per-backend cache of U(p) and C(p), one entry per principal, reused
 *	  across statements and transactions and dropped exactly when the
 *	  relationship store changes.
 *
 *	  Every store table has a statement-level trigger that fires a relcache
 *	  invalidation on the proxy relation lms.cache_proxy.  PostgreSQL
 *	  delivers it to every backend at commit (to hot standbys through WAL
 *	  replay) and to the changing backend at its next command.  The callback
 *	  only bumps a generation counter; entries of an older generation are
 *	  freed on next use.  A transaction or subtransaction abort bumps it too,
 *	  so nothing built from rolled-back rows survives, and an entry that was
 *	  invalidated while it was being built is used once and never cached.
 *
 *	  Under REPEATABLE READ and SERIALIZABLE, an entry is built from the
 *	  transaction's snapshot and lives only until the transaction ends.
 *
 * IDENTIFICATION
 *	  src/vis_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "funcapi.h"
#include "portability/instr_time.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "lms_visibility.h"

typedef struct VisCacheEntry
{
	int64		principal;
	uint64		generation;		/* 0 = free slot */
	bool		xact_local;		/* built from a transaction snapshot */
	bool		statement_only; /* built in parallel mode: see vis_build_snapshot */
	uint64		last_used;
	MemoryContext cxt;
	VisResult  *res;
	struct dsm_segment *share;	/* the entry as parallel workers see it */
} VisCacheEntry;

int			vis_cache_max_principals = 64;

/*
 * vis_cache_epoch changes whenever a result handed out may be freed or has
 * become stale: callers that keep a result pointer check it.
 */
uint64		vis_cache_epoch = 1;

/* whether the last vis_cache_get returned a result the cache keeps */
bool		vis_cache_last_kept = false;

static MemoryContext VisCacheContext = NULL;
static VisCacheEntry *entries = NULL;
static int	nentries = 0;
static int	maxentries = 0;
static VisCacheEntry *last_hit = NULL;
static uint64 generation = 1;
static uint64 tick = 0;
static bool any_xact_local = false;
static bool any_statement_only = false;
static Oid	proxy_oid = InvalidOid;

/* observability */
static uint64 stat_hits = 0;
static uint64 stat_rebuilds = 0;
static uint64 stat_invalidations = 0;
static TimestampTz stat_last_invalidation = 0;
static double stat_last_rebuild_ms = 0;

/*
 * vis_invalidate marks every entry stale.  It runs inside invalidation
 * callbacks: no catalog access, no allocation.
 */
static void
vis_invalidate(void)
{
	int			i;

	for (i = 0; i < nentries; i++)
		vis_share_stale(entries[i].share);
	generation++;
	vis_cache_epoch++;
	last_hit = NULL;
	stat_invalidations++;
	stat_last_invalidation = GetCurrentTimestamp();
}

/*
 * watch_proxy makes sure the relcache callback knows the proxy relation.
 * Whatever is built under the current generation (cache entries, the role
 * map of vis_principal.c) relies on it: an invalidation of a relation the
 * callback does not recognise is ignored, so a binding revoked after a role
 * map was loaded with no cache entry built in between would go unnoticed.
 */
static void
watch_proxy(void)
{
	if (!OidIsValid(proxy_oid))
		proxy_oid = vis_relid("cache_proxy", false);
}

/*
 * vis_relcache_callback flushes on an invalidation of the proxy relation,
 * or of everything (InvalidOid, e.g. after a shared-invalidation overflow).
 */
static void
vis_relcache_callback(Datum arg, Oid relid)
{
	vis_load_forget(relid);
	if (relid == InvalidOid || relid == proxy_oid)
	{
		vis_invalidate();
		/* the proxy may have been dropped: look it up again */
		proxy_oid = InvalidOid;
	}
}

/*
 * drop_entries marks stale the entries built from a transaction's snapshot
 * (xact_local) or else those kept for one statement (statement_only).
 */
static void
drop_entries(bool xact_local)
{
	int			i;

	for (i = 0; i < nentries; i++)
		if (xact_local ? entries[i].xact_local : entries[i].statement_only)
		{
			vis_share_stale(entries[i].share);
			entries[i].generation = 0;
		}
	vis_cache_epoch++;
	last_hit = NULL;
}

/*
 * vis_xact_callback drops what a failed transaction may have built from
 * its own rows, and what a snapshot-isolated transaction built from its
 * snapshot.
 */
static void
vis_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			vis_invalidate();
			any_xact_local = false;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			if (any_xact_local)
				drop_entries(true);
			any_xact_local = false;
			break;
		default:
			break;
	}
}

static void
vis_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		vis_invalidate();
}

/*
 * vis_cache_init registers the callbacks; called once from _PG_init.
 */
static void
vis_cache_exit(int code, Datum arg)
{
	int			i;

	for (i = 0; i < nentries; i++)
	{
		vis_share_drop(entries[i].share, entries[i].principal);
		entries[i].share = NULL;
	}
}

void
vis_cache_init(void)
{
	before_shmem_exit(vis_cache_exit, (Datum) 0);
	CacheRegisterRelcacheCallback(vis_relcache_callback, (Datum) 0);
	RegisterXactCallback(vis_xact_callback, NULL);
	RegisterSubXactCallback(vis_subxact_callback, NULL);
}

/*
 * vis_cache_generation returns the current generation: anything built
 * under an older one is stale.
 */
uint64
vis_cache_generation(void)
{
	watch_proxy();
	return generation;
}

/*
 * vis_cache_context returns the long-lived context of the cache.
 */
MemoryContext
vis_cache_context(void)
{
	if (VisCacheContext == NULL)
		VisCacheContext = AllocSetContextCreate(CacheMemoryContext, "lms_visibility cache",
												ALLOCSET_DEFAULT_SIZES);
	return VisCacheContext;
}

static void
free_entry(VisCacheEntry *e)
{
	vis_cache_epoch++;
	vis_share_drop(e->share, e->principal);
	e->share = NULL;
	if (e->cxt)
		MemoryContextDelete(e->cxt);
	e->cxt = NULL;
	e->res = NULL;
	e->generation = 0;
	if (last_hit == e)
		last_hit = NULL;
}

/* sweep frees stale entries and compacts the array */
static void
sweep(void)
{
	int			i,
				j = 0;

	for (i = 0; i < nentries; i++)
	{
		if (entries[i].generation != generation)
			free_entry(&entries[i]);
		else
		{
			if (i != j)
			{
				if (last_hit == &entries[i])
					last_hit = &entries[j];
				entries[j] = entries[i];
			}
			j++;
		}
	}
	nentries = j;
}

/*
 * vis_cache_statement_start drops the entries kept for one statement only
 * (built by the leader of a parallel query, from the statement's snapshot):
 * at the start of the next statement, and at any lookup outside parallel
 * mode.
 */
void
vis_cache_statement_start(void)
{
	if (any_statement_only)
		drop_entries(false);
	any_statement_only = false;
}

/*
 * vis_cache_get returns U(p) and C(p) of a principal, from the cache or
 * freshly computed.  The result stays valid until the next call.
 */
VisResult *
vis_cache_get(int64 principal)
{
	VisCacheEntry *e;
	MemoryContext cxt;
	MemoryContext old;
	VisResult  *res;
	uint64		born;
	Snapshot	snap;
	bool		keep;
	instr_time	start,
				duration;
	int			i;

	vis_cache_last_kept = true;
	if (any_statement_only && !IsInParallelMode())
		vis_cache_statement_start();
	if (last_hit && last_hit->principal == principal && last_hit->generation == generation)
	{
		stat_hits++;
		last_hit->last_used = ++tick;
		return last_hit->res;
	}

	watch_proxy();
	sweep();
	for (i = 0; i < nentries; i++)
	{
		if (entries[i].principal == principal)
		{
			stat_hits++;
			last_hit = &entries[i];
			last_hit->last_used = ++tick;
			return last_hit->res;
		}
	}

	/* build in a context of the caller: if anything fails it goes away */
	born = generation;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "lms_visibility principal",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	INSTR_TIME_SET_CURRENT(start);
	snap = vis_build_snapshot(true, &keep);
	res = vis_compute(principal, NULL, snap);
	UnregisterSnapshot(snap);
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	MemoryContextSwitchTo(old);
	stat_rebuilds++;
	stat_last_rebuild_ms = INSTR_TIME_GET_MILLISEC(duration);

	if (generation != born || !OidIsValid(proxy_oid))
	{
		vis_cache_last_kept = false;
		return res;				/* born stale: use once, never cache */
	}

	/* keep it: evict the least recently used entry when full */
	if (entries == NULL)
	{
		maxentries = 16;
		entries = MemoryContextAllocZero(vis_cache_context(), sizeof(VisCacheEntry) * maxentries);
	}
	if (nentries >= vis_cache_max_principals && nentries > 0)
	{
		int			victim = 0;

		for (i = 1; i < nentries; i++)
			if (entries[i].last_used < entries[victim].last_used)
				victim = i;
		free_entry(&entries[victim]);
		entries[victim] = entries[nentries - 1];
		vis_cache_epoch++;
		nentries--;
		last_hit = NULL;
	}
	if (nentries >= maxentries)
	{
		maxentries *= 2;
		entries = repalloc(entries, sizeof(VisCacheEntry) * maxentries);
		vis_cache_epoch++;
		last_hit = NULL;
	}
	MemoryContextSetParent(cxt, vis_cache_context());
	e = &entries[nentries++];
	e->principal = principal;
	e->generation = generation;
	e->xact_local = IsolationUsesXactSnapshot();
	e->statement_only = !keep;
	if (!keep)
		any_statement_only = true;
	e->last_used = ++tick;
	e->cxt = cxt;
	e->res = res;
	e->share = NULL;			/* the slot may hold an old entry's pointer */
	e->share = vis_share_create(res);
	if (e->xact_local)
		any_xact_local = true;
	last_hit = e;
	return res;
}

/*
 * vis_cache_get_rows is vis_cache_get for the row checks of the policies.
 * In a parallel worker it first looks for the leader's shared entry, which
 * spares the worker loading catalogs and rebuilding.
 */
VisResult *
vis_cache_get_rows(int64 principal)
{
	static VisResult *flat_results[8];
	static int	nflat = 0;
	const void *flat;
	VisResult  *r;
	int			i;

	if (!IsParallelWorker())
		return vis_cache_get(principal);
	vis_cache_last_kept = true;
	for (i = 0; i < nflat; i++)
		if (flat_results[i]->principal == principal)
			return flat_results[i];
	flat = vis_share_attach(principal);
	if (flat == NULL || nflat >= lengthof(flat_results))
		return vis_cache_get(principal);
	r = MemoryContextAllocZero(vis_cache_context(), sizeof(VisResult));
	r->principal = principal;
	r->known = true;
	r->flat = flat;
	r->sees_all = vis_flat_sees_all(flat);
	flat_results[nflat++] = r;
	stat_hits++;
	return r;
}

PG_FUNCTION_INFO_V1(lms_cache_stats);

/*
 * lms_cache_stats reports the state of this backend's cache.
 */
Datum
lms_cache_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[9];
	bool		nulls[9] = {0};
	int64		bytes = 0;
	int			live = 0;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (i = 0; i < nentries; i++)
	{
		if (entries[i].generation != generation)
			continue;
		live++;
		bytes += MemoryContextMemAllocated(entries[i].cxt, true);
	}
	values[0] = Int32GetDatum(live);
	values[1] = Int64GetDatum(bytes);
	values[2] = Int64GetDatum((int64) stat_hits);
	values[3] = Int64GetDatum((int64) stat_rebuilds);
	values[4] = Int64GetDatum((int64) stat_invalidations);
	if (stat_last_invalidation == 0)
		nulls[5] = true;
	else
		values[5] = TimestampTzGetDatum(stat_last_invalidation);
	values[6] = Float8GetDatum(stat_last_rebuild_ms);
	values[7] = Int64GetDatum((int64) vis_shortcut_scans);
	values[8] = Int64GetDatum((int64) vis_inline_scans);
	/* the 0.1.0 definition has neither of the last two: it takes the first 7 */
	if (tupdesc->natts > lengthof(values))
		elog(ERROR, "lms.cache_stats() returns more columns than this library knows");
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
