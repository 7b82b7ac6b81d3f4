/*-------------------------------------------------------------------------
 *
 * vis_principal.c
 *	  Who is asking: the setting lms.principal (trusted roles, transaction
 *	  scope only), else the principal bound to the SQL role, else nobody.
 *
 * IDENTIFICATION
 *	  src/vis_principal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pg_compat.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_policy.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "vis_cache.h"
#include "vis_principal.h"

/* the settings lms.principal and lms.allow_session_principal (vis_settings.c) */
char	   *vis_principal_setting = NULL;
bool		vis_allow_session_principal = false;
static struct config_generic *principal_record = NULL;

/* bumped whenever lms.principal or lms.allow_session_principal is assigned */
uint64		vis_principal_epoch = 1;

/*
 * vis_principal_stack returns the setting stack of lms.principal: with the
 * epoch it tells whether the principal's scope may have changed.
 */
void *
vis_principal_stack(void)
{
	return principal_record->stack;
}

typedef struct RoleEntry
{
	Oid			role;			/* hash key */
	bool		bound;
	int64		principal;
	bool		personal_data;	/* the binding shows names and e-mails */
	TimestampTz valid_until;	/* the binding counts before this; DT_NOEND: always */
	bool		trusted;
} RoleEntry;

static HTAB *role_map = NULL;
static MemoryContext RoleMapContext = NULL;
static uint64 role_map_generation = 0;

/*
 * vis_principal_setting_defined keeps lms.principal's record once the
 * settings are defined (vis_settings.c): its stack tells the value's scope.
 */
void
vis_principal_setting_defined(struct config_generic *record)
{
	if (record == NULL)
		elog(ERROR, "could not find setting \"lms.principal\"");
	principal_record = record;
}

/*
 * vis_principal_transaction_scoped tells whether the current value of
 * lms.principal ends with the transaction (SET LOCAL, set_config(..., true),
 * or a function's SET clause) rather than living on in the session.
 */
bool
vis_principal_transaction_scoped(void)
{
	GucStack   *stack = principal_record->stack;

	if (stack == NULL)
		return false;			/* session, role, database or client value */
	switch (stack->state)
	{
		case GUC_LOCAL:
		case GUC_SET_LOCAL:
		case GUC_SAVE:
			return true;
		case GUC_SET:
			return false;
	}
	return false;
}

/*
 * anchored_roles returns the roles the anchors of relation relid name (see
 * lms._anchor): the policies lms_anchor_* on it.  A binding or trust whose
 * role no anchor names belongs to a role that was dropped, and its OID may
 * now be another role's.
 */
static List *
anchored_roles(Oid relid, Snapshot snap)
{
	Relation	rel = table_open(PolicyRelationId, AccessShareLock);
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *roles = NIL;

	ScanKeyInit(&skey, Anum_pg_policy_polrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, PolicyPolrelidPolnameIndexId, true, snap, 1, &skey);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_policy pol = (Form_pg_policy) GETSTRUCT(tup);
		bool		isnull;
		Datum		d;
		ArrayType  *a;
		Oid		   *oids;
		int			i;

		if (strncmp(NameStr(pol->polname), "lms_anchor_", 11) != 0)
			continue;
		d = heap_getattr(tup, Anum_pg_policy_polroles, RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		a = DatumGetArrayTypeP(d);
		oids = (Oid *) ARR_DATA_PTR(a);
		for (i = 0; i < ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)); i++)
			roles = lappend_oid(roles, oids[i]);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return roles;
}

/* what role_binding_row needs of the scan */
typedef struct BindingScan
{
	List	   *anchored;		/* the roles anchors name */
	int			ncols;			/* 2, or 4 with the columns of 0.4.0 */
} BindingScan;

static void
role_binding_row(void *arg, Datum *values, bool *nulls)
{
	BindingScan *bs = (BindingScan *) arg;
	RoleEntry  *e;
	bool		found;
	Oid			role = DatumGetObjectId(values[0]);

	if (!list_member_oid(bs->anchored, role))
		return;					/* the bound role was dropped */
	e = hash_search(role_map, &role, HASH_ENTER, &found);
	if (!found)
		e->trusted = false;
	e->bound = true;
	e->principal = DatumGetInt64(values[1]);
	e->personal_data = bs->ncols < 4 || nulls[2] || DatumGetBool(values[2]);
	e->valid_until = (bs->ncols < 4 || nulls[3]) ? DT_NOEND : DatumGetTimestampTz(values[3]);
}

static void
trusted_role_row(void *arg, Datum *values, bool *nulls)
{
	RoleEntry  *e;
	bool		found;
	Oid			role = DatumGetObjectId(values[0]);

	if (!list_member_oid((List *) arg, role))
		return;					/* the trusted role was dropped */
	e = hash_search(role_map, &role, HASH_ENTER, &found);
	if (!found)
	{
		e->bound = false;
		e->principal = 0;
	}
	e->trusted = true;
}

/* role_lookup returns the bindings and trust of a role, reloading when stale */
static RoleEntry *
role_lookup(Oid role)
{
	if (role_map == NULL || role_map_generation != vis_cache_generation())
	{
		static const char *const binding_cols[] = {"role", "principal", "personal_data", "valid_until"};
		static const char *const trusted_cols[] = {"role"};
		HASHCTL		ctl;
		uint64		born = vis_cache_generation();
		bool		keep;
		Snapshot	snap;
		BindingScan bs;

		if (RoleMapContext == NULL)
			RoleMapContext = AllocSetContextCreate(vis_cache_context(), "lms_visibility roles",
												   ALLOCSET_SMALL_SIZES);
		role_map = NULL;
		MemoryContextReset(RoleMapContext);
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RoleEntry);
		ctl.hcxt = RoleMapContext;
		role_map = hash_create("lms_visibility roles", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		/* the bindings as last committed, whatever the isolation level */
		snap = vis_build_snapshot(false, &keep);
		PG_TRY();
		{
			Oid			bindings = vis_relid("role_bindings", false);

			/* the extension's SQL before 0.4.0 has no personal_data, valid_until */
			bs.ncols = get_attnum(bindings, "valid_until") == InvalidAttrNumber ? 2 : 4;
			bs.anchored = anchored_roles(bindings, snap);
			vis_scan("role_bindings", NULL, 0, bs.ncols, binding_cols, snap, role_binding_row, &bs);
			vis_scan("trusted_roles", NULL, 0, 1, trusted_cols, snap, trusted_role_row,
					 anchored_roles(vis_relid("trusted_roles", false), snap));
		}
		PG_CATCH();
		{
			role_map = NULL;
			PG_RE_THROW();
		}
		PG_END_TRY();
		UnregisterSnapshot(snap);
		/* born stale, or for this statement only: load again next time */
		role_map_generation = (born == vis_cache_generation() && keep) ? born : 0;
	}
	return hash_search(role_map, &role, HASH_FIND, NULL);
}

static bool
role_is_trusted(Oid role)
{
	RoleEntry  *e;

	if (superuser_arg(role))
		return true;
	e = role_lookup(role);
	return e != NULL && e->trusted;
}

/*
 * vis_role_bound_or_trusted tells whether role has a binding (expired or
 * not) or is trusted: a role the extension was told to act through.
 */
bool
vis_role_bound_or_trusted(Oid role)
{
	RoleEntry  *e = role_lookup(role);

	return e != NULL && (e->bound || e->trusted);
}

static bool resolve_principal(int64 *principal, bool raise);

/*
 * bound_entry returns the binding of role, or NULL when it has none or it
 * expired: valid_until is compared with the transaction's start, so an
 * expired binding counts as absent from the next transaction on, whatever
 * the caches hold.
 */
static RoleEntry *
bound_entry(Oid role)
{
	RoleEntry  *e = role_lookup(role);

	if (e == NULL || !e->bound)
		return NULL;
	if (e->valid_until != DT_NOEND && e->valid_until <= GetCurrentTransactionStartTimestamp())
		return NULL;
	return e;
}

/*
 * vis_current_principal resolves the principal of the running query (see
 * doc/rules.md, "The dimensions and the principal") and returns false when there is none.  The role that counts is
 * the session's current role (SET ROLE included), not the owner of a
 * SECURITY DEFINER function being run.
 */
bool
vis_current_principal(int64 *principal)
{
	return resolve_principal(principal, true);
}

/*
 * vis_current_principal_quiet is vis_current_principal for the executor
 * hook, which must not raise an error the query itself would not: a
 * setting that vis_current_principal refuses gives false.
 */
bool
vis_current_principal_quiet(int64 *principal)
{
	return resolve_principal(principal, false);
}

/*
 * The last principal argument found equal to the caller's own principal,
 * and what that depended on: the check is on the hot path of every row a
 * policy filters, and so is the policy's call of lms.current_principal(),
 * which the memo answers while it holds.
 */
static struct
{
	bool		valid;
	int64		principal;
	Oid			role;
	uint64		generation;
	const char *setting;
	char		setting_copy[32];
	GucStack   *stack;
	int			state;
	bool		allow_session;
	TimestampTz valid_until;	/* of the binding it came from */
}			memo;

/*
 * memo_holds_for tells whether the memo still answers for role: nothing the
 * principal's resolution reads has changed since it was remembered.
 */
static bool
memo_holds_for(Oid role)
{
	GucStack   *stack = principal_record->stack;

	return memo.valid && memo.role == role &&
		memo.generation == vis_cache_generation() &&
		memo.setting == vis_principal_setting &&
		(vis_principal_setting == NULL || (memo.setting_copy[0] == vis_principal_setting[0] &&
										(vis_principal_setting[0] == '\0' ||
										 strcmp(memo.setting_copy, vis_principal_setting) == 0))) &&
		memo.stack == stack && (stack == NULL || memo.state == (int) stack->state) &&
		memo.allow_session == vis_allow_session_principal &&
		(memo.valid_until == DT_NOEND || GetCurrentTransactionStartTimestamp() < memo.valid_until);
}

static bool
memo_holds(int64 principal, Oid role)
{
	return memo_holds_for(role) && memo.principal == principal;
}

static void
memo_remember(int64 principal, Oid role)
{
	memo.valid = false;
	if (vis_principal_setting != NULL && strlen(vis_principal_setting) >= sizeof(memo.setting_copy))
		return;
	memo.principal = principal;
	memo.role = role;
	memo.generation = vis_cache_generation();
	memo.setting = vis_principal_setting;
	if (vis_principal_setting != NULL)
		strlcpy(memo.setting_copy, vis_principal_setting, sizeof(memo.setting_copy));
	memo.stack = principal_record->stack;
	memo.state = memo.stack ? (int) memo.stack->state : -1;
	memo.allow_session = vis_allow_session_principal;
	memo.valid_until = DT_NOEND;
	if (vis_principal_setting == NULL || vis_principal_setting[0] == '\0')
	{
		RoleEntry  *e = bound_entry(role);

		if (e != NULL)
			memo.valid_until = e->valid_until;
	}
	memo.valid = true;
}

static bool
resolve_principal(int64 *principal, bool raise)
{
	Oid			role = GetOuterUserId();
	RoleEntry  *e;

	if (memo_holds_for(role))
	{
		*principal = memo.principal;
		return true;
	}

	if (vis_principal_setting != NULL && vis_principal_setting[0] != '\0')
	{
		if (!raise && (!role_is_trusted(role) ||
					   (!vis_allow_session_principal && !IsParallelWorker() &&
						!vis_principal_transaction_scoped())))
			return false;
		if (!role_is_trusted(role))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" is not allowed to set \"lms.principal\"",
							GetUserNameFromId(role, false)),
					 errdetail("Only roles trusted with lms.trust_role() may act for another principal."),
					 errhint("Reset \"lms.principal\"; a DBA can bind your role to your own principal with lms.bind_role().")));

		/*
		 * A parallel worker receives the leader's value without its scope;
		 * the leader has checked the scope when it evaluated the principal.
		 */
		if (!vis_allow_session_principal && !IsParallelWorker() &&
			!vis_principal_transaction_scoped())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("\"lms.principal\" must be set for the transaction only"),
					 errdetail("It is set for the session, where a pooled connection could carry it into another client's transaction."),
					 errhint("Use SET LOCAL lms.principal = ... or set_config('lms.principal', ..., true) inside the transaction.")));
		*principal = strtoi64(vis_principal_setting, NULL, 10);
		return true;
	}

	e = bound_entry(role);
	if (e == NULL)
		return false;
	*principal = e->principal;
	return true;
}

/*
 * vis_check_principal_arg refuses to answer about a principal other than
 * the caller's own, unless the caller is a superuser or a trusted role:
 * otherwise any login could list what an administrator sees.  It returns
 * true when the principal is the caller's own (an answer that holds until
 * the role, the setting or the store changes), false when it was allowed
 * by trust.
 */
bool
vis_check_principal_arg(int64 principal)
{
	int64		current;
	Oid			role = GetOuterUserId();

	if (memo_holds(principal, role))
		return true;
	if (vis_current_principal(&current) && current == principal)
	{
		memo_remember(principal, role);
		return true;
	}
	if (superuser() || role_is_trusted(role))
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to ask about principal " INT64_FORMAT, principal),
			 errdetail("Only superusers and roles trusted with lms.trust_role() may ask about a principal other than their own."),
			 errhint("Call the function with lms.current_principal() or without the principal argument.")));
}

/*
 * vis_personal_data tells whether the running query may see personal data
 * (names, e-mails, company, custom fields): false only for a role whose
 * binding was made with personal_data => false, when its principal comes
 * from that binding (doc/accountability.md).
 */
bool
vis_personal_data(void)
{
	RoleEntry  *e;

	if (vis_principal_setting != NULL && vis_principal_setting[0] != '\0')
		return true;
	e = bound_entry(GetOuterUserId());
	return e == NULL || e->personal_data;
}

/*
 * vis_require_trusted refuses a caller that is neither a superuser nor a
 * trusted role, naming what it asked for.
 */
void
vis_require_trusted(const char *what)
{
	Oid			role = GetOuterUserId();

	if (!role_is_trusted(role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for %s", what),
				 errdetail("Only superusers and roles trusted with lms.trust_role() may use %s.", what)));
}
