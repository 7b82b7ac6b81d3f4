/*-------------------------------------------------------------------------
 *
 * vis_history.c
 *	  The relationship history (doc/accountability.md, "What changed"):
 *	  lms._record_history(), the deferred row trigger that writes every
 *	  change of a relationship table of the store to lms.history when its
 *	  transaction commits, and the TRUNCATE trigger that writes the rows a
 *	  TRUNCATE removes.
 *
 *	  A row of history holds, as JSON, the columns the trigger names: the
 *	  row's key and the columns the rules read of it (the invalidation
 *	  triggers' columns), never a name or an e-mail.  Every row a
 *	  transaction writes has the same time, taken when it writes its first:
 *	  at its COMMIT (the triggers are deferred), so changes of a transaction
 *	  that waited for another's lock come after that one's; or earlier, at a
 *	  TRUNCATE or SET CONSTRAINTS ... IMMEDIATE.  The rows of a rolled-back
 *	  (sub)transaction never fire.  The role and principal are those in
 *	  effect when the row is written.  A writer has no privilege on
 *	  lms.history: the rows are written as the table's owner.
 *
 *	  PostgreSQL refuses TRUNCATE, ALTER TABLE and DROP of a table with
 *	  pending trigger events, which a deferred trigger leaves until the
 *	  commit.  So before such a statement in a transaction that wrote, the
 *	  history's pending rows are written (SET CONSTRAINTS ... IMMEDIATE on
 *	  its triggers, for the rest of the transaction, as a user would):
 *	  their time is then taken at that statement.
 *
 * IDENTIFICATION
 *	  src/vis_history.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "vis_principal.h"
#include "vis_store.h"

bool		vis_history = true;

/* the time of the current transaction's history */
static FullTransactionId stamp_xid;
static TimestampTz stamp_at;

static TimestampTz
history_time(void)
{
	FullTransactionId xid = GetTopFullTransactionId();

	if (!FullTransactionIdEquals(xid, stamp_xid))
	{
		stamp_xid = xid;
		stamp_at = GetCurrentTimestamp();
	}
	return stamp_at;
}

/*
 * row_json writes the columns the trigger names of one row as a JSON
 * object: numbers and booleans as themselves, anything else as its text.
 */
static char *
row_json(Relation rel, HeapTuple tup, const Trigger *tg)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (i = 0; i < tg->tgnargs; i++)
	{
		int			attnum = SPI_fnumber(desc, tg->tgargs[i]);
		Form_pg_attribute att;
		bool		isnull;
		Datum		value;

		if (attnum <= 0)
			elog(ERROR, "column \"%s\" of relation \"%s\" does not exist",
				 tg->tgargs[i], RelationGetRelationName(rel));
		att = TupleDescAttr(desc, attnum - 1);
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, tg->tgargs[i]);
		appendStringInfoString(&buf, ": ");
		value = heap_getattr(tup, attnum, desc, &isnull);
		if (isnull)
			appendStringInfoString(&buf, "null");
		else if (att->atttypid == INT8OID)
			appendStringInfo(&buf, INT64_FORMAT, DatumGetInt64(value));
		else if (att->atttypid == INT4OID)
			appendStringInfo(&buf, "%d", DatumGetInt32(value));
		else if (att->atttypid == BOOLOID)
			appendStringInfoString(&buf, DatumGetBool(value) ? "true" : "false");
		else
		{
			Oid			out;
			bool		varlena;

			getTypeOutputInfo(att->atttypid, &out, &varlena);
			escape_json(&buf, OidOutputFunctionCall(out, value));
		}
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * write_history runs sql (an INSERT into lms.history whose first
 * parameters are the time, the relation, the role and the principal, then
 * those of extra) as the owner of lms.history; with plan, from the plan it
 * keeps there.
 */
static void
write_history(SPIPlanPtr *plan, const char *sql, const char *relname, int nextra,
			  Oid *extra_types, Datum *extra, const char *extra_nulls)
{
	Oid			history = vis_relid("history", false);
	HeapTuple	classtup;
	Oid			owner;
	Oid			save_user;
	int			save_sec;
	Oid			types[8] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[8];
	char		nulls[8] = "    ";
	char	   *role = GetUserNameFromId(GetOuterUserId(), true);
	int64		principal;
	int			rc;

	Assert(nextra <= 4);
	classtup = SearchSysCache1(RELOID, ObjectIdGetDatum(history));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for relation %u", history);
	owner = ((Form_pg_class) GETSTRUCT(classtup))->relowner;
	ReleaseSysCache(classtup);

	values[0] = TimestampTzGetDatum(history_time());
	values[1] = CStringGetTextDatum(relname);
	values[2] = role ? CStringGetTextDatum(role) : (Datum) 0;
	nulls[2] = role ? ' ' : 'n';
	nulls[3] = vis_current_principal_quiet(&principal) ? ' ' : 'n';
	values[3] = Int64GetDatum(nulls[3] == ' ' ? principal : 0);
	if (nextra > 0)
	{
		memcpy(types + 4, extra_types, nextra * sizeof(Oid));
		memcpy(values + 4, extra, nextra * sizeof(Datum));
		memcpy(nulls + 4, extra_nulls, nextra);
	}

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
		rc = SPI_execute_with_args(sql, 4 + nextra, types, values, nulls, false, 0);
	else
	{
		if (*plan == NULL)
		{
			SPIPlanPtr	p = SPI_prepare(sql, 4 + nextra, types);

			if (p == NULL || SPI_keepplan(p) != 0)
				elog(ERROR, "could not prepare the history's INSERT: %s",
					 SPI_result_code_string(SPI_result));
			*plan = p;
		}
		rc = SPI_execute_plan(*plan, values, nulls, false, 0);
	}
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not write lms.history: %s", SPI_result_code_string(rc));
	SPI_finish();
	SetUserIdAndSecContext(save_user, save_sec);
}

PG_FUNCTION_INFO_V1(lms_record_history);

/*
 * lms_record_history is the deferred AFTER ROW trigger of the history; its
 * arguments name the columns it keeps.  An UPDATE fires it only when one
 * of them changed (its WHEN clause).
 */
Datum
lms_record_history(PG_FUNCTION_ARGS)
{
	static const char *const sql =
		"INSERT INTO lms.history (committed_at, relation, by_role, by_principal, change, new_row, old_row) "
		"VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.jsonb, $7::pg_catalog.jsonb)";
	static SPIPlanPtr plan = NULL;
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = "   ";
	HeapTuple	new_row = NULL;
	HeapTuple	old_row = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function lms._record_history() must be fired AFTER FOR EACH ROW")));
	if (!vis_history)
		return PointerGetDatum(NULL);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
	{
		values[0] = CStringGetTextDatum("insert");
		new_row = td->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		values[0] = CStringGetTextDatum("update");
		old_row = td->tg_trigtuple;
		new_row = td->tg_newtuple;
	}
	else
	{
		values[0] = CStringGetTextDatum("delete");
		old_row = td->tg_trigtuple;
	}
	if (new_row)
		values[1] = CStringGetTextDatum(row_json(td->tg_relation, new_row, td->tg_trigger));
	else
		nulls[1] = 'n';
	if (old_row)
		values[2] = CStringGetTextDatum(row_json(td->tg_relation, old_row, td->tg_trigger));
	else
		nulls[2] = 'n';
	write_history(&plan, sql, vis_store_relname(td->tg_relation), 3, types, values, nulls);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(lms_record_truncate);

/*
 * lms_record_truncate is the BEFORE TRUNCATE trigger of the history: every
 * row the TRUNCATE removes is written as deleted.  Its arguments are those
 * of the table's row trigger.
 */
Datum
lms_record_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const Trigger *tg;
	StringInfoData sql;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function lms._record_truncate() must be fired BEFORE TRUNCATE")));
	if (!vis_history)
		return PointerGetDatum(NULL);

	tg = td->tg_trigger;
	initStringInfo(&sql);
	appendStringInfoString(&sql,
						   "INSERT INTO lms.history (committed_at, relation, by_role, by_principal, change, old_row) "
						   "SELECT $1, $2, $3, $4, 'delete', pg_catalog.jsonb_build_object(");
	for (i = 0; i < tg->tgnargs; i++)
		appendStringInfo(&sql, "%s%s, %s", i > 0 ? ", " : "", quote_literal_cstr(tg->tgargs[i]),
						 quote_identifier(tg->tgargs[i]));
	appendStringInfo(&sql, ") FROM %s.%s",
					 quote_identifier(get_namespace_name(RelationGetNamespace(td->tg_relation))),
					 quote_identifier(RelationGetRelationName(td->tg_relation)));
	write_history(NULL, sql.data, vis_store_relname(td->tg_relation), 0, NULL, NULL, NULL);
	return PointerGetDatum(NULL);
}

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* constraint_named tells whether schema nsp has a constraint called name */
static bool
constraint_named(const char *name, Oid nsp)
{
	Relation	rel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&key[0], Anum_pg_constraint_conname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(name));
	ScanKeyInit(&key[1], Anum_pg_constraint_connamespace, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(nsp));
	scan = systable_beginscan(rel, ConstraintNameNspIndexId, true, NULL, 2, key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * history_utility writes the history's pending rows before a statement
 * that PostgreSQL refuses on a table with pending trigger events.
 */
static void
history_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *stmt = pstmt->utilityStmt;

	if ((IsA(stmt, TruncateStmt) || IsA(stmt, AlterTableStmt) || IsA(stmt, DropStmt)) &&
		FullTransactionIdIsValid(GetTopFullTransactionIdIfAny()) && !creating_extension)
	{
		ConstraintsSetStmt *now = makeNode(ConstraintsSetStmt);
		Oid			nsp = get_namespace_oid("lms", true);
		const char *const names[] = {"record_history", "record_history_update"};
		int			i;

		for (i = 0; i < lengthof(names); i++)
			if (OidIsValid(nsp) && constraint_named(names[i], nsp))
				now->constraints = lappend(now->constraints, makeRangeVar("lms", (char *) names[i], -1));
		now->deferred = false;
		if (now->constraints != NIL)
			AfterTriggerSetState(now);
	}
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/* vis_history_init installs the hook above; called once from _PG_init */
void
vis_history_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = history_utility;
}
