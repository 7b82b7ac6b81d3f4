/*-------------------------------------------------------------------------
 *
 * vis_inval.c
 *	  Invalidation keys: which store facts a cached result read, and which
 *	  facts a change of the store touched.
 *
 *	  A key names one fact the engine reads through an index: the rows of
 *	  a store relation whose key column holds a value (the members of group
 *	  17, the roles of user 42, the rows of progress played in session 9),
 *	  or every row of a relation it reads in full.  Whatever the cache
 *	  builds records the keys of the scans it made (vis_load.c calls
 *	  vis_record_scan); the store's row triggers send the keys of the rows
 *	  they change (vis_guard.c).  An entry is dropped when a key it read is
 *	  sent, and only then: an UPDATE of a learner's score touches no key any
 *	  entry has read, and a change in one tenant no key of another.
 *
 *	  A key travels as a relcache invalidation of a key OID in a range of
 *	  its own: PostgreSQL delivers it to every backend at commit, replays it
 *	  on hot standbys from the commit record, discards it on abort (and
 *	  re-executes it locally, so that this backend drops what it built from
 *	  its own rolled-back rows) and delivers it to the changing backend at
 *	  its next command.  Relcache has no entry for a key OID and ignores it.
 *	  Two facts whose keys collide, or a key that equals a real relation's
 *	  OID, only cost an extra rebuild.
 *
 *	  vis_store_facts[] names, for each store relation, the columns the
 *	  engine reads it by.  The loader refuses a scan that is not named
 *	  there, so a rule cannot read a fact no trigger would report.
 *
 * IDENTIFICATION
 *	  src/vis_inval.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "vis_store.h"

#define SH_PREFIX keyset
#define SH_ELEMENT_TYPE VisKeyEntry
#define SH_KEY_TYPE VisKey
#define SH_KEY key
#define SH_HASH_KEY(tb, key) murmurhash32(key)
#define SH_EQUAL(tb, a, b) ((a) == (b))
#define SH_SCOPE extern
#define SH_DEFINE
#include "lib/simplehash.h"

/*
 * The store facts the engine reads: each relation with the columns it is
 * read by (VIS_FACT_ALL: read in full; VIS_FACT_ROWS: its rows counted,
 * for sees_every_row).  path_steps is read by no rule.
 */
const VisStoreFacts vis_store_facts[] = {
	{"tenants", {VIS_FACT_ROWS, "tenant_id"}},
	{"users", {"user_id", "tenant_id"}},
	{"groups", {"tenant_id"}},
	{"group_connections", {"group_id", "connected_group_id"}},
	{"group_members", {"group_id"}},
	{"tenant_roles", {"user_id"}},
	{"group_roles", {"user_id"}},
	{"managers", {"manager_id"}},
	{"content", {"tenant_id", "main_author_id"}},
	{"content_coauthors", {"user_id"}},
	{"catalog_entries", {"group_id"}},
	{"group_enrollments", {"group_id"}},
	{"session_instructors", {"user_id"}},
	{"slot_trainers", {"user_id"}},
	{"slot_registrations", {"slot_id"}},
	{"enrollments", {"assigned_by_group_id"}},
	{"progress", {"content_id", "session_id"}},
	{"role_bindings", {VIS_FACT_ALL}},
	{"trusted_roles", {VIS_FACT_ALL}},
	{NULL, {NULL}}
};

/*
 * vis_store_facts_of returns the facts entry of a store relation, or NULL
 * when no rule reads it.
 */
const VisStoreFacts *
vis_store_facts_of(const char *relname)
{
	const VisStoreFacts *f;

	for (f = vis_store_facts; f->relname != NULL; f++)
		if (strcmp(f->relname, relname) == 0)
			return f;
	return NULL;
}

/*
 * vis_fact_declared tells whether the engine may read relname by column
 * (VIS_FACT_ALL: in full): whether some trigger reports changes of it.
 */
bool
vis_fact_declared(const char *relname, const char *column)
{
	const VisStoreFacts *f = vis_store_facts_of(relname);
	bool		full = strcmp(column, VIS_FACT_ALL) == 0;
	int			i;

	if (f == NULL)
		return false;
	for (i = 0; i < VIS_MAX_FACT_COLUMNS && f->columns[i] != NULL; i++)
		if (strcmp(f->columns[i], column) == 0 ||
			(full && strcmp(f->columns[i], VIS_FACT_ROWS) == 0))
			return true;
	return false;
}

/*
 * vis_key returns the key of the rows of relation relid whose column
 * attnum holds value; attnum 0 (value 0) is the key of the whole relation.
 */
VisKey
vis_key(Oid relid, AttrNumber attnum, int64 value)
{
	uint64		h = hash_bytes_uint32_extended(relid, (uint64) value);

	h = hash_combine64(h, hash_bytes_uint32_extended((uint32) attnum, (uint64) (value >> 32)));
	return VIS_KEY_BASE | (VisKey) (h & VIS_KEY_MASK);
}

/* ---------------------------------------------------------------------
 * Recording what a build reads
 * ---------------------------------------------------------------------
 */

/* the recorders of the builds under way, innermost first */
static VisRecorder *recorders = NULL;

/*
 * vis_record_start makes rec the innermost recorder: every scan until
 * vis_record_stop adds its key to rec->keys (and to the outer recorders'),
 * and every key or flush received in between is noted, so that a result
 * invalidated while it was being built is not kept.  Start it before the
 * build takes its snapshot.
 */
void
vis_record_start(VisRecorder *rec, MemoryContext cxt)
{
	rec->keys = keyset_create(cxt, 16, NULL);
	rec->nreceived = 0;
	rec->flushed = false;
	rec->statement_only = false;

	/*
	 * A recorder started within a build reads from the build's snapshot,
	 * taken before it started: what the build received since then may not
	 * be in that snapshot either.
	 */
	if (recorders != NULL)
	{
		rec->nreceived = recorders->nreceived;
		memcpy(rec->received, recorders->received, sizeof(VisKey) * rec->nreceived);
		rec->flushed = recorders->flushed;
	}
	rec->outer = recorders;
	recorders = rec;
}

/*
 * vis_record_stop ends rec, the innermost recorder, and tells whether what
 * it recorded is fresh: no key it read, and no flush, arrived meanwhile.
 */
bool
vis_record_stop(VisRecorder *rec)
{
	int			i;

	Assert(recorders == rec);
	recorders = rec->outer;
	if (rec->flushed)
		return false;
	for (i = 0; i < rec->nreceived; i++)
		if (keyset_lookup(rec->keys, rec->received[i]) != NULL)
			return false;
	return true;
}

/*
 * vis_record_statement_only tells the builds under way that they read a
 * fact no trigger of this node reports (vis_citus_players): what they
 * build holds for the statement only.
 */
void
vis_record_statement_only(void)
{
	VisRecorder *r;

	for (r = recorders; r != NULL; r = r->outer)
		r->statement_only = true;
}

/*
 * vis_record_active tells whether a build is recording.
 */
bool
vis_record_active(void)
{
	return recorders != NULL;
}

/*
 * vis_record_add adds key to every active recorder.
 */
void
vis_record_add(VisKey key)
{
	VisRecorder *rec;
	bool		found;

	for (rec = recorders; rec != NULL; rec = rec->outer)
		keyset_insert(rec->keys, key, &found);
}

/*
 * vis_record_own adds key to rec alone: a fact what rec guards depends on,
 * which the outer builds do not.
 */
void
vis_record_own(VisRecorder *rec, VisKey key)
{
	bool		found;

	keyset_insert(rec->keys, key, &found);
}

/*
 * vis_record_scan records a scan of relation relid by column attnum for
 * value (attnum 0: the whole relation).
 */
void
vis_record_scan(Oid relid, AttrNumber attnum, int64 value)
{
	if (recorders != NULL)
		vis_record_add(vis_key(relid, attnum, value));
}

/*
 * vis_record_copy adds every key of a finished recording to the active
 * recorders: a build that reuses a cached structure depends on what the
 * structure read.
 */
void
vis_record_copy(keyset_hash *keys)
{
	keyset_iterator it;
	VisKeyEntry *e;

	if (recorders == NULL)
		return;
	keyset_start_iterate(keys, &it);
	while ((e = keyset_iterate(keys, &it)) != NULL)
		vis_record_add(e->key);
}

/*
 * vis_record_received notes a key (or, with InvalidOid, a flush) that
 * arrived while builds are under way.  It runs in an invalidation
 * callback: no allocation.
 */
void
vis_record_received(VisKey key)
{
	VisRecorder *rec;

	for (rec = recorders; rec != NULL; rec = rec->outer)
	{
		if (key == InvalidOid || rec->nreceived >= lengthof(rec->received))
			rec->flushed = true;
		else
			rec->received[rec->nreceived++] = key;
	}
}

/* ---------------------------------------------------------------------
 * Sending keys
 * ---------------------------------------------------------------------
 */

/*
 * The keys the running command has queued, so that a statement touching
 * many rows of one fact queues it once; past VIS_MAX_COMMAND_KEYS a flush
 * is sent instead (one message rather than enough to overflow other
 * backends' invalidation queues).  The set lasts one command: this
 * backend executes a command's messages when the command ends, so the
 * next command that changes the same fact must queue it again.  A
 * subtransaction's abort discards what it queued: the set starts afresh.
 */
#define VIS_MAX_COMMAND_KEYS 1024

static keyset_hash *xact_keys = NULL;	/* in TopTransactionContext */
static CommandId keys_cid = InvalidCommandId;
static bool xact_flushed = false;

/*
 * Every key the transaction sent, for the server's shared cache
 * (vis_shcache.c), which marks its entries stale at commit; past
 * VIS_MAX_XACT_KEYS, or after a flush, every key.  Subtransactions that
 * abort keep theirs here: marking more costs only rebuilds.
 */
static VisKey sent_keys[VIS_MAX_XACT_KEYS];
static int	nsent = 0;
static bool sent_any = false;
static bool sent_all = false;

static void
note_sent(VisKey key)
{
	int			i;

	sent_any = true;
	if (sent_all)
		return;
	/* each command queues its keys anew */
	for (i = 0; i < nsent; i++)
		if (sent_keys[i] == key)
			return;
	if (nsent >= VIS_MAX_XACT_KEYS)
		sent_all = true;
	else
		sent_keys[nsent++] = key;
}

/*
 * vis_inval_xact_sent tells whether this transaction sent keys, and which:
 * *keys and *n, or *all for every key.
 */
bool
vis_inval_xact_sent(const VisKey **keys, int *n, bool *all)
{
	*keys = sent_keys;
	*n = nsent;
	*all = sent_all;
	return sent_any;
}

static void
inval_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* an error ended the builds under way: their memory is gone */
			recorders = NULL;
			/* FALLTHROUGH */
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			xact_keys = NULL;	/* freed with TopTransactionContext */
			xact_flushed = false;
			nsent = 0;
			sent_any = sent_all = false;
			break;
		default:
			break;
	}
}

static void
inval_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		recorders = NULL;
		xact_keys = NULL;
		xact_flushed = false;
	}
}

/*
 * vis_inval_init registers the transaction callbacks; called once from
 * _PG_init.
 */
void
vis_inval_init(void)
{
	RegisterXactCallback(inval_xact_callback, NULL);
	RegisterSubXactCallback(inval_subxact_callback, NULL);
}

/*
 * queue_relcache_message queues a relcache invalidation of oid, which need
 * not be a relation: relcache only looks the OID up.
 */
static void
queue_relcache_message(Oid oid)
{
	FormData_pg_class form;
	RelationData rel;

	memset(&form, 0, sizeof(form));
	memset(&rel, 0, sizeof(rel));
	form.relisshared = false;
	rel.rd_id = oid;
	rel.rd_rel = &form;
	CacheInvalidateRelcache(&rel);
}

/* command_keys starts the set afresh when a new command runs */
static void
command_keys(void)
{
	CommandId	cid = GetCurrentCommandId(false);

	if (xact_keys == NULL)
		xact_keys = keyset_create(TopTransactionContext, 64, NULL);
	else if (cid != keys_cid)
	{
		keyset_reset(xact_keys);
		xact_flushed = false;
	}
	keys_cid = cid;
}

/*
 * vis_inval_send queues key for commit.  It returns false when this
 * transaction has queued too many keys already: the caller then sends a
 * flush (vis_inval_flush_needed tells whether one is still owed).
 */
bool
vis_inval_send(VisKey key)
{
	bool		found;

	command_keys();
	if (xact_flushed || keyset_lookup(xact_keys, key) != NULL)
		return true;
	if (xact_keys->members >= VIS_MAX_COMMAND_KEYS)
		return false;
	keyset_insert(xact_keys, key, &found);
	queue_relcache_message(key);
	note_sent(key);
	return true;
}

/*
 * vis_inval_flushed records that the running command has queued a flush:
 * no key need be queued after it.
 */
void
vis_inval_flushed(void)
{
	command_keys();
	xact_flushed = true;
	sent_any = sent_all = true;
}
