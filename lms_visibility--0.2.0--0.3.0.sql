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

------------------------------------------------------------------------------
-- A broad grant opens nothing.  The relationship tables were closed to
-- readers only because nobody is granted SELECT on them: GRANT SELECT ON
-- ALL TABLES IN SCHEMA lms, default privileges or pg_read_all_data opened
-- them, for every tenant.  Row-level security with no policy refuses every
-- row to every role but superusers and BYPASSRLS roles (the store's writers,
-- the extension's own SECURITY DEFINER functions): reads see nothing,
-- writes fail.  progress, enrollments and users keep their SELECT policies
-- of SPEC.md 6.
------------------------------------------------------------------------------

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['tenants', 'groups', 'group_connections', 'group_members', 'tenant_roles',
		'group_roles', 'managers', 'content', 'content_coauthors', 'path_steps', 'catalog_entries',
		'group_enrollments', 'session_instructors', 'slot_trainers', 'slot_registrations',
		'role_bindings', 'trusted_roles', 'cache_proxy']
	LOOP
		EXECUTE format('ALTER TABLE lms.%I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('ALTER TABLE lms.%I FORCE ROW LEVEL SECURITY', t);
	END LOOP;
END
$$;

------------------------------------------------------------------------------
-- A binding never outlives its role (SPEC.md 8).  A binding or trust keyed
-- on the role's OID alone passed to any role created later with that OID.
-- Each now has an anchor: a policy on its table TO the role, restrictive
-- and false, so it grants and refuses nothing.  PostgreSQL records the
-- policy's dependency on the role: DROP ROLE refuses while the role is
-- bound or trusted, and DROP OWNED BY drops the anchor with the role.  The
-- role map (src/vis_principal.c) honours a binding or trust only while an
-- anchor names the role's OID, so a role created later, whatever its OID
-- and name, inherits nothing.  pg_dump does not dump the policies of an
-- extension's tables: a trigger anchors each row as it is inserted, so a
-- restore anchors the bindings it loads.
------------------------------------------------------------------------------

-- lms._anchor(tbl, role) gives the role an anchor on tbl, once
CREATE FUNCTION lms._anchor(tbl regclass, role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = tbl
				   AND p.polname LIKE 'lms\_anchor\_%' AND role::oid = ANY (p.polroles)) THEN
		EXECUTE format('CREATE POLICY %I ON %s AS RESTRICTIVE FOR SELECT TO %s USING (false)',
					   'lms_anchor_' || md5(role::text || clock_timestamp()::text), tbl, role);
	END IF;
END
$$;

-- lms._unanchor(tbl, role) drops the role's anchors on tbl
CREATE FUNCTION lms._unanchor(tbl regclass, role regrole) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pol name;
BEGIN
	FOR pol IN SELECT p.polname FROM pg_catalog.pg_policy p WHERE p.polrelid = tbl
			   AND p.polname LIKE 'lms\_anchor\_%' AND role::oid = ANY (p.polroles) LOOP
		EXECUTE format('DROP POLICY %I ON %s', pol, tbl);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION lms._anchor(regclass, regrole), lms._unanchor(regclass, regrole) FROM PUBLIC;

-- lms._anchor_rows() keeps the anchors with the rows: a row inserted (by
-- bind_role, trust_role, or a restore's COPY) is anchored, a row deleted
-- (unbind_role, distrust_role) loses its anchor.  A row whose role does not
-- exist gets none: it counts for nobody.
CREATE FUNCTION lms._anchor_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		PERFORM lms._unanchor(TG_RELID::regclass, OLD.role);
	END IF;
	IF TG_OP IN ('INSERT', 'UPDATE') AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = NEW.role) THEN
		PERFORM lms._anchor(TG_RELID::regclass, NEW.role);
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION lms._anchor_rows() FROM PUBLIC;
CREATE TRIGGER anchor AFTER INSERT OR UPDATE OF role OR DELETE ON lms.role_bindings
	FOR EACH ROW EXECUTE FUNCTION lms._anchor_rows();
CREATE TRIGGER anchor AFTER INSERT OR UPDATE OF role OR DELETE ON lms.trusted_roles
	FOR EACH ROW EXECUTE FUNCTION lms._anchor_rows();

-- bind_role and trust_role anchor the role themselves: the row they write
-- may be an older one of a dropped role that had this OID (ON CONFLICT),
-- which an UPDATE of other columns must not anchor
CREATE OR REPLACE FUNCTION lms.bind_role(role regrole, principal bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL OR principal IS NULL THEN
		RAISE EXCEPTION 'role and principal must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM lms.users u WHERE u.user_id = principal) THEN
		RAISE EXCEPTION 'user % does not exist', principal
			USING ERRCODE = 'foreign_key_violation',
			HINT = 'A principal is a row of lms.users.';
	END IF;
	INSERT INTO lms.role_bindings AS b (role, principal) VALUES (bind_role.role, bind_role.principal)
		ON CONFLICT ON CONSTRAINT role_bindings_pkey DO UPDATE SET principal = EXCLUDED.principal;
	PERFORM lms._anchor('lms.role_bindings', bind_role.role);
END
$$;

CREATE OR REPLACE FUNCTION lms.trust_role(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	INSERT INTO lms.trusted_roles (role) VALUES (trust_role.role) ON CONFLICT DO NOTHING;
	PERFORM lms._anchor('lms.trusted_roles', trust_role.role);
END
$$;

-- bindings and trusts of roles dropped already are what this closes: gone;
-- the others get their anchors
DELETE FROM lms.role_bindings b WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = b.role);
DELETE FROM lms.trusted_roles t WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid = t.role);
SELECT lms._anchor('lms.role_bindings', b.role) FROM lms.role_bindings b;
SELECT lms._anchor('lms.trusted_roles', t.role) FROM lms.trusted_roles t;

------------------------------------------------------------------------------
-- protect_table covers every route to the rows (SPEC.md 5).  PostgreSQL
-- applies a table's policies only to queries that name it: a partition or
-- an inheritance child read directly showed all its rows to a role with
-- SELECT on it (GRANT ... ON ALL TABLES IN SCHEMA grants the partitions
-- too).  A protected table is one with the policy lms_visibility;
-- protect_table now gives the same policy, and forced row-level security,
-- to every descendant at every level, and an event trigger to every
-- partition or child created, attached or inherited later.  A table
-- detached or uninherited keeps its policy until its owner drops it.
------------------------------------------------------------------------------

-- lms._protect_tree(src, root, only_new) gives root (unless it is src) and
-- every descendant of root the policy lms_visibility of src (its expression
-- as deparsed here, with the search_path pinned) and forced row-level
-- security; with only_new, a table that has both already is left alone
-- (the event trigger meets the ALTER TABLE this function runs itself).
-- Creating a policy does not evaluate it: the copied expression runs, as it
-- does on src, as the role that queries.
CREATE FUNCTION lms._protect_tree(src regclass, root regclass, only_new boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	qual text;
	part regclass;
BEGIN
	SELECT pg_catalog.pg_get_expr(p.polqual, p.polrelid) INTO qual
	FROM pg_catalog.pg_policy p WHERE p.polrelid = src AND p.polname = 'lms_visibility';
	IF qual IS NULL THEN
		RETURN;
	END IF;
	FOR part IN WITH RECURSIVE down(relid) AS (
			SELECT root::oid WHERE root <> src
			UNION
			SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = root
			UNION
			SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN down ON i.inhparent = down.relid)
		SELECT relid::regclass FROM down LOOP
		IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = part AND p.polname = 'lms_visibility') THEN
			CONTINUE WHEN only_new AND (SELECT c.relrowsecurity AND c.relforcerowsecurity
										FROM pg_catalog.pg_class c WHERE c.oid = part);
			EXECUTE format('ALTER POLICY lms_visibility ON %s USING (%s)', part, qual);
		ELSE
			EXECUTE format('CREATE POLICY lms_visibility ON %s FOR SELECT USING (%s)', part, qual);
		END IF;
		EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', part);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION lms._protect_tree(regclass, regclass, boolean) FROM PUBLIC;

-- protect_table runs as its caller, who must own the table; the parts get
-- the table's policy through lms._protect_tree, which the caller may not
-- run itself
CREATE OR REPLACE FUNCTION lms.protect_table(tbl regclass, user_column name, content_column name,
											 context_column name DEFAULT NULL)
	RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	col name;
	typ oid;
	using_expr text;
BEGIN
	IF tbl IS NULL OR user_column IS NULL OR content_column IS NULL THEN
		RAISE EXCEPTION 'table, user column and content column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH col IN ARRAY ARRAY[user_column, content_column, context_column] LOOP
		CONTINUE WHEN col IS NULL;
		SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
				USING ERRCODE = 'undefined_column';
		END IF;
		IF typ NOT IN ('pg_catalog.int8'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int2'::regtype) THEN
			RAISE EXCEPTION 'column "%" of relation % has type %, not an integer type', col, tbl, typ::regtype
				USING ERRCODE = 'datatype_mismatch',
				HINT = 'Visibility columns hold user, content and group ids (bigint).';
		END IF;
	END LOOP;
	using_expr := format('lms.can_view_stats((SELECT lms.current_principal()), %I, %I, %s)',
		user_column, content_column,
		CASE WHEN context_column IS NULL THEN 'NULL' ELSE quote_ident(context_column) END);
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
			   WHERE p.polrelid = tbl AND p.polname = 'lms_visibility') THEN
		EXECUTE format('ALTER POLICY lms_visibility ON %s USING (%s)', tbl, using_expr);
	ELSE
		EXECUTE format('CREATE POLICY lms_visibility ON %s FOR SELECT USING (%s)', tbl, using_expr);
	END IF;
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	PERFORM lms._protect_parts_of(tbl);
END
$$;

-- lms._protect_parts_of(tbl) is protect_table's way in: it checks that the
-- caller owns tbl, which has just been protected
CREATE FUNCTION lms._protect_parts_of(tbl regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT pg_catalog.pg_has_role(session_user, (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = tbl), 'MEMBER') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	PERFORM lms._protect_tree(tbl, tbl, false);
END
$$;

-- lms._protect_new_parts() is the event trigger: after CREATE TABLE or
-- ALTER TABLE, each table the command created or altered (a new partition
-- or child, the parent a partition was attached to) and its descendants
-- get the policy of its nearest protected ancestor, itself included
CREATE FUNCTION lms._protect_new_parts() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	obj oid;
	src regclass;
BEGIN
	FOR obj IN SELECT DISTINCT c.objid FROM pg_catalog.pg_event_trigger_ddl_commands() c
			   WHERE c.classid = 'pg_catalog.pg_class'::regclass AND NOT c.in_extension LOOP
		WITH RECURSIVE up(relid, depth) AS (
			SELECT obj, 0
			UNION ALL
			SELECT i.inhparent, up.depth + 1 FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.relid
			WHERE up.depth < 1000)
		SELECT up.relid::regclass INTO src FROM up
		WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = up.relid AND p.polname = 'lms_visibility')
		ORDER BY up.depth LIMIT 1;
		IF src IS NOT NULL THEN
			PERFORM lms._protect_tree(src, obj::regclass, true);
		END IF;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION lms._protect_new_parts() FROM PUBLIC;
CREATE EVENT TRIGGER lms_protect_new_parts ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION lms._protect_new_parts();

-- tables protected before 0.3.0: their parts now
SELECT lms._protect_tree(p.polrelid::regclass, p.polrelid::regclass, true)
FROM pg_catalog.pg_policy p WHERE p.polname = 'lms_visibility';

------------------------------------------------------------------------------
-- Least privilege for the service that syncs the store: the role
-- lms_writer, which a DBA grants to the sync service's login.  It reads,
-- inserts, updates and deletes the rows of every store table but the
-- bindings and trusts (an upsert reads the rows it updates: EXCLUDED's
-- columns need SELECT), with the integrity and invalidation triggers on.
-- It has no principal and cannot get one: it cannot bind, trust or act for
-- a principal, nor TRUNCATE.  It bypasses row-level security, which COPY
-- FROM into a table with row-level security requires; PostgreSQL does not
-- pass that attribute to the members of a role, so the policies below let
-- a member that has not run SET ROLE lms_writer write all the same (COPY
-- needs the SET ROLE).  The role is cluster-wide: a second database's
-- CREATE EXTENSION finds it.
------------------------------------------------------------------------------

DO $$
DECLARE
	t text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'lms_writer') THEN
		CREATE ROLE lms_writer NOLOGIN BYPASSRLS;
	END IF;
	FOREACH t IN ARRAY ARRAY['tenants', 'users', 'groups', 'group_connections', 'group_members',
		'tenant_roles', 'group_roles', 'managers', 'content', 'content_coauthors', 'path_steps',
		'catalog_entries', 'group_enrollments', 'session_instructors', 'slot_trainers',
		'slot_registrations', 'enrollments', 'progress']
	LOOP
		EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON lms.%I TO lms_writer', t);
		EXECUTE format('CREATE POLICY lms_writer ON lms.%I TO lms_writer USING (true) WITH CHECK (true)', t);
	END LOOP;
END
$$;
