/*-------------------------------------------------------------------------
 *
 * vis_preview.c
 *	  lms.preview(change): what a change of the store would do to what
 *	  each principal sees, before it is made (doc/accountability.md, "What
 *	  a change will do").
 *
 *	  The change runs, as the caller, in a subtransaction that is always
 *	  rolled back.  While it runs, the store's row triggers note the tenant
 *	  of every row it inserts, deletes or changes in a column the engine
 *	  reads (vis_guard.c).  Every user of those tenants that holds a role
 *	  or relation is a principal to compare (one with none sees nothing):
 *	  its U(p) and C(p) are computed by the engine after the change, inside
 *	  the subtransaction, and after the rollback, from the store as it is;
 *	  the differences are the answer.  So the change runs once, and the
 *	  answer comes from the same engine as every other.
 *
 *	  Nothing of the hypothetical state stays behind.  The results are
 *	  computed outside the caches (vis_cache_compute); the tenant
 *	  structures they use are dropped by the invalidations of the rolled
 *	  back rows, which PostgreSQL executes in this backend at the rollback
 *	  as for any aborted write; a transaction that wrote uses no shared
 *	  cache entry and publishes none (vis_shcache.c).
 *
 * IDENTIFICATION
 *	  src/vis_preview.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "lms_visibility.h"

/* the tenants the running change touched; NULL when no change runs */
static VisIdSet *touched = NULL;

/* one principal's U(p) and C(p), sorted (principal first: sorted by it) */
typedef struct Seen
{
	int64		principal;
	int64	   *users;
	int			nusers;
	int64	   *content;
	int			ncontent;
} Seen;

/*
 * vis_preview_running tells the store's row triggers to note tenants.
 */
bool
vis_preview_running(void)
{
	return touched != NULL;
}

/*
 * vis_preview_note_tenant notes a tenant a row of the change belongs to.
 */
void
vis_preview_note_tenant(int64 tenant_id)
{
	if (touched != NULL)
		vis_idset_add(touched, tenant_id);
}

/*
 * check_target refuses a statement that is not DML on a table of the
 * store, naming it; a data-modifying WITH query is checked the same way.
 */
static void
check_target(Node *stmt)
{
	RangeVar   *rv;
	WithClause *with;
	Oid			relid;
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_InsertStmt:
			rv = ((InsertStmt *) stmt)->relation;
			with = ((InsertStmt *) stmt)->withClause;
			break;
		case T_UpdateStmt:
			rv = ((UpdateStmt *) stmt)->relation;
			with = ((UpdateStmt *) stmt)->withClause;
			break;
		case T_DeleteStmt:
			rv = ((DeleteStmt *) stmt)->relation;
			with = ((DeleteStmt *) stmt)->withClause;
			break;
		case T_MergeStmt:
			rv = ((MergeStmt *) stmt)->relation;
			with = ((MergeStmt *) stmt)->withClause;
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("lms.preview() does not run %s", GetCommandTagName(CreateCommandTag(stmt))),
					 errdetail("A change to preview is made of INSERT, UPDATE, DELETE or MERGE statements on the tables of the store.")));
			return;
	}
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" does not exist", rv->relname)));
	if (get_rel_namespace(relid) != get_rel_namespace(vis_relid("users", false)) ||
		(vis_store_facts_of(get_rel_name(relid)) == NULL && strcmp(get_rel_name(relid), "path_steps") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("lms.preview() changes only the tables of the store, not \"%s\"", rv->relname),
				 errdetail("A change to preview is made of INSERT, UPDATE, DELETE or MERGE statements on the tables of the store.")));
	if (with != NULL)
		foreach(lc, with->ctes)
		{
			Node	   *q = ((CommonTableExpr *) lfirst(lc))->ctequery;

			if (!IsA(q, SelectStmt))
				check_target(q);
		}
}

/* collect one user id of a tenant */
static void
user_row(void *arg, Datum *values, bool *nulls)
{
	VisIdArray *a = (VisIdArray *) arg;

	vis_idarray_push(a, DatumGetInt64(values[0]));
}

/*
 * see computes, in cxt, what each user of the tenants that holds a role or
 * relation sees now, in the order of their ids: a user with none sees
 * nothing, before the change as after it.
 */
static Seen *
see(VisIdSet *tenants, int *n, MemoryContext cxt)
{
	static const char *const cols[] = {"user_id"};
	MemoryContext old = MemoryContextSwitchTo(cxt);
	VisIdArray	users = {0};
	VisIdSet   *holders = vis_idset_create(cxt, 64);
	idset_iterator it;
	VisIdEntry *e;
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());
	Seen	   *seen;
	int			i = 0;

	idset_start_iterate(tenants, &it);
	while ((e = idset_iterate(tenants, &it)) != NULL)
		vis_scan("users", "users_tenant_idx", e->id, 1, cols, snap, user_row, &users);
	if (users.n > 0)
	{
		vis_sort_ids(users.ids, users.n);
		vis_holders_among(users.ids, users.n, snap, holders);
	}
	UnregisterSnapshot(snap);
	seen = palloc0(sizeof(Seen) * Max(holders->members, 1));
	idset_start_iterate(holders, &it);
	while ((e = idset_iterate(holders, &it)) != NULL)
		seen[i++].principal = e->id;
	*n = i;
	qsort(seen, *n, sizeof(Seen), vis_int64_cmp);
	for (i = 0; i < *n; i++)
	{
		MemoryContext tmp = AllocSetContextCreate(cxt, "lms.preview principal", ALLOCSET_SMALL_SIZES);
		VisResult  *r;

		MemoryContextSwitchTo(tmp);
		r = vis_cache_compute(seen[i].principal);
		MemoryContextSwitchTo(cxt);
		seen[i].users = vis_result_user_ids(r, &seen[i].nusers);
		seen[i].content = vis_result_content_ids(r, &seen[i].ncontent);
		MemoryContextDelete(tmp);
		CHECK_FOR_INTERRUPTS();
	}
	MemoryContextSwitchTo(old);
	return seen;
}

/*
 * after runs the change in a subtransaction, notes the tenants it touched
 * in tenants, computes what their users see then, and rolls it back.
 */
static Seen *
after(const char *change, VisIdSet *tenants, int *n, MemoryContext cxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Seen	   *seen = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		touched = tenants;
		if (SPI_execute(change, false, 0) < 0)
			elog(ERROR, "SPI_execute failed on the change");
		touched = NULL;
		/* the change's rows visible to the engine, its keys processed here */
		CommandCounterIncrement();
		seen = see(tenants, n, cxt);
	}
	PG_CATCH();
	{
		touched = NULL;
		MemoryContextSwitchTo(oldcxt);
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		PG_RE_THROW();
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return seen;
}

/*
 * minus returns the ids of a (sorted) not in b (sorted) as a bigint[];
 * *any is set when there is one.
 */
static Datum
minus(const int64 *a, int na, const int64 *b, int nb, bool *any)
{
	int64	   *out = palloc(sizeof(int64) * Max(na, 1));
	int			n = 0,
				i = 0,
				j = 0;

	while (i < na)
	{
		if (j >= nb || a[i] < b[j])
			out[n++] = a[i++];
		else if (a[i] == b[j])
			i++, j++;
		else
			j++;
	}
	*any |= n > 0;
	return vis_ids_array(out, n, CurrentMemoryContext);
}

PG_FUNCTION_INFO_V1(lms_preview);

/*
 * lms_preview(change) returns, for every principal of the tenants the
 * change touches whose U(p) or C(p) it changes, the users and content it
 * would gain and lose.  For superusers and members of lms_writer, who
 * may make the change themselves.
 */
Datum
lms_preview(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *change = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			writer = get_role_oid("lms_writer", true);
	MemoryContext cxt;
	List	   *stmts;
	ListCell   *lc;
	Seen	   *now_seen;
	Seen	   *then_seen;
	VisIdSet   *tenants;
	VisParts	parts;
	int			nnow;
	int			nthen;
	int			i;
	int			j;
	static const Seen none = {0};

	if (!superuser() && !(OidIsValid(writer) && has_privs_of_role(GetUserId(), writer)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for lms.preview()"),
				 errdetail("Only superusers and members of lms_writer may preview a change of the store.")));
	if (touched != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lms.preview() cannot run inside the change it previews")));
	if (vis_citus_parts(vis_relid("progress", false), &parts))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("lms.preview() does not run on a Citus cluster"),
				 errdetail("The store's triggers run on the nodes that hold the rows, where the tenants a change touches cannot be noted."),
				 errhint("Preview the change on a single-node copy of the store.")));
	stmts = pg_parse_query(change);
	if (stmts == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lms.preview() was given no statement")));
	foreach(lc, stmts)
		check_target(((RawStmt *) lfirst(lc))->stmt);

	InitMaterializedSRF(fcinfo, 0);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "lms.preview", ALLOCSET_DEFAULT_SIZES);
	tenants = vis_idset_create(cxt, 8);
	SPI_connect();
	then_seen = after(change, tenants, &nthen, cxt);
	SPI_finish();
	now_seen = see(tenants, &nnow, cxt);

	/* every principal of either side, in order: a is now, b after the change */
	i = j = 0;
	while (i < nnow || j < nthen)
	{
		const Seen *a = &none;
		const Seen *b = &none;
		Datum		values[5];
		bool		nulls[5] = {0};
		bool		any = false;
		int64		p;

		if (j >= nthen)
			p = now_seen[i].principal;
		else if (i >= nnow)
			p = then_seen[j].principal;
		else
			p = Min(now_seen[i].principal, then_seen[j].principal);
		if (i < nnow && now_seen[i].principal == p)
			a = &now_seen[i++];
		if (j < nthen && then_seen[j].principal == p)
			b = &then_seen[j++];
		values[0] = Int64GetDatum(p);
		values[1] = minus(b->users, b->nusers, a->users, a->nusers, &any);
		values[2] = minus(a->users, a->nusers, b->users, b->nusers, &any);
		values[3] = minus(b->content, b->ncontent, a->content, a->ncontent, &any);
		values[4] = minus(a->content, a->ncontent, b->content, b->ncontent, &any);
		if (any)
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
