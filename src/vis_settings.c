/*-------------------------------------------------------------------------
 *
 * vis_settings.c
 *	  Every setting of the extension (the README's Settings table), in one
 *	  place: the principal, the cache's bounds, the row shortcut, the range
 *	  scan and the audit trail.  Each lives in the file that uses it.
 *
 * The superuser-only settings (PGC_SUSET) and values given before the
 * library is loaded.  Without shared_preload_libraries a session knows
 * "lms.audit" only as a placeholder until the library loads; a value given
 * for it meanwhile (a startup option such as PGOPTIONS='-c lms.audit=off',
 * or SET) is kept in the placeholder with the rights of whoever gave it.
 * Defining the setting reapplies those values, and PostgreSQL refuses (with
 * a WARNING) the one a non-superuser without GRANT SET gave.  But a startup
 * option has by then replaced the value of the configuration files and of
 * ALTER ROLE/DATABASE ... SET, which PostgreSQL does not keep: the setting
 * would fall back to its built-in default, not to the configured value.  So
 * when the reapplied reset value of a setting is refused (that, or a value
 * the setting's check refuses), restore_configured() reads those trusted
 * sources again (the README's
 * Settings, "Settings no client can override").
 *
 * IDENTIFICATION
 *	  src/vis_settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_compat.h"

#include <limits.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_db_role_setting.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "vis_cache.h"
#include "vis_exec.h"
#include "vis_principal.h"
#include "vis_store.h"

/* a placeholder of one of our settings, as it was before the definitions */
typedef struct Placeholder
{
	char	   *name;
	GucSource	reset_source;
} Placeholder;

/* setting_record returns the record of setting name (or its placeholder) */
static struct config_generic *
setting_record(const char *name)
{
	int			n;
	struct config_generic **vars = get_guc_variables_compat(&n);
	int			i;

	for (i = 0; i < n; i++)
		if (pg_strcasecmp(vars[i]->name, name) == 0)
			return vars[i];
	return NULL;
}

/*
 * lms_placeholders returns the placeholders of settings named "lms.*" and
 * the sources of their reset values, before the definitions replace them.
 */
static List *
lms_placeholders(void)
{
	int			n;
	struct config_generic **vars = get_guc_variables_compat(&n);
	List	   *result = NIL;
	int			i;

	for (i = 0; i < n; i++)
		if ((vars[i]->flags & GUC_CUSTOM_PLACEHOLDER) && pg_strncasecmp(vars[i]->name, "lms.", 4) == 0)
		{
			Placeholder *ph = palloc(sizeof(Placeholder));

			ph->name = pstrdup(vars[i]->name);
			ph->reset_source = vars[i]->reset_source;
			result = lappend(result, ph);
		}
	return result;
}

/*
 * apply_db_role_setting applies setting name from the pg_db_role_setting
 * row of (database, role), as InitPostgres applies the whole row: at
 * superuser level, since whoever wrote the row was allowed to.
 */
static void
apply_db_role_setting(const char *name, Relation rel, Snapshot snapshot,
					  Oid database, Oid role, GucSource source)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(database));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(role));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, snapshot, 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_db_role_setting_setconfig,
									 RelationGetDescr(rel), &isnull);
		Datum	   *items;
		int			nitems;
		int			i;

		if (isnull)
			continue;
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &items, NULL, &nitems);
		for (i = 0; i < nitems; i++)
		{
			char	   *item = TextDatumGetCString(items[i]);
			char	   *key;
			char	   *value;

			ParseLongOption(item, &key, &value);
			if (value != NULL && pg_strcasecmp(key, name) == 0)
				(void) set_config_option(name, value, PGC_SUSET, source,
										 GUC_ACTION_SET, true, WARNING, false);
		}
	}
	systable_endscan(scan);
}

/*
 * restore_configured gives setting name the value its trusted sources below
 * refused (the source of a refused value) configure: the configuration
 * files (postgresql.conf with its includes, then ALTER SYSTEM's
 * postgresql.auto.conf), then ALTER ROLE/DATABASE ... SET, applied from the
 * lowest priority up so that the highest wins, as at connection start.
 * The catalog is read only inside a transaction (a library loaded by
 * session_preload_libraries is loaded outside one); a value given on the
 * server's command line (-c) cannot be read again.
 */
static void
restore_configured(const char *name, GucSource refused)
{
	if (refused > PGC_S_FILE && ConfigFileName != NULL)
	{
		ConfigVariable *head = NULL;
		ConfigVariable *tail = NULL;
		ConfigVariable *item;
		const char *value = NULL;

		(void) ParseConfigFile(ConfigFileName, true, NULL, 0, CONF_FILE_START_DEPTH,
							   DEBUG1, &head, &tail);
		(void) ParseConfigFile(PG_AUTOCONF_FILENAME, false, NULL, 0, CONF_FILE_START_DEPTH,
							   DEBUG1, &head, &tail);
		for (item = head; item != NULL; item = item->next)
			if (!item->ignore && pg_strcasecmp(item->name, name) == 0)
				value = item->value;
		if (value != NULL)
			(void) set_config_option(name, value, PGC_SIGHUP, PGC_S_FILE,
									 GUC_ACTION_SET, true, WARNING, false);
		FreeConfigVariables(head);
	}
	if (refused > PGC_S_GLOBAL && IsTransactionState() && OidIsValid(MyDatabaseId))
	{
		Relation	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
		Snapshot	snapshot = RegisterSnapshot(GetCatalogSnapshot(DbRoleSettingRelationId));
		Oid			role = GetSessionUserId();
		static const struct
		{
			bool		database;
			bool		role;
			GucSource	source;
		}			levels[] = {
			{false, false, PGC_S_GLOBAL},
			{true, false, PGC_S_DATABASE},
			{false, true, PGC_S_USER},
			{true, true, PGC_S_DATABASE_USER},
		};
		int			i;

		for (i = 0; i < lengthof(levels); i++)
			if (levels[i].source < refused)
				apply_db_role_setting(name, rel, snapshot,
									  levels[i].database ? MyDatabaseId : InvalidOid,
									  levels[i].role ? role : InvalidOid, levels[i].source);
		UnregisterSnapshot(snapshot);
		table_close(rel, AccessShareLock);
	}
}

/* any change of the principal's settings may change who is asking */
static void
bump_principal_epoch_string(const char *newval, void *extra)
{
	vis_principal_epoch++;
}

static void
bump_principal_epoch_bool(bool newval, void *extra)
{
	vis_principal_epoch++;
}

/*
 * check_principal accepts an empty value or a bigint.
 */
static bool
check_principal(char **newval, void **extra, GucSource source)
{
	char	   *end;
	const char *s = *newval;

	if (s == NULL || *s == '\0')
		return true;
	errno = 0;
	(void) strtoi64(s, &end, 10);
	while (*end == ' ')
		end++;
	if (errno != 0 || end == s || *end != '\0')
	{
		GUC_check_errdetail("\"lms.principal\" must be a user id (a bigint) or empty.");
		return false;
	}
	return true;
}

static const struct config_enum_entry audit_options[] = {
	{"off", VIS_AUDIT_OFF, false},
	{"statements", VIS_AUDIT_STATEMENTS, false},
	{NULL, 0, false}
};

/*
 * vis_settings_init defines the settings of the extension; called once
 * from _PG_init.
 */
void
vis_settings_init(void)
{
	List	   *placeholders = lms_placeholders();
	ListCell   *lc;

	DefineCustomStringVariable("lms.principal",
							   "The principal (user id) this transaction acts for.",
							   "Honoured only for roles trusted with lms.trust_role() and only "
							   "when set for the transaction (SET LOCAL).",
							   &vis_principal_setting,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE,
							   check_principal, bump_principal_epoch_string, NULL);
	DefineCustomBoolVariable("lms.allow_session_principal",
							 "Honour a session-level lms.principal of trusted roles.",
							 "Off: only SET LOCAL is honoured, so a pooled connection never "
							 "carries one client's principal into another's transaction.",
							 &vis_allow_session_principal,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, bump_principal_epoch_bool, NULL);
	DefineCustomIntVariable("lms.cache_principals",
							"How many principals each backend keeps in its visibility cache.",
							NULL,
							&vis_cache_max_principals,
							4096, 1, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lms.cache_memory",
							"How much memory each backend's visibility cache may hold.",
							"The principals' entries and the tenants' structures together; the "
							"least recently used are evicted, and an entry larger than the whole "
							"bound is computed for its statement and not kept.",
							&vis_cache_memory_kb,
							65536, 64, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lms.shared_cache_memory",
							"How much memory the server's shared visibility cache may hold.",
							"Used when lms_visibility is in shared_preload_libraries: every "
							"principal's entry is built once and read by every backend. The least "
							"recently used are evicted; 0 turns the shared cache off.",
							&vis_shared_cache_memory_kb,
							262144, 0, MAX_KILOBYTES,
							PGC_SIGHUP,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("lms.shared_cache_min_ids",
							"The fewest ids (U(p) and C(p) together) an entry of the shared cache has.",
							"A smaller entry, a learner's, stays in the backend that built it: "
							"rebuilding it costs less than sharing it.",
							&vis_shared_cache_min_ids,
							64, 0, INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("lms.row_shortcut",
							 "Run the policies' per-row check inline in scans of the store.",
							 "A principal who sees every row (the platform_admin and learner_manager "
							 "of a database of one tenant) skips it; the answer is the same either way.",
							 &vis_row_shortcut,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("lms.enable_rangescan",
							 "Let the planner read a narrow principal's rows by runs of visible ids.",
							 "The range scan tests the principal's rule on the index; off leaves the "
							 "index conditions \"= ANY (ids)\". Plans change, answers never do.",
							 &vis_enable_rangescan,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomEnumVariable("lms.audit",
							 "Which reads of protected rows are written to the server log.",
							 "statements: one line per statement that reads a protected relation "
							 "under a principal (principal, SQL role, relations, rows).",
							 &vis_audit,
							 VIS_AUDIT_OFF,
							 audit_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("lms.history",
							 "Write every change of the store's relationships to lms.history.",
							 "Off: changes committed meanwhile are not kept; for a restore of a dump, "
							 "whose rows are history already.",
							 &vis_history,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("lms");

	/*
	 * A refused reset value (a superuser-only setting given by someone else,
	 * or a value its check refuses): the configured one comes back.
	 */
	foreach(lc, placeholders)
	{
		Placeholder *ph = lfirst(lc);
		struct config_generic *rec = setting_record(ph->name);

		if (rec != NULL && !(rec->flags & GUC_CUSTOM_PLACEHOLDER) &&
			rec->reset_source < ph->reset_source)
			restore_configured(rec->name, ph->reset_source);
		pfree(ph->name);
	}
	list_free_deep(placeholders);

	vis_principal_setting_defined(setting_record("lms.principal"));
}

