/*-------------------------------------------------------------------------
 *
 * vis_guard.c
 *	  Triggers of the relationship store: the tenant guard that refuses a
 *	  row linking two tenants (and group cycles, and misparented content),
 *	  and the invalidation triggers that tell every backend's cache which
 *	  facts changed.
 *
 * IDENTIFICATION
 *	  src/vis_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "vis_store.h"

/* what a guarded column references */
typedef struct RefRow
{
	bool		found;
	int64		tenant_id;
	int64		parent;			/* groups: parent_group_id, 0 if none */
	char	   *kind;			/* content: kind */
} RefRow;

static void
ref_group_row(void *arg, Datum *values, bool *nulls)
{
	RefRow	   *r = (RefRow *) arg;

	r->found = true;
	r->tenant_id = DatumGetInt64(values[0]);
	r->parent = nulls[1] ? 0 : DatumGetInt64(values[1]);
}

static void
ref_content_row(void *arg, Datum *values, bool *nulls)
{
	RefRow	   *r = (RefRow *) arg;

	r->found = true;
	r->tenant_id = DatumGetInt64(values[0]);
	r->kind = TextDatumGetCString(values[1]);
}

static void
ref_user_row(void *arg, Datum *values, bool *nulls)
{
	RefRow	   *r = (RefRow *) arg;

	r->found = true;
	r->tenant_id = DatumGetInt64(values[0]);
}

/*
 * lookup_ref finds the row an id references.  It reads with SnapshotSelf,
 * which also sees rows inserted earlier by the same statement, so that one
 * multi-row INSERT or COPY is checked as strictly as many single ones.
 */
static RefRow
lookup_ref(const char *entity, int64 id)
{
	static const char *const group_cols[] = {"tenant_id", "parent_group_id"};
	static const char *const content_cols[] = {"tenant_id", "kind"};
	static const char *const user_cols[] = {"tenant_id"};
	RefRow		r = {false, 0, 0, NULL};

	if (strcmp(entity, "user") == 0)
		vis_scan("users", "users_pkey", id, 1, user_cols, SnapshotSelf, ref_user_row, &r);
	else if (strcmp(entity, "group") == 0 || strcmp(entity, "ancestor") == 0)
		vis_scan("groups", "groups_pkey", id, 2, group_cols, SnapshotSelf, ref_group_row, &r);
	else if (strcmp(entity, "content") == 0 || strcmp(entity, "parent") == 0)
		vis_scan("content", "content_pkey", id, 2, content_cols, SnapshotSelf, ref_content_row, &r);
	else if (strcmp(entity, "tenant") == 0)
	{
		r.found = true;
		r.tenant_id = id;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid argument of trigger function lms._tenant_guard(): \"%s\"", entity),
				 errdetail("A column references a tenant, user, group, ancestor, content or parent.")));
	return r;
}

static const char *
entity_noun(const char *entity)
{
	if (strcmp(entity, "ancestor") == 0)
		return "group";
	if (strcmp(entity, "parent") == 0)
		return "content";
	return entity;
}

static void
count_row(void *arg, Datum *values, bool *nulls)
{
	(*(int *) arg)++;
}

/*
 * check_no_cycle walks up from the new parent of group_id and refuses to
 * close a loop.  A group without subgroups cannot be its new parent's
 * ancestor, so the walk is needed only for a group that has some: loading
 * a tree from the top down checks each group in one index lookup, not one
 * per ancestor.  Moves within one tenant's tree are serialized by a
 * transaction-level advisory lock, so two concurrent moves cannot close a
 * loop together (a subgroup another transaction adds waits for it, and
 * walks after it).
 */
static void
check_no_cycle(int64 group_id, int64 parent, int64 tenant_id)
{
	static const char *const cols[] = {"group_id"};
	int64		cur = parent;
	int			depth = 0;
	int			children = 0;

	DirectFunctionCall1(pg_advisory_xact_lock_int8,
						Int64GetDatum((int64) (UINT64CONST(0x4c4d5347) << 32) ^ tenant_id));
	if (parent != group_id)
	{
		vis_scan("groups", "groups_parent_idx", group_id, 1, cols, SnapshotSelf, count_row, &children);
		if (children == 0)
			return;
	}
	while (cur != 0)
	{
		RefRow		r;

		if (cur == group_id && parent == group_id)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("group " INT64_FORMAT " cannot be its own parent", group_id)));
		if (cur == group_id)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("group " INT64_FORMAT " cannot have group " INT64_FORMAT " as parent",
							group_id, parent),
					 errdetail("Group " INT64_FORMAT " is already an ancestor of group " INT64_FORMAT
							   ", so this would make a cycle.", group_id, parent)));
		r = lookup_ref("group", cur);
		if (!r.found)
			break;
		cur = r.parent;
		if (++depth > 1000000)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("group tree above group " INT64_FORMAT " is too deep", group_id)));
	}
}

static int64
column_int64(HeapTuple tup, TupleDesc desc, const char *col, bool *isnull)
{
	int			attnum = SPI_fnumber(desc, col);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist", col),
				 errdetail("The column is named in an argument of a trigger of lms._tenant_guard().")));
	return DatumGetInt64(heap_getattr(tup, attnum, desc, isnull));
}

PG_FUNCTION_INFO_V1(lms_tenant_guard);

/*
 * lms_tenant_guard is a BEFORE ROW trigger.  Each trigger argument reads
 * "column:entity[:kind]": the column references a tenant, user, group or
 * content item (of that kind).  Every referenced row must belong to the
 * same tenant; "ancestor" also refuses group cycles, and "parent" checks
 * that a path_session's parent is a path and a classroom_slot's a
 * classroom.  A missing row is left to the foreign key to report.
 */
Datum
lms_tenant_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	tup;
	TupleDesc	desc;
	const char *relname;
	bool		have_tenant = false;
	int64		tenant_id = 0;
	const char *tenant_noun = NULL;
	int64		tenant_from = 0;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function lms._tenant_guard() must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		return PointerGetDatum(td->tg_trigtuple);
	tup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	desc = RelationGetDescr(td->tg_relation);
	relname = RelationGetRelationName(td->tg_relation);

	for (i = 0; i < td->tg_trigger->tgnargs; i++)
	{
		char	   *spec = pstrdup(td->tg_trigger->tgargs[i]);
		char	   *col = spec;
		char	   *entity = strchr(spec, ':');
		char	   *kind = NULL;
		bool		isnull;
		int64		id;
		RefRow		ref;

		if (entity == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid argument of trigger function lms._tenant_guard(): \"%s\"", spec),
					 errdetail("Each argument reads column:entity or column:entity:kind.")));
		*entity++ = '\0';
		kind = strchr(entity, ':');
		if (kind)
			*kind++ = '\0';

		id = column_int64(tup, desc, col, &isnull);
		if (isnull)
			continue;
		ref = lookup_ref(entity, id);
		if (!ref.found)
			continue;

		if (kind && strcmp(ref.kind, kind) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("content " INT64_FORMAT " is a %s, not a %s", id, ref.kind, kind),
					 errdetail("Column %s of lms.%s references a %s.", col, relname, kind)));

		if (strcmp(entity, "parent") == 0)
		{
			bool		kind_null;
			char	   *own_kind = TextDatumGetCString(heap_getattr(tup, SPI_fnumber(desc, "kind"),
																	desc, &kind_null));
			const char *want = strcmp(own_kind, "path_session") == 0 ? "path" :
			strcmp(own_kind, "classroom_slot") == 0 ? "classroom" : NULL;

			if (want == NULL || strcmp(ref.kind, want) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_CHECK_VIOLATION),
						 errmsg("a %s cannot have content " INT64_FORMAT " (a %s) as parent",
								own_kind, id, ref.kind),
						 errdetail("A path_session's parent is a path, a classroom_slot's a classroom; other kinds have none.")));
		}

		if (!have_tenant)
		{
			have_tenant = true;
			tenant_id = ref.tenant_id;
			tenant_noun = entity_noun(entity);
			tenant_from = id;
		}
		else if (ref.tenant_id != tenant_id && strcmp(tenant_noun, "tenant") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("%s " INT64_FORMAT " belongs to tenant " INT64_FORMAT
							", not to tenant " INT64_FORMAT,
							entity_noun(entity), id, ref.tenant_id, tenant_id),
					 errdetail("A row of lms.%s must not link two tenants.", relname)));
		else if (ref.tenant_id != tenant_id)
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("%s " INT64_FORMAT " belongs to tenant " INT64_FORMAT
							", but %s " INT64_FORMAT " belongs to tenant " INT64_FORMAT,
							entity_noun(entity), id, ref.tenant_id,
							tenant_noun, tenant_from, tenant_id),
					 errdetail("A row of lms.%s must not link two tenants.", relname)));

		if (strcmp(entity, "ancestor") == 0)
		{
			bool		own_null;
			int64		own = column_int64(tup, desc, "group_id", &own_null);

			check_no_cycle(own, id, ref.tenant_id);
		}
		/* spec stays allocated: tenant_noun may point into it */
	}
	return PointerGetDatum(tup);
}

/*
 * send_flush queues an invalidation of the proxy relation, which flushes
 * every backend's cache at commit.
 */
static void
send_flush(void)
{
	Oid			proxy = vis_relid("cache_proxy", true);

	if (OidIsValid(proxy))
		CacheInvalidateRelcacheByRelid(proxy);
	vis_inval_flushed();
}

PG_FUNCTION_INFO_V1(lms_invalidate_cache);

/*
 * lms_invalidate_cache is an AFTER TRUNCATE trigger on every store table:
 * it flushes every backend's cache (and hot standby's) from commit on,
 * and this backend's from its next command.
 */
Datum
lms_invalidate_cache(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function lms._invalidate_cache() must be fired as a trigger")));
	send_flush();
	return PointerGetDatum(NULL);
}

/*
 * send_row_keys queues the keys of one row (see vis_inval.c); an UPDATE
 * changes no row count.
 */
static void
send_row_keys(Relation rel, HeapTuple tup, const VisStoreFacts *facts, bool update)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < VIS_MAX_FACT_COLUMNS && facts->columns[i] != NULL; i++)
	{
		VisKey		key;

		if (strcmp(facts->columns[i], VIS_FACT_ROWS) == 0 && update)
			continue;
		if (strcmp(facts->columns[i], VIS_FACT_ALL) == 0 ||
			strcmp(facts->columns[i], VIS_FACT_ROWS) == 0)
			key = vis_key(RelationGetRelid(rel), 0, 0);
		else
		{
			int			attnum = SPI_fnumber(desc, facts->columns[i]);
			bool		isnull;
			Datum		value;

			if (attnum <= 0)
				elog(ERROR, "column \"%s\" of relation \"lms.%s\" does not exist",
					 facts->columns[i], facts->relname);
			value = heap_getattr(tup, attnum, desc, &isnull);
			if (isnull)
				continue;
			key = vis_key(RelationGetRelid(rel), attnum, DatumGetInt64(value));
		}
		if (!vis_inval_send(key))
		{
			send_flush();
			return;
		}
	}
}

/*
 * note_tenant tells lms.preview() the tenant of a row its change touched:
 * the row's own tenant_id, or that of the user, group or content item it
 * names first (as the row stands now, so also a row the change deletes).
 */
static void
note_tenant(Relation rel, HeapTuple tup)
{
	static const char *const refs[][2] = {
		{"tenant_id", "tenant"}, {"group_id", "group"}, {"content_id", "content"},
		{"user_id", "user"}, {"manager_id", "user"}, {"session_id", "content"},
		{"slot_id", "content"}, {"principal", "user"}
	};
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < lengthof(refs); i++)
	{
		int			attnum = SPI_fnumber(desc, refs[i][0]);
		bool		isnull;
		Datum		value;
		RefRow		ref;

		if (attnum <= 0)
			continue;
		value = heap_getattr(tup, attnum, desc, &isnull);
		if (isnull)
			continue;
		ref = lookup_ref(refs[i][1], DatumGetInt64(value));
		if (ref.found)
		{
			vis_preview_note_tenant(ref.tenant_id);
			return;
		}
	}
}

PG_FUNCTION_INFO_V1(lms_invalidate_rows);

/*
 * lms_invalidate_rows is an AFTER ROW trigger on the store tables: it
 * queues the keys of the facts the row holds (old and new row of an
 * UPDATE), which reach every backend at commit.  An UPDATE fires it only
 * when a column the engine reads changed (the trigger's WHEN clause), so
 * a learner's score or dates never invalidate anything.
 */
Datum
lms_invalidate_rows(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const VisStoreFacts *facts;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function lms._invalidate_rows() must be fired AFTER FOR EACH ROW")));
	facts = vis_store_facts_of(vis_store_relname(td->tg_relation));
	if (facts == NULL)
	{
		send_flush();
		return PointerGetDatum(NULL);
	}
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		send_row_keys(td->tg_relation, td->tg_trigtuple, facts, true);
		send_row_keys(td->tg_relation, td->tg_newtuple, facts, true);
	}
	else
		send_row_keys(td->tg_relation, td->tg_trigtuple, facts, false);
	if (vis_preview_running())
	{
		note_tenant(td->tg_relation, td->tg_trigtuple);
		if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
			note_tenant(td->tg_relation, td->tg_newtuple);
	}
	return PointerGetDatum(NULL);
}
