/* lms_visibility--0.2.0--0.3.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lms_visibility UPDATE TO '0.3.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Invalidation by the facts a change touches (src/vis_inval.c).  Each store
-- table gets a row trigger that reports the keys of the rows it inserts or
-- deletes, and one that reports an UPDATE only when a column the engine
-- reads changed: a learner's score, percentages and dates invalidate
-- nothing, and a change in one tenant nothing of another.  TRUNCATE still
-- flushes every cache.  path_steps is read by no rule: no trigger.
------------------------------------------------------------------------------

CREATE FUNCTION lms._invalidate_rows() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_invalidate_rows' LANGUAGE C;
REVOKE ALL ON FUNCTION lms._invalidate_rows() FROM PUBLIC;

DO $$
DECLARE
	t text;
	cols text[];
BEGIN
	DROP TRIGGER invalidate_cache ON lms.path_steps;
	DROP TRIGGER invalidate_cache_truncate ON lms.path_steps;
	-- each table with the columns the engine reads of it
	FOR t, cols IN VALUES
		('tenants', ARRAY['tenant_id', 'extended_visibility']),
		('users', ARRAY['user_id', 'tenant_id']),
		('groups', ARRAY['group_id', 'tenant_id', 'parent_group_id']),
		('group_connections', ARRAY['group_id', 'connected_group_id']),
		('group_members', ARRAY['group_id', 'user_id']),
		('tenant_roles', ARRAY['user_id', 'role']),
		('group_roles', ARRAY['group_id', 'user_id', 'role']),
		('managers', ARRAY['manager_id', 'user_id']),
		('content', ARRAY['content_id', 'tenant_id', 'kind', 'parent_content_id', 'owner_group_id',
						  'main_author_id']),
		('content_coauthors', ARRAY['content_id', 'user_id']),
		('catalog_entries', ARRAY['group_id', 'content_id']),
		('group_enrollments', ARRAY['group_id', 'content_id', 'method']),
		('session_instructors', ARRAY['session_id', 'user_id']),
		('slot_trainers', ARRAY['slot_id', 'user_id']),
		('slot_registrations', ARRAY['slot_id', 'user_id']),
		('enrollments', ARRAY['content_id', 'assigned_by_group_id']),
		('progress', ARRAY['user_id', 'content_id', 'session_id']),
		('role_bindings', ARRAY['role', 'principal']),
		('trusted_roles', ARRAY['role'])
	LOOP
		EXECUTE format('DROP TRIGGER invalidate_cache ON lms.%I', t);
		EXECUTE format('CREATE TRIGGER invalidate_cache AFTER INSERT OR DELETE ON lms.%I '
			'FOR EACH ROW EXECUTE FUNCTION lms._invalidate_rows()', t);
		EXECUTE format('CREATE TRIGGER invalidate_cache_update AFTER UPDATE OF %s ON lms.%I '
			'FOR EACH ROW WHEN (%s) EXECUTE FUNCTION lms._invalidate_rows()',
			(SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c), t,
			(SELECT string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', c), ' OR ') FROM unnest(cols) c));
	END LOOP;
END
$$;

------------------------------------------------------------------------------
-- lms.cache_stats() also reports the tenants' structures, the memory bound
-- (lms.cache_memory) and the evictions it caused
------------------------------------------------------------------------------

DROP FUNCTION lms.cache_stats();
CREATE FUNCTION lms.cache_stats(
	OUT principals_cached integer, OUT memory_bytes bigint, OUT hits bigint,
	OUT rebuilds bigint, OUT invalidations bigint, OUT last_invalidation timestamptz,
	OUT last_rebuild_ms double precision, OUT shortcut_scans bigint,
	OUT inline_scans bigint, OUT tenants_cached integer, OUT tenant_bytes bigint,
	OUT memory_limit_bytes bigint, OUT evictions bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'lms_cache_stats'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.cache_stats() IS 'the visibility cache of this backend';
