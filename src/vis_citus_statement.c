/*-------------------------------------------------------------------------
 *
 * vis_citus_statement.c
 *	  The principal a statement carries to the nodes of a Citus cluster.
 *
 *	  A statement that Citus runs on other nodes reads the store there
 *	  with the value of lms.principal those nodes have.  Citus passes on a
 *	  transaction's SET LOCAL statements (with citus.propagate_set_commands
 *	  = 'local'), never a session's settings nor set_config(): a statement
 *	  whose principal the nodes would not have is refused before Citus's
 *	  executor sends it.  So is one whose current role is bound or trusted
 *	  but cannot log in: Citus connects to the other nodes as the current
 *	  role (doc/citus.md, "Roles through Citus").  The shards themselves are
 *	  found in vis_citus.c.
 *
 * IDENTIFICATION
 *	  src/vis_citus_statement.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_compat.h"

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/plannodes.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "vis_store.h"
#include "vis_principal.h"

/* runs_on_workers tells whether plan holds a scan of Citus's executor */
static bool
runs_on_workers(Plan *plan)
{
	ListCell   *lc;

	if (plan == NULL)
		return false;
	if (IsA(plan, CustomScan))
	{
		CustomScan *cs = (CustomScan *) plan;

		if (strncmp(cs->methods->CustomName, "Citus", 5) == 0)
			return true;
		foreach(lc, cs->custom_plans)
			if (runs_on_workers(lfirst(lc)))
				return true;
	}
	else if (IsA(plan, Append))
	{
		foreach(lc, ((Append *) plan)->appendplans)
			if (runs_on_workers(lfirst(lc)))
				return true;
	}
	else if (IsA(plan, MergeAppend))
	{
		foreach(lc, ((MergeAppend *) plan)->mergeplans)
			if (runs_on_workers(lfirst(lc)))
				return true;
	}
	else if (IsA(plan, SubqueryScan))
		return runs_on_workers(((SubqueryScan *) plan)->subplan);
	return runs_on_workers(plan->lefttree) || runs_on_workers(plan->righttree);
}

/*
 * The value of lms.principal that the last SET LOCAL statement of the
 * transaction set while Citus passed such statements on to the nodes:
 * then, and only then, the nodes that run the transaction's statements
 * have it too.  set_config(), a function's SET clause and a SET LOCAL made
 * while citus.propagate_set_commands was not 'local' change the value on
 * this node alone.  Only a statement seen here counts: a SET LOCAL made
 * before the library was loaded in the session (it is, from the start,
 * with shared_preload_libraries) is refused like one that was not passed on.
 */
static LocalTransactionId sent_lxid = InvalidLocalTransactionId;
static char *sent_value = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void
vis_citus_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				  ProcessUtilityContext context, ParamListInfo params,
				  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	VariableSetStmt *set = (VariableSetStmt *) pstmt->utilityStmt;
	bool		sent = false;

	if (IsA(set, VariableSetStmt) && set->name != NULL &&
		strcmp(set->name, "lms.principal") == 0 && vis_citus_loaded())
	{
		const char *propagate = GetConfigOption("citus.propagate_set_commands", true, false);

		sent = set->is_local && propagate != NULL && strcmp(propagate, "local") == 0;
	}
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	if (sent)
	{
		if (sent_value != NULL)
			pfree(sent_value);
		sent_value = MemoryContextStrdup(TopMemoryContext,
										 vis_principal_setting ? vis_principal_setting : "");
		sent_lxid = MyProcLocalTransactionId;
	}
}

/* role_can_login tells whether role has LOGIN */
static bool
role_can_login(Oid role)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	bool		login = false;

	if (HeapTupleIsValid(tup))
	{
		login = ((Form_pg_authid) GETSTRUCT(tup))->rolcanlogin;
		ReleaseSysCache(tup);
	}
	return login;
}

/*
 * vis_citus_check_statement refuses a statement that Citus runs on other
 * nodes when those nodes could not answer it as this node would:
 *	- the current role is bound or trusted but cannot log in: Citus
 *	  connects to the nodes as the current role, and its own refusal
 *	  ("not permitted to log in") names neither the cause nor the remedy
 *	  of a role used through SET ROLE;
 *	- lms.principal holds a value the nodes do not have: Citus passes on a
 *	  transaction's SET LOCAL statements (with citus.propagate_set_commands
 *	  = 'local'), never a session's settings nor set_config(), and a node
 *	  without the value would answer as the role's binding instead (wider,
 *	  for a trusted application role bound to an administrator) or as
 *	  nobody.
 */
void
vis_citus_check_statement(PlannedStmt *stmt)
{
	ListCell   *lc;
	bool		distributed;
	Oid			role = GetUserId();

	/* the engine's own query (vis_citus_players) does not depend on the principal */
	if (!vis_citus_loaded() || stmt == NULL || vis_citus_reading)
		return;
	distributed = runs_on_workers(stmt->planTree);
	foreach(lc, stmt->subplans)
		distributed = distributed || runs_on_workers(lfirst(lc));
	if (!distributed)
		return;
	if (!role_can_login(role) && vis_role_bound_or_trusted(role))
	{
		const char *name = GetUserNameFromId(role, false);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("role \"%s\" cannot log in to the nodes of a Citus cluster", name),
				 errdetail("Citus runs this statement on other nodes and connects to them as the current role, which has no LOGIN."),
				 errhint("Give the bound or trusted role LOGIN (ALTER ROLE %s LOGIN; pg_hba.conf still decides who may connect as it), or connect as that role instead of using SET ROLE.",
						 quote_identifier(name))));
	}
	if (vis_principal_setting == NULL || vis_principal_setting[0] == '\0')
		return;
	if (!vis_principal_transaction_scoped())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"lms.principal\" set for the session does not reach the nodes of a Citus cluster"),
				 errdetail("Citus passes only a transaction's SET LOCAL statements on to the nodes that run this statement."),
				 errhint("Use SET LOCAL lms.principal = ... inside the transaction.")));
	if (sent_lxid != MyProcLocalTransactionId || sent_value == NULL ||
		strcmp(sent_value, vis_principal_setting) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"lms.principal\" does not reach the nodes of a Citus cluster"),
				 errdetail("Its value was not set by a SET LOCAL statement while citus.propagate_set_commands was 'local', so the nodes that run this statement do not have it."),
				 errhint("Use SET LOCAL lms.principal = ... (not set_config()) with citus.propagate_set_commands = 'local' (lms.distribute() makes it the database's default), and put lms_visibility in shared_preload_libraries after citus, so that a SET LOCAL before the extension's first use in the session is seen.")));
}

/* vis_citus_init notes the SET LOCAL statements Citus passes on */
void
vis_citus_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = vis_citus_utility;
}
