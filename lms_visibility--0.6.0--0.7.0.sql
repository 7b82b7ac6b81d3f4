/* lms_visibility--0.6.0--0.7.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lms_visibility UPDATE TO '0.7.0'" to load this file. \quit

------------------------------------------------------------------------------
-- lms.cache_stats() also reports the server's shared cache (used when the
-- library is in shared_preload_libraries; NULL otherwise): its bytes and
-- entries, hits, builds, builds that another backend had just published
-- (two backends that miss the same principal build it side by side),
-- evictions and invalidations.  memory_bytes stays this backend's own.
------------------------------------------------------------------------------

DROP FUNCTION lms.cache_stats();
CREATE FUNCTION lms.cache_stats(
	OUT principals_cached integer, OUT memory_bytes bigint, OUT hits bigint,
	OUT rebuilds bigint, OUT invalidations bigint, OUT last_invalidation timestamptz,
	OUT last_rebuild_ms double precision, OUT shortcut_scans bigint,
	OUT inline_scans bigint, OUT tenants_cached integer, OUT tenant_bytes bigint,
	OUT memory_limit_bytes bigint, OUT evictions bigint,
	OUT shared_bytes bigint, OUT shared_entries bigint, OUT shared_hits bigint,
	OUT shared_builds bigint, OUT shared_duplicate_builds bigint,
	OUT shared_evictions bigint, OUT shared_invalidations bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'lms_cache_stats'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.cache_stats() IS 'the visibility cache of this backend, and the server''s shared cache';

------------------------------------------------------------------------------
-- lms._rules(): the library's rule table (src/vis_rules.c, doc/rules.md),
-- a row per role or relation: where it is held, whether it adds users
-- (U(p)) and content (C(p)), whether it gets restricted grants in tenants
-- with extended visibility, its group scope and the teams it may change.
-- The tests check the SQL that names roles on its own (the roles' CHECKs,
-- the reports' permissions, the team role, who_can_see's reverse rules)
-- against it.
------------------------------------------------------------------------------

CREATE FUNCTION lms._rules(
	OUT name text, OUT held_on text, OUT adds_users boolean, OUT adds_content boolean,
	OUT extended boolean, OUT group_scope text, OUT teams text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'lms_rules'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lms._rules() IS 'the rule table: each role or relation, where it is held, what it adds, its group scope and the teams it may change';
REVOKE ALL ON FUNCTION lms._rules() FROM PUBLIC;
