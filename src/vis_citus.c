/*-------------------------------------------------------------------------
 *
 * vis_citus.c
 *	  Where a store relation's rows are on a node of a Citus cluster: the
 *	  node's own shards of it.
 *
 *	  After lms.distribute() the store's relationship tables are Citus
 *	  reference tables (one shard, a placement on every node) and
 *	  lms.progress is distributed by user_id.  The relation the extension
 *	  created is then an empty shell: its rows live in shard relations
 *	  named <relation>_<shardid>.  The engine reads the store with direct
 *	  scans (vis_load.c), never through Citus's planner, so on every node
 *	  it reads the placements that node holds: the reference tables' one
 *	  shard, and the local shards of lms.progress.  Nothing ever runs a
 *	  distributed query from a query on a shard of lms.progress.
 *
 *	  One fact is not on the coordinator: who played a session, which only
 *	  lms.progress tells.  A worker knows it for the learners whose progress
 *	  it holds, and a row of theirs is all it answers for; the coordinator
 *	  answers lms.users, lms.group_members, the engine's functions and
 *	  explain_visibility itself, so it asks the workers
 *	  (vis_citus_players), and keeps the answer for the statement only: the
 *	  workers' triggers report a change of lms.progress to their own
 *	  backends, never to the coordinator's.
 *
 *	  The shards are found in Citus's metadata (pg_dist_partition,
 *	  pg_dist_shard, pg_dist_placement, pg_dist_local_group), read with
 *	  catalog scans rather than SQL, and remembered until a relcache
 *	  invalidation of the relation or of one of its shards (creating,
 *	  moving or dropping a shard sends one).  Without the Citus library in
 *	  the backend nothing here reads a catalog.
 *
 * IDENTIFICATION
 *	  src/vis_citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace_d.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "vis_store.h"

typedef struct CitusRel
{
	Oid			relid;			/* the relation the extension created */
	VisParts	parts;
} CitusRel;

/* a query of vis_citus_players is running: vis_citus_check_statement lets it through */
bool		vis_citus_reading = false;

/* the relations looked up since the last invalidation */
static CitusRel *known = NULL;
static int	nknown = 0;
static int	maxknown = 0;

/*
 * vis_citus_loaded tells whether the Citus library is loaded in this
 * backend: its settings exist.  Citus runs only from
 * shared_preload_libraries, so the answer is the same for the backend's
 * life, and is looked up once (it is asked on the planner's and the
 * executor's paths).
 */
bool
vis_citus_loaded(void)
{
	static int	loaded = -1;

	if (loaded < 0)
		loaded = GetConfigOption("citus.next_shard_id", true, false) != NULL;
	return loaded == 1;
}

/*
 * vis_citus_forget drops what is known of relid's shards when relid is the
 * relation or one of its shards, or everything on InvalidOid.  It runs in
 * a relcache callback: it only compares numbers.
 */
void
vis_citus_forget(Oid relid)
{
	int			i,
				k;

	for (i = 0; i < nknown; i++)
	{
		if (relid == InvalidOid || known[i].relid == relid)
		{
			nknown = 0;
			return;
		}
		for (k = 0; k < known[i].parts.nparts; k++)
			if (known[i].parts.relids[k] == relid)
			{
				nknown = 0;
				return;
			}
	}
}

/* catalog_attr returns the attribute number of column of catalog relation rel */
static AttrNumber
catalog_attr(Relation rel, const char *column)
{
	AttrNumber	a = get_attnum(RelationGetRelid(rel), column);

	if (a == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of Citus's catalog %s does not exist",
						column, RelationGetRelationName(rel)),
				 errhint("lms_visibility supports Citus 13.")));
	return a;
}

static Relation
open_catalog(const char *name)
{
	Oid			relid = get_relname_relid(name, PG_CATALOG_NAMESPACE);

	if (!OidIsValid(relid))
		return NULL;
	return table_open(relid, AccessShareLock);
}

/*
 * local_group returns this node's group in the cluster (0: the
 * coordinator), or -1 when Citus's catalogs are not there.
 */
static int32
local_group(void)
{
	Relation	rel = open_catalog("pg_dist_local_group");
	SysScanDesc scan;
	HeapTuple	tup;
	int32		group = -1;
	bool		isnull;

	if (rel == NULL)
		return -1;
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	if (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Datum		d = heap_getattr(tup, catalog_attr(rel, "groupid"), RelationGetDescr(rel), &isnull);

		if (!isnull)
			group = DatumGetInt32(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return group;
}

/* partition_method returns relid's distribution method, or 0 if it has none */
static char
partition_method(Oid relid)
{
	Relation	rel = open_catalog("pg_dist_partition");
	SysScanDesc scan;
	HeapTuple	tup;
	AttrNumber	a_rel,
				a_method;
	char		method = 0;
	bool		isnull;

	if (rel == NULL)
		return 0;
	a_rel = catalog_attr(rel, "logicalrelid");
	a_method = catalog_attr(rel, "partmethod");
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(rel);

		if (DatumGetObjectId(heap_getattr(tup, a_rel, desc, &isnull)) != relid)
			continue;
		method = DatumGetChar(heap_getattr(tup, a_method, desc, &isnull));
		break;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return method;
}

/* placed_here tells whether shard has a placement in group */
static bool
placed_here(Relation placements, int64 shard, int32 group)
{
	SysScanDesc scan;
	HeapTuple	tup;
	AttrNumber	a_shard = catalog_attr(placements, "shardid");
	AttrNumber	a_group = catalog_attr(placements, "groupid");
	TupleDesc	desc = RelationGetDescr(placements);
	bool		found = false;
	bool		isnull;

	scan = systable_beginscan(placements, InvalidOid, false, NULL, 0, NULL);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
		found = DatumGetInt64(heap_getattr(tup, a_shard, desc, &isnull)) == shard &&
			DatumGetInt32(heap_getattr(tup, a_group, desc, &isnull)) == group;
	systable_endscan(scan);
	return found;
}

/* look_up fills parts with the shards of relid placed on this node */
static void
look_up(Oid relid, VisParts *parts)
{
	Relation	shards;
	Relation	placements;
	SysScanDesc scan;
	HeapTuple	tup;
	AttrNumber	a_rel,
				a_shard;
	int32		group = local_group();
	char	   *relname = get_rel_name(relid);
	Oid			nsp = get_rel_namespace(relid);

	parts->nparts = 0;
	parts->method = partition_method(relid);
	if (parts->method == 0 || group < 0 || relname == NULL)
		return;
	shards = open_catalog("pg_dist_shard");
	placements = open_catalog("pg_dist_placement");
	if (shards == NULL || placements == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("Citus's catalogs pg_dist_shard and pg_dist_placement are missing")));
	a_rel = catalog_attr(shards, "logicalrelid");
	a_shard = catalog_attr(shards, "shardid");
	scan = systable_beginscan(shards, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		TupleDesc	desc = RelationGetDescr(shards);
		bool		isnull;
		int64		shard;
		char		name[NAMEDATALEN + 32];
		Oid			shardrel;

		if (DatumGetObjectId(heap_getattr(tup, a_rel, desc, &isnull)) != relid)
			continue;
		shard = DatumGetInt64(heap_getattr(tup, a_shard, desc, &isnull));
		if (!placed_here(placements, shard, group))
			continue;
		snprintf(name, sizeof(name), "%s_" INT64_FORMAT, relname, shard);
		shardrel = get_relname_relid(name, nsp);
		if (!OidIsValid(shardrel))
			continue;			/* being created or dropped */
		if (parts->nparts >= VIS_MAX_PARTS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("lms.%s has more than %d shards on this node", relname, VIS_MAX_PARTS),
					 errhint("Distribute lms.progress with fewer shards, or over more nodes.")));
		parts->relids[parts->nparts] = shardrel;
		parts->shardids[parts->nparts] = shard;
		parts->nparts++;
	}
	systable_endscan(scan);
	table_close(placements, AccessShareLock);
	table_close(shards, AccessShareLock);
}

/*
 * vis_citus_parts tells whether relid is a Citus table and, if so, fills
 * parts with this node's shards of it (none on a node without a
 * placement).  False: the relation holds its own rows.
 */
bool
vis_citus_parts(Oid relid, VisParts *parts)
{
	int			i;

	if (!OidIsValid(relid) || !vis_citus_loaded())
		return false;
	for (i = 0; i < nknown; i++)
		if (known[i].relid == relid)
		{
			*parts = known[i].parts;
			return parts->method != 0;
		}
	look_up(relid, parts);
	if (nknown >= maxknown)
	{
		int			n = Max(32, maxknown * 2);

		known = known == NULL
			? MemoryContextAlloc(TopMemoryContext, n * sizeof(CitusRel))
			: repalloc(known, n * sizeof(CitusRel));
		maxknown = n;
	}
	known[nknown].relid = relid;
	known[nknown].parts = *parts;
	nknown++;
	return parts->method != 0;
}

/* rel_owner returns the owner of relid */
static Oid
rel_owner(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			owner = rel->rd_rel->relowner;

	table_close(rel, AccessShareLock);
	return owner;
}

/*
 * asks_workers tells whether this backend may run a distributed query on
 * lms.progress (relid) now: the store is distributed, this node is the
 * coordinator, the backend is a client's (not one Citus opened to run a
 * task of another node's query) and not in a parallel operation.  Citus
 * runs a distributed query from a query on a reference table's placement,
 * which the coordinator's queries of lms.users are.
 */
static bool
asks_workers(Oid relid)
{
	VisParts	parts;
	const char *app = GetConfigOption("application_name", true, false);

	if (IsInParallelMode() || !vis_citus_parts(relid, &parts) ||
		parts.method == VIS_CITUS_REFERENCE)
		return false;
	/* Citus names the backends it opens "citus_internal gpid=...", "citus_rebalancer ..." */
	if (app != NULL && strncmp(app, "citus_", 6) == 0)
		return false;
	return local_group() == 0;
}

/*
 * vis_citus_players calls found for each user with progress on content
 * (its content_id or its session_id), read through Citus from every node
 * that holds lms.progress, when this node is the coordinator of a cluster
 * lms.progress is distributed over (asks_workers); false when it is not,
 * and the caller reads this node's own rows.  The query runs as the owner
 * of lms.progress, a superuser, which row-level security does not filter
 * on any node; the builds under way are told that what they build holds
 * for the statement only (vis_record_statement_only).
 */
bool
vis_citus_players(int64 content, void (*found) (void *arg, int64 user), void *arg)
{
	Oid			nsp = get_namespace_oid("lms", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("progress", nsp) : InvalidOid;
	MemoryContext caller = CurrentMemoryContext;
	Oid			save_user;
	int			save_sec;
	int64	   *users = NULL;
	uint64		n = 0;
	uint64		i;
	bool		pushed = false;
	int			nest;

	if (!OidIsValid(relid) || !asks_workers(relid))
		return false;
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(rel_owner(relid), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	vis_citus_reading = true;
	PG_TRY();
	{
		/*
		 * Citus refuses a distributed query within a query it may push to
		 * another node; this one runs on the coordinator, read-only, in a
		 * client's backend (asks_workers).
		 */
		nest = NewGUCNestLevel();
		/* as any code run as another role: operators of no caller's schema */
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		if (GetConfigOption("citus.allow_nested_distributed_execution", true, false) != NULL)
			(void) set_config_option("citus.allow_nested_distributed_execution", "on",
									 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		/* the connection each worker already has, not one per shard */
		if (GetConfigOption("citus.max_adaptive_executor_pool_size", true, false) != NULL)
			(void) set_config_option("citus.max_adaptive_executor_pool_size", "1",
									 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* a constant, which each shard plans with its indexes */
		if (SPI_execute(psprintf("SELECT DISTINCT user_id FROM lms.progress WHERE content_id = " INT64_FORMAT
								 " OR session_id = " INT64_FORMAT, content, content), true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read who played content " INT64_FORMAT, content);
		n = SPI_processed;
		users = MemoryContextAlloc(caller, Max(n, 1) * sizeof(int64));
		for (i = 0; i < n; i++)
		{
			bool		isnull;

			users[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		}
		SPI_finish();
		AtEOXact_GUC(true, nest);
	}
	PG_FINALLY();
	{
		vis_citus_reading = false;
		if (pushed)
			PopActiveSnapshot();
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	vis_record_statement_only();
	for (i = 0; i < n; i++)
		found(arg, users[i]);
	pfree(users);
	return true;
}

/*
 * vis_store_relname returns the name of the store relation rel is, or is a
 * Citus shard of: "users" for lms.users and for lms.users_102008.
 */
const char *
vis_store_relname(Relation rel)
{
	const char *name = RelationGetRelationName(rel);
	const char *us = strrchr(name, '_');
	const char *p;

	if (vis_store_facts_of(name) != NULL || us == NULL || us[1] == '\0' || !vis_citus_loaded())
		return name;
	for (p = us + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return name;
	return pnstrdup(name, us - name);
}

PG_FUNCTION_INFO_V1(lms_distributed);

/*
 * lms._distributed() tells whether lms.progress is a Citus table: the
 * store has been distributed with lms.distribute().
 */
Datum
lms_distributed(PG_FUNCTION_ARGS)
{
	VisParts	parts;
	Oid			nsp = get_namespace_oid("lms", true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid("progress", nsp) : InvalidOid;

	PG_RETURN_BOOL(vis_citus_parts(relid, &parts));
}
