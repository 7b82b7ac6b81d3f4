/*-------------------------------------------------------------------------
 *
 * vis_shcache.c
 *	  The server's shared cache of U(p) and C(p): each principal's result
 *	  built once per server and read in place by every backend and
 *	  parallel worker, when the library is in shared_preload_libraries.
 *
 *	  Layout.  A fixed segment of the main shared memory holds the control
 *	  structure: SHC_SLOTS slots in SHC_PARTITIONS partitions, one per
 *	  principal of one database and one install of the extension (the OID
 *	  of lms.cache_proxy), each with its state, a serial number that changes
 *	  whenever the slot is reused, a pin count, a use tick for LRU, a bloom
 *	  filter of the keys (vis_inval.c) its result read, and a dsa_pointer to
 *	  the result itself: the flat form vis_share.c writes, with its keys, in
 *	  a DSA area created in place in the same segment and grown in dynamic
 *	  segments.  The control also holds, per process, the keys noted by a
 *	  build under way and by a commit under way, and, per prepared
 *	  transaction, the keys it will change when it commits.
 *
 *	  Locks.  Each partition has an LWLock: shared to find a slot and pin
 *	  it (an atomic count), exclusive to fill, mark stale or free one.
 *	  There is no global lock on the read path; one more LWLock, the commit
 *	  lock, orders the builds, commits and prepared transactions that race
 *	  each other (below), and is taken by writers and by the backends that
 *	  publish, never by a reader of a published entry.  An entry is freed
 *	  only under its partition's lock, with no pin: a backend pins what it
 *	  reads until its transaction ends, so a running statement never loses
 *	  what it reads.  Marking stale (or evicting) a pinned entry unlinks it
 *	  from lookups; its last unpin frees it.
 *
 *	  Invalidation, exactly as precise as the per-backend cache (doc/
 *	  consistency.md).  A transaction that changes store facts knows their
 *	  keys (vis_inval_send).  At PRE_COMMIT, before the change becomes
 *	  visible, it publishes them as a commit under way and marks stale every
 *	  entry that read one of them; after commit, once its invalidation
 *	  messages have been sent (the resource-release callback after locks),
 *	  it adds them to the builds under way and withdraws the commit.  A
 *	  build registers before it takes its snapshot and, after registering,
 *	  processes the invalidation messages already sent, so that its private
 *	  tenant structure is as new as its snapshot.  Holding the commit lock
 *	  shared, it checks the keys noted for it and those of every commit and
 *	  prepared transaction under way, and links its entry only if none of
 *	  them is a key it read; otherwise it uses its result for this
 *	  statement only, as the per-backend cache does with an entry born
 *	  stale.  A commit registers under the same lock, exclusive: before the
 *	  check, which then finds it, or after the link, and then its marking
 *	  finds the entry.  So a lookup never finds an entry built from a
 *	  snapshot that missed a change whose COMMIT has returned: not even for
 *	  an instant (t/013, part 5).  A prepared transaction's
 *	  keys stay registered until its transaction lock is released, which
 *	  COMMIT or ROLLBACK PREPARED does after sending its messages; the next
 *	  lookup that finds it so marks its entries stale.  The writing
 *	  transaction itself, REPEATABLE READ and SERIALIZABLE transactions, a
 *	  parallel worker of a transaction that wrote, and hot standbys (whose
 *	  changes arrive by replay, with no committer here to mark) use the
 *	  per-backend cache alone.  Only READ COMMITTED builds from the latest
 *	  snapshot, outside parallel mode, are published.
 *
 *	  Concurrency of builds.  Two backends that miss the same principal at
 *	  once build it side by side; the second to publish finds the first's
 *	  entry, frees its own and uses the first (counted as a duplicate
 *	  build).  A build that errors, is cancelled or whose backend is
 *	  terminated has published nothing (a build publishes with no error
 *	  point between allocating and linking its entry); its registration is
 *	  dropped at transaction end and its pins at transaction end or exit.
 *
 *	  What is shared.  An entry of fewer than lms.shared_cache_min_ids ids
 *	  (U(p) and C(p) together: a learner's) stays in its backend: rebuilding
 *	  it costs less than finding, publishing and wrapping a shared one.
 *
 *	  Bounds.  lms.shared_cache_memory bounds the entries' bytes, least
 *	  recently used out, and the slots bound their number; when neither an
 *	  unpinned entry nor shared memory can be had, the build is kept in the
 *	  backend's own cache: never an error to a reader.
 *
 * IDENTIFICATION
 *	  src/vis_shcache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/twophase.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/dsa.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "vis_cache.h"

#define SHC_PARTITIONS 16
#define SHC_SLOTS_PER_PARTITION 1024
#define SHC_SLOTS (SHC_PARTITIONS * SHC_SLOTS_PER_PARTITION)
#define SHC_COMMIT_LOCK SHC_PARTITIONS
#define SHC_LOCKS (SHC_PARTITIONS + 1)
#define SHC_BLOOM_BITS 1024
#define SHC_NOTED_KEYS VIS_MAX_XACT_KEYS	/* beyond: every entry of the database */
#define SHC_DSA_IN_PLACE (1024 * 1024)

typedef enum ShcState
{
	SLOT_FREE = 0,
	SLOT_LIVE,					/* found by lookups */
	SLOT_DEAD					/* stale or evicted, freed at its last unpin */
} ShcState;

typedef struct ShcSlot
{
	int64		principal;
	Oid			dbid;
	Oid			store;			/* lms.cache_proxy of the install */
	uint32		state;			/* a ShcState */
	uint64		serial;
	pg_atomic_uint32 pins;
	pg_atomic_uint64 last_used;
	dsa_pointer blob;
	Size		bytes;
	uint64		bloom[SHC_BLOOM_BITS / 64];
} ShcSlot;

/* keys noted by a build, a commit or a prepared transaction under way */
typedef struct ShcKeys
{
	bool		active;
	bool		all;			/* every key: too many to note */
	Oid			dbid;
	TransactionId xid;			/* a prepared transaction's */
	int			n;
	VisKey		keys[SHC_NOTED_KEYS];
} ShcKeys;

typedef struct ShcControl
{
	int			dsa_tranche;
	int			nprocs;
	int			nprepared;
	pg_atomic_uint32 prepared_in_use;
	pg_atomic_uint64 serials;
	pg_atomic_uint64 tick;
	pg_atomic_uint64 bytes;
	pg_atomic_uint64 entries;
	pg_atomic_uint64 hits;
	pg_atomic_uint64 builds;
	pg_atomic_uint64 duplicates;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 invalidations;
	ShcSlot		slots[SHC_SLOTS];
	/* then ShcKeys builders[nprocs], committers[nprocs], prepared[nprepared]; the DSA */
} ShcControl;

int			vis_shared_cache_memory_kb = 262144;
int			vis_shared_cache_min_ids = 64;

static ShcControl *ctl = NULL;
static LWLockPadded *locks = NULL;
static ShcKeys *builders;
static ShcKeys *committers;
static ShcKeys *prepared;
static char *dsa_place;
static dsa_area *area = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* this backend's pins, released at transaction end */
static int *pins = NULL;
static int	npins = 0;
static int	maxpins = 0;


static int
nprocs_needed(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

static Size
shc_size(void)
{
	Size		size = MAXALIGN(sizeof(ShcControl));

	size = add_size(size, mul_size(2 * nprocs_needed() + max_prepared_xacts + 1, sizeof(ShcKeys)));
	size = MAXALIGN(size);
	return add_size(size, SHC_DSA_IN_PLACE);
}

static void
shc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shc_size());
	RequestNamedLWLockTranche("lms_visibility", SHC_LOCKS);
}

static void
shc_shmem_startup(void)
{
	bool		found;
	char	   *p;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ctl = ShmemInitStruct("lms_visibility shared cache", shc_size(), &found);
	p = (char *) ctl + MAXALIGN(sizeof(ShcControl));
	builders = (ShcKeys *) p;
	committers = builders + nprocs_needed();
	prepared = committers + nprocs_needed();
	dsa_place = (char *) ctl + (shc_size() - SHC_DSA_IN_PLACE);
	if (!found)
	{
		dsa_area   *a;
		int			i;

		memset(ctl, 0, shc_size() - SHC_DSA_IN_PLACE);
		ctl->nprocs = nprocs_needed();
		ctl->nprepared = max_prepared_xacts + 1;
		pg_atomic_init_u32(&ctl->prepared_in_use, 0);
		pg_atomic_init_u64(&ctl->serials, 1);
		pg_atomic_init_u64(&ctl->tick, 1);
		pg_atomic_init_u64(&ctl->bytes, 0);
		pg_atomic_init_u64(&ctl->entries, 0);
		pg_atomic_init_u64(&ctl->hits, 0);
		pg_atomic_init_u64(&ctl->builds, 0);
		pg_atomic_init_u64(&ctl->duplicates, 0);
		pg_atomic_init_u64(&ctl->evictions, 0);
		pg_atomic_init_u64(&ctl->invalidations, 0);
		for (i = 0; i < SHC_SLOTS; i++)
		{
			pg_atomic_init_u32(&ctl->slots[i].pins, 0);
			pg_atomic_init_u64(&ctl->slots[i].last_used, 0);
			ctl->slots[i].blob = InvalidDsaPointer;
		}
		ctl->dsa_tranche = LWLockNewTrancheId();
		a = dsa_create_in_place(dsa_place, SHC_DSA_IN_PLACE, ctl->dsa_tranche, NULL);
		dsa_pin(a);
		dsa_detach(a);
	}
	locks = GetNamedLWLockTranche("lms_visibility");
	LWLockRelease(AddinShmemInitLock);
}

static void shc_resource_release(ResourceReleasePhase phase, bool isCommit,
								 bool isTopLevel, void *arg);
static void shc_xact_callback(XactEvent event, void *arg);

/*
 * vis_shcache_request asks for the shared cache's memory and locks; called
 * from _PG_init while the library is being preloaded.
 */
void
vis_shcache_request(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shc_shmem_startup;
	RegisterXactCallback(shc_xact_callback, NULL);
	RegisterResourceReleaseCallback(shc_resource_release, NULL);
}

static void
shc_exit(int code, Datum arg)
{
	vis_shcache_unpin_all();
	if (area != NULL)
	{
		dsa_detach(area);
		/* dsa_detach does not release an area attached without a segment */
		dsa_release_in_place(dsa_place);
		area = NULL;
	}
}

/* shc_area attaches the DSA area, once per process */
static dsa_area *
shc_area(void)
{
	if (area == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		LWLockRegisterTranche(ctl->dsa_tranche, "lms_visibility_dsa");
		area = dsa_attach_in_place(dsa_place, NULL);
		dsa_pin_mapping(area);
		MemoryContextSwitchTo(old);
		before_shmem_exit(shc_exit, (Datum) 0);
	}
	return area;
}

static inline int
my_proc(void)
{
	return MyProc != NULL ? VisMyProcNumber : -1;
}

static inline LWLock *
partition_lock(int part)
{
	return &locks[part].lock;
}

static inline int
partition_of(int64 principal)
{
	return vis_hash64(principal) % SHC_PARTITIONS;
}

static inline void
bloom_add(uint64 *bloom, VisKey key)
{
	uint32		a = key % SHC_BLOOM_BITS;
	uint32		b = (key / SHC_BLOOM_BITS) % SHC_BLOOM_BITS;

	bloom[a / 64] |= UINT64CONST(1) << (a % 64);
	bloom[b / 64] |= UINT64CONST(1) << (b % 64);
}

static inline bool
bloom_may_have(const uint64 *bloom, VisKey key)
{
	uint32		a = key % SHC_BLOOM_BITS;
	uint32		b = (key / SHC_BLOOM_BITS) % SHC_BLOOM_BITS;

	return (bloom[a / 64] & (UINT64CONST(1) << (a % 64))) != 0 &&
		(bloom[b / 64] & (UINT64CONST(1) << (b % 64))) != 0;
}

/*
 * vis_shcache_usable tells whether this backend may use the shared cache
 * now: see the header comment for who may not.
 */
bool
vis_shcache_usable(void)
{
	int			me = my_proc();

	const VisKey *keys;
	int			n;
	bool		all;

	if (ctl == NULL || vis_shared_cache_memory_kb <= 0 || vis_inval_xact_sent(&keys, &n, &all))
		return false;
	if (me < 0 || me >= ctl->nprocs)
		return false;
	if (IsolationUsesXactSnapshot() || RecoveryInProgress())
		return false;
	if (IsParallelWorker() && TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return false;
	return true;
}

/* ---------------------------------------------------------------------
 * Slots: freeing, marking stale, evicting (under the partition's lock)
 * ---------------------------------------------------------------------
 */

/* free_slot frees an unpinned slot's entry; exclusive partition lock held */
static void
free_slot(ShcSlot *s)
{
	if (DsaPointerIsValid(s->blob))
		dsa_free(shc_area(), s->blob);
	pg_atomic_fetch_sub_u64(&ctl->bytes, s->bytes);
	s->blob = InvalidDsaPointer;
	s->bytes = 0;
	s->principal = 0;
	s->state = SLOT_FREE;
}

/*
 * kill_slot unlinks a live slot from lookups and frees it unless pinned
 * (its last unpin frees it then); exclusive partition lock held.
 */
static void
kill_slot(ShcSlot *s)
{
	if (s->state != SLOT_LIVE)
		return;
	s->state = SLOT_DEAD;
	pg_atomic_fetch_sub_u64(&ctl->entries, 1);
	/* pairs with the barrier of the unpinning decrement */
	pg_memory_barrier();
	if (pg_atomic_read_u32(&s->pins) == 0)
		free_slot(s);
}

/* reads_any tells whether slot s's entry read one of keys (all: any) */
static bool
reads_any(ShcSlot *s, const ShcKeys *k)
{
	const char *blob;
	int			i;

	if (k->all)
		return true;
	blob = NULL;
	for (i = 0; i < k->n; i++)
	{
		if (!bloom_may_have(s->bloom, k->keys[i]))
			continue;
		if (blob == NULL)
			blob = dsa_get_address(shc_area(), s->blob);
		if (vis_share_reads(blob, k->keys[i]))
			return true;
	}
	return false;
}

/*
 * mark_stale marks stale every live entry of the database dbid that read
 * one of keys.  It looks under shared locks and marks under exclusive
 * ones: a writer's commit does not hold up the partition's readers while
 * it searches.
 */
static void
mark_stale(Oid dbid, const ShcKeys *k)
{
	int			part;
	int			hit[SHC_SLOTS_PER_PARTITION];
	uint64		serial[SHC_SLOTS_PER_PARTITION];

	for (part = 0; part < SHC_PARTITIONS; part++)
	{
		ShcSlot    *first = &ctl->slots[part * SHC_SLOTS_PER_PARTITION];
		int			nhit = 0;
		int			i;

		LWLockAcquire(partition_lock(part), LW_SHARED);
		for (i = 0; i < SHC_SLOTS_PER_PARTITION; i++)
		{
			ShcSlot    *s = &first[i];

			if (s->state == SLOT_LIVE && s->dbid == dbid && reads_any(s, k))
			{
				hit[nhit] = i;
				serial[nhit++] = s->serial;
			}
		}
		LWLockRelease(partition_lock(part));
		if (nhit == 0)
			continue;
		LWLockAcquire(partition_lock(part), LW_EXCLUSIVE);
		for (i = 0; i < nhit; i++)
		{
			ShcSlot    *s = &first[hit[i]];

			if (s->state == SLOT_LIVE && s->serial == serial[i])
			{
				kill_slot(s);
				pg_atomic_fetch_add_u64(&ctl->invalidations, 1);
			}
		}
		LWLockRelease(partition_lock(part));
	}
}

/*
 * evict_one evicts the least recently used unpinned entry of a partition,
 * or of any when part is -1, and tells whether it did.
 */
static bool
evict_one(int part)
{
	int			lo = part < 0 ? 0 : part * SHC_SLOTS_PER_PARTITION;
	int			hi = part < 0 ? SHC_SLOTS : lo + SHC_SLOTS_PER_PARTITION;
	int			victim = -1;
	uint64		oldest = PG_UINT64_MAX;
	uint64		serial = 0;
	int			i;

	/* an unlocked look: the choice is rechecked under the lock */
	for (i = lo; i < hi; i++)
	{
		ShcSlot    *s = &ctl->slots[i];
		uint64		used = pg_atomic_read_u64(&s->last_used);

		if (s->state == SLOT_LIVE && used < oldest && pg_atomic_read_u32(&s->pins) == 0)
		{
			victim = i;
			oldest = used;
			serial = s->serial;
		}
	}
	if (victim < 0)
		return false;
	part = victim / SHC_SLOTS_PER_PARTITION;
	LWLockAcquire(partition_lock(part), LW_EXCLUSIVE);
	if (ctl->slots[victim].state == SLOT_LIVE && ctl->slots[victim].serial == serial &&
		pg_atomic_read_u32(&ctl->slots[victim].pins) == 0)
	{
		kill_slot(&ctl->slots[victim]);
		pg_atomic_fetch_add_u64(&ctl->evictions, 1);
	}
	LWLockRelease(partition_lock(part));
	return true;
}

/* make_room evicts until len more bytes fit the bound, and says whether they do */
static bool
make_room(Size len)
{
	Size		limit = (Size) vis_shared_cache_memory_kb * 1024;
	int			tries = 0;

	if (len > limit)
		return false;
	while (pg_atomic_read_u64(&ctl->bytes) + len > limit)
		if (++tries > 64 || !evict_one(-1))
			return false;
	return true;
}

/* ---------------------------------------------------------------------
 * Pins
 * ---------------------------------------------------------------------
 */

static void
remember_pin(int slot)
{
	if (npins >= maxpins)
	{
		int			n = Max(16, maxpins * 2);

		pins = pins == NULL ? MemoryContextAlloc(TopMemoryContext, n * sizeof(int))
			: repalloc(pins, n * sizeof(int));
		maxpins = n;
	}
	pins[npins++] = slot;
}

/*
 * vis_shcache_unpin_all releases the pins this backend holds; the
 * transaction's end and the backend's exit call it.
 */
void
vis_shcache_unpin_all(void)
{
	int			i;

	for (i = 0; i < npins; i++)
	{
		ShcSlot    *s = &ctl->slots[pins[i]];

		if (pg_atomic_sub_fetch_u32(&s->pins, 1) == 0 && s->state == SLOT_DEAD)
		{
			int			part = pins[i] / SHC_SLOTS_PER_PARTITION;

			LWLockAcquire(partition_lock(part), LW_EXCLUSIVE);
			if (s->state == SLOT_DEAD && pg_atomic_read_u32(&s->pins) == 0)
				free_slot(s);
			LWLockRelease(partition_lock(part));
		}
	}
	npins = 0;
}

/* ---------------------------------------------------------------------
 * Prepared transactions
 * ---------------------------------------------------------------------
 */

/* append adds the keys of k to every build under way in its database */
static void
append_to_builds(const ShcKeys *k)
{
	int			i,
				j;

	for (i = 0; i < ctl->nprocs; i++)
	{
		ShcKeys    *b = &builders[i];

		if (!b->active || b->dbid != k->dbid)
			continue;
		if (k->all || b->n + k->n > SHC_NOTED_KEYS)
			b->all = true;
		else
			for (j = 0; j < k->n; j++)
				b->keys[b->n++] = k->keys[j];
	}
}

/*
 * finish_prepared applies what the prepared transactions that have ended
 * (committed or rolled back, their messages sent) changed: their entries
 * are marked stale and they stop holding up builds.
 */
static void
finish_prepared(void)
{
	int			i;

	/*
	 * In parallel mode no lock may be taken: the leader's lookup when the
	 * executor started, outside it, applied what had ended by then.
	 */
	if (pg_atomic_read_u32(&ctl->prepared_in_use) == 0 || IsInParallelMode())
		return;
	for (i = 0; i < ctl->nprepared; i++)
	{
		ShcKeys		k;

		LWLockAcquire(partition_lock(SHC_COMMIT_LOCK), LW_SHARED);
		k = prepared[i];
		LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
		if (!k.active ||
			(TransactionIdIsValid(k.xid) && !ConditionalXactLockTableWait_compat(k.xid)))
			continue;
		mark_stale(k.dbid, &k);
		LWLockAcquire(partition_lock(SHC_COMMIT_LOCK), LW_EXCLUSIVE);
		if (prepared[i].active && prepared[i].xid == k.xid)
		{
			append_to_builds(&prepared[i]);
			prepared[i].active = false;
			pg_atomic_fetch_sub_u32(&ctl->prepared_in_use, 1);
		}
		LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
	}
}

/* ---------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------
 */

/*
 * touch marks a slot used now, for LRU.  The clock moves only when an
 * entry is published: readers write it, never increment it, so that they
 * do not all contend for one cache line.
 */
static inline void
touch(ShcSlot *s)
{
	pg_atomic_write_u64(&s->last_used, pg_atomic_read_u64(&ctl->tick));
}

/*
 * vis_shcache_find returns, pinned until the transaction ends, the shared
 * entry of a principal of this database and install (store), and fills
 * ref; NULL when there is none.
 */
const char *
vis_shcache_find(int64 principal, Oid store, VisShRef *ref)
{
	int			part = partition_of(principal);
	ShcSlot    *first = &ctl->slots[part * SHC_SLOTS_PER_PARTITION];
	int			found = -1;
	int			i;

	ref->slot = -1;
	finish_prepared();
	LWLockAcquire(partition_lock(part), LW_SHARED);
	for (i = 0; i < SHC_SLOTS_PER_PARTITION; i++)
	{
		ShcSlot    *s = &first[i];

		if (s->principal == principal && s->state == SLOT_LIVE &&
			s->dbid == MyDatabaseId && s->store == store)
		{
			pg_atomic_fetch_add_u32(&s->pins, 1);
			touch(s);
			found = part * SHC_SLOTS_PER_PARTITION + i;
			ref->slot = found;
			ref->serial = s->serial;
			break;
		}
	}
	LWLockRelease(partition_lock(part));
	if (found < 0)
		return NULL;
	remember_pin(found);
	pg_atomic_fetch_add_u64(&ctl->hits, 1);
	return dsa_get_address(shc_area(), ctl->slots[found].blob);
}

/*
 * vis_shcache_repin pins again, for this transaction, the entry a backend
 * found in an earlier one, if it is still the live entry of its slot; NULL
 * when it is not.
 */
const char *
vis_shcache_repin(VisShRef *ref)
{
	ShcSlot    *s;
	int			part;
	bool		ok;

	if (ref->slot < 0)
		return NULL;
	finish_prepared();
	s = &ctl->slots[ref->slot];
	part = ref->slot / SHC_SLOTS_PER_PARTITION;
	LWLockAcquire(partition_lock(part), LW_SHARED);
	ok = s->state == SLOT_LIVE && s->serial == ref->serial;
	if (ok)
	{
		pg_atomic_fetch_add_u32(&s->pins, 1);
		touch(s);
	}
	LWLockRelease(partition_lock(part));
	if (!ok)
		return NULL;
	remember_pin(ref->slot);
	return dsa_get_address(shc_area(), s->blob);
}

/* ---------------------------------------------------------------------
 * Building and publishing
 * ---------------------------------------------------------------------
 */

/*
 * vis_shcache_build_start registers a build about to take its snapshot.
 * The caller then processes the invalidations already sent, so that the
 * private tenant structure the build reuses is as new as the snapshot.
 */
void
vis_shcache_build_start(void)
{
	ShcKeys    *b = &builders[my_proc()];

	LWLockAcquire(partition_lock(SHC_COMMIT_LOCK), LW_EXCLUSIVE);
	b->active = true;
	b->all = false;
	b->n = 0;
	b->dbid = MyDatabaseId;
	LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
}

/* conflicts tells whether one of keys is also in k */
static bool
conflicts(const ShcKeys *k, keyset_hash *keys)
{
	int			i;

	if (!k->active || k->dbid != MyDatabaseId)
		return false;
	if (k->all)
		return true;
	for (i = 0; i < k->n; i++)
		if (keyset_lookup(keys, k->keys[i]) != NULL)
			return true;
	return false;
}

/*
 * raced ends this backend's build and tells whether a change it may have
 * missed touched a key it read: one noted for it since it registered, or
 * one of a commit or prepared transaction under way.  The caller holds the
 * commit lock.
 */
static bool
raced(keyset_hash *keys)
{
	ShcKeys    *b = &builders[my_proc()];
	bool		stale;
	int			i;

	stale = !b->active || conflicts(b, keys);
	for (i = 0; i < ctl->nprocs && !stale; i++)
		stale = conflicts(&committers[i], keys);
	for (i = 0; i < ctl->nprepared && !stale; i++)
		stale = conflicts(&prepared[i], keys);
	/* only committers, under the exclusive lock, write a build's keys */
	b->active = false;
	return stale;
}

/*
 * vis_shcache_publish shares a principal's flattened result (blob, len;
 * keys: what it read), built since vis_shcache_build_start.  On
 * VIS_SH_PUBLISHED, *shared is the shared entry, pinned, to use instead of
 * the private one: this build's, or another backend's published first.
 */
VisShPublish
vis_shcache_publish(int64 principal, Oid store, const char *blob, Size len,
					keyset_hash *keys, VisShRef *ref, const char **shared)
{
	dsa_area   *a = shc_area();
	int			part = partition_of(principal);
	ShcSlot    *first = &ctl->slots[part * SHC_SLOTS_PER_PARTITION];
	ShcSlot    *s = NULL;
	dsa_pointer dp;
	keyset_iterator it;
	VisKeyEntry *ke;
	int			i;
	bool		duplicate = false;

	ref->slot = -1;
	finish_prepared();
	if (!make_room(len))
	{
		builders[my_proc()].active = false;
		return VIS_SH_NO_ROOM;
	}
	dp = dsa_allocate_extended(a, len, DSA_ALLOC_NO_OOM | DSA_ALLOC_HUGE);
	if (!DsaPointerIsValid(dp))
	{
		builders[my_proc()].active = false;
		return VIS_SH_NO_ROOM;
	}
	memcpy(dsa_get_address(a, dp), blob, len);

	/*
	 * Checked and linked under the commit lock: see the header comment.
	 * From here to linking the slot, nothing can fail.
	 */
	LWLockAcquire(partition_lock(SHC_COMMIT_LOCK), LW_SHARED);
	if (raced(keys))
	{
		LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
		dsa_free(a, dp);
		return VIS_SH_STALE;
	}
	LWLockAcquire(partition_lock(part), LW_EXCLUSIVE);
	for (i = 0; i < SHC_SLOTS_PER_PARTITION; i++)
	{
		ShcSlot    *c = &first[i];

		if (c->principal == principal && c->state == SLOT_LIVE &&
			c->dbid == MyDatabaseId && c->store == store)
		{
			s = c;
			duplicate = true;
			break;
		}
		if (s == NULL && c->state == SLOT_FREE)
			s = c;
	}
	if (s == NULL)
	{
		/* the partition is full: its least recently used unpinned entry goes */
		uint64		oldest = PG_UINT64_MAX;

		for (i = 0; i < SHC_SLOTS_PER_PARTITION; i++)
		{
			ShcSlot    *c = &first[i];
			uint64		used = pg_atomic_read_u64(&c->last_used);

			if (c->state == SLOT_LIVE && pg_atomic_read_u32(&c->pins) == 0 && used < oldest)
			{
				s = c;
				oldest = used;
			}
		}
		if (s != NULL)
		{
			kill_slot(s);
			pg_atomic_fetch_add_u64(&ctl->evictions, 1);
			if (s->state != SLOT_FREE)
				s = NULL;
		}
	}
	if (s == NULL || duplicate)
	{
		if (duplicate)
		{
			pg_atomic_fetch_add_u32(&s->pins, 1);
			touch(s);
			ref->slot = s - ctl->slots;
			ref->serial = s->serial;
		}
		LWLockRelease(partition_lock(part));
		LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
		dsa_free(a, dp);
		if (!duplicate)
			return VIS_SH_NO_ROOM;
		remember_pin(ref->slot);
		pg_atomic_fetch_add_u64(&ctl->duplicates, 1);
		*shared = dsa_get_address(a, s->blob);
		return VIS_SH_PUBLISHED;
	}
	s->principal = principal;
	s->dbid = MyDatabaseId;
	s->store = store;
	s->blob = dp;
	s->bytes = len;
	s->serial = pg_atomic_fetch_add_u64(&ctl->serials, 1);
	memset(s->bloom, 0, sizeof(s->bloom));
	keyset_start_iterate(keys, &it);
	while ((ke = keyset_iterate(keys, &it)) != NULL)
		bloom_add(s->bloom, ke->key);
	pg_atomic_write_u32(&s->pins, 1);
	pg_atomic_write_u64(&s->last_used, pg_atomic_fetch_add_u64(&ctl->tick, 1));
	s->state = SLOT_LIVE;
	pg_atomic_fetch_add_u64(&ctl->bytes, len);
	pg_atomic_fetch_add_u64(&ctl->entries, 1);
	ref->slot = s - ctl->slots;
	ref->serial = s->serial;
	LWLockRelease(partition_lock(part));
	LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
	remember_pin(ref->slot);
	pg_atomic_fetch_add_u64(&ctl->builds, 1);
	*shared = dsa_get_address(a, dp);
	return VIS_SH_PUBLISHED;
}

/* ---------------------------------------------------------------------
 * Writing: the keys a transaction changed (vis_inval_xact_sent)
 * ---------------------------------------------------------------------
 */

/*
 * pre_commit publishes this transaction's keys as a commit under way (or,
 * at PREPARE, a prepared transaction) and marks stale the entries that
 * read them, before the change becomes visible.
 */
static void
pre_commit(bool prepare)
{
	int			me = my_proc();
	ShcKeys    *k = NULL;
	ShcKeys		mine;
	const VisKey *keys;
	int			n;
	bool		all;

	vis_inval_xact_sent(&keys, &n, &all);
	if (prepare)
		finish_prepared();
	LWLockAcquire(partition_lock(SHC_COMMIT_LOCK), LW_EXCLUSIVE);
	if (prepare)
	{
		int			i;

		for (i = 0; i < ctl->nprepared; i++)
			if (!prepared[i].active)
			{
				k = &prepared[i];
				pg_atomic_fetch_add_u32(&ctl->prepared_in_use, 1);
				break;
			}
		/* one slot more than prepared transactions: never full */
		Assert(k != NULL);
		if (k == NULL)
			k = &committers[me];
	}
	else
		k = &committers[me];
	k->all = all;
	k->n = n;
	memcpy(k->keys, keys, sizeof(VisKey) * n);
	k->dbid = MyDatabaseId;
	k->xid = GetTopTransactionIdIfAny();
	k->active = true;
	mine = *k;
	LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
	mark_stale(MyDatabaseId, &mine);
}

static void
shc_xact_callback(XactEvent event, void *arg)
{
	int			me = my_proc();
	const VisKey *keys;
	int			n;
	bool		all;

	if (ctl == NULL || me < 0 || me >= ctl->nprocs)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (vis_inval_xact_sent(&keys, &n, &all))
				pre_commit(false);
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (vis_inval_xact_sent(&keys, &n, &all))
				pre_commit(true);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* a build cut short by an error publishes nothing */
			if (builders[me].active)
			{
				LWLockAcquire(partition_lock(SHC_COMMIT_LOCK), LW_EXCLUSIVE);
				builders[me].active = false;
				LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
			}
			break;
		default:
			break;
	}
}

/*
 * shc_resource_release withdraws the commit under way once the commit's
 * invalidation messages are sent (after the transaction's locks), adding
 * its keys to the builds under way, which may have missed it.
 */
static void
shc_resource_release(ResourceReleasePhase phase, bool isCommit, bool isTopLevel, void *arg)
{
	int			me = my_proc();
	ShcKeys    *c;

	if (phase != RESOURCE_RELEASE_AFTER_LOCKS || !isTopLevel || ctl == NULL ||
		me < 0 || me >= ctl->nprocs)
		return;
	c = &committers[me];
	if (!c->active)
		return;
	LWLockAcquire(partition_lock(SHC_COMMIT_LOCK), LW_EXCLUSIVE);
	if (isCommit)
		append_to_builds(c);
	c->active = false;
	LWLockRelease(partition_lock(SHC_COMMIT_LOCK));
}

/*
 * vis_shcache_stats fills s with the shared cache's figures; false when
 * there is no shared cache.
 */
bool
vis_shcache_stats(VisShStats *s)
{
	if (ctl == NULL)
		return false;
	s->bytes = (int64) pg_atomic_read_u64(&ctl->bytes);
	s->entries = (int64) pg_atomic_read_u64(&ctl->entries);
	s->hits = (int64) pg_atomic_read_u64(&ctl->hits);
	s->builds = (int64) pg_atomic_read_u64(&ctl->builds);
	s->duplicate_builds = (int64) pg_atomic_read_u64(&ctl->duplicates);
	s->evictions = (int64) pg_atomic_read_u64(&ctl->evictions);
	s->invalidations = (int64) pg_atomic_read_u64(&ctl->invalidations);
	return true;
}
