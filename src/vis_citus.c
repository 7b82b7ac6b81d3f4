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
 *	  distributed query from a query on a shard.
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
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace_d.h"
#include "nodes/parsenodes.h"
#include "fmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "vis_store.h"

typedef struct CitusRel
{
	Oid			relid;			/* the relation the extension created */
	VisParts	parts;
} CitusRel;

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
