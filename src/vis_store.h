/*-------------------------------------------------------------------------
 *
 * vis_store.h
 *	  The store as the engine reads it: the invalidation keys of its facts,
 *	  the loader's direct index scans, and a relation's shards on a node of a
 *	  Citus cluster.
 *
 * IDENTIFICATION
 *	  src/vis_store.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VIS_STORE_H
#define VIS_STORE_H

#include "vis_ids.h"

#include "access/attnum.h"
#include "nodes/plannodes.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

/* ---------------------------------------------------------------------
 * Invalidation keys (vis_inval.c): the store facts a cached result read
 * ---------------------------------------------------------------------
 */
typedef uint32 VisKey;			/* an OID of the key range, never a relation */

#define VIS_KEY_BASE ((VisKey) 0xC0000000)
#define VIS_KEY_MASK ((VisKey) 0x3FFFFFFF)
#define VisIsKey(oid) (((oid) & VIS_KEY_BASE) == VIS_KEY_BASE)

typedef struct VisKeyEntry
{
	VisKey		key;
	char		status;
} VisKeyEntry;

#define SH_PREFIX keyset
#define SH_ELEMENT_TYPE VisKeyEntry
#define SH_KEY_TYPE VisKey
#define SH_SCOPE extern
#define SH_DECLARE
#include "lib/simplehash.h"

/*
 * The columns a store relation is read by.  VIS_FACT_ALL: read in full, any
 * change counts; VIS_FACT_ROWS: only which rows exist counts (a row count),
 * so an UPDATE does not.
 */
#define VIS_FACT_ALL "*"
#define VIS_FACT_ROWS "#"
#define VIS_MAX_FACT_COLUMNS 2

typedef struct VisStoreFacts
{
	const char *relname;
	const char *columns[VIS_MAX_FACT_COLUMNS];
} VisStoreFacts;

extern const VisStoreFacts vis_store_facts[];
extern const VisStoreFacts *vis_store_facts_of(const char *relname);
extern bool vis_fact_declared(const char *relname, const char *column);
extern VisKey vis_key(Oid relid, AttrNumber attnum, int64 value);

/* what one build read, and what arrived while it ran */
typedef struct VisRecorder
{
	keyset_hash *keys;
	int			nreceived;
	VisKey		received[64];
	bool		flushed;		/* a flush, or more keys than received[] holds */
	bool		statement_only; /* read facts no key reports: keep for the statement */
	struct VisRecorder *outer;
} VisRecorder;

extern void vis_inval_init(void);
extern void vis_record_start(VisRecorder *rec, MemoryContext cxt);
extern bool vis_record_stop(VisRecorder *rec);
extern bool vis_record_active(void);
extern void vis_record_add(VisKey key);
extern void vis_record_own(VisRecorder *rec, VisKey key);
extern void vis_record_scan(Oid relid, AttrNumber attnum, int64 value);
extern void vis_record_statement_only(void);
extern void vis_record_copy(keyset_hash *keys);
extern void vis_record_received(VisKey key);
extern bool vis_inval_send(VisKey key);
extern void vis_inval_flushed(void);
#define VIS_MAX_XACT_KEYS 256
extern bool vis_inval_xact_sent(const VisKey **keys, int *n, bool *all);

/* ---------------------------------------------------------------------
 * The store loader (vis_load.c): direct index scans of lms tables
 * ---------------------------------------------------------------------
 */
typedef void (*VisRowFn) (void *arg, Datum *values, bool *nulls);

extern Oid	vis_relid(const char *relname, bool missing_ok);
extern Snapshot vis_snapshot(void);
extern Snapshot vis_build_snapshot(bool xact_ok, bool *keep);
extern void vis_load_forget(Oid relid);
extern int	vis_scan(const char *relname, const char *indexname, int64 key,
					 int natts, const char *const *attnames,
					 Snapshot snapshot, VisRowFn fn, void *arg);
extern int	vis_scan_keys(const char *relname, const char *indexname, const int64 *keys,
						  int nkeys, int natts, const char *const *attnames,
						  Snapshot snapshot, VisRowFn fn, void *arg, bool record);
extern VisKey vis_scan_key(const char *relname, const char *indexname, int natts,
						   const char *const *attnames, int64 value);
extern double vis_reltuples(const char *relname);
extern bool vis_fetch_one(const char *relname, const char *indexname, int64 key,
						  int natts, const char *const *attnames,
						  Snapshot snapshot, Datum *values, bool *nulls);

/* ---------------------------------------------------------------------
 * Citus (vis_citus.c): a store relation's shards on this node
 * ---------------------------------------------------------------------
 */
#define VIS_MAX_PARTS 64
#define VIS_CITUS_REFERENCE 'n'	/* pg_dist_partition.partmethod */

typedef struct VisParts
{
	char		method;			/* 0: not a Citus table */
	int			nparts;
	Oid			relids[VIS_MAX_PARTS];
	int64		shardids[VIS_MAX_PARTS];
} VisParts;

extern bool vis_citus_loaded(void);
extern bool vis_citus_parts(Oid relid, VisParts *parts);
extern void vis_citus_forget(Oid relid);
extern bool vis_citus_players(int64 content, void (*found) (void *arg, int64 user), void *arg);

extern PGDLLIMPORT bool vis_citus_reading;
extern const char *vis_store_relname(Relation rel);

/* ---------------------------------------------------------------------
 * Citus (vis_citus_statement.c): the principal a statement carries to the
 * nodes
 * ---------------------------------------------------------------------
 */
extern void vis_citus_check_statement(PlannedStmt *stmt);
extern void vis_citus_init(void);

/* ---------------------------------------------------------------------
 * lms.preview() (vis_preview.c): the tenants the change it runs touches,
 * noted by the store's row triggers
 * ---------------------------------------------------------------------
 */
extern bool vis_preview_running(void);
extern void vis_preview_note_tenant(int64 tenant_id);

/* ---------------------------------------------------------------------
 * The relationship history (vis_history.c): lms.history on or off
 * ---------------------------------------------------------------------
 */
extern bool vis_history;
extern void vis_history_init(void);

#endif							/* VIS_STORE_H */
