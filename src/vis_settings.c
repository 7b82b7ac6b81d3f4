/*-------------------------------------------------------------------------
 *
 * vis_settings.c
 *	  Every setting of the extension (the README's Settings table), in one
 *	  place: the principal, the cache's bounds, the row shortcut, the range
 *	  scan and the audit trail.  Each lives in the file that uses it.
 *
 * IDENTIFICATION
 *	  src/vis_settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "lms_visibility.h"

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
	MarkGUCPrefixReserved("lms");

	vis_principal_setting_defined();
}

