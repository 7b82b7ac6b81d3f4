/*-------------------------------------------------------------------------
 *
 * vis_load.c
 *	  Reads the relationship store with direct index scans: no SPI, no
 *	  parse or plan per rebuild, no row-level security in the way.  A
 *	  btree that holds every column the loader reads is read as an
 *	  index-only scan reads it: the heap only for pages that are not
 *	  all-visible.
 *
 * IDENTIFICATION
 *	  src/vis_load.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_compat.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/visibilitymap.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "executor/tuptable.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/predicate.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "vis_store.h"

#define VIS_MAX_ATTS 8

/*
 * vis_relid returns the OID of relation relname of the store.  This is the
 * one place that decides where the store's relations are: on a node of a
 * Citus cluster, a reference table's rows are in this node's shard of it
 * (a distributed table's, in several: see scan_info).  logical_relid is
 * the relation the extension created.
 */
static Oid
logical_relid(const char *relname, bool missing_ok)
{
	Oid			nsp = get_namespace_oid("lms", missing_ok);
	Oid			relid = InvalidOid;

	if (OidIsValid(nsp))
		relid = get_relname_relid(relname, nsp);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"lms.%s\" does not exist", relname),
				 errhint("Is the extension lms_visibility installed?")));
	return relid;
}

Oid
vis_relid(const char *relname, bool missing_ok)
{
	Oid			relid = logical_relid(relname, missing_ok);
	VisParts	parts;

	if (vis_citus_parts(relid, &parts) && parts.method == VIS_CITUS_REFERENCE &&
		parts.nparts == 1)
		return parts.relids[0];
	return relid;
}

/*
 * vis_snapshot returns the snapshot a one-off computation reads the store
 * with (explain_visibility): the active snapshot of the running statement,
 * so it sees what the statement sees (its own transaction's earlier changes
 * included).
 */
Snapshot
vis_snapshot(void)
{
	if (ActiveSnapshotSet())
		return GetActiveSnapshot();
	return GetTransactionSnapshot();
}

/*
 * vis_build_snapshot returns, registered (the caller unregisters it), the
 * snapshot to build something kept beyond the running statement: a cache
 * entry, the role map.  What is kept must not come from a snapshot older
 * than the invalidations already received, or it would outlive a change it
 * does not reflect: a cursor fetched after a revocation made in its own
 * transaction, a statement whose snapshot predates a commit whose
 * invalidation arrived before the build.  Hence:
 *	 - READ COMMITTED: the latest snapshot, the transaction's own earlier
 *	   changes included;
 *	 - REPEATABLE READ and SERIALIZABLE, when xact_ok: the transaction's
 *	   snapshot (the cache drops what it built from it at transaction end);
 *	 - a parallel worker, which lives for one statement: the statement's;
 *	 - the leader in parallel mode, where no snapshot may be taken: the
 *	   statement's, and *keep is false: keep it for this statement only.
 */
Snapshot
vis_build_snapshot(bool xact_ok, bool *keep)
{
	Snapshot	snap;

	*keep = true;
	if (IsParallelWorker())
		snap = vis_snapshot();
	else if (IsInParallelMode())
	{
		snap = vis_snapshot();
		*keep = false;
	}
	else if (xact_ok && IsolationUsesXactSnapshot())
		snap = GetTransactionSnapshot();
	else
		snap = GetLatestSnapshot();
	return RegisterSnapshot(snap);
}

/*
 * Scan descriptors: the catalog lookups of one kind of scan (relation,
 * index, key column, attribute numbers), done once and kept until a
 * relcache invalidation of one of the relations (DDL, DROP EXTENSION).
 * A relation has one part, its own rows, or on a node of a Citus cluster
 * one per shard of it placed on the node (vis_citus.c); the shards have
 * indexes of their own and may number their columns differently.
 */
typedef struct VisScanPart
{
	Oid			relid;
	Oid			indexid;
	AttrNumber	keyatt;
	AttrNumber	attnums[VIS_MAX_ATTS];
	/* the same columns in the index's tuples, when it holds them all */
	AttrNumber	indexatts[VIS_MAX_ATTS];
	bool		index_only;
} VisScanPart;

typedef struct VisScanInfo
{
	const char *relname;
	const char *indexname;
	const char *const *attnames;	/* static arrays of the callers: the key */
	int			natts;
	bool		declared;		/* a store fact of vis_inval.c: triggers report it */
	int			nparts;
	VisScanPart *parts;			/* in scan_cxt */
} VisScanInfo;

#define VIS_MAX_SCANS 64
static VisScanInfo scan_infos[VIS_MAX_SCANS];
static int	n_scan_infos = 0;
static MemoryContext scan_cxt = NULL;

/*
 * vis_load_forget drops the scan descriptors when relid is one of their
 * relations, or on InvalidOid.  It runs in a relcache callback: it only
 * compares numbers.
 */
void
vis_load_forget(Oid relid)
{
	int			i,
				k;

	vis_citus_forget(relid);
	for (i = 0; i < n_scan_infos; i++)
		for (k = 0; k < scan_infos[i].nparts; k++)
			if (relid == InvalidOid || scan_infos[i].parts[k].relid == relid ||
				scan_infos[i].parts[k].indexid == relid)
			{
				n_scan_infos = 0;
				return;
			}
}

/* scan_part fills part for relation relid, with index indexid if valid */
static void
scan_part(VisScanPart *part, Oid relid, Oid indexid, int natts, const char *const *attnames)
{
	int			i;

	part->relid = relid;
	part->indexid = indexid;
	part->keyatt = InvalidAttrNumber;
	part->index_only = false;
	for (i = 0; i < natts; i++)
	{
		part->attnums[i] = get_attnum(relid, attnames[i]);
		if (part->attnums[i] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of relation \"%s\" does not exist",
				 attnames[i], get_rel_name(relid));
	}
	if (OidIsValid(indexid))
	{
		Relation	irel = index_open(indexid, AccessShareLock);
		int			k;

		/* systable scans take the heap attribute number of the key column */
		part->keyatt = irel->rd_index->indkey.values[0];
		/* a btree that holds every column read: the heap only when needed */
		part->index_only = irel->rd_rel->relam == BTREE_AM_OID;
		for (i = 0; i < natts; i++)
		{
			part->indexatts[i] = InvalidAttrNumber;
			for (k = 0; k < irel->rd_index->indnatts; k++)
				if (irel->rd_index->indkey.values[k] == part->attnums[i])
					part->indexatts[i] = k + 1;
			if (part->indexatts[i] == InvalidAttrNumber)
				part->index_only = false;
		}
		index_close(irel, AccessShareLock);
	}
}

static VisScanInfo *
scan_info(const char *relname, const char *indexname, int natts, const char *const *attnames)
{
	VisScanInfo si;
	VisParts	shards;
	Oid			relid;
	int			i;

	for (i = 0; i < n_scan_infos; i++)
	{
		VisScanInfo *known = &scan_infos[i];

		if (known->attnames == attnames && known->natts == natts &&
			known->relname == relname && known->indexname == indexname)
			return known;
	}
	if (scan_cxt == NULL)
		scan_cxt = AllocSetContextCreate(TopMemoryContext, "lms_visibility scans",
										 ALLOCSET_SMALL_SIZES);
	if (n_scan_infos == 0 || n_scan_infos >= VIS_MAX_SCANS)
	{
		n_scan_infos = 0;
		MemoryContextReset(scan_cxt);
	}
	si.relname = relname;
	si.indexname = indexname;
	si.attnames = attnames;
	si.natts = natts;
	relid = logical_relid(relname, false);
	if (vis_citus_parts(relid, &shards))
	{
		/* a Citus table: each shard of this node, with its copy of the index */
		Oid			nsp = get_rel_namespace(relid);

		si.nparts = shards.nparts;
		si.parts = MemoryContextAlloc(scan_cxt, Max(1, shards.nparts) * sizeof(VisScanPart));
		for (i = 0; i < shards.nparts; i++)
		{
			char		name[NAMEDATALEN + 32];
			Oid			indexid = InvalidOid;

			if (indexname != NULL)
			{
				snprintf(name, sizeof(name), "%s_" INT64_FORMAT, indexname, shards.shardids[i]);
				indexid = get_relname_relid(name, nsp);
				if (!OidIsValid(indexid))
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_OBJECT),
							 errmsg("index \"lms.%s\" does not exist", name),
							 errdetail("Each shard of lms.%s needs its copy of index lms.%s.",
									   relname, indexname)));
			}
			scan_part(&si.parts[i], shards.relids[i], indexid, natts, attnames);
		}
	}
	else
	{
		si.nparts = 1;
		si.parts = MemoryContextAlloc(scan_cxt, sizeof(VisScanPart));
		scan_part(si.parts, relid, indexname ? logical_relid(indexname, false) : InvalidOid,
				  natts, attnames);
	}
	if (indexname == NULL)
		si.declared = vis_fact_declared(relname, VIS_FACT_ALL);
	else if (si.nparts == 0)
		si.declared = true;		/* no shard here: nothing is read */
	else
		si.declared = vis_fact_declared(relname,
										get_attname(si.parts[0].relid, si.parts[0].keyatt, false));

	/*
	 * Appended last: opening the indexes may have processed an
	 * invalidation that forgot every descriptor (this one's parts are
	 * allocated after the reset, so they stay valid).
	 */
	scan_infos[n_scan_infos] = si;
	return &scan_infos[n_scan_infos++];
}

/* scan_one_part is vis_scan_keys on one part of a relation */
static int
scan_one_part(const VisScanPart *part, const int64 *keys, int nkeys, int natts,
			  Snapshot snapshot, VisRowFn fn, void *arg)
{
	Relation	rel = table_open(part->relid, AccessShareLock);
	Datum		values[VIS_MAX_ATTS];
	bool		nulls[VIS_MAX_ATTS];
	int			count = 0;
	int			i,
				k;

	if (!OidIsValid(part->indexid))
	{
		SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
		TupleDesc	desc = RelationGetDescr(rel);
		HeapTuple	tup;

		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			for (i = 0; i < natts; i++)
				values[i] = heap_getattr(tup, part->attnums[i], desc, &nulls[i]);
			fn(arg, values, nulls);
			count++;
		}
		systable_endscan(scan);
	}
	else if (nkeys > 0)
	{
		Relation	irel = index_open(part->indexid, AccessShareLock);
		IndexScanDesc scan = index_beginscan_compat(rel, irel, snapshot, 1, 0);
		TupleTableSlot *slot = table_slot_create(rel, NULL);
		ScanKeyData skey;
		bool		index_only = part->index_only && IsMVCCSnapshot(snapshot);
		Buffer		vmbuffer = InvalidBuffer;

		scan->xs_want_itup = index_only;
		for (k = 0; k < nkeys; k++)
		{
			ItemPointer tid;

			/* an index scan's key names the index column, not the table's */
			ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(keys[k]));
			index_rescan(scan, &skey, 1, NULL, 0);
			if (!index_only)
			{
				while (index_getnext_slot(scan, ForwardScanDirection, slot))
				{
					for (i = 0; i < natts; i++)
						values[i] = slot_getattr(slot, part->attnums[i], &nulls[i]);
					fn(arg, values, nulls);
					count++;
				}
				continue;
			}

			/*
			 * As an index-only scan does (nodeIndexonlyscan.c): the index
			 * tuple's values when its heap page is all visible, with a
			 * page-level predicate lock since no tuple is read; else the
			 * heap tuple, if the snapshot sees it.
			 */
			while ((tid = index_getnext_tid(scan, ForwardScanDirection)) != NULL)
			{
				if (VM_ALL_VISIBLE(rel, ItemPointerGetBlockNumber(tid), &vmbuffer))
				{
					for (i = 0; i < natts; i++)
						values[i] = index_getattr(scan->xs_itup, part->indexatts[i],
												  scan->xs_itupdesc, &nulls[i]);
					PredicateLockPage(rel, ItemPointerGetBlockNumber(tid), snapshot);
				}
				else if (index_fetch_heap(scan, slot))
				{
					for (i = 0; i < natts; i++)
						values[i] = slot_getattr(slot, part->attnums[i], &nulls[i]);
				}
				else
					continue;
				fn(arg, values, nulls);
				count++;
			}
		}
		if (BufferIsValid(vmbuffer))
			ReleaseBuffer(vmbuffer);
		index_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		index_close(irel, AccessShareLock);
	}
	table_close(rel, AccessShareLock);
	return count;
}

/*
 * vis_scan calls fn for every row of lms.relname whose first index column
 * of indexname equals key, or for every row when indexname is NULL.  It
 * passes the values of attnames (a static array), in that order, and
 * returns the row count.  While a build records (vis_inval.c), the scan's
 * key joins what the build depends on.
 */
int
vis_scan(const char *relname, const char *indexname, int64 key,
		 int natts, const char *const *attnames,
		 Snapshot snapshot, VisRowFn fn, void *arg)
{
	return vis_scan_keys(relname, indexname, indexname != NULL ? &key : NULL,
						 indexname != NULL ? 1 : 0, natts, attnames, snapshot, fn, arg, true);
}

/*
 * vis_scan_keys is vis_scan for several keys of one index at once: the
 * relation, the index and the scan are opened once and the scan restarted
 * for each key, which costs a fraction of a scan of its own per key.  With
 * record false the scan adds no keys to the builds under way: for reads
 * whose answer no change of the store can alter.
 */
int
vis_scan_keys(const char *relname, const char *indexname, const int64 *keys, int nkeys,
			  int natts, const char *const *attnames,
			  Snapshot snapshot, VisRowFn fn, void *arg, bool record)
{
	VisScanInfo *found;
	VisScanPart one;
	VisScanPart *parts;
	int			nparts;
	bool		declared;
	int			count = 0;
	int			k,
				p;

	Assert(natts <= VIS_MAX_ATTS);
	/* copy: opening a relation may process invalidations */
	found = scan_info(relname, indexname, natts, attnames);
	nparts = found->nparts;
	declared = found->declared;
	parts = nparts == 1 ? &one : palloc(Max(1, nparts) * sizeof(VisScanPart));
	memcpy(parts, found->parts, nparts * sizeof(VisScanPart));
	if (record && vis_record_active())
	{
		/* what is kept must be dropped when the rows it read change */
		if (!declared)
			elog(ERROR, "lms.%s is read by index \"%s\" but no trigger reports its changes",
				 relname, indexname ? indexname : "(none)");
		for (p = 0; p < nparts; p++)
		{
			if (indexname == NULL)
				vis_record_scan(parts[p].relid, 0, 0);
			for (k = 0; indexname != NULL && k < nkeys; k++)
				vis_record_scan(parts[p].relid, parts[p].keyatt, keys[k]);
		}
	}
	for (p = 0; p < nparts; p++)
		count += scan_one_part(&parts[p], keys, indexname != NULL ? nkeys : 0, natts,
							   snapshot, fn, arg);
	if (parts != &one)
		pfree(parts);
	return count;
}

/*
 * vis_scan_key returns the key vis_scan_keys records for value on a
 * relation of one part (not lms.progress on a Citus node): what a build
 * depends on when a structure read by that scan stands in for it.
 */
VisKey
vis_scan_key(const char *relname, const char *indexname, int natts,
			 const char *const *attnames, int64 value)
{
	VisScanInfo *found = scan_info(relname, indexname, natts, attnames);

	if (found->nparts != 1)
		elog(ERROR, "lms.%s is not read from one relation on this node", relname);
	return vis_key(found->parts[0].relid, found->parts[0].keyatt, value);
}

/*
 * vis_reltuples returns the planner's estimate of the rows of lms.relname,
 * or 0 before its first VACUUM or ANALYZE.
 */
double
vis_reltuples(const char *relname)
{
	Relation	rel = table_open(vis_relid(relname, false), AccessShareLock);
	double		n = Max(rel->rd_rel->reltuples, 0);

	table_close(rel, AccessShareLock);
	return n;
}

typedef struct FetchOne
{
	int			natts;
	Datum	   *values;
	bool	   *nulls;
	bool		found;
} FetchOne;

static void
fetch_one_row(void *arg, Datum *values, bool *nulls)
{
	FetchOne   *f = (FetchOne *) arg;

	if (f->found)
		return;
	memcpy(f->values, values, sizeof(Datum) * f->natts);
	memcpy(f->nulls, nulls, sizeof(bool) * f->natts);
	f->found = true;
}

/*
 * vis_fetch_one looks up one row by a unique key and copies its values;
 * it returns false when there is none.  Pass-by-reference values point into
 * a tuple that is gone: callers fetch only pass-by-value columns.
 */
bool
vis_fetch_one(const char *relname, const char *indexname, int64 key,
			  int natts, const char *const *attnames,
			  Snapshot snapshot, Datum *values, bool *nulls)
{
	FetchOne	f;

	f.natts = natts;
	f.values = values;
	f.nulls = nulls;
	f.found = false;
	vis_scan(relname, indexname, key, natts, attnames, snapshot, fetch_one_row, &f);
	return f.found;
}
