/*-------------------------------------------------------------------------
 *
 * vis_sql.c
 *	  The SQL surface of the visibility engine (doc/reference.md, "Functions") and the
 *	  module's initialization.
 *
 * IDENTIFICATION
 *	  src/vis_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "lms_visibility.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init defines the settings and installs the callbacks and hooks of
 * each layer: invalidation, the cache, the policies, the executor guard,
 * the range scan, the audit trail, the Citus statement check and the
 * history's pending rows before TRUNCATE, ALTER TABLE and DROP.
 */
void
_PG_init(void)
{
	vis_settings_init();
	vis_inval_init();
	vis_cache_init();
	vis_policy_init();
	vis_exec_init();
	vis_rangescan_init();
	vis_audit_init();
	vis_citus_init();
	vis_history_init();
	if (process_shared_preload_libraries_in_progress)
		vis_shcache_request();
}

/*
 * principal_result returns the cached result of the principal argument,
 * after checking that the caller may ask about it; NULL for a NULL
 * principal.
 */
static VisResult *
principal_result(FunctionCallInfo fcinfo)
{
	int64		principal;

	if (PG_ARGISNULL(0))
		return NULL;
	principal = PG_GETARG_INT64(0);
	vis_check_principal_arg(principal);
	return vis_cache_get(principal, NULL);
}

/*
 * The result of the last row check and what it depended on: the policies
 * call the row checks once per row with the same principal, and this spares
 * them the principal check and the cache lookup while nothing changed.
 */
static struct
{
	bool		valid;
	int64		principal;
	Oid			role;
	uint64		principal_epoch;
	void	   *stack;
	uint64		cache_epoch;
	VisResult  *r;
}			hot;

/* principal_result_rows is principal_result for the row checks */
static inline VisResult *
principal_result_rows(FunctionCallInfo fcinfo)
{
	int64		principal;
	bool		own;
	bool		kept;
	VisResult  *r;

	if (PG_ARGISNULL(0))
		return NULL;
	principal = PG_GETARG_INT64(0);
	if (hot.valid && hot.principal == principal && hot.cache_epoch == vis_cache_epoch &&
		hot.principal_epoch == vis_principal_epoch && hot.role == GetOuterUserId() &&
		hot.stack == vis_principal_stack())
		return hot.r;

	hot.valid = false;
	own = vis_check_principal_arg(principal);
	r = vis_cache_get_rows(principal, &kept);
	if (own && kept)
	{
		hot.principal = principal;
		hot.role = GetOuterUserId();
		hot.principal_epoch = vis_principal_epoch;
		hot.stack = vis_principal_stack();
		hot.cache_epoch = vis_cache_epoch;
		hot.r = r;
		hot.valid = true;
	}
	return r;
}

PG_FUNCTION_INFO_V1(lms_local);

/*
 * lms_local(rel) returns this node's copy of table rel of the store (the
 * table itself, or on a Citus node its reference table's shard here), for
 * the team rules' reads.
 */
Datum
lms_local(PG_FUNCTION_ARGS)
{
	Oid			rel = PG_GETARG_OID(0);
	char	   *name = get_rel_name(rel);

	if (name == NULL || get_rel_namespace(rel) != get_namespace_oid("lms", true))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("relation %u is not a table of the store", rel)));
	PG_RETURN_OID(vis_relid(name, false));
}

PG_FUNCTION_INFO_V1(lms_rules);

/*
 * lms_rules returns the rule table, a row per role or relation: what the
 * tests hold the SQL that names roles against.
 */
Datum
lms_rules(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < RULE_COUNT; i++)
	{
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = CStringGetTextDatum(vis_rule_name((VisRuleId) i));
		values[1] = CStringGetTextDatum(vis_rule_held_on((VisRuleId) i));
		values[2] = BoolGetDatum(vis_rule_adds_users((VisRuleId) i));
		values[3] = BoolGetDatum(vis_rule_adds_content((VisRuleId) i));
		values[4] = BoolGetDatum(vis_rule_extended((VisRuleId) i));
		values[5] = CStringGetTextDatum(vis_rule_group_scope((VisRuleId) i));
		values[6] = CStringGetTextDatum(vis_rule_teams((VisRuleId) i));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(lms_current_principal);

/*
 * lms_current_principal returns the principal of this session, or NULL.
 */
Datum
lms_current_principal(PG_FUNCTION_ARGS)
{
	int64		principal;

	if (!vis_current_principal(&principal))
		PG_RETURN_NULL();
	PG_RETURN_INT64(principal);
}

PG_FUNCTION_INFO_V1(lms_visible_users);

/*
 * lms_visible_users returns U(p), in id order.
 */
Datum
lms_visible_users(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VisResult  *r;
	int64	   *ids;
	int			n = 0;
	int			i;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	r = principal_result(fcinfo);
	if (r == NULL || r->nusers == 0)
		PG_RETURN_NULL();
	ids = vis_result_user_ids(r, &n);
	for (i = 0; i < n; i++)
	{
		Datum		value = Int64GetDatum(ids[i]);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	PG_RETURN_NULL();
}

/* copy_array returns a copy of a cached array in the caller's context */
static Datum
copy_array(Datum cached)
{
	return datumCopy(cached, false, -1);
}

PG_FUNCTION_INFO_V1(lms_visible_user_ids);

/*
 * lms_visible_user_ids returns U(p) as a sorted array: the index condition
 * the planner support offers for narrow principals.  The array is built
 * once per cached principal; each call gets a copy.
 */
Datum
lms_visible_user_ids(PG_FUNCTION_ARGS)
{
	VisResult  *r = principal_result(fcinfo);

	if (r == NULL)
		return vis_ids_array(NULL, 0, CurrentMemoryContext);
	if (r->user_array == (Datum) 0)
	{
		int			n;
		int64	   *ids = vis_result_user_ids(r, &n);

		r->user_array = vis_ids_array(ids, n, r->cxt);
		pfree(ids);
	}
	return copy_array(r->user_array);
}

PG_FUNCTION_INFO_V1(lms_accessible_content_ids);

/*
 * lms_accessible_content_ids returns every content id of C(p), restricted
 * or not, as a sorted array.
 */
Datum
lms_accessible_content_ids(PG_FUNCTION_ARGS)
{
	VisResult  *r = principal_result(fcinfo);

	if (r == NULL)
		return vis_ids_array(NULL, 0, CurrentMemoryContext);
	if (r->content_array == (Datum) 0)
	{
		int			n;
		int64	   *ids = vis_result_content_ids(r, &n);

		r->content_array = vis_ids_array(ids, n, r->cxt);
		pfree(ids);
	}
	return copy_array(r->content_array);
}

PG_FUNCTION_INFO_V1(lms_can_view_user);

/*
 * lms_can_view_user tells whether user_id is in U(p): the policy of
 * lms.users.
 */
Datum
lms_can_view_user(PG_FUNCTION_ARGS)
{
	VisResult  *r;

	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	r = principal_result_rows(fcinfo);
	PG_RETURN_BOOL(r != NULL && vis_result_has_user(r, PG_GETARG_INT64(1)));
}

PG_FUNCTION_INFO_V1(lms_can_view_content);

/*
 * lms_can_view_content tells whether C(p) holds a grant for the content,
 * restricted or not: the policy of lms.content.
 */
Datum
lms_can_view_content(PG_FUNCTION_ARGS)
{
	VisResult  *r;

	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	r = principal_result_rows(fcinfo);
	PG_RETURN_BOOL(r != NULL && vis_result_access(r, PG_GETARG_INT64(1)) != VIS_ACCESS_NONE);
}

PG_FUNCTION_INFO_V1(lms_can_view_group);

/*
 * lms_can_view_group tells whether the group is in p's group scope: the
 * policy of lms.groups, and half of lms.group_members'.
 */
Datum
lms_can_view_group(PG_FUNCTION_ARGS)
{
	VisResult  *r;

	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	r = principal_result_rows(fcinfo);
	PG_RETURN_BOOL(r != NULL && vis_result_has_group(r, PG_GETARG_INT64(1)));
}

PG_FUNCTION_INFO_V1(lms_content_stats_access);

/*
 * lms_content_stats_access tells whether C(p) holds any grant for the
 * content, restricted or not.
 */
Datum
lms_content_stats_access(PG_FUNCTION_ARGS)
{
	VisResult  *r;

	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	r = principal_result(fcinfo);
	PG_RETURN_BOOL(r != NULL && vis_result_access(r, PG_GETARG_INT64(1)) != VIS_ACCESS_NONE);
}

PG_FUNCTION_INFO_V1(lms_accessible_content);

/*
 * lms_accessible_content returns C(p): each content id, and whether all
 * its grants are restricted to context groups.
 */
Datum
lms_accessible_content(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VisResult  *r;
	int64	   *ids;
	int			n = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	r = principal_result(fcinfo);
	if (r == NULL || r->ncontent == 0)
		PG_RETURN_NULL();
	ids = vis_result_content_ids(r, &n);
	for (i = 0; i < n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(ids[i]);
		values[1] = BoolGetDatum(vis_result_access(r, ids[i]) == VIS_ACCESS_RESTRICTED);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(lms_can_view_stats);

/*
 * lms_can_view_stats is the row rule of doc/rules.md, "The rules" and the predicate of the
 * row-level security policies.
 */
Datum
lms_can_view_stats(PG_FUNCTION_ARGS)
{
	VisResult  *r;
	int64		user_id;
	int64		content_id;
	bool		has_context;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	r = principal_result_rows(fcinfo);
	if (r == NULL)
		PG_RETURN_BOOL(false);
	user_id = PG_GETARG_INT64(1);
	content_id = PG_GETARG_INT64(2);
	has_context = !PG_ARGISNULL(3);
	PG_RETURN_BOOL(vis_result_sees(r, user_id, content_id, has_context,
								   has_context ? PG_GETARG_INT64(3) : 0));
}

PG_FUNCTION_INFO_V1(lms_explain_visibility);

/*
 * lms_explain_visibility says why the row rule holds or not, one row per
 * part: user, content, context, result.
 */
Datum
lms_explain_visibility(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *rows;
	ListCell   *lc;
	int64		principal;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
	{
		static const char *const parts[] = {"user", "content", "context", "result"};
		int			i;

		for (i = 0; i < 4; i++)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = CStringGetTextDatum(parts[i]);
			values[1] = BoolGetDatum(false);
			values[2] = CStringGetTextDatum(i == 3 ? "hidden" : "there is no principal: it sees nothing");
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		PG_RETURN_NULL();
	}
	principal = PG_GETARG_INT64(0);
	vis_check_principal_arg(principal);
	rows = vis_explain_rows(principal,
							PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1),
							PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2),
							!PG_ARGISNULL(3),
							PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3));
	foreach(lc, rows)
	{
		VisExplainRow *er = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(er->part);
		values[1] = BoolGetDatum(er->granted);
		values[2] = CStringGetTextDatum(er->reason);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(lms_personal_data);

/*
 * lms_personal_data tells whether the running query may see names and
 * e-mails: false for a role bound with personal_data => false.
 */
Datum
lms_personal_data(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(vis_personal_data());
}

PG_FUNCTION_INFO_V1(lms_require_trusted);

/*
 * lms_require_trusted raises 42501 unless the caller is a superuser or a
 * trusted role; the argument names what was asked for.
 */
Datum
lms_require_trusted(PG_FUNCTION_ARGS)
{
	vis_require_trusted(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(lms_hmac_sha256);

/*
 * lms_hmac_sha256(key, message) returns HMAC-SHA256 of the message: the
 * keyed hash behind a pseudonymous learner_key.
 */
Datum
lms_hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	bytea	   *result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, (uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) < 0 ||
		pg_hmac_update(ctx, (uint8 *) VARDATA_ANY(msg), VARSIZE_ANY_EXHDR(msg)) < 0 ||
		pg_hmac_final(ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
	{
		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC-SHA256")));
	}
	pg_hmac_free(ctx);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	PG_RETURN_BYTEA_P(result);
}
