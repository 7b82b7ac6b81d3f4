/*-------------------------------------------------------------------------
 *
 * vis_cache.c
 *	  Per-backend cache of U(p) and C(p), one entry per principal, and of
 *	  the tenants' structures the entries are built from; reused across
 *	  statements and transactions, and dropped exactly when a store fact
 *	  one of them read changes.
 *
 *	  Each build records the keys of the facts it reads (vis_inval.c).  The
 *	  store's row triggers send the keys of the rows they change as relcache
 *	  invalidations; PostgreSQL delivers them to every backend at commit
 *	  (to hot standbys through WAL replay) and to the changing backend at
 *	  its next command, and re-executes them locally when the transaction
 *	  or subtransaction that sent them aborts, so nothing built from
 *	  rolled-back rows survives.  The callback marks stale the entries that
 *	  read the key; they are freed on next use.  An invalidation of the
 *	  proxy relation lms.cache_proxy (TRUNCATE, a statement that touched
 *	  too many facts) or of everything (InvalidOid) flushes all.  An entry
 *	  invalidated while it was being built is used once and never cached.
 *
 *	  The cache holds at most lms.cache_memory bytes (entries and tenant
 *	  structures) and lms.cache_principals entries, evicting the least
 *	  recently used.  An entry larger than the whole bound is used once.
 *
 *	  Under REPEATABLE READ and SERIALIZABLE, an entry is built from the
 *	  transaction's snapshot, with a tenant structure of its own, and lives
 *	  only until the transaction ends.
 *
 *	  With the library preloaded, the server's shared cache (vis_shcache.c)
 *	  comes between this cache and a build: an entry found there, or built
 *	  here and published there, is kept here as a wrapper whose bitmaps
 *	  are the shared memory's own, pinned for the transaction that uses
 *	  it.  At the transaction's end the wrapper goes, so that a backend
 *	  between transactions holds nothing of the shared entries but where
 *	  each was (its slot in the principal map): the next transaction pins
 *	  it there again if the slot still holds it, live, and wraps it anew.
 *	  A wrapper that holds what a statement derived from the entry (the
 *	  runs of ids the range scan reads, the id arrays), which costs about
 *	  what the entry's ids number to derive again, stays, unpinned, and is
 *	  checked the same way when next used.
 *
 * IDENTIFICATION
 *	  src/vis_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_compat.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "portability/instr_time.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "vis_cache.h"

typedef struct VisCacheEntry
{
	int64		principal;
	bool		live;			/* false: stale, free on next use */
	bool		xact_local;		/* built from a transaction snapshot */
	bool		statement_only; /* built in parallel mode: see vis_build_snapshot */
	TimestampTz statement;		/* nonzero: read facts of other nodes, valid in
								 * the statement that started then only */
	LocalTransactionId statement_lxid;	/* of that statement's transaction */
	dlist_node	lru;			/* most recently used first */
	Size		bytes;
	MemoryContext cxt;			/* the result and its keys; NULL: a shared entry's */
	VisResult  *res;
	keyset_hash *keys;			/* the facts the result read */
	struct dsm_segment *share;	/* the entry as parallel workers see it */
	bool		share_tried;	/* share is what vis_share_create gave */
	/* an entry of the server's shared cache (vis_shcache.c), read in place */
	VisShRef	shref;			/* slot -1: a private entry */
	bool		pinned;			/* pinned in this transaction: blob is valid */
	const char *blob;
} VisCacheEntry;

typedef struct VisPrincipalSlot
{
	int64		principal;
	char		status;
	VisCacheEntry *entry;		/* NULL: a shared entry read before */
	VisShRef	shared;			/* where the shared entry was; slot -1: none */
} VisPrincipalSlot;

#define SH_PREFIX pslot
#define SH_ELEMENT_TYPE VisPrincipalSlot
#define SH_KEY_TYPE int64
#define SH_KEY principal
#define SH_HASH_KEY(tb, key) murmurhash32((uint32) ((uint64) (key) ^ ((uint64) (key) >> 32)))
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* A tenant's structure, shared by the entries of its principals */
typedef struct VisTenantEntry
{
	int64		tenant_id;
	bool		live;
	uint64		last_used;
	Size		bytes;
	MemoryContext cxt;
	VisTenant  *t;
	keyset_hash *keys;
} VisTenantEntry;

#define VIS_MAX_TENANTS 16

int			vis_cache_max_principals = 4096;
int			vis_cache_memory_kb = 65536;

/*
 * vis_cache_epoch changes whenever a result handed out may be freed or has
 * become stale: callers that keep a result pointer check it.
 */
uint64		vis_cache_epoch = 1;

/* scans of the store the executor guard decided, for cache_stats() */
uint64		vis_shortcut_scans = 0;
uint64		vis_inline_scans = 0;

static MemoryContext VisCacheContext = NULL;
static dlist_head lru = DLIST_STATIC_INIT(lru);
static pslot_hash *pmap = NULL;
static int	nentries = 0;
static int	nshared_refs = 0;	/* slots of pmap with no entry */
static int	nstale = 0;
static Size entry_bytes = 0;	/* of the live entries, as last measured */
static VisCacheEntry *last_hit = NULL;
static VisTenantEntry tenants[VIS_MAX_TENANTS];
static uint64 tenant_tick = 0;
static uint64 generation = 1;
static bool any_xact_local = false;
static bool any_statement_only = false;
static bool any_pinned = false;
static Oid	proxy_oid = InvalidOid;
static Oid	role_rels[2];		/* lms.role_bindings, lms.trusted_roles */
static VisKey role_keys[2];		/* the same, read in full */

/* observability */
static uint64 stat_hits = 0;
static uint64 stat_rebuilds = 0;
static uint64 stat_invalidations = 0;
static uint64 stat_evictions = 0;
static TimestampTz stat_last_invalidation = 0;
static double stat_last_rebuild_ms = 0;

static void
note_invalidation(void)
{
	vis_cache_epoch++;
	last_hit = NULL;
	stat_invalidations++;
	stat_last_invalidation = GetCurrentTimestamp();
}

static void
mark_stale(VisCacheEntry *e)
{
	if (!e->live)
		return;
	e->live = false;
	nstale++;
	vis_share_stale(e->share);
}

/*
 * flush_all marks every entry and tenant structure stale, and the role
 * map too.  It runs inside invalidation callbacks: no catalog access, no
 * allocation.
 */
static void
flush_all(void)
{
	dlist_iter	it;
	int			i;

	dlist_foreach(it, &lru)
		mark_stale(dlist_container(VisCacheEntry, lru, it.cur));
	for (i = 0; i < VIS_MAX_TENANTS; i++)
		tenants[i].live = false;
	generation++;
	vis_record_received(InvalidOid);
	note_invalidation();
}

/*
 * key_changed marks stale what read the fact of key.  It runs inside
 * invalidation callbacks.
 */
static void
key_changed(VisKey key)
{
	bool		changed = false;
	dlist_iter	it;
	int			i;

	dlist_foreach(it, &lru)
	{
		VisCacheEntry *e = dlist_container(VisCacheEntry, lru, it.cur);

		if (!e->live)
			continue;
		/* a shared entry not pinned is checked when next pinned */
		if (e->shref.slot >= 0 ? e->pinned && vis_share_reads(e->blob, key)
			: keyset_lookup(e->keys, key) != NULL)
		{
			mark_stale(e);
			changed = true;
		}
	}
	for (i = 0; i < VIS_MAX_TENANTS; i++)
	{
		if (!tenants[i].live)
			continue;
		if (keyset_lookup(tenants[i].keys, key) != NULL)
		{
			tenants[i].live = false;
			changed = true;
		}
		else if (vis_members_changed(tenants[i].t, key) ||
				 vis_tenant_users_changed(tenants[i].t, key))
			changed = true;
	}
	if (key == role_keys[0] || key == role_keys[1])
	{
		generation++;			/* the role map (vis_principal.c) reloads */
		changed = true;
	}
	vis_record_received(key);
	if (changed)
		note_invalidation();
}

/*
 * watch_proxy makes sure the relcache callback knows the proxy relation
 * and the keys of the role map.  Whatever is built under the current
 * generation (cache entries, the role map of vis_principal.c) relies on
 * it: an invalidation the callback does not recognise is ignored, so a
 * binding revoked after a role map was loaded with no cache entry built in
 * between would go unnoticed.
 */
static void
watch_proxy(void)
{
	if (!OidIsValid(proxy_oid))
	{
		role_rels[0] = vis_relid("role_bindings", false);
		role_rels[1] = vis_relid("trusted_roles", false);
		role_keys[0] = vis_key(role_rels[0], 0, 0);
		role_keys[1] = vis_key(role_rels[1], 0, 0);
		proxy_oid = vis_relid("cache_proxy", false);
	}
}

/*
 * vis_relcache_callback dispatches the invalidations: a key, the proxy
 * relation, everything (InvalidOid, e.g. after a shared-invalidation
 * overflow), or the relcache of the role map's tables, whose policies
 * anchor the bindings to their roles.
 */
static void
vis_relcache_callback(Datum arg, Oid relid)
{
	vis_load_forget(relid);
	if (relid == InvalidOid || relid == proxy_oid)
	{
		flush_all();
		/* the proxy may have been dropped: look it up again */
		proxy_oid = InvalidOid;
	}
	else if (VisIsKey(relid))
		key_changed((VisKey) relid);
	else if (relid == role_rels[0] || relid == role_rels[1])
	{
		/* an anchor created or dropped (DROP OWNED): the role map reloads */
		generation++;
		note_invalidation();
	}
}

/*
 * drop_entries marks stale the entries built from a transaction's snapshot
 * (xact_local) or else those kept for one statement (statement_only).
 */
static void
drop_entries(bool xact_local)
{
	dlist_iter	it;

	dlist_foreach(it, &lru)
	{
		VisCacheEntry *e = dlist_container(VisCacheEntry, lru, it.cur);

		if (xact_local ? e->xact_local : e->statement_only)
			mark_stale(e);
	}
	vis_cache_epoch++;
	last_hit = NULL;
}

static MemoryContext shared_entries(void);
static void forget_shared_refs(void);
static void free_entry(VisCacheEntry *e);
static void release_entry(VisCacheEntry *e, bool keep_place);

/*
 * unpin_entries releases the shared entries pinned in this transaction,
 * and the wrappers that hold nothing derived from them: they may be freed
 * from now on.  Each such live one leaves where it was in its principal's
 * slot, for the next transaction to pin it again (vis_cache_get).
 */
static void
unpin_entries(void)
{
	dlist_mutable_iter it;
	bool		kept = false;

	dlist_foreach_modify(it, &lru)
	{
		VisCacheEntry *e = dlist_container(VisCacheEntry, lru, it.cur);

		if (e->shref.slot < 0)
			continue;
		e->pinned = false;
		if (e->live && vis_share_result_derived(e->res))
		{
			kept = true;
			continue;
		}
		release_entry(e, e->live);
	}
	/* the wrappers at once, when none stays */
	if (!kept)
		MemoryContextReset(shared_entries());
	vis_cache_epoch++;
	last_hit = NULL;
	any_pinned = false;
	vis_shcache_unpin_all();
	/* where many shared entries were, beyond the bound on entries: forgotten */
	if (nshared_refs > vis_cache_max_principals)
		forget_shared_refs();
}

/*
 * vis_xact_callback drops what a snapshot-isolated transaction built from
 * its snapshot.  What an aborted transaction built from its own rows goes
 * with the keys PostgreSQL re-executes locally at the abort.
 */
static void
vis_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			if (any_xact_local)
				drop_entries(true);
			any_xact_local = false;
			if (any_pinned)
				unpin_entries();
			break;
		default:
			break;
	}
}

/*
 * vis_cache_exit unpublishes the entries shared with parallel workers when
 * the backend exits.
 */
static void
vis_cache_exit(int code, Datum arg)
{
	dlist_iter	it;

	dlist_foreach(it, &lru)
	{
		VisCacheEntry *e = dlist_container(VisCacheEntry, lru, it.cur);

		vis_share_drop(e->share, e->principal);
		e->share = NULL;
	}
}

/*
 * vis_cache_init registers the callbacks; called once from _PG_init.
 */
void
vis_cache_init(void)
{
	before_shmem_exit(vis_cache_exit, (Datum) 0);
	CacheRegisterRelcacheCallback(vis_relcache_callback, (Datum) 0);
	RegisterXactCallback(vis_xact_callback, NULL);
}

/*
 * vis_cache_generation returns the current generation of the role map:
 * anything built from the bindings under an older one is stale.
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
												ALLOCSET_SMALL_SIZES);
	return VisCacheContext;
}

/*
 * release_entry frees an entry; with keep_place, its principal's slot
 * keeps where its shared entry is, for the next transaction.
 */
static void
release_entry(VisCacheEntry *e, bool keep_place)
{
	vis_cache_epoch++;
	vis_share_drop(e->share, e->principal);
	if (!e->live)
		nstale--;
	else
		entry_bytes -= Min(entry_bytes, e->bytes);
	dlist_delete(&e->lru);
	if (keep_place)
	{
		pslot_lookup(pmap, e->principal)->entry = NULL;
		nshared_refs++;
	}
	else
		pslot_delete(pmap, e->principal);
	if (e->cxt != NULL)
		MemoryContextDelete(e->cxt);
	else
		vis_share_result_free(e->res);
	if (last_hit == e)
		last_hit = NULL;
	pfree(e);
	nentries--;
}

static void
free_entry(VisCacheEntry *e)
{
	release_entry(e, false);
}

/* forget_shared_refs drops the slots that only say where a shared entry was */
static void
forget_shared_refs(void)
{
	pslot_iterator it;
	VisPrincipalSlot *slot;

	if (pmap == NULL || nshared_refs == 0)
		return;
	pslot_start_iterate(pmap, &it);
	while ((slot = pslot_iterate(pmap, &it)) != NULL)
		if (slot->entry == NULL)
			pslot_delete_item(pmap, slot);
	nshared_refs = 0;
}

/* sweep frees the stale entries */
static void
sweep(void)
{
	dlist_mutable_iter it;

	if (nstale == 0)
		return;
	dlist_foreach_modify(it, &lru)
	{
		VisCacheEntry *e = dlist_container(VisCacheEntry, lru, it.cur);

		if (!e->live)
			free_entry(e);
	}
}

static void free_tenant(VisTenantEntry *te);

static Size
tenant_bytes(void)
{
	Size		n = 0;
	int			i;

	for (i = 0; i < VIS_MAX_TENANTS; i++)
		if (tenants[i].cxt != NULL)
			n += tenants[i].bytes;
	return n;
}

/* measure_tenants recounts the tenants' bytes: member lists join them */
static void
measure_tenants(void)
{
	int			i;

	for (i = 0; i < VIS_MAX_TENANTS; i++)
		if (tenants[i].cxt != NULL)
			tenants[i].bytes = MemoryContextMemAllocated(tenants[i].cxt, true);
}

static Size
memory_limit(void)
{
	return (Size) vis_cache_memory_kb * 1024;
}

/* entry_size is the bytes of an entry built in cxt, or of a shared one's result */
static Size
entry_size(MemoryContext cxt, VisResult *res)
{
	return cxt != NULL ? MemoryContextMemAllocated(cxt, true) : vis_share_result_bytes(res);
}

/*
 * measure recounts the bytes of the live entries: a result grows after it
 * is built (the sorted arrays and runs the planner asks for), which
 * entry_bytes learns only here.
 */
static void
measure(void)
{
	dlist_iter	it;

	entry_bytes = 0;
	dlist_foreach(it, &lru)
	{
		VisCacheEntry *e = dlist_container(VisCacheEntry, lru, it.cur);

		e->bytes = entry_size(e->cxt, e->res);
		if (e->live)
			entry_bytes += e->bytes;
	}
}

/*
 * make_room evicts the least recently used entries until one more of
 * bytes fits (0: until the cache is within its bounds again, after they
 * were lowered), and says whether it does.
 */
static bool
make_room(Size bytes)
{
	Size		limit = memory_limit();
	int			i;

	if (bytes + tenant_bytes() > limit && bytes > 0)
		return false;
	/* measuring walks every entry: only when the bound may be reached */
	if (entry_bytes + tenant_bytes() + bytes > limit)
		measure();
	while (!dlist_is_empty(&lru) &&
		   (entry_bytes + tenant_bytes() + bytes > limit ||
			nentries + (bytes > 0) > vis_cache_max_principals))
	{
		free_entry(dlist_tail_element(VisCacheEntry, lru, &lru));
		stat_evictions++;
	}
	for (i = 0; i < VIS_MAX_TENANTS && tenant_bytes() > limit; i++)
		free_tenant(&tenants[i]);
	return entry_bytes + tenant_bytes() + bytes <= limit;
}

/* ---------------------------------------------------------------------
 * Tenant structures
 * ---------------------------------------------------------------------
 */

/* what vis_cache_get tells cached_tenant about the build */
typedef struct TenantUse
{
	bool		cache_ok;		/* latest snapshot, kept beyond the statement */
} TenantUse;

static void
free_tenant(VisTenantEntry *te)
{
	if (te->cxt != NULL)
		MemoryContextDelete(te->cxt);
	memset(te, 0, sizeof(*te));
}

/*
 * cached_tenant is the VisTenantFn of cache builds: the tenant's structure
 * as cached, or loaded and kept.  The build depends on what the structure
 * read either way.
 */
static VisTenant *
cached_tenant(int64 tenant_id, Snapshot snap, void *arg)
{
	TenantUse  *use = (TenantUse *) arg;
	VisTenantEntry *te = NULL;
	VisRecorder rec;
	MemoryContext cxt;
	MemoryContext old;
	VisTenant  *t;
	int			i;

	if (!use->cache_ok)
		return vis_tenant_load(tenant_id, snap, false);
	for (i = 0; i < VIS_MAX_TENANTS; i++)
	{
		if (tenants[i].cxt != NULL && !tenants[i].live)
			free_tenant(&tenants[i]);
		if (tenants[i].cxt != NULL && tenants[i].tenant_id == tenant_id)
		{
			tenants[i].last_used = ++tenant_tick;
			vis_record_copy(tenants[i].keys);
			return tenants[i].t;
		}
	}

	cxt = AllocSetContextCreate(CurrentMemoryContext, "lms_visibility tenant",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	vis_record_start(&rec, cxt);
	t = vis_tenant_load(tenant_id, snap, false);
	MemoryContextSwitchTo(old);
	/* born stale, or more than the cache holds: goes with the build */
	if (!vis_record_stop(&rec) || !make_room(MemoryContextMemAllocated(cxt, true)))
		return t;

	for (i = 0; i < VIS_MAX_TENANTS; i++)
		if (tenants[i].cxt == NULL)
		{
			te = &tenants[i];
			break;
		}
	if (te == NULL)
	{
		te = &tenants[0];
		for (i = 1; i < VIS_MAX_TENANTS; i++)
			if (tenants[i].last_used < te->last_used)
				te = &tenants[i];
		free_tenant(te);
	}
	MemoryContextSetParent(cxt, vis_cache_context());
	te->tenant_id = tenant_id;
	te->live = true;
	te->last_used = ++tenant_tick;
	te->cxt = cxt;
	te->t = t;
	te->keys = rec.keys;
	te->bytes = MemoryContextMemAllocated(cxt, true);
	return t;
}

/* ---------------------------------------------------------------------
 * Entries
 * ---------------------------------------------------------------------
 */

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

static VisCacheEntry *
lookup(int64 principal)
{
	VisPrincipalSlot *slot;

	if (pmap == NULL)
		return NULL;
	slot = pslot_lookup(pmap, principal);
	return slot != NULL ? slot->entry : NULL;
}

/*
 * shared_ref returns where the shared entry of a principal was when an
 * earlier transaction read it, and forgets it; slot -1: nowhere known.
 */
static VisShRef
shared_ref(int64 principal)
{
	VisPrincipalSlot *slot = pmap != NULL ? pslot_lookup(pmap, principal) : NULL;
	VisShRef	ref = {-1, 0};

	if (slot != NULL && slot->entry == NULL)
	{
		ref = slot->shared;
		pslot_delete_item(pmap, slot);
		nshared_refs--;
	}
	return ref;
}

/*
 * vis_cache_share shares the cached entry of a principal with the workers
 * of the parallel query the executor is starting (vis_share.c), once.
 * Serializing an entry costs about what building it does, so only the
 * entries a parallel query uses are shared.
 */
void
vis_cache_share(int64 principal)
{
	VisCacheEntry *e;

	if (IsParallelWorker())
		return;
	e = lookup(principal);
	/* the workers find a shared entry in the server's cache themselves */
	if (e != NULL && e->live && !e->share_tried && e->shref.slot < 0)
	{
		e->share_tried = true;
		e->share = vis_share_create(e->res);
	}
}

/*
 * add_entry caches res, the result of principal built in cxt, reading the
 * facts of keys (cxt and keys NULL: a shared entry, pinned, whose blob
 * holds them).
 */
static VisCacheEntry *
add_entry(int64 principal, MemoryContext cxt, VisResult *res, keyset_hash *keys,
		  bool keep, const VisShRef *shref, const char *blob)
{
	VisCacheEntry *e;
	VisPrincipalSlot *slot;
	bool		found;

	if (pmap == NULL)
		pmap = pslot_create(vis_cache_context(), 64, NULL);
	if (cxt != NULL)
		MemoryContextSetParent(cxt, vis_cache_context());
	/* a shared entry's wrapper goes with the others at transaction end */
	e = MemoryContextAllocZero(shref != NULL ? shared_entries() : vis_cache_context(),
							   sizeof(VisCacheEntry));
	e->principal = principal;
	e->live = true;
	e->xact_local = IsolationUsesXactSnapshot();
	e->statement_only = !keep;
	if (!keep)
		any_statement_only = true;
	e->cxt = cxt;
	e->res = res;
	e->keys = keys;
	e->shref.slot = -1;
	if (shref != NULL)
	{
		e->shref = *shref;
		e->pinned = true;
		e->blob = blob;
		e->xact_local = false;
		any_pinned = true;
	}
	e->bytes = entry_size(cxt, res);
	if (e->xact_local)
		any_xact_local = true;
	dlist_push_head(&lru, &e->lru);
	slot = pslot_insert(pmap, principal, &found);
	if (found && slot->entry == NULL)
		nshared_refs--;			/* where a shared entry was: now an entry */
	slot->entry = e;
	slot->shared = e->shref;
	nentries++;
	entry_bytes += e->bytes;
	last_hit = e;
	return e;
}

/*
 * shared_entries is the context of the wrappers of the shared entries
 * pinned in this transaction: each is a few hundred bytes read in place
 * (vis_share_result), too small for a context of its own, and all go at
 * once at transaction end.  Its blocks are small, so that the bytes an
 * entry is counted for (its chunks) add up to about what the context
 * holds.
 */
static MemoryContext
shared_entries(void)
{
	static MemoryContext cxt = NULL;

	if (cxt == NULL)
		cxt = AllocSetContextCreate(vis_cache_context(), "lms_visibility shared entries",
									ALLOCSET_SMALL_SIZES);
	return cxt;
}

/*
 * shared_entry caches a shared entry found or published (blob, pinned) as
 * a result read in place, and returns it.
 */
static VisResult *
shared_entry(int64 principal, const VisShRef *ref, const char *blob, bool *kept)
{
	VisResult  *res = vis_share_result(blob, shared_entries());

	any_pinned = true;			/* the pin goes at transaction end */
	if (!make_room(vis_share_result_bytes(res)))
	{
		/* for this call only: in the caller's context */
		vis_share_result_free(res);
		if (kept)
			*kept = false;
		return vis_share_result(blob, CurrentMemoryContext);
	}
	return add_entry(principal, NULL, res, NULL, true, ref, blob)->res;
}

/*
 * this_statement tells whether an entry may serve the running statement:
 * one that read facts of other nodes serves the statement it was built in
 * only, since no key tells this node of their changes.
 */
static bool
this_statement(const VisCacheEntry *e)
{
	return e->statement == 0 ||
		(e->statement == GetCurrentStatementStartTimestamp() &&
		 e->statement_lxid == MyProcLocalTransactionId);
}

/*
 * vis_cache_compute returns U(p) and C(p) computed now, from the latest
 * snapshot, in the caller's memory context, and kept by no cache:
 * lms.preview() asks about every user of a tenant, once in a state it
 * rolls back.  The tenant's structure is the cached one, which the
 * invalidations of rolled-back rows drop as for any aborted write.
 */
VisResult *
vis_cache_compute(int64 principal)
{
	TenantUse	use;
	Snapshot	snap;
	bool		keep;
	VisResult  *res;

	AcceptInvalidationMessages();
	snap = vis_build_snapshot(true, &keep);
	use.cache_ok = keep && !IsolationUsesXactSnapshot();
	res = vis_compute(principal, NULL, snap, cached_tenant, &use);
	UnregisterSnapshot(snap);
	return res;
}

/*
 * vis_cache_get returns U(p) and C(p) of a principal, from the cache or
 * freshly computed.  The result stays valid until the next call.  kept
 * (unless NULL) tells whether the cache keeps it: a result born stale is
 * for this call only, and must not be remembered beyond it.
 */
VisResult *
vis_cache_get(int64 principal, bool *kept)
{
	VisCacheEntry *e;
	MemoryContext cxt;
	MemoryContext old;
	VisResult  *res;
	VisRecorder rec;
	TenantUse	use;
	Snapshot	snap;
	bool		keep;
	bool		fresh;
	bool		share;
	instr_time	start,
				duration;

	if (kept)
		*kept = true;
	if (any_statement_only && !IsInParallelMode())
		vis_cache_statement_start();
	if (last_hit && last_hit->principal == principal && last_hit->live &&
		this_statement(last_hit))
	{
		stat_hits++;
		return last_hit->res;
	}

	watch_proxy();
	sweep();
	if (entry_bytes + tenant_bytes() > memory_limit() || nentries > vis_cache_max_principals)
		make_room(0);
	e = lookup(principal);
	if (e != NULL && !this_statement(e))
	{
		free_entry(e);
		e = NULL;
	}
	if (e != NULL && e->shref.slot >= 0 && !e->pinned)
	{
		/* a wrapper kept from an earlier transaction: still its slot's entry? */
		const char *blob = vis_shcache_usable() ? vis_shcache_repin(&e->shref) : NULL;

		if (blob == e->blob)
		{
			e->pinned = true;
			any_pinned = true;
		}
		else
		{
			/* a pin of another address would be an error: its result points there */
			Assert(blob == NULL);
			free_entry(e);
			e = NULL;
		}
	}
	if (e == NULL && vis_shcache_usable())
	{
		/* a shared entry read in an earlier transaction: still the one? */
		VisShRef	ref = shared_ref(principal);
		const char *blob = ref.slot >= 0 ? vis_shcache_repin(&ref) : NULL;

		if (blob != NULL)
		{
			stat_hits++;
			return shared_entry(principal, &ref, blob, kept);
		}
	}
	if (e != NULL)
	{
		stat_hits++;
		dlist_move_head(&lru, &e->lru);
		last_hit = e;
		return e->res;
	}

	/* the server's shared cache, when there is one */
	share = vis_shcache_usable() && OidIsValid(proxy_oid);
	if (share)
	{
		VisShRef	ref;
		const char *blob = vis_shcache_find(principal, proxy_oid, &ref);

		if (blob != NULL)
		{
			stat_hits++;
			return shared_entry(principal, &ref, blob, kept);
		}
		/* published only when built from the latest snapshot */
		share = !IsInParallelMode() && !IsolationUsesXactSnapshot();
		if (share)
			vis_shcache_build_start();
	}

	/*
	 * The invalidations already sent, before the build takes its snapshot:
	 * a tenant structure this transaction loaded before a change committed
	 * is then reloaded, not mixed with a snapshot that sees the change.
	 */
	if (!IsInParallelMode())
		AcceptInvalidationMessages();

	/* build in a context of the caller: if anything fails it goes away */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "lms_visibility principal",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	INSTR_TIME_SET_CURRENT(start);
	vis_record_start(&rec, cxt);
	snap = vis_build_snapshot(true, &keep);
	use.cache_ok = keep && !IsolationUsesXactSnapshot();
	res = vis_compute(principal, NULL, snap, cached_tenant, &use);
	UnregisterSnapshot(snap);
	fresh = vis_record_stop(&rec);
	INSTR_TIME_SET_CURRENT(duration);
	INSTR_TIME_SUBTRACT(duration, start);
	MemoryContextSwitchTo(old);
	measure_tenants();
	stat_rebuilds++;
	stat_last_rebuild_ms = INSTR_TIME_GET_MILLISEC(duration);

	/*
	 * Shared when worth it: a small entry (a learner's) costs less to
	 * rebuild than a shared one costs to find, publish and wrap, and would
	 * crowd the shared slots out (bench/shared.sh).
	 */
	if (fresh && share && keep && !rec.statement_only && OidIsValid(proxy_oid) &&
		res->nusers + res->ncontent >= (uint64) vis_shared_cache_min_ids)
	{
		VisShRef	ref;
		const char *blob = NULL;
		Size		len;
		char	   *flat;
		VisShPublish published;

		old = MemoryContextSwitchTo(cxt);
		flat = vis_share_flatten(res, rec.keys, &len);
		MemoryContextSwitchTo(old);
		published = vis_shcache_publish(principal, proxy_oid, flat, len, rec.keys, &ref, &blob);
		if (published == VIS_SH_PUBLISHED)
		{
			/* one copy in the server, none here */
			MemoryContextDelete(cxt);
			return shared_entry(principal, &ref, blob, kept);
		}
		if (published == VIS_SH_STALE)
			fresh = false;
		else
			pfree(flat);
	}

	/* born stale, or larger than the whole cache: use once, never cache */
	if (!fresh || !OidIsValid(proxy_oid) ||
		!make_room(MemoryContextMemAllocated(cxt, true)))
	{
		if (kept)
			*kept = false;
		return res;
	}
	e = add_entry(principal, cxt, res, rec.keys, keep, NULL, NULL);
	/* a fact read from other nodes (vis_citus_players): for this statement */
	if (rec.statement_only)
	{
		e->statement = GetCurrentStatementStartTimestamp();
		e->statement_lxid = MyProcLocalTransactionId;
	}
	return res;
}

/*
 * vis_cache_get_rows is vis_cache_get for the row checks of the policies.
 * In a parallel worker it first looks for the leader's shared entry, which
 * spares the worker loading catalogs and rebuilding.
 */
VisResult *
vis_cache_get_rows(int64 principal, bool *kept)
{
	static VisResult *shared[8];
	static int	nshared = 0;
	VisResult  *r;
	int			i;

	if (!IsParallelWorker())
		return vis_cache_get(principal, kept);
	if (kept)
		*kept = true;
	for (i = 0; i < nshared; i++)
		if (shared[i]->principal == principal)
			return shared[i];
	if (nshared >= lengthof(shared) ||
		(r = vis_share_attach(principal, vis_cache_context())) == NULL)
		return vis_cache_get(principal, kept);
	shared[nshared++] = r;
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
	Datum		values[20];
	bool		nulls[20] = {0};
	int			live_tenants = 0;
	VisShStats	shared;
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	/* the definitions before 0.7.0 take the first 7, 9 or 13 columns */
	if (tupdesc->natts > lengthof(values))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lms.cache_stats() returns more columns than the loaded library knows"),
				 errhint("Install the library of the extension's version and reconnect.")));
	sweep();
	measure();
	for (i = 0; i < VIS_MAX_TENANTS; i++)
		if (tenants[i].cxt != NULL && tenants[i].live)
			live_tenants++;
	values[0] = Int32GetDatum(nentries);
	values[1] = Int64GetDatum((int64) (entry_bytes + tenant_bytes()));
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
	values[9] = Int32GetDatum(live_tenants);
	values[10] = Int64GetDatum((int64) tenant_bytes());
	values[11] = Int64GetDatum((int64) memory_limit());
	values[12] = Int64GetDatum((int64) stat_evictions);
	/* the server's shared cache: NULL when the library is not preloaded */
	if (vis_shcache_stats(&shared))
	{
		values[13] = Int64GetDatum(shared.bytes);
		values[14] = Int64GetDatum(shared.entries);
		values[15] = Int64GetDatum(shared.hits);
		values[16] = Int64GetDatum(shared.builds);
		values[17] = Int64GetDatum(shared.duplicate_builds);
		values[18] = Int64GetDatum(shared.evictions);
		values[19] = Int64GetDatum(shared.invalidations);
	}
	else
		for (i = 13; i < 20; i++)
			nulls[i] = true;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
