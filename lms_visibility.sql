/* lms_visibility.sql: the extension's SQL objects as the current version has them */

-- make builds lms_visibility--<default_version>.sql from this file: the
-- script of a fresh install.  A release freezes that script; the next
-- version's changes go here and, as the difference, into an upgrade script
-- (doc/development.md, "Changing the SQL").  sql/catalog.sql checks that a
-- fresh install and every released version upgraded agree.

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION lms_visibility" to load this file. \quit

------------------------------------------------------------------------------
-- 1. The relationship store (doc/reference.md, "Tables")
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
	CONSTRAINT groups_not_own_parent CHECK (parent_group_id <> group_id),
	-- the principal that created the group (doc/team-management.md); NULL:
	-- the platform (the sync service).  Deleting that user keeps the group,
	-- as the platform's.
	created_by		bigint REFERENCES lms.users ON DELETE SET NULL
);
CREATE INDEX groups_tenant_idx ON lms.groups (tenant_id);
CREATE INDEX groups_parent_idx ON lms.groups (parent_group_id);
CREATE INDEX groups_created_by_idx ON lms.groups (created_by);

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
-- the policy of enrollments reads user_id and content_id
CREATE INDEX enrollments_content_idx ON lms.enrollments (content_id) INCLUDE (user_id);
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
	PRIMARY KEY (user_id, content_id) INCLUDE (context_group_id)
);
-- The policy of progress reads user_id, content_id and context_group_id:
-- with all three in an index, a narrow principal's query is an index-only
-- scan on the side (users or content) it sees least of, and never touches
-- the heap of a vacuumed table (src/vis_planner.c decides which side).
CREATE INDEX progress_content_idx ON lms.progress (content_id) INCLUDE (user_id, context_group_id);
CREATE INDEX progress_session_idx ON lms.progress (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX progress_context_idx ON lms.progress (context_group_id) WHERE context_group_id IS NOT NULL;

-- SQL roles bound to principals, and roles trusted to set lms.principal.
-- personal_data false: a pseudonymous role; valid_until: after it the
-- binding counts as absent (doc/accountability.md).
CREATE TABLE lms.role_bindings (
	role			regrole PRIMARY KEY,
	principal		bigint NOT NULL REFERENCES lms.users ON DELETE CASCADE,
	personal_data	boolean NOT NULL DEFAULT true,
	valid_until		timestamptz
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
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('tenant_id:tenant', 'parent_group_id:ancestor',
		'created_by:user');
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
REVOKE ALL ON FUNCTION lms._tenant_guard(), lms._tenant_immutable(), lms._content_guard() FROM PUBLIC;

------------------------------------------------------------------------------
-- 3. Cache invalidation by the facts a change touches (src/vis_inval.c,
-- doc/consistency.md).  Each store table has a row trigger that reports the
-- keys of the rows it inserts or deletes, and one that reports an UPDATE
-- only when a column the engine reads changed: a learner's score,
-- percentages and dates invalidate nothing, and a change in one tenant
-- nothing of another.  TRUNCATE flushes every cache.  path_steps is read by
-- no rule: no trigger.  The triggers fire ALWAYS, also with
-- session_replication_role = replica: in a logical replication subscriber's
-- apply, and in the undo of the rules at a past time (section 9).  Every
-- table of the store is dumped by pg_dump.
------------------------------------------------------------------------------

CREATE FUNCTION lms._invalidate_cache() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_invalidate_cache' LANGUAGE C;
CREATE FUNCTION lms._invalidate_rows() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_invalidate_rows' LANGUAGE C;
REVOKE ALL ON FUNCTION lms._invalidate_cache(), lms._invalidate_rows() FROM PUBLIC;

DO $$
DECLARE
	t text;
	cols text[];
BEGIN
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
		('path_steps', NULL),
		('catalog_entries', ARRAY['group_id', 'content_id']),
		('group_enrollments', ARRAY['group_id', 'content_id', 'method']),
		('session_instructors', ARRAY['session_id', 'user_id']),
		('slot_trainers', ARRAY['slot_id', 'user_id']),
		('slot_registrations', ARRAY['slot_id', 'user_id']),
		('enrollments', ARRAY['content_id', 'assigned_by_group_id']),
		('progress', ARRAY['user_id', 'content_id', 'session_id']),
		('role_bindings', ARRAY['role', 'principal', 'personal_data', 'valid_until']),
		('trusted_roles', ARRAY['role'])
	LOOP
		PERFORM pg_catalog.pg_extension_config_dump(format('lms.%I', t)::regclass, '');
		CONTINUE WHEN cols IS NULL;
		EXECUTE format('CREATE TRIGGER invalidate_cache AFTER INSERT OR DELETE ON lms.%I '
			'FOR EACH ROW EXECUTE FUNCTION lms._invalidate_rows()', t);
		EXECUTE format('CREATE TRIGGER invalidate_cache_update AFTER UPDATE OF %s ON lms.%I '
			'FOR EACH ROW WHEN (%s) EXECUTE FUNCTION lms._invalidate_rows()',
			(SELECT string_agg(quote_ident(c), ', ') FROM unnest(cols) c), t,
			(SELECT string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', c), ' OR ') FROM unnest(cols) c));
		EXECUTE format('CREATE TRIGGER invalidate_cache_truncate AFTER TRUNCATE ON lms.%I '
			'FOR EACH STATEMENT EXECUTE FUNCTION lms._invalidate_cache()', t);
		EXECUTE format('ALTER TABLE lms.%1$I ENABLE ALWAYS TRIGGER invalidate_cache, '
			'ENABLE ALWAYS TRIGGER invalidate_cache_update, ENABLE ALWAYS TRIGGER invalidate_cache_truncate', t);
	END LOOP;
END
$$;

------------------------------------------------------------------------------
-- 4. Principals (doc/security.md)
------------------------------------------------------------------------------

CREATE FUNCTION lms.current_principal() RETURNS bigint
	AS 'MODULE_PATHNAME', 'lms_current_principal'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION lms.current_principal() IS
	'the principal of this session: SET LOCAL lms.principal (trusted roles only), else the binding of the current role, else NULL';

-- bind_role and trust_role anchor the role themselves (below): the row they
-- write may be an older one of a dropped role that had this OID (ON
-- CONFLICT), which an UPDATE of other columns must not anchor
CREATE FUNCTION lms.bind_role(role regrole, principal bigint, personal_data boolean DEFAULT true,
							  valid_until timestamptz DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL OR principal IS NULL OR personal_data IS NULL THEN
		RAISE EXCEPTION 'role, principal and personal_data must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM lms.users u WHERE u.user_id = principal) THEN
		RAISE EXCEPTION 'user % does not exist', principal
			USING ERRCODE = 'foreign_key_violation',
			HINT = 'A principal is a row of lms.users.';
	END IF;
	INSERT INTO lms.role_bindings AS b (role, principal, personal_data, valid_until)
		VALUES (bind_role.role, bind_role.principal, bind_role.personal_data, bind_role.valid_until)
		ON CONFLICT ON CONSTRAINT role_bindings_pkey DO UPDATE
		SET principal = EXCLUDED.principal, personal_data = EXCLUDED.personal_data,
			valid_until = EXCLUDED.valid_until;
	PERFORM lms._anchor('lms.role_bindings', bind_role.role);
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
	PERFORM lms._anchor('lms.trusted_roles', trust_role.role);
END
$$;

CREATE FUNCTION lms.distrust_role(role regrole) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	DELETE FROM lms.trusted_roles t WHERE t.role = distrust_role.role;
END
$$;

REVOKE ALL ON FUNCTION lms.bind_role(regrole, bigint, boolean, timestamptz), lms.unbind_role(regrole),
	lms.trust_role(regrole), lms.distrust_role(regrole) FROM PUBLIC;

------------------------------------------------------------------------------
-- A binding never outlives its role (doc/security.md).  A binding or trust
-- keyed on the role's OID alone would pass to any role created later with
-- that OID.  Each has an anchor: a policy on its table TO the role, restrictive
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

-- lms._personal_data() tells whether the running query may see names,
-- e-mails, company and custom fields: false for a pseudonymous role
CREATE FUNCTION lms._personal_data() RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_personal_data' LANGUAGE C STABLE PARALLEL SAFE;

------------------------------------------------------------------------------
-- 5. The visibility engine (doc/rules.md), in C
------------------------------------------------------------------------------

CREATE FUNCTION lms.visible_users(principal bigint DEFAULT lms.current_principal())
	RETURNS SETOF bigint
	AS 'MODULE_PATHNAME', 'lms_visible_users'
	LANGUAGE C STABLE PARALLEL SAFE ROWS 1000;

-- planner support of the policy predicates (src/vis_planner.c)
CREATE FUNCTION lms._visibility_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'lms_visibility_support' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION lms._visibility_support(internal) FROM PUBLIC;

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

-- this backend's cache and the server's shared cache (used when the library
-- is in shared_preload_libraries; NULL otherwise): memory_bytes is this
-- backend's own; two backends that miss the same principal build it side
-- by side, and the second counts a duplicate build (doc/how-it-works.md)
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

-- lms._rules(): the library's rule table (src/vis_rules.c, doc/rules.md),
-- a row per role or relation: where it is held, whether it adds users
-- (U(p)) and content (C(p)), whether it gets restricted grants in tenants
-- with extended visibility, its group scope and the teams it may change.
-- The tests check the SQL that names roles on its own (the roles' CHECKs,
-- the reports' permissions, the team role, who_can_see's reverse rules)
-- against it.

CREATE FUNCTION lms._rules(
	OUT name text, OUT held_on text, OUT adds_users boolean, OUT adds_content boolean,
	OUT extended boolean, OUT group_scope text, OUT teams text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'lms_rules'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lms._rules() IS 'the rule table: each role or relation, where it is held, what it adds, its group scope and the teams it may change';
REVOKE ALL ON FUNCTION lms._rules() FROM PUBLIC;

-- The dimensions a BI tool joins the statistics to (doc/bi-tools.md):
-- content by C(p), groups by the principal's group scope, memberships by
-- both.  A star join of progress with content, group_members and groups
-- then gives each principal exactly its permitted intersection.

-- the planner's estimate of the share of each dimension a principal sees
CREATE FUNCTION lms._dimension_support(internal) RETURNS internal
	AS 'MODULE_PATHNAME', 'lms_dimension_support' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION lms._dimension_support(internal) FROM PUBLIC;

CREATE FUNCTION lms.can_view_content(principal bigint, content_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_can_view_content'
	LANGUAGE C STABLE PARALLEL SAFE SUPPORT lms._dimension_support;
COMMENT ON FUNCTION lms.can_view_content(bigint, bigint) IS
	'does C(p) hold a grant for the content: the policy of lms.content';

CREATE FUNCTION lms.can_view_group(principal bigint, group_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_can_view_group'
	LANGUAGE C STABLE PARALLEL SAFE SUPPORT lms._dimension_support;
COMMENT ON FUNCTION lms.can_view_group(bigint, bigint) IS
	'is the group in the principal''s group scope: the policy of lms.groups';

------------------------------------------------------------------------------
-- 6. Row-level security on the store (doc/security.md)
--
-- The policies of lms.progress, lms.enrollments and lms.users pass the call
-- lms.current_principal() as their principal argument: on these three
-- tables the executor guard (src/vis_exec.c) decides each row without
-- evaluating it while the principal's settings and role stay as they were
-- at executor start, and a sub-select would plan a subquery and run an
-- InitPlan for every statement that reads them (bench/policy_arg.sh).  The
-- other policies (the dimensions, and the tables lms.protect_table
-- protects) are evaluated row by row, where a call per row costs more than
-- the InitPlan saves on a large scan: they pass (SELECT
-- lms.current_principal()).  A parallel worker takes lms.principal without
-- the scope it was set with, so the leader of a parallel plan that calls
-- the principal resolves it before any worker starts (src/vis_exec.c).
------------------------------------------------------------------------------

ALTER TABLE lms.progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.progress FORCE ROW LEVEL SECURITY;
CREATE POLICY progress_visibility ON lms.progress FOR SELECT
	USING (lms.can_view_stats(lms.current_principal(), user_id, content_id, context_group_id));

ALTER TABLE lms.enrollments ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.enrollments FORCE ROW LEVEL SECURITY;
CREATE POLICY enrollments_visibility ON lms.enrollments FOR SELECT
	USING (lms.can_view_stats(lms.current_principal(), user_id, content_id, NULL));

-- a pseudonymous role sees no row of lms.users
ALTER TABLE lms.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_visibility ON lms.users FOR SELECT
	USING (lms.can_view_user(lms.current_principal(), user_id) AND (SELECT lms._personal_data()));

-- A broad grant opens nothing: GRANT SELECT ON ALL TABLES IN SCHEMA lms,
-- default privileges or pg_read_all_data reach the relationship tables too.
-- Row-level security with no policy refuses every row to every role but
-- superusers and BYPASSRLS roles (the store's writers, the extension's own
-- SECURITY DEFINER functions): reads see nothing, writes fail.
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

CREATE POLICY content_visibility ON lms.content FOR SELECT
	USING (lms.can_view_content((SELECT lms.current_principal()), content_id));
CREATE POLICY group_members_visibility ON lms.group_members FOR SELECT
	USING (lms.can_view_group((SELECT lms.current_principal()), group_id)
		   AND lms.can_view_user((SELECT lms.current_principal()), user_id));
GRANT SELECT ON lms.content, lms.groups, lms.group_members TO PUBLIC;

GRANT USAGE ON SCHEMA lms TO PUBLIC;
GRANT SELECT ON lms.progress, lms.enrollments, lms.users TO PUBLIC;

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

------------------------------------------------------------------------------
-- lms.protect_table applies the rules to an application's own table
-- (doc/security.md, "Protecting an application's table").  PostgreSQL
-- applies a table's policies only to queries that name it, so a protected
-- table (one with the policy lms_visibility) gives the same policy, and
-- forced row-level security, to every descendant at every level, and an
-- event trigger to every partition or child created, attached or inherited
-- later.  A table detached or uninherited keeps its policy until its owner
-- drops it.
------------------------------------------------------------------------------

CREATE FUNCTION lms._distributed() RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_distributed' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION lms._distributed() IS
	'has lms.distribute() made lms.progress a Citus table';

-- lms._principal_arg() is the principal argument of a policy: an InitPlan,
-- evaluated once per statement, or on a Citus cluster (whose policies may
-- not hold subqueries) the call itself
CREATE FUNCTION lms._principal_arg() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN lms._distributed() THEN 'lms.current_principal()'
		   ELSE '(SELECT lms.current_principal())' END
$$;

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
-- run itself; the policy's principal argument is lms._principal_arg()
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
	using_expr := format('lms.can_view_stats(%s, %I, %I, %s)', lms._principal_arg(),
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

------------------------------------------------------------------------------
-- 7. Who may change teams (doc/team-management.md).  Through plain SQL, a
-- tenant's platform_admin manages its groups and memberships; a
-- learner_manager creates groups at the top level or below groups it
-- created, changes and deletes the groups it created and their members.
-- Everyone else is refused.  The rules are written once, in lms._may_write_group and
-- lms._may_write_members: the policies apply them, and the row trigger
-- team_rules applies them first, to refuse with SQLSTATE 42501 and a message
-- naming the group (a policy that filters an UPDATE or DELETE refuses
-- silently; one that fails a WITH CHECK names no row).  The trigger also
-- sets created_by.  The sync service (lms_writer), superusers and BYPASSRLS
-- roles, and the cascades of foreign keys, which run as the tables' owner,
-- write without these rules.
------------------------------------------------------------------------------

-- lms._local(rel) is this node's copy of table rel of the store: rel itself
-- on one node, its shard on a node of a Citus cluster, where a reference
-- table's rows are on every node.  The team rules below read it, so that
-- on a cluster each node checks a write against its own rows and never
-- starts a distributed query from inside the one that writes
-- (doc/citus.md, "Team writes").
CREATE FUNCTION lms._local(rel regclass) RETURNS regclass
	AS 'MODULE_PATHNAME', 'lms_local' LANGUAGE C STRICT STABLE;
REVOKE ALL ON FUNCTION lms._local(regclass) FROM PUBLIC;

-- lms._team_role(tenant) is what the principal of the transaction may do to
-- the teams of tenant: 'platform_admin', 'learner_manager', or NULL.
-- current_principal() is the caller's, not the definer's: it is resolved
-- for the role outside SECURITY DEFINER functions.
CREATE FUNCTION lms._team_role(tenant bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r text;
BEGIN
	EXECUTE format('SELECT CASE WHEN bool_or(r.role = %L) THEN %1$L WHEN bool_or(r.role = %2$L) THEN %2$L END '
		'FROM %3$s r JOIN %4$s u ON u.user_id = r.user_id WHERE r.user_id = lms.current_principal() AND u.tenant_id = $1',
		'platform_admin', 'learner_manager', lms._local('lms.tenant_roles'), lms._local('lms.users'))
		INTO r USING tenant;
	RETURN r;
END
$$;

-- lms._may_write_group(tenant, creator, parent) tells whether the principal
-- may hold a row of lms.groups of tenant, created by creator, below parent
-- (parent NULL: the check of the parent is not asked for, or the group is
-- at the top level)
CREATE FUNCTION lms._may_write_group(tenant bigint, creator bigint, parent bigint)
	RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ok boolean;
BEGIN
	CASE lms._team_role(tenant)
		WHEN 'platform_admin' THEN
			RETURN true;
		WHEN 'learner_manager' THEN
			IF creator IS DISTINCT FROM lms.current_principal() OR creator IS NULL THEN
				RETURN false;
			END IF;
			IF parent IS NULL THEN
				RETURN true;
			END IF;
			EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s g WHERE g.group_id = $1 AND g.created_by = $2)',
				lms._local('lms.groups')) INTO ok USING parent, creator;
			RETURN ok;
		ELSE
			RETURN false;
	END CASE;
END
$$;

-- lms._team_group(grp) is the tenant and the creator of group grp, as this
-- node's copy holds them (NULLs: no such group)
CREATE FUNCTION lms._team_group(grp bigint, OUT tenant bigint, OUT creator bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('SELECT g.tenant_id, g.created_by FROM %s g WHERE g.group_id = $1', lms._local('lms.groups'))
		INTO tenant, creator USING grp;
END
$$;
REVOKE ALL ON FUNCTION lms._team_group(bigint) FROM PUBLIC;

-- lms._may_write_members(grp) tells whether the principal may add or
-- remove members of group grp
CREATE FUNCTION lms._may_write_members(grp bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(CASE lms._team_role(g.tenant)
		WHEN 'platform_admin' THEN true
		WHEN 'learner_manager' THEN g.creator = lms.current_principal()
		END, false)
	FROM lms._team_group(grp) g
$$;

-- lms._group_in_use(grp) tells whether deleting group grp would delete or
-- change more than its memberships: roles, catalog entries, enrolments,
-- connections or the ownership of content, which this path cannot reach.
-- The trigger runs as the writer, which must be able to call this and
-- lms._lock_group: each answers only a principal with a say over the
-- group's tenant.
CREATE FUNCTION lms._group_in_use(grp bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	tenant bigint := (lms._team_group(grp)).tenant;
	used boolean;
BEGIN
	IF tenant IS NULL OR lms._team_role(tenant) IS NULL THEN
		RETURN NULL;
	END IF;
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE group_id = $1) OR EXISTS (SELECT 1 FROM %s WHERE group_id = $1) '
		'OR EXISTS (SELECT 1 FROM %s WHERE group_id = $1) '
		'OR EXISTS (SELECT 1 FROM %s WHERE group_id = $1 OR connected_group_id = $1) '
		'OR EXISTS (SELECT 1 FROM %s WHERE owner_group_id = $1)',
		lms._local('lms.group_roles'), lms._local('lms.catalog_entries'), lms._local('lms.group_enrollments'),
		lms._local('lms.group_connections'), lms._local('lms.content'))
		INTO used USING grp;
	RETURN used;
END
$$;

-- lms._lock_group(grp) locks the row of group grp against changes until
-- the end of the transaction, so that what a rule read of it (its creator,
-- its parent) holds when the write commits; NULL locks nothing
CREATE FUNCTION lms._lock_group(grp bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('SELECT 1 FROM %s g WHERE g.group_id = $1 AND lms._team_role(g.tenant_id) IS NOT NULL FOR SHARE OF g',
		lms._local('lms.groups')) USING grp;
END
$$;

CREATE FUNCTION lms._team_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p bigint;
	role text;
	grp bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = current_user
			   AND (r.rolsuper OR r.rolbypassrls OR pg_has_role(r.oid, 'lms_writer', 'USAGE'))) THEN
		RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	p := lms.current_principal();

	-- the table's name from the trigger: on a Citus node the rows are in a
	-- shard, whose name is not the table's
	IF TG_ARGV[0] = 'groups' THEN
		grp := CASE TG_OP WHEN 'INSERT' THEN NEW.group_id ELSE OLD.group_id END;
		role := lms._team_role(CASE TG_OP WHEN 'INSERT' THEN NEW.tenant_id ELSE OLD.tenant_id END);
		IF role IS NULL THEN
			RAISE EXCEPTION 'permission denied to % group %', lower(TG_OP), grp
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = CASE WHEN p IS NULL THEN 'The transaction has no principal.'
						   ELSE format('Principal %s is neither a platform_admin nor a learner_manager of the group''s tenant.', p) END;
		END IF;
		IF TG_OP = 'INSERT' THEN
			IF NEW.created_by IS DISTINCT FROM p AND NEW.created_by IS NOT NULL THEN
				RAISE EXCEPTION 'permission denied to set created_by of group %', grp
					USING ERRCODE = 'insufficient_privilege',
						  HINT = 'Leave created_by out: it is set to the principal that creates the group.';
			END IF;
			NEW.created_by := p;
			PERFORM lms._lock_group(NEW.parent_group_id);
			IF NOT lms._may_write_group(NEW.tenant_id, p, NEW.parent_group_id) THEN
				RAISE EXCEPTION 'permission denied to create group % below group %', grp, NEW.parent_group_id
					USING ERRCODE = 'insufficient_privilege',
						  DETAIL = 'A learner_manager creates groups at the top level or below groups it created.';
			END IF;
			RETURN NEW;
		END IF;
		IF NOT lms._may_write_group(OLD.tenant_id, OLD.created_by, NULL) THEN
			RAISE EXCEPTION 'permission denied to % group %', lower(TG_OP), grp
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'A learner_manager changes and deletes only the groups it created.';
		END IF;
		IF TG_OP = 'DELETE' THEN
			IF role = 'learner_manager' AND lms._group_in_use(grp) THEN
				RAISE EXCEPTION 'permission denied to delete group %', grp
					USING ERRCODE = 'insufficient_privilege',
						  DETAIL = 'The group has roles, catalog entries, enrolments, connections or content; only a platform_admin may delete it.';
			END IF;
			RETURN OLD;
		END IF;
		IF NEW.created_by IS DISTINCT FROM OLD.created_by THEN
			RAISE EXCEPTION 'permission denied to change created_by of group %', grp
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		IF NEW.parent_group_id IS DISTINCT FROM OLD.parent_group_id THEN
			PERFORM lms._lock_group(NEW.parent_group_id);
		END IF;
		IF NEW.parent_group_id IS DISTINCT FROM OLD.parent_group_id
		   AND NOT lms._may_write_group(NEW.tenant_id, NEW.created_by, NEW.parent_group_id) THEN
			RAISE EXCEPTION 'permission denied to move group % below group %', grp, NEW.parent_group_id
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'A learner_manager moves its groups to the top level or below groups it created.';
		END IF;
		RETURN NEW;
	END IF;

	-- group_members: the group a row leaves and the group it joins
	FOREACH grp IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY[NEW.group_id]
		WHEN 'DELETE' THEN ARRAY[OLD.group_id] ELSE ARRAY[OLD.group_id, NEW.group_id] END LOOP
		PERFORM lms._lock_group(grp);
		IF NOT lms._may_write_members(grp) THEN
			RAISE EXCEPTION 'permission denied to change the members of group %', grp
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = CASE WHEN p IS NULL THEN 'The transaction has no principal.'
						   ELSE 'A learner_manager changes the members of the groups it created only.' END;
		END IF;
	END LOOP;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- before tenant_guard (triggers fire in the order of their names), which
-- then checks the created_by it set
CREATE TRIGGER team_rules BEFORE INSERT OR UPDATE OR DELETE ON lms.groups
	FOR EACH ROW EXECUTE FUNCTION lms._team_rules('groups');
CREATE TRIGGER team_rules BEFORE INSERT OR UPDATE OR DELETE ON lms.group_members
	FOR EACH ROW EXECUTE FUNCTION lms._team_rules('group_members');
REVOKE ALL ON FUNCTION lms._team_rules() FROM PUBLIC;

-- A group the principal created is visible to it from the statement that
-- creates it (INSERT ... RETURNING): the cached group scope of that
-- statement does not hold it yet.  Creators are platform_admins and
-- learner_managers, who see every group of their tenant anyway; the second
-- test keeps a group from a creator who has lost that role.  coalesce makes
-- the test stop at the first false for the groups of others, or of nobody.
CREATE POLICY groups_visibility ON lms.groups FOR SELECT
	USING (lms.can_view_group((SELECT lms.current_principal()), group_id)
		   OR (coalesce(created_by = (SELECT lms.current_principal()), false)
			   AND lms._may_write_group(tenant_id, created_by, NULL)));
CREATE POLICY groups_insert ON lms.groups FOR INSERT
	WITH CHECK (lms._may_write_group(tenant_id, created_by, parent_group_id));
CREATE POLICY groups_update ON lms.groups FOR UPDATE
	USING (lms.can_view_group((SELECT lms.current_principal()), group_id))
	WITH CHECK (lms._may_write_group(tenant_id, created_by, NULL));
CREATE POLICY groups_delete ON lms.groups FOR DELETE
	USING (lms.can_view_group((SELECT lms.current_principal()), group_id));
CREATE POLICY group_members_insert ON lms.group_members FOR INSERT
	WITH CHECK (lms._may_write_members(group_id));
CREATE POLICY group_members_update ON lms.group_members FOR UPDATE
	USING (lms.can_view_group((SELECT lms.current_principal()), group_id))
	WITH CHECK (lms._may_write_members(group_id));
CREATE POLICY group_members_delete ON lms.group_members FOR DELETE
	USING (lms.can_view_group((SELECT lms.current_principal()), group_id));
GRANT INSERT, UPDATE, DELETE ON lms.groups, lms.group_members TO PUBLIC;

------------------------------------------------------------------------------
-- 8. Reports (doc/reference.md, "Functions")
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
				   assessment_score numeric, certificates bigint, learner_key text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	pd boolean := lms._personal_data();
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
	SELECT u.user_id, CASE WHEN pd THEN u.first_name END, CASE WHEN pd THEN u.last_name END,
		   CASE WHEN pd THEN u.email END,
		   count(a.user_id),
		   count(a.completed_at),
		   round(avg(a.score) FILTER (WHERE a.completed_at IS NOT NULL), 2),
		   count(a.certificate_issued_at),
		   CASE WHEN NOT pd THEN lms._learner_key(u.user_id) END
	FROM members m
	JOIN lms.users u ON u.user_id = m.user_id
	LEFT JOIN assigned a ON a.user_id = m.user_id
	GROUP BY u.user_id, u.first_name, u.last_name, u.email
	ORDER BY CASE WHEN pd THEN u.last_name END, CASE WHEN pd THEN u.first_name END, u.user_id;
END
$$;

-- The report rows in PL/pgSQL: Citus plans no SQL-function query with
-- parameters on a distributed table, and a worker must not read lms.secret
-- (a reference table) from inside its query on a shard.  The principal,
-- its personal-data flag and the pseudonyms' secret are read once, here,
-- and reach the query as values.
CREATE FUNCTION lms._report_rows(root bigint)
	RETURNS TABLE (first_name text, last_name text, email text, company text,
				   completed_at timestamptz, started_at timestamptz,
				   activated_at timestamptz, expires_at timestamptz, course_name text,
				   last_sign_in_at timestamptz, viewed_pct numeric, completed_pct numeric,
				   custom_fields jsonb, learner_key text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	p bigint := lms.current_principal();
	pd boolean := lms._personal_data();
	secret bytea;
	groups bigint[];
BEGIN
	IF NOT pd THEN
		SELECT s.key INTO secret FROM lms.secret s ORDER BY s.created_at LIMIT 1;
	END IF;
	IF root IS NOT NULL THEN
		groups := ARRAY(SELECT lms._subtree(root));
	END IF;
	RETURN QUERY
	SELECT CASE WHEN pd THEN u.first_name END, CASE WHEN pd THEN u.last_name END,
		   CASE WHEN pd THEN u.email END, CASE WHEN pd THEN u.company END,
		   pr.completed_at, pr.started_at, e.activated_at, e.expires_at, c.title,
		   u.last_sign_in_at, pr.viewed_pct, pr.completed_pct,
		   CASE WHEN pd THEN u.custom_fields END,
		   CASE WHEN NOT pd THEN encode(lms._hmac_sha256(secret, convert_to(u.user_id::text, 'UTF8')), 'hex') END
	FROM lms.progress pr
	JOIN lms.users u ON u.user_id = pr.user_id
	JOIN lms.content c ON c.content_id = pr.content_id
	LEFT JOIN lms.enrollments e ON e.user_id = pr.user_id AND e.content_id = pr.content_id
	WHERE lms.can_view_stats(p, pr.user_id, pr.content_id, pr.context_group_id)
	  AND (root IS NULL OR pr.user_id IN (
			SELECT m.user_id FROM lms.group_members m WHERE m.group_id = ANY (groups)))
	ORDER BY 2, 1, 14, 9;
END
$$;

CREATE FUNCTION lms.group_progress_report(group_id bigint)
	RETURNS TABLE (first_name text, last_name text, email text, company text,
				   completed_at timestamptz, started_at timestamptz,
				   activated_at timestamptz, expires_at timestamptz, course_name text,
				   last_sign_in_at timestamptz, viewed_pct numeric, completed_pct numeric,
				   custom_fields jsonb, learner_key text)
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
				   score numeric, certificate_issued_at timestamptz, last_activity_at timestamptz,
				   learner_key text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p bigint := lms.current_principal();
	pd boolean := lms._personal_data();
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
	SELECT pr.user_id, CASE WHEN pd THEN u.first_name END, CASE WHEN pd THEN u.last_name END,
		   CASE WHEN pd THEN u.email END, pr.context_group_id, pr.session_id,
		   pr.started_at, pr.completed_at, pr.viewed_pct, pr.completed_pct, pr.score,
		   pr.certificate_issued_at, pr.last_activity_at,
		   CASE WHEN NOT pd THEN lms._learner_key(u.user_id) END
	FROM lms.progress pr JOIN lms.users u ON u.user_id = pr.user_id
	WHERE pr.content_id = content_progress.content_id
	  AND lms.can_view_stats(p, pr.user_id, pr.content_id, pr.context_group_id)
	ORDER BY CASE WHEN pd THEN u.last_name END, CASE WHEN pd THEN u.first_name END, pr.user_id;
END
$$;

REVOKE ALL ON FUNCTION lms._subtree(bigint), lms._require_group_report(bigint) FROM PUBLIC;

------------------------------------------------------------------------------
-- 9. Accountability (doc/accountability.md): who can see a learner,
-- pseudonymous and expiring bindings, the bindings for DBAs, the audit
-- trail (the setting lms.audit, src/vis_audit.c), what a change will do,
-- and the relationship history
------------------------------------------------------------------------------

-- lms._require_trusted(what) raises 42501 unless the caller is a superuser
-- or a trusted role
CREATE FUNCTION lms._require_trusted(what text) RETURNS void
	AS 'MODULE_PATHNAME', 'lms_require_trusted' LANGUAGE C STRICT STABLE PARALLEL SAFE;

-- lms.who_can_see(u, c, x): the principals of u's tenant that see u's row
-- for content c played from context group x (no c: that have u in U(p)),
-- with the roles that put u in U(p).  The rule table read in reverse: from
-- u up (the tenant's platform_admins and learner_managers; the group roles
-- on u's groups and their ancestors, coaches of u's own groups; u's
-- managers up the chain; the trainers of the slots u registered in; the
-- instructors of the sessions u played; u itself as a contributor), never
-- every principal of the tenant.  Each candidate is then confirmed by the
-- forward rule (can_view_user, can_view_stats) on the node the function
-- runs on, so the answer cannot disagree with what the principal is shown.
CREATE FUNCTION lms.who_can_see(user_id bigint, content_id bigint DEFAULT NULL,
								context_group_id bigint DEFAULT NULL)
	RETURNS TABLE (principal bigint, roles text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	u bigint := who_can_see.user_id;
	c bigint := who_can_see.content_id;
	x bigint := who_can_see.context_group_id;
	played bigint[];
	k record;
BEGIN
	PERFORM lms._require_trusted('lms.who_can_see()');
	-- the sessions u played, alone: on a Citus cluster a query of
	-- lms.progress by its distribution column goes to the one node that
	-- holds u's rows, and the candidates below read reference tables only
	played := ARRAY(SELECT p.content_id FROM lms.progress p WHERE p.user_id = u
					UNION
					SELECT p.session_id FROM lms.progress p WHERE p.user_id = u AND p.session_id IS NOT NULL);
	FOR k IN
		WITH RECURSIVE
		mine AS (SELECT m.group_id FROM lms.group_members m WHERE m.user_id = u),
		up AS (
			SELECT mine.group_id FROM mine
			UNION
			SELECT g.parent_group_id FROM lms.groups g JOIN up ON g.group_id = up.group_id
			WHERE g.parent_group_id IS NOT NULL
		),
		bosses AS (
			SELECT m.manager_id FROM lms.managers m WHERE m.user_id = u
			UNION
			SELECT m.manager_id FROM lms.managers m JOIN bosses b ON m.user_id = b.manager_id
		),
		candidates AS (
			SELECT r.user_id AS who, r.role || ' of tenant ' || t.tenant_id AS why
			FROM lms.users t JOIN lms.users o ON o.tenant_id = t.tenant_id
			JOIN lms.tenant_roles r ON r.user_id = o.user_id
			WHERE t.user_id = u AND r.role IN ('platform_admin', 'learner_manager')
			UNION ALL
			SELECT gr.user_id, gr.role || ' of group ' || gr.group_id
			FROM lms.group_roles gr JOIN up ON up.group_id = gr.group_id
			WHERE gr.role IN ('group_admin', 'group_analyst', 'group_leader')
			UNION ALL
			SELECT gr.user_id, 'coach of group ' || gr.group_id
			FROM lms.group_roles gr JOIN mine ON mine.group_id = gr.group_id WHERE gr.role = 'coach'
			UNION ALL
			SELECT b.manager_id, 'manager' FROM bosses b WHERE b.manager_id <> u
			UNION ALL
			SELECT st.user_id, 'trainer of slot ' || st.slot_id
			FROM lms.slot_trainers st JOIN lms.slot_registrations sr ON sr.slot_id = st.slot_id
			WHERE sr.user_id = u
			UNION ALL
			SELECT si.user_id, 'instructor of session ' || si.session_id
			FROM lms.session_instructors si WHERE si.session_id = ANY (played)
			UNION ALL
			SELECT r.user_id, 'contributor (own results)' FROM lms.tenant_roles r
			WHERE r.user_id = u AND r.role = 'contributor'
		)
		SELECT cand.who, string_agg(DISTINCT cand.why, ', ') AS why
		FROM candidates cand GROUP BY cand.who ORDER BY cand.who
	LOOP
		-- confirmed here, on this node, by the forward rule
		IF (CASE WHEN c IS NULL THEN lms.can_view_user(k.who, u)
				 ELSE lms.can_view_stats(k.who, u, c, x) END) THEN
			principal := k.who;
			roles := k.why;
			RETURN NEXT;
		END IF;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION lms.who_can_see(bigint, bigint, bigint) FROM PUBLIC;

-- lms.preview(change): what a change of the store would do before it is
-- made (doc/accountability.md, "What a change will do").  The change runs
-- as the caller in a subtransaction that is always rolled back; each
-- principal of the tenants it touches whose U(p) or C(p) it would change
-- comes with the users and content it would gain and lose.  For superusers
-- and members of lms_writer (checked in C too).
CREATE FUNCTION lms.preview(change text)
	RETURNS TABLE (principal bigint, gained_users bigint[], lost_users bigint[],
				   gained_content bigint[], lost_content bigint[])
	AS 'MODULE_PATHNAME', 'lms_preview' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION lms.preview(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lms.preview(text) TO lms_writer;

-- lms.bindings: each bound or trusted role, for DBAs
CREATE VIEW lms.bindings WITH (security_invoker = true) AS
	SELECT coalesce(b.role, t.role) AS role, b.principal, b.personal_data, b.valid_until,
		   b.role IS NOT NULL AND (b.valid_until IS NULL OR b.valid_until > now()) AS active,
		   t.role IS NOT NULL AS trusted
	FROM lms.role_bindings b FULL JOIN lms.trusted_roles t ON t.role = b.role;
REVOKE ALL ON lms.bindings FROM PUBLIC;
COMMENT ON VIEW lms.bindings IS 'bound and trusted roles: principal, personal data, expiry';

-- the secret of the pseudonyms: superusers only (forced row-level
-- security, no policy, no grant); dumped with the store, so a restore keeps
-- the pseudonyms: the oldest row counts (a restore adds the dumped row to
-- the one CREATE EXTENSION made)
CREATE TABLE lms.secret (
	key			bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT clock_timestamp()
);
ALTER TABLE lms.secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.secret FORCE ROW LEVEL SECURITY;
REVOKE ALL ON lms.secret FROM PUBLIC;
INSERT INTO lms.secret (key)
	SELECT sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || clock_timestamp()::text
							 || random()::text, 'UTF8'));
SELECT pg_catalog.pg_extension_config_dump('lms.secret', '');

CREATE FUNCTION lms._hmac_sha256(key bytea, message bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'lms_hmac_sha256' LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

-- lms._learner_key(u): the pseudonym of user u, HMAC-SHA256 of its id under
-- the secret, in hex; for the export functions only
CREATE FUNCTION lms._learner_key(u bigint) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT encode(lms._hmac_sha256(s.key, convert_to(u::text, 'UTF8')), 'hex')
	FROM lms.secret s ORDER BY s.created_at LIMIT 1
$$;
REVOKE ALL ON FUNCTION lms._learner_key(bigint), lms._hmac_sha256(bytea, bytea) FROM PUBLIC;

-- The relationship history (doc/accountability.md, "What changed"): every
-- change of a relationship table of the store, kept with the time its
-- transaction committed and the role and principal that made it
-- (src/vis_history.c).  A row holds the row's key and the columns the rules
-- read of it, the columns the invalidation triggers watch, as JSON: new_row
-- after an insert or update, old_row before an update or delete.  Not
-- lms.progress (statistics, not relationships), not lms.path_steps (read by
-- no rule).  The setting lms.history (superuser) turns it off, for a
-- restore.  Readable by superusers alone (row-level security with no
-- policy, as for lms.secret: not through pg_read_all_data either); on a
-- Citus cluster each node keeps its own (doc/citus.md).
CREATE TABLE lms.history (
	id				bigserial PRIMARY KEY,
	committed_at	timestamptz NOT NULL,
	relation		text NOT NULL,
	change			text NOT NULL CONSTRAINT history_change_check CHECK (change IN ('insert', 'update', 'delete')),
	new_row			jsonb,
	old_row			jsonb,
	by_role			text,
	by_principal	bigint
);
CREATE INDEX history_committed_at_idx ON lms.history (committed_at);
COMMENT ON TABLE lms.history IS 'every change of the store''s relationships, with its commit time, role and principal';
ALTER TABLE lms.history ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.history FORCE ROW LEVEL SECURITY;
REVOKE ALL ON lms.history FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('lms.history', '');
SELECT pg_catalog.pg_extension_config_dump('lms.history_id_seq', '');

CREATE FUNCTION lms._record_history() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_record_history' LANGUAGE C;
CREATE FUNCTION lms._record_truncate() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_record_truncate' LANGUAGE C;
REVOKE ALL ON FUNCTION lms._record_history(), lms._record_truncate() FROM PUBLIC;

-- the history's triggers on each table with invalidation triggers but
-- lms.progress: deferred to the commit, with the columns of its UPDATE
-- trigger and of its primary key as arguments
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN
		SELECT g.tgrelid::regclass AS rel,
			(SELECT string_agg(quote_literal(a.attname), ', ' ORDER BY a.attnum)
			 FROM pg_attribute a
			 WHERE a.attrelid = g.tgrelid
			   AND (a.attnum = ANY (g.tgattr) OR a.attnum = ANY (
					SELECT unnest(i.indkey) FROM pg_index i WHERE i.indrelid = g.tgrelid AND i.indisprimary))) AS args,
			(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
			 FROM pg_attribute a WHERE a.attrelid = g.tgrelid AND a.attnum = ANY (g.tgattr)) AS watched,
			(SELECT string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', a.attname), ' OR ' ORDER BY a.attnum)
			 FROM pg_attribute a WHERE a.attrelid = g.tgrelid AND a.attnum = ANY (g.tgattr)) AS changed
		FROM pg_trigger g JOIN pg_class r ON r.oid = g.tgrelid
		WHERE g.tgname = 'invalidate_cache_update' AND r.relnamespace = 'lms'::regnamespace
		  AND r.relname <> 'progress'
		ORDER BY r.relname
	LOOP
		EXECUTE format('CREATE CONSTRAINT TRIGGER record_history AFTER INSERT OR DELETE ON %s '
			'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lms._record_history(%s)', t.rel, t.args);
		EXECUTE format('CREATE CONSTRAINT TRIGGER record_history_update AFTER UPDATE OF %s ON %s '
			'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (%s) EXECUTE FUNCTION lms._record_history(%s)',
			t.watched, t.rel, t.changed, t.args);
		EXECUTE format('CREATE TRIGGER record_history_truncate BEFORE TRUNCATE ON %s '
			'FOR EACH STATEMENT EXECUTE FUNCTION lms._record_truncate(%s)', t.rel, t.args);
	END LOOP;
END
$$;

-- lms.prune_history(before): drops the history committed before before,
-- and the rules at a past time with it; the rows dropped.  Superusers.
CREATE FUNCTION lms.prune_history(before timestamptz) RETURNS bigint
LANGUAGE plpgsql STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n bigint;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied to prune the history'
			USING ERRCODE = 'insufficient_privilege', HINT = 'Run lms.prune_history() as a superuser.';
	END IF;
	DELETE FROM lms.history h WHERE h.committed_at < before;
	GET DIAGNOSTICS n = ROW_COUNT;
	UPDATE lms.history_horizon h SET since = greatest(h.since, before);
	RETURN n;
END
$$;
COMMENT ON FUNCTION lms.prune_history(timestamptz) IS 'drop the history committed before the given time (superusers)';
REVOKE ALL ON FUNCTION lms.prune_history(timestamptz) FROM PUBLIC;

-- lms._alter_triggers(names, action): ALTER TABLE ... action TRIGGER for
-- each trigger of those names on the store's tables (not on a Citus
-- shard): the history's, DISABLE and ENABLE, for lms.distribute() while
-- Citus copies the store's rows
CREATE FUNCTION lms._alter_triggers(names text[], action text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t regclass;
	g text;
BEGIN
	-- one trigger per statement: Citus propagates no more
	FOR t, g IN SELECT g.tgrelid::regclass, g.tgname FROM pg_trigger g JOIN pg_class r ON r.oid = g.tgrelid
		WHERE g.tgname = ANY (names) AND r.relnamespace = 'lms'::regnamespace AND r.relname !~ '_[0-9]+$'
		ORDER BY r.relname, g.tgname LOOP
		EXECUTE format('ALTER TABLE %s %s TRIGGER %I', t, action, g);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION lms._alter_triggers(text[], text) FROM PUBLIC;

-- Where the history begins: at the install or upgrade, or at the last
-- prune_history().  One row, or after a restore two (the install's own and
-- the dumped one): the earliest counts.
CREATE TABLE lms.history_horizon (
	since	timestamptz NOT NULL
);
ALTER TABLE lms.history_horizon ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.history_horizon FORCE ROW LEVEL SECURITY;
REVOKE ALL ON lms.history_horizon FROM PUBLIC;
INSERT INTO lms.history_horizon VALUES (now());
SELECT pg_catalog.pg_extension_config_dump('lms.history_horizon', '');

-- The rules at a past time (doc/accountability.md, "Who could see, and
-- when").  lms._rewind(after, upto) undoes, in the calling transaction,
-- the history committed after after (and up to upto), newest first: an
-- insert deleted, a delete inserted again (a column the history does not
-- keep at its default, or empty where it has none), an update reverted.
-- Its callers set session_replication_role = replica for the undo and
-- the questions they then ask (once: a change of the setting empties the
-- plan cache), so that neither the integrity checks (the rows were valid
-- then), nor the team rules, nor the history's own triggers run; the
-- invalidation triggers fire ALWAYS, so the caches of this backend drop
-- what the undone rows touched.  The bindings and trusted roles are not
-- undone: they name who asks, not what the rules see.  The callers roll
-- the undo back, the setting with it, by raising LV000 in a block.
CREATE FUNCTION lms._rewind(after timestamptz, upto timestamptz DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h record;
	pkeys jsonb;	-- each table's key columns
	keys text;
	cols text;
	fill jsonb;
BEGIN
	IF current_setting('session_replication_role') <> 'replica' THEN
		RAISE EXCEPTION 'lms._rewind() runs with session_replication_role = replica';
	END IF;
	SELECT jsonb_object_agg(r.relname, (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
										FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)))
	INTO pkeys
	FROM pg_index i JOIN pg_class r ON r.oid = i.indrelid
	WHERE r.relnamespace = 'lms'::regnamespace AND i.indisprimary;
	FOR h IN SELECT * FROM lms.history
		WHERE committed_at > after AND (upto IS NULL OR committed_at <= upto)
		  AND relation NOT IN ('role_bindings', 'trusted_roles')
		ORDER BY id DESC LOOP
		keys := pkeys->>h.relation;
		IF h.change = 'insert' THEN
			EXECUTE format('DELETE FROM lms.%1$I WHERE (%2$s) = (SELECT %2$s FROM jsonb_populate_record(NULL::lms.%1$I, $1))',
				h.relation, keys) USING h.new_row;
		ELSIF h.change = 'update' THEN
			SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(h.old_row) k;
			EXECUTE format('UPDATE lms.%1$I SET (%3$s) = (SELECT %3$s FROM jsonb_populate_record(NULL::lms.%1$I, $2)) '
				'WHERE (%2$s) = (SELECT %2$s FROM jsonb_populate_record(NULL::lms.%1$I, $1))',
				h.relation, keys, cols) USING h.new_row, h.old_row;
		ELSE
			SELECT coalesce(jsonb_object_agg(a.attname, ''), '{}') INTO fill
			FROM pg_attribute a
			WHERE a.attrelid = format('lms.%I', h.relation)::regclass AND a.attnum > 0 AND NOT a.attisdropped
			  AND a.attnotnull AND NOT a.atthasdef AND NOT h.old_row ? a.attname;
			SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(fill || h.old_row) k;
			EXECUTE format('INSERT INTO lms.%1$I (%2$s) SELECT %2$s FROM jsonb_populate_record(NULL::lms.%1$I, $1) '
				'ON CONFLICT DO NOTHING', h.relation, cols) USING fill || h.old_row;
		END IF;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION lms._rewind(timestamptz, timestamptz) FROM PUBLIC;

-- lms._may_rewind(at, what): refuses to undo the history to at where it
-- cannot: on a hot standby, on a Citus cluster (the undo would write the
-- reference tables on every node), before the history begins
CREATE FUNCTION lms._may_rewind(at timestamptz, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	since timestamptz := (SELECT min(h.since) FROM lms.history_horizon h);
BEGIN
	IF pg_is_in_recovery() THEN
		RAISE EXCEPTION '% does not run on a hot standby', what
			USING ERRCODE = 'read_only_sql_transaction',
				  DETAIL = 'It undoes the later history in a subtransaction it rolls back, which writes.',
				  HINT = 'Ask the primary.';
	END IF;
	IF lms._distributed() THEN
		RAISE EXCEPTION '% does not run on a Citus cluster', what
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'It undoes the later history in a subtransaction, which would write every node''s copy of the store.',
				  HINT = 'Ask a single-node copy of the store.';
	END IF;
	IF at IS NULL OR at < since THEN
		RAISE EXCEPTION '% asks about %, before the history begins', what, coalesce(at::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The history begins at %s: the install or upgrade of the extension, or the last lms.prune_history().', since);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION lms._may_rewind(timestamptz, text) FROM PUBLIC;

-- lms.visible_users(p, at): U(p) as the relationships stood at at
CREATE FUNCTION lms.visible_users(principal bigint, at timestamptz) RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ids bigint[];
BEGIN
	PERFORM lms._require_trusted('lms.visible_users(principal, at)');
	PERFORM lms._may_rewind(at, 'lms.visible_users()');
	BEGIN
		PERFORM set_config('session_replication_role', 'replica', true);
		PERFORM lms._rewind(at);
		ids := lms.visible_user_ids(principal);
		RAISE EXCEPTION USING ERRCODE = 'LV000';
	EXCEPTION WHEN SQLSTATE 'LV000' THEN
		NULL;	-- the undo rolled back, the answer kept
	END;
	RETURN QUERY SELECT unnest(ids);
END
$$;
COMMENT ON FUNCTION lms.visible_users(bigint, timestamptz) IS 'U(p) as the relationships stood at the given time (superusers and trusted roles)';
REVOKE ALL ON FUNCTION lms.visible_users(bigint, timestamptz) FROM PUBLIC;

-- lms.can_view_stats(p, u, c, x, at): the row rule as the relationships
-- stood at at (the statistics rows as they are now)
CREATE FUNCTION lms.can_view_stats(principal bigint, user_id bigint, content_id bigint,
								   context_group_id bigint, at timestamptz) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	answer boolean;
BEGIN
	PERFORM lms._require_trusted('lms.can_view_stats(..., at)');
	PERFORM lms._may_rewind(at, 'lms.can_view_stats()');
	BEGIN
		PERFORM set_config('session_replication_role', 'replica', true);
		PERFORM lms._rewind(at);
		answer := lms.can_view_stats(principal, user_id, content_id, context_group_id);
		RAISE EXCEPTION USING ERRCODE = 'LV000';
	EXCEPTION WHEN SQLSTATE 'LV000' THEN
		NULL;
	END;
	RETURN answer;
END
$$;
COMMENT ON FUNCTION lms.can_view_stats(bigint, bigint, bigint, bigint, timestamptz) IS
	'the row rule as the relationships stood at the given time (superusers and trusted roles)';
REVOKE ALL ON FUNCTION lms.can_view_stats(bigint, bigint, bigint, bigint, timestamptz) FROM PUBLIC;

-- lms.who_could_see(u, from, to, c): every principal that could see
-- learner u (its row for content c, if given) at some moment of [from,
-- to], one row per period with the same roles: who_can_see over the store
-- as it stood at to, then before each change committed in (from, to],
-- newest first, in one undo.  could_see_until is NULL while the period
-- lasts at to.
CREATE FUNCTION lms.who_could_see(user_id bigint, "from" timestamptz, "to" timestamptz,
								  content_id bigint DEFAULT NULL)
	RETURNS TABLE (principal bigint, roles text, could_see_from timestamptz, could_see_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	u constant bigint := user_id;
	c constant bigint := content_id;
	seen jsonb := '[]';
	t timestamptz;
	t_end timestamptz;
BEGIN
	PERFORM lms._require_trusted('lms.who_could_see()');
	PERFORM lms._may_rewind("from", 'lms.who_could_see()');
	IF "to" IS NULL OR "to" < "from" THEN
		RAISE EXCEPTION 'the interval of lms.who_could_see() ends before it begins'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	BEGIN
		PERFORM set_config('session_replication_role', 'replica', true);
		PERFORM lms._rewind("to");
		-- the state since each change of the interval, newest first, then
		-- the state at from: each time the changes of the one after it undone
		t_end := NULL;
		FOR t IN SELECT DISTINCT h.committed_at FROM lms.history h
			WHERE h.committed_at > "from" AND h.committed_at <= "to"
			  AND h.relation NOT IN ('role_bindings', 'trusted_roles')
			UNION ALL SELECT "from"
			ORDER BY 1 DESC LOOP
			IF t_end IS NOT NULL THEN
				PERFORM lms._rewind(t, t_end);
			END IF;
			seen := seen || coalesce((SELECT jsonb_agg(jsonb_build_array(w.principal, w.roles, t, t_end))
									  FROM lms.who_can_see(u, c) w), '[]');
			t_end := t;
		END LOOP;
		RAISE EXCEPTION USING ERRCODE = 'LV000';
	EXCEPTION WHEN SQLSTATE 'LV000' THEN
		NULL;
	END;
	-- the states of one principal with the same roles, run together
	RETURN QUERY
	WITH s AS (
		SELECT (e->>0)::bigint AS p, e->>1 AS r, (e->>2)::timestamptz AS s_from, (e->>3)::timestamptz AS s_until
		FROM jsonb_array_elements(seen) e
	), edges AS (
		SELECT s.*, s_until IS DISTINCT FROM lag(s_from) OVER w AS starts
		FROM s WINDOW w AS (PARTITION BY p, r ORDER BY s_from DESC)
	), runs AS (
		SELECT edges.*, count(*) FILTER (WHERE starts) OVER (PARTITION BY p, r ORDER BY s_from DESC) AS run
		FROM edges
	)
	SELECT runs.p, runs.r, min(runs.s_from), (array_agg(runs.s_until ORDER BY runs.s_from DESC))[1]
	FROM runs GROUP BY runs.p, runs.r, runs.run ORDER BY 1, 3, 2;
END
$$;
COMMENT ON FUNCTION lms.who_could_see(bigint, timestamptz, timestamptz, bigint) IS
	'who could see the learner at some moment of the interval, with the roles and the periods (superusers and trusted roles)';
REVOKE ALL ON FUNCTION lms.who_could_see(bigint, timestamptz, timestamptz, bigint) FROM PUBLIC;

------------------------------------------------------------------------------
-- 10. Read your revocation on a replica (doc/consistency.md):
-- lms.consistency_token() on the primary after a change,
-- lms.await_token(token) on a standby before the read (src/vis_token.c)
------------------------------------------------------------------------------

CREATE FUNCTION lms.consistency_token() RETURNS text
	AS 'MODULE_PATHNAME', 'lms_consistency_token' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.consistency_token() IS
	'on the primary: a token for the store''s state after this session''s changes';

CREATE FUNCTION lms.await_token(token text, timeout_ms integer DEFAULT 5000) RETURNS void
	AS 'MODULE_PATHNAME', 'lms_await_token' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.await_token(text, integer) IS
	'on a standby: wait until the state of the token is replayed, or fail after timeout_ms';

------------------------------------------------------------------------------
-- 11. Scaling out on Citus (doc/citus.md).  lms.distribute() makes the
-- relationship store's tables reference tables (a copy on every node) and
-- distributes lms.progress by user_id.  The engine reads each node's own
-- shards (src/vis_citus.c), so a policy evaluated on a worker never runs a
-- distributed query; the store's triggers run on every shard, so a change
-- written through the coordinator invalidates on every node that holds a
-- copy of the row, at the commit of that node's part of the transaction.
------------------------------------------------------------------------------

-- itself: Citus copies a table's rows to other nodes in binary, OIDs and
-- all, when it creates a reference table, adds a node or moves a shard.
-- The bindings and trusted roles are therefore written through the
-- coordinator as statements, which name each role, and each node's
-- anchor trigger anchors them among its own roles.  lms._stash_roles()
-- moves the rows into the temporary tables lms_roles and lms_trusted,
-- lms._insert_roles() writes them back; lms._rewrite_roles() does both.
CREATE FUNCTION lms._insert_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT * FROM lms_roles LOOP
		EXECUTE format('INSERT INTO lms.role_bindings (role, principal, personal_data, valid_until) VALUES (%L::regrole, %s, %L, %L)',
					   r.role, r.principal, r.personal_data, r.valid_until);
	END LOOP;
	FOR r IN SELECT * FROM lms_trusted LOOP
		EXECUTE format('INSERT INTO lms.trusted_roles (role) VALUES (%L::regrole)', r.role);
	END LOOP;
END
$$;
CREATE FUNCTION lms._stash_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	CREATE TEMP TABLE lms_roles ON COMMIT DROP AS
		SELECT b.role::text AS role, b.principal, b.personal_data, b.valid_until FROM lms.role_bindings b;
	CREATE TEMP TABLE lms_trusted ON COMMIT DROP AS SELECT t.role::text AS role FROM lms.trusted_roles t;
	DELETE FROM lms.role_bindings;
	DELETE FROM lms.trusted_roles;
END
$$;
CREATE FUNCTION lms._rewrite_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM lms._stash_roles();
	PERFORM lms._insert_roles();
END
$$;
REVOKE ALL ON FUNCTION lms._stash_roles(), lms._insert_roles(), lms._rewrite_roles() FROM PUBLIC;

-- lms.distribute(shard_count) sets the store out on the Citus cluster this
-- database is the coordinator of.  Citus refuses, on distributed tables,
-- policies with subqueries (the principal argument becomes a plain call)
-- and, without citus.enable_unsafe_triggers, tables with triggers.  A
-- foreign key from a local table to a reference table would make Citus
-- convert the extension's tables one by one, so the keys are dropped on
-- every node first and added again once every table is distributed.
CREATE FUNCTION lms.distribute(shard_count integer DEFAULT 32) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fk record;
	pol record;
	tbl regclass;
	q text;
	c text;
	failed text;
	arg constant text := '\( SELECT (lms\.(current_principal|_personal_data))\(\) AS \2\)';
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied to distribute the store'
			USING ERRCODE = 'insufficient_privilege', HINT = 'Run lms.distribute() as a superuser.';
	END IF;
	IF shard_count IS NULL OR shard_count < 1 OR shard_count > 1024 THEN
		RAISE EXCEPTION 'shard_count must be between 1 and 1024, not %', shard_count
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'Citus is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Put citus in shared_preload_libraries and run CREATE EXTENSION citus on every node, then add the workers.';
	END IF;
	IF lms._distributed() THEN
		PERFORM lms._rewrite_roles();
		RAISE NOTICE 'the store is distributed already: its bindings and trusted roles were written again to every node';
		RETURN;
	END IF;
	IF (SELECT g.groupid FROM pg_dist_local_group g) <> 0 THEN
		RAISE EXCEPTION 'lms.distribute() runs on the coordinator'
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_dist_node n WHERE n.groupid = 0) THEN
		RAISE EXCEPTION 'the coordinator is not in the cluster''s metadata'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The coordinator must hold a copy of the reference tables to answer lms functions itself.',
				  HINT = 'SELECT citus_set_coordinator_host(host, port) first.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_dist_node n WHERE n.groupid <> 0 AND n.isactive) THEN
		RAISE EXCEPTION 'the cluster has no worker'
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'SELECT citus_add_node(host, port) first.';
	END IF;
	PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
	-- foreign keys to reference tables: one connection per node throughout
	PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);

	CREATE TEMP TABLE lms_foreign_keys ON COMMIT DROP AS
		SELECT k.conrelid::regclass AS rel, k.conname, pg_get_constraintdef(k.oid) AS def
		FROM pg_constraint k WHERE k.contype = 'f' AND k.connamespace = 'lms'::regnamespace;
	FOR fk IN SELECT * FROM lms_foreign_keys LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.conname);
		SELECT string_agg(r.nodename || ':' || r.nodeport || ': ' || r.result, '; ') INTO failed
		FROM run_command_on_workers(format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', fk.rel, fk.conname)) r
		WHERE NOT r.success;
		IF failed IS NOT NULL THEN
			RAISE EXCEPTION 'could not drop constraint % of % on the workers', fk.conname, fk.rel
				USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = failed,
					  HINT = 'Every node needs CREATE EXTENSION lms_visibility of the same version (Citus forwards it).';
		END IF;
	END LOOP;

	-- the store's policies and those of lms.protect_table, without subqueries
	FOR pol IN SELECT p.polrelid::regclass AS rel, p.polname,
			pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS chk
		FROM pg_policy p JOIN pg_class r ON r.oid = p.polrelid
		WHERE r.relnamespace = 'lms'::regnamespace OR p.polname = 'lms_visibility' LOOP
		q := regexp_replace(pol.qual, arg, '\1()', 'g');
		c := regexp_replace(pol.chk, arg, '\1()', 'g');
		IF q IS DISTINCT FROM pol.qual THEN
			EXECUTE format('ALTER POLICY %I ON %s USING (%s)', pol.polname, pol.rel, q);
		END IF;
		IF c IS DISTINCT FROM pol.chk THEN
			EXECUTE format('ALTER POLICY %I ON %s WITH CHECK (%s)', pol.polname, pol.rel, c);
		END IF;
	END LOOP;

	-- the copies Citus makes of the rows are not changes: no history, and
	-- no trigger events left pending on a shard an ALTER TABLE follows
	PERFORM lms._alter_triggers(ARRAY['record_history', 'record_history_update', 'record_history_truncate'], 'DISABLE');
	PERFORM lms._stash_roles();
	FOR tbl IN SELECT r.oid::regclass FROM pg_class r
		WHERE r.relnamespace = 'lms'::regnamespace AND r.relkind = 'r'
		  AND r.relname NOT IN ('progress', 'cache_proxy', 'history', 'history_horizon') ORDER BY r.oid LOOP
		PERFORM create_reference_table(tbl);
	END LOOP;
	PERFORM create_distributed_table('lms.progress', 'user_id', shard_count => shard_count);
	FOR fk IN SELECT * FROM lms_foreign_keys LOOP
		EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel, fk.conname, fk.def);
	END LOOP;
	FOR tbl IN SELECT p.logicalrelid FROM pg_dist_partition p
		JOIN pg_class r ON r.oid = p.logicalrelid WHERE r.relnamespace = 'lms'::regnamespace LOOP
		PERFORM truncate_local_data_after_distributing_table(tbl);
	END LOOP;
	PERFORM lms._insert_roles();
	PERFORM lms._alter_triggers(ARRAY['record_history', 'record_history_update', 'record_history_truncate'], 'ENABLE');
	-- team writes: Citus locks the reference tables a written row refers to
	-- (lms.tenants, lms.users) only for a role that may change them.  DELETE
	-- is that privilege; row-level security leaves a reader no row of them to
	-- delete (no policy for DELETE but the sync service's)
	GRANT DELETE ON lms.tenants, lms.users TO PUBLIC;
	-- SET LOCAL lms.principal reaches the workers only so
	EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = local', current_database());
END
$$;
REVOKE ALL ON FUNCTION lms.distribute(integer) FROM PUBLIC;
COMMENT ON FUNCTION lms.distribute(integer) IS
	'sets the store out on a Citus cluster: reference tables, lms.progress distributed by user_id';
