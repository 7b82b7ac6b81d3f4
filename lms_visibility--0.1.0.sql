/* lms_visibility--0.1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lms_visibility" to load this file. \quit

------------------------------------------------------------------------------
-- 1. The relationship store (SPEC.md section 2)
--
-- ON DELETE policy, deliberately: relationship rows (memberships, roles,
-- catalog entries, ...) CASCADE with the group, user or content they link;
-- anything that carries statistics or their history (progress, enrollments)
-- RESTRICTs, so deleting a user, group or content item with statistics fails
-- until the statistics are removed or re-pointed explicitly.
------------------------------------------------------------------------------

CREATE TABLE lms.tenants (
	tenant_id			bigint PRIMARY KEY,
	name				text NOT NULL,
	extended_visibility	boolean NOT NULL DEFAULT false
);

CREATE TABLE lms.users (
	user_id			bigint PRIMARY KEY,
	tenant_id		bigint NOT NULL REFERENCES lms.tenants ON DELETE RESTRICT,
	first_name		text,
	last_name		text,
	email			text,
	company			text,
	last_sign_in_at	timestamptz,
	custom_fields	jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX users_tenant_idx ON lms.users (tenant_id);

CREATE TABLE lms.groups (
	group_id		bigint PRIMARY KEY,
	tenant_id		bigint NOT NULL REFERENCES lms.tenants ON DELETE RESTRICT,
	name			text NOT NULL,
	parent_group_id	bigint REFERENCES lms.groups ON DELETE RESTRICT,
	CONSTRAINT groups_not_own_parent CHECK (parent_group_id <> group_id)
);
CREATE INDEX groups_tenant_idx ON lms.groups (tenant_id);
CREATE INDEX groups_parent_idx ON lms.groups (parent_group_id);

CREATE TABLE lms.group_connections (
	group_id			bigint NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
	connected_group_id	bigint NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
	PRIMARY KEY (group_id, connected_group_id),
	CONSTRAINT group_connections_not_self CHECK (group_id <> connected_group_id)
);
CREATE INDEX group_connections_connected_idx ON lms.group_connections (connected_group_id);
-- one row connects both ways: (a, b) and (b, a) are the same connection
CREATE UNIQUE INDEX group_connections_pair_idx
	ON lms.group_connections (least(group_id, connected_group_id), greatest(group_id, connected_group_id));

CREATE TABLE lms.group_members (
	group_id	bigint NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
	user_id		bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_idx ON lms.group_members (user_id);

CREATE TABLE lms.tenant_roles (
	user_id	bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	role	text NOT NULL CONSTRAINT tenant_roles_role_check
		CHECK (role IN ('platform_admin', 'learner_manager', 'contributor')),
	PRIMARY KEY (user_id, role)
);

CREATE TABLE lms.group_roles (
	group_id	bigint NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
	user_id		bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	role		text NOT NULL CONSTRAINT group_roles_role_check
		CHECK (role IN ('group_admin', 'coach', 'group_analyst', 'group_leader', 'editor')),
	PRIMARY KEY (group_id, user_id, role)
);
CREATE INDEX group_roles_user_idx ON lms.group_roles (user_id);

CREATE TABLE lms.managers (
	manager_id	bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	user_id		bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	PRIMARY KEY (manager_id, user_id),
	CONSTRAINT managers_not_self CHECK (manager_id <> user_id)
);
CREATE INDEX managers_user_idx ON lms.managers (user_id);

CREATE TABLE lms.content (
	content_id			bigint PRIMARY KEY,
	tenant_id			bigint NOT NULL REFERENCES lms.tenants ON DELETE RESTRICT,
	kind				text NOT NULL CONSTRAINT content_kind_check
		CHECK (kind IN ('path', 'path_session', 'course', 'classroom', 'classroom_slot')),
	title				text NOT NULL,
	parent_content_id	bigint REFERENCES lms.content ON DELETE RESTRICT,
	owner_group_id		bigint REFERENCES lms.groups ON DELETE SET NULL,
	main_author_id		bigint REFERENCES lms.users ON DELETE SET NULL,
	-- a path_session has a parent (its path), a classroom_slot has one (its
	-- classroom); the parent's kind is checked by lms._tenant_guard()
	CONSTRAINT content_parent_check CHECK (
		(kind IN ('path_session', 'classroom_slot')) = (parent_content_id IS NOT NULL))
);
CREATE INDEX content_tenant_idx ON lms.content (tenant_id);
CREATE INDEX content_parent_idx ON lms.content (parent_content_id);
CREATE INDEX content_owner_idx ON lms.content (owner_group_id);
CREATE INDEX content_author_idx ON lms.content (main_author_id);

CREATE TABLE lms.content_coauthors (
	content_id	bigint NOT NULL REFERENCES lms.content ON DELETE CASCADE,
	user_id		bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	PRIMARY KEY (content_id, user_id)
);
CREATE INDEX content_coauthors_user_idx ON lms.content_coauthors (user_id);

CREATE TABLE lms.path_steps (
	path_id		bigint NOT NULL REFERENCES lms.content ON DELETE CASCADE,
	step_id		bigint NOT NULL REFERENCES lms.content ON DELETE CASCADE,
	position	integer NOT NULL DEFAULT 0 CONSTRAINT path_steps_position_check CHECK (position >= 0),
	PRIMARY KEY (path_id, step_id),
	CONSTRAINT path_steps_not_self CHECK (path_id <> step_id)
);
CREATE INDEX path_steps_step_idx ON lms.path_steps (step_id);

CREATE TABLE lms.catalog_entries (
	group_id	bigint NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
	content_id	bigint NOT NULL REFERENCES lms.content ON DELETE CASCADE,
	PRIMARY KEY (group_id, content_id)
);
CREATE INDEX catalog_entries_content_idx ON lms.catalog_entries (content_id);

CREATE TABLE lms.group_enrollments (
	group_id	bigint NOT NULL REFERENCES lms.groups ON DELETE CASCADE,
	content_id	bigint NOT NULL REFERENCES lms.content ON DELETE CASCADE,
	method		text NOT NULL DEFAULT 'legacy' CONSTRAINT group_enrollments_method_check
		CHECK (method IN ('legacy', 'audience_builder')),
	PRIMARY KEY (group_id, content_id)
);
CREATE INDEX group_enrollments_content_idx ON lms.group_enrollments (content_id);

CREATE TABLE lms.session_instructors (
	session_id	bigint NOT NULL REFERENCES lms.content ON DELETE CASCADE,
	user_id		bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	PRIMARY KEY (session_id, user_id)
);
CREATE INDEX session_instructors_user_idx ON lms.session_instructors (user_id);

CREATE TABLE lms.slot_trainers (
	slot_id	bigint NOT NULL REFERENCES lms.content ON DELETE CASCADE,
	user_id	bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	PRIMARY KEY (slot_id, user_id)
);
CREATE INDEX slot_trainers_user_idx ON lms.slot_trainers (user_id);

CREATE TABLE lms.slot_registrations (
	slot_id	bigint NOT NULL REFERENCES lms.content ON DELETE CASCADE,
	user_id	bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	PRIMARY KEY (slot_id, user_id)
);
CREATE INDEX slot_registrations_user_idx ON lms.slot_registrations (user_id);

CREATE TABLE lms.enrollments (
	user_id					bigint NOT NULL REFERENCES lms.users ON DELETE RESTRICT,
	content_id				bigint NOT NULL REFERENCES lms.content ON DELETE RESTRICT,
	source					text NOT NULL DEFAULT 'self' CONSTRAINT enrollments_source_check
		CHECK (source IN ('self', 'assigned', 'audience_builder', 'group')),
	assigned_by_group_id	bigint REFERENCES lms.groups ON DELETE RESTRICT,
	activated_at			timestamptz,
	expires_at				timestamptz,
	PRIMARY KEY (user_id, content_id)
);
CREATE INDEX enrollments_content_idx ON lms.enrollments (content_id);
CREATE INDEX enrollments_assigned_idx ON lms.enrollments (assigned_by_group_id);

CREATE TABLE lms.progress (
	user_id					bigint NOT NULL REFERENCES lms.users ON DELETE RESTRICT,
	content_id				bigint NOT NULL REFERENCES lms.content ON DELETE RESTRICT,
	session_id				bigint REFERENCES lms.content ON DELETE RESTRICT,
	context_group_id		bigint REFERENCES lms.groups ON DELETE RESTRICT,
	started_at				timestamptz,
	completed_at			timestamptz,
	viewed_pct				numeric CONSTRAINT progress_viewed_pct_check CHECK (viewed_pct BETWEEN 0 AND 100),
	completed_pct			numeric CONSTRAINT progress_completed_pct_check CHECK (completed_pct BETWEEN 0 AND 100),
	score					numeric CONSTRAINT progress_score_check CHECK (score BETWEEN 0 AND 100),
	certificate_issued_at	timestamptz,
	last_activity_at		timestamptz,
	PRIMARY KEY (user_id, content_id)
);
CREATE INDEX progress_content_idx ON lms.progress (content_id);
CREATE INDEX progress_session_idx ON lms.progress (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX progress_context_idx ON lms.progress (context_group_id) WHERE context_group_id IS NOT NULL;

-- SQL roles bound to principals, and roles trusted to set lms.principal
CREATE TABLE lms.role_bindings (
	role		regrole PRIMARY KEY,
	principal	bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE
);
CREATE INDEX role_bindings_principal_idx ON lms.role_bindings (principal);

CREATE TABLE lms.trusted_roles (
	role	regrole PRIMARY KEY
);

-- The proxy relation: its relcache invalidations flush every backend's
-- visibility caches (see src/vis_cache.c).  It never holds rows.
CREATE TABLE lms.cache_proxy ();
COMMENT ON TABLE lms.cache_proxy IS
	'proxy relation: a relcache invalidation on it flushes every backend''s lms_visibility caches';

------------------------------------------------------------------------------
-- 2. Integrity across tenants and of the trees
------------------------------------------------------------------------------

-- lms._tenant_guard(spec, ...) is a row trigger: each argument names a column
-- and what it references ('user_id:user', 'session_id:content:path_session',
-- 'tenant_id:tenant').  Every referenced row must belong to one tenant, and
-- a kind, when given, must match.  'parent_group_id:ancestor' also refuses a
-- cycle of groups; 'parent_content_id:parent' checks that a path_session's
-- parent is a path and a classroom_slot's a classroom.  Lookups see the rows
-- of the same statement, so one multi-row INSERT or COPY cannot sneak past.
CREATE FUNCTION lms._tenant_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_tenant_guard' LANGUAGE C;

CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.users
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('tenant_id:tenant');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.groups
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('tenant_id:tenant', 'parent_group_id:ancestor');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.group_connections
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('group_id:group', 'connected_group_id:group');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.group_members
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('group_id:group', 'user_id:user');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.group_roles
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('group_id:group', 'user_id:user');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.managers
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('manager_id:user', 'user_id:user');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.content
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('tenant_id:tenant', 'parent_content_id:parent',
		'owner_group_id:group', 'main_author_id:user');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.content_coauthors
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('content_id:content', 'user_id:user');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.path_steps
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('path_id:content:path', 'step_id:content');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.catalog_entries
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('group_id:group', 'content_id:content');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.group_enrollments
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('group_id:group', 'content_id:content');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.session_instructors
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('session_id:content:path_session', 'user_id:user');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.slot_trainers
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('slot_id:content:classroom_slot', 'user_id:user');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.slot_registrations
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('slot_id:content:classroom_slot', 'user_id:user');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.enrollments
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('user_id:user', 'content_id:content',
		'assigned_by_group_id:group');
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.progress
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('user_id:user', 'content_id:content',
		'session_id:content:path_session', 'context_group_id:group');

-- A row's tenant never changes: every link to it was checked against it.
CREATE FUNCTION lms._tenant_immutable() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
		RAISE EXCEPTION 'cannot move % "%" from tenant % to tenant %', TG_ARGV[0],
			to_jsonb(OLD) ->> TG_ARGV[1], OLD.tenant_id, NEW.tenant_id
			USING ERRCODE = 'check_violation',
			DETAIL = 'Rows of other tables were checked against the old tenant.',
			HINT = 'Create a new row in the other tenant instead.';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER tenant_immutable BEFORE UPDATE OF tenant_id ON lms.users
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_immutable('user', 'user_id');
CREATE TRIGGER tenant_immutable BEFORE UPDATE OF tenant_id ON lms.groups
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_immutable('group', 'group_id');
CREATE TRIGGER tenant_immutable BEFORE UPDATE OF tenant_id ON lms.content
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_immutable('content', 'content_id');

-- Content trees: a content item with children keeps its kind (the kind of a
-- new parent is checked by lms._tenant_guard's 'parent' entry).
CREATE FUNCTION lms._content_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.kind IS DISTINCT FROM OLD.kind
		AND EXISTS (SELECT 1 FROM lms.content c WHERE c.parent_content_id = NEW.content_id) THEN
		RAISE EXCEPTION 'cannot change the kind of content % from "%" to "%" while it has children',
			NEW.content_id, OLD.kind, NEW.kind
			USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER content_guard BEFORE UPDATE OF kind ON lms.content
	FOR EACH ROW EXECUTE FUNCTION lms._content_guard();

------------------------------------------------------------------------------
-- 3. Cache invalidation: every change to the store flushes the visibility
-- caches of every backend (and hot standby) from its commit on.
------------------------------------------------------------------------------

CREATE FUNCTION lms._invalidate_cache() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_invalidate_cache' LANGUAGE C;

DO $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['tenants', 'users', 'groups', 'group_connections', 'group_members',
		'tenant_roles', 'group_roles', 'managers', 'content', 'content_coauthors', 'path_steps',
		'catalog_entries', 'group_enrollments', 'session_instructors', 'slot_trainers',
		'slot_registrations', 'enrollments', 'progress', 'role_bindings', 'trusted_roles']
	LOOP
		EXECUTE format('CREATE TRIGGER invalidate_cache AFTER INSERT OR UPDATE OR DELETE ON lms.%I '
			'FOR EACH STATEMENT EXECUTE FUNCTION lms._invalidate_cache()', t);
		EXECUTE format('CREATE TRIGGER invalidate_cache_truncate AFTER TRUNCATE ON lms.%I '
			'FOR EACH STATEMENT EXECUTE FUNCTION lms._invalidate_cache()', t);
		PERFORM pg_catalog.pg_extension_config_dump(format('lms.%I', t)::regclass, '');
	END LOOP;
END
$$;

------------------------------------------------------------------------------
-- 4. Principals (SPEC.md section 3)
------------------------------------------------------------------------------

CREATE FUNCTION lms.current_principal() RETURNS bigint
	AS 'MODULE_PATHNAME', 'lms_current_principal'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION lms.current_principal() IS
	'the principal of this session: SET LOCAL lms.principal (trusted roles only), else the binding of the current role, else NULL';

CREATE FUNCTION lms.bind_role(role regrole, principal bigint) RETURNS void
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
END
$$;

CREATE FUNCTION lms.unbind_role(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM lms.role_bindings b WHERE b.role = unbind_role.role;
END
$$;

CREATE FUNCTION lms.trust_role(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	INSERT INTO lms.trusted_roles (role) VALUES (trust_role.role) ON CONFLICT DO NOTHING;
END
$$;

CREATE FUNCTION lms.distrust_role(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM lms.trusted_roles t WHERE t.role = distrust_role.role;
END
$$;

REVOKE ALL ON FUNCTION lms.bind_role(regrole, bigint), lms.unbind_role(regrole),
	lms.trust_role(regrole), lms.distrust_role(regrole) FROM PUBLIC;

------------------------------------------------------------------------------
-- 5. The visibility engine (SPEC.md section 4), in C
------------------------------------------------------------------------------

CREATE FUNCTION lms.visible_users(principal bigint DEFAULT lms.current_principal())
	RETURNS SETOF bigint
	AS 'MODULE_PATHNAME', 'lms_visible_users'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;

-- planner support of the policy predicates (src/vis_planner.c)
CREATE FUNCTION lms._visibility_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'lms_visibility_support' LANGUAGE C STRICT;

CREATE FUNCTION lms.visible_user_ids(principal bigint DEFAULT lms.current_principal())
	RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'lms_visible_user_ids'
	LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION lms.accessible_content_ids(principal bigint DEFAULT lms.current_principal())
	RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'lms_accessible_content_ids'
	LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION lms.can_view_user(principal bigint, user_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_can_view_user'
	LANGUAGE C STABLE PARALLEL SAFE SUPPORT lms._visibility_support;

CREATE FUNCTION lms.content_stats_access(principal bigint, content bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_content_stats_access'
	LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION lms.accessible_content(principal bigint DEFAULT lms.current_principal())
	RETURNS TABLE (content_id bigint, restricted boolean)
	AS 'MODULE_PATHNAME', 'lms_accessible_content'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 100;

CREATE FUNCTION lms.can_view_stats(principal bigint, user_id bigint, content_id bigint,
								   context_group_id bigint DEFAULT NULL)
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_can_view_stats'
	LANGUAGE C STABLE PARALLEL SAFE SUPPORT lms._visibility_support;

CREATE FUNCTION lms.explain_visibility(principal bigint, user_id bigint, content_id bigint,
									   context_group_id bigint DEFAULT NULL)
	RETURNS TABLE (part text, granted boolean, reason text)
	AS 'MODULE_PATHNAME', 'lms_explain_visibility'
	LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION lms.cache_stats(
	OUT principals_cached integer, OUT memory_bytes bigint, OUT hits bigint,
	OUT rebuilds bigint, OUT invalidations bigint, OUT last_invalidation timestamptz,
	OUT last_rebuild_ms double precision)
	RETURNS record
	AS 'MODULE_PATHNAME', 'lms_cache_stats'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.cache_stats() IS 'the visibility cache of this backend';

------------------------------------------------------------------------------
-- 6. Row-level security on the store (SPEC.md section 6)
------------------------------------------------------------------------------

ALTER TABLE lms.progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.progress FORCE ROW LEVEL SECURITY;
CREATE POLICY progress_visibility ON lms.progress FOR SELECT
	USING (lms.can_view_stats((SELECT lms.current_principal()), user_id, content_id, context_group_id));

ALTER TABLE lms.enrollments ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.enrollments FORCE ROW LEVEL SECURITY;
CREATE POLICY enrollments_visibility ON lms.enrollments FOR SELECT
	USING (lms.can_view_stats((SELECT lms.current_principal()), user_id, content_id, NULL));

ALTER TABLE lms.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_visibility ON lms.users FOR SELECT
	USING (lms.can_view_user((SELECT lms.current_principal()), user_id));

GRANT USAGE ON SCHEMA lms TO PUBLIC;
GRANT SELECT ON lms.progress, lms.enrollments, lms.users TO PUBLIC;

-- lms.protect_table applies the rules of section 4 to an application's own
-- table.  It runs as its caller, who must own the table.
CREATE FUNCTION lms.protect_table(tbl regclass, user_column name, content_column name,
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
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
	EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
			   WHERE p.polrelid = tbl AND p.polname = 'lms_visibility') THEN
		EXECUTE format('ALTER POLICY lms_visibility ON %s USING (%s)', tbl, using_expr);
	ELSE
		EXECUTE format('CREATE POLICY lms_visibility ON %s FOR SELECT USING (%s)', tbl, using_expr);
	END IF;
END
$$;

------------------------------------------------------------------------------
-- 7. Reports (SPEC.md section 5)
------------------------------------------------------------------------------

-- lms._subtree(g): g and all its descendants.
CREATE FUNCTION lms._subtree(root bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	WITH RECURSIVE s(group_id) AS (
		SELECT g.group_id FROM lms.groups g WHERE g.group_id = root
		UNION
		SELECT c.group_id FROM lms.groups c JOIN s ON c.parent_group_id = s.group_id
	)
	SELECT group_id FROM s
$$;

-- lms._require_group_report(g) raises 42501 unless the current principal is
-- a platform_admin or learner_manager of g's tenant, or a group_admin,
-- group_analyst or group_leader of g or one of its ancestors.
CREATE FUNCTION lms._require_group_report(target bigint) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p bigint := lms.current_principal();
BEGIN
	IF p IS NOT NULL AND target IS NOT NULL AND (
		EXISTS (SELECT 1 FROM lms.groups g JOIN lms.users u ON u.tenant_id = g.tenant_id
				JOIN lms.tenant_roles r ON r.user_id = u.user_id
				WHERE g.group_id = target AND u.user_id = p
				  AND r.role IN ('platform_admin', 'learner_manager'))
		OR EXISTS (
			WITH RECURSIVE up(group_id, parent_group_id) AS (
				SELECT g.group_id, g.parent_group_id FROM lms.groups g WHERE g.group_id = target
				UNION
				SELECT g.group_id, g.parent_group_id FROM lms.groups g JOIN up ON g.group_id = up.parent_group_id
			)
			SELECT 1 FROM up JOIN lms.group_roles r ON r.group_id = up.group_id
			WHERE r.user_id = p AND r.role IN ('group_admin', 'group_analyst', 'group_leader')))
	THEN
		RETURN;
	END IF;
	RAISE EXCEPTION 'permission denied for the reports of group %', target
		USING ERRCODE = 'insufficient_privilege',
		DETAIL = CASE WHEN p IS NULL THEN 'This session has no principal.'
			ELSE format('Principal %s is neither a platform admin or learner manager of the group''s tenant nor a group admin, group analyst or group leader of the group or of one of its ancestors.', p) END,
		HINT = CASE WHEN p IS NULL THEN 'Ask a DBA to bind your role with lms.bind_role().'
			ELSE 'A platform admin can give the principal a group_admin, group_analyst or group_leader role on the group.' END;
END
$$;

CREATE FUNCTION lms.group_progress(group_id bigint)
	RETURNS TABLE (learners bigint, enrolled_learners bigint, started bigint, completed bigint,
				   completion_rate numeric, avg_completed_pct numeric, avg_score numeric,
				   certificates bigint, last_activity_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM lms._require_group_report(group_progress.group_id);
	RETURN QUERY
	WITH members AS (
		SELECT DISTINCT m.user_id FROM lms.group_members m
		WHERE m.group_id IN (SELECT lms._subtree(group_progress.group_id))
	), p AS (
		SELECT pr.* FROM lms.progress pr JOIN members USING (user_id)
	)
	SELECT (SELECT count(*) FROM members),
		   (SELECT count(DISTINCT e.user_id) FROM lms.enrollments e JOIN members USING (user_id)),
		   count(*) FILTER (WHERE p.started_at IS NOT NULL),
		   count(*) FILTER (WHERE p.completed_at IS NOT NULL),
		   round(100.0 * count(*) FILTER (WHERE p.completed_at IS NOT NULL)
				 / nullif(count(*) FILTER (WHERE p.started_at IS NOT NULL OR p.completed_at IS NOT NULL), 0), 2),
		   round(avg(p.completed_pct), 2),
		   round(avg(p.score), 2),
		   count(*) FILTER (WHERE p.certificate_issued_at IS NOT NULL),
		   max(p.last_activity_at)
	FROM p;
END
$$;

CREATE FUNCTION lms.group_learners(group_id bigint)
	RETURNS TABLE (user_id bigint, first_name text, last_name text, email text,
				   course_registrations bigint, course_completions bigint,
				   assessment_score numeric, certificates bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM lms._require_group_report(group_learners.group_id);
	RETURN QUERY
	WITH members AS (
		SELECT DISTINCT m.user_id FROM lms.group_members m
		WHERE m.group_id IN (SELECT lms._subtree(group_learners.group_id))
	), assigned AS (
		SELECT e.user_id, pr.completed_at, pr.score, pr.certificate_issued_at
		FROM lms.enrollments e
		LEFT JOIN lms.progress pr ON pr.user_id = e.user_id AND pr.content_id = e.content_id
		WHERE e.source = 'assigned' AND e.assigned_by_group_id = group_learners.group_id
	)
	SELECT u.user_id, u.first_name, u.last_name, u.email,
		   count(a.user_id),
		   count(a.completed_at),
		   round(avg(a.score) FILTER (WHERE a.completed_at IS NOT NULL), 2),
		   count(a.certificate_issued_at)
	FROM members m
	JOIN lms.users u ON u.user_id = m.user_id
	LEFT JOIN assigned a ON a.user_id = m.user_id
	GROUP BY u.user_id, u.first_name, u.last_name, u.email
	ORDER BY u.last_name, u.first_name, u.user_id;
END
$$;

-- lms._report_rows(root) returns the export rows visible to the current
-- principal: of members of root's subtree, or of everyone when root is null.
CREATE FUNCTION lms._report_rows(root bigint)
	RETURNS TABLE (first_name text, last_name text, email text, company text,
				   completed_at timestamptz, started_at timestamptz,
				   activated_at timestamptz, expires_at timestamptz, course_name text,
				   last_sign_in_at timestamptz, viewed_pct numeric, completed_pct numeric,
				   custom_fields jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT u.first_name, u.last_name, u.email, u.company,
		   pr.completed_at, pr.started_at, e.activated_at, e.expires_at, c.title,
		   u.last_sign_in_at, pr.viewed_pct, pr.completed_pct, u.custom_fields
	FROM lms.progress pr
	JOIN lms.users u ON u.user_id = pr.user_id
	JOIN lms.content c ON c.content_id = pr.content_id
	LEFT JOIN lms.enrollments e ON e.user_id = pr.user_id AND e.content_id = pr.content_id
	WHERE lms.can_view_stats(lms.current_principal(), pr.user_id, pr.content_id, pr.context_group_id)
	  AND (root IS NULL OR pr.user_id IN (
			SELECT m.user_id FROM lms.group_members m WHERE m.group_id IN (SELECT lms._subtree(root))))
	ORDER BY u.last_name, u.first_name, c.title
$$;

CREATE FUNCTION lms.group_progress_report(group_id bigint)
	RETURNS TABLE (first_name text, last_name text, email text, company text,
				   completed_at timestamptz, started_at timestamptz,
				   activated_at timestamptz, expires_at timestamptz, course_name text,
				   last_sign_in_at timestamptz, viewed_pct numeric, completed_pct numeric,
				   custom_fields jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT * FROM lms._report_rows(coalesce(group_id, -1))
$$;

CREATE VIEW lms.progress_report WITH (security_invoker = true) AS
	SELECT * FROM lms._report_rows(NULL);
GRANT SELECT ON lms.progress_report TO PUBLIC;

CREATE FUNCTION lms.user_progress(user_id bigint)
	RETURNS TABLE (enrollments bigint, started bigint, completed bigint, avg_completed_pct numeric,
				   avg_score numeric, certificates bigint, last_activity_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p bigint := lms.current_principal();
BEGIN
	IF user_progress.user_id IS NULL OR NOT coalesce(lms.can_view_user(p, user_progress.user_id), false) THEN
		RAISE EXCEPTION 'no visibility on this user'
			USING ERRCODE = 'insufficient_privilege',
			DETAIL = CASE WHEN p IS NULL THEN 'This session has no principal.'
				ELSE format('User %s is not among the users principal %s may see.', user_progress.user_id, p) END,
			HINT = 'lms.explain_visibility() tells which role would grant it.';
	END IF;
	RETURN QUERY
	SELECT (SELECT count(*) FROM lms.enrollments e WHERE e.user_id = user_progress.user_id),
		   count(*) FILTER (WHERE pr.started_at IS NOT NULL),
		   count(*) FILTER (WHERE pr.completed_at IS NOT NULL),
		   round(avg(pr.completed_pct), 2),
		   round(avg(pr.score), 2),
		   count(*) FILTER (WHERE pr.certificate_issued_at IS NOT NULL),
		   max(pr.last_activity_at)
	FROM lms.progress pr WHERE pr.user_id = user_progress.user_id;
END
$$;

CREATE FUNCTION lms.content_progress(content_id bigint)
	RETURNS TABLE (user_id bigint, first_name text, last_name text, email text,
				   context_group_id bigint, session_id bigint, started_at timestamptz,
				   completed_at timestamptz, viewed_pct numeric, completed_pct numeric,
				   score numeric, certificate_issued_at timestamptz, last_activity_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p bigint := lms.current_principal();
BEGIN
	IF content_progress.content_id IS NULL
		OR NOT coalesce(lms.content_stats_access(p, content_progress.content_id), false) THEN
		RAISE EXCEPTION 'no visibility on this content'
			USING ERRCODE = 'insufficient_privilege',
			DETAIL = CASE WHEN p IS NULL THEN 'This session has no principal.'
				ELSE format('No role of principal %s grants the statistics of content %s.', p, content_progress.content_id) END,
			HINT = 'lms.explain_visibility() names the roles that would grant it.';
	END IF;
	RETURN QUERY
	SELECT pr.user_id, u.first_name, u.last_name, u.email, pr.context_group_id, pr.session_id,
		   pr.started_at, pr.completed_at, pr.viewed_pct, pr.completed_pct, pr.score,
		   pr.certificate_issued_at, pr.last_activity_at
	FROM lms.progress pr JOIN lms.users u ON u.user_id = pr.user_id
	WHERE pr.content_id = content_progress.content_id
	  AND lms.can_view_stats(p, pr.user_id, pr.content_id, pr.context_group_id)
	ORDER BY u.last_name, u.first_name, pr.user_id;
END
$$;

REVOKE ALL ON FUNCTION lms._subtree(bigint), lms._require_group_report(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION lms._visibility_support(internal) FROM PUBLIC;
REVOKE ALL ON FUNCTION lms._tenant_guard(), lms._invalidate_cache(), lms._tenant_immutable(),
	lms._content_guard() FROM PUBLIC;
