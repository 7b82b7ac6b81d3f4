/* lms_visibility--0.3.0--0.4.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lms_visibility UPDATE TO '0.4.0'" to load this file. \quit

------------------------------------------------------------------------------
-- The dimensions a BI tool joins the statistics to (SPEC.md 6): content by
-- C(p), groups by the principal's group scope, memberships by both.  A star
-- join of progress with content, group_members and groups then gives each
-- principal exactly its permitted intersection.
------------------------------------------------------------------------------

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

CREATE POLICY content_visibility ON lms.content FOR SELECT
	USING (lms.can_view_content((SELECT lms.current_principal()), content_id));
CREATE POLICY group_members_visibility ON lms.group_members FOR SELECT
	USING (lms.can_view_group((SELECT lms.current_principal()), group_id)
		   AND lms.can_view_user((SELECT lms.current_principal()), user_id));
GRANT SELECT ON lms.content, lms.groups, lms.group_members TO PUBLIC;

------------------------------------------------------------------------------
-- Who may change teams (SPEC.md 9).  Through plain SQL, a tenant's
-- platform_admin manages its groups and memberships; a learner_manager
-- creates groups at the top level or below groups it created, changes and
-- deletes the groups it created and their members.  Everyone else is
-- refused.  The rules are written once, in lms._may_write_group and
-- lms._may_write_members: the policies apply them, and the row trigger
-- team_rules applies them first, to refuse with SQLSTATE 42501 and a message
-- naming the group (a policy that filters an UPDATE or DELETE refuses
-- silently; one that fails a WITH CHECK names no row).  The trigger also
-- sets created_by.  The sync service (lms_writer), superusers and BYPASSRLS
-- roles, and the cascades of foreign keys, which run as the tables' owner,
-- write without these rules.
------------------------------------------------------------------------------

-- created_by: the principal that created the group; NULL: the platform (the
-- sync service, or a row older than 0.4.0).  Deleting that user keeps the
-- group, as the platform's.
ALTER TABLE lms.groups ADD COLUMN created_by bigint REFERENCES lms.users ON DELETE SET NULL;
CREATE INDEX groups_created_by_idx ON lms.groups (created_by);
DROP TRIGGER tenant_guard ON lms.groups;
CREATE TRIGGER tenant_guard BEFORE INSERT OR UPDATE ON lms.groups
	FOR EACH ROW EXECUTE FUNCTION lms._tenant_guard('tenant_id:tenant', 'parent_group_id:ancestor',
		'created_by:user');

-- lms._team_role(tenant) is what the principal of the transaction may do to
-- the teams of tenant: 'platform_admin', 'learner_manager', or NULL.
-- current_principal() is the caller's, not the definer's: it is resolved
-- for the role outside SECURITY DEFINER functions.
CREATE FUNCTION lms._team_role(tenant bigint) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN bool_or(r.role = 'platform_admin') THEN 'platform_admin'
				WHEN bool_or(r.role = 'learner_manager') THEN 'learner_manager' END
	FROM lms.tenant_roles r JOIN lms.users u ON u.user_id = r.user_id
	WHERE r.user_id = lms.current_principal() AND u.tenant_id = tenant
$$;

-- lms._may_write_group(tenant, creator, parent) tells whether the principal
-- may hold a row of lms.groups of tenant, created by creator, below parent
-- (parent NULL: the check of the parent is not asked for, or the group is
-- at the top level)
CREATE FUNCTION lms._may_write_group(tenant bigint, creator bigint, parent bigint)
	RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(CASE lms._team_role(tenant)
		WHEN 'platform_admin' THEN true
		WHEN 'learner_manager' THEN creator = lms.current_principal()
			AND (parent IS NULL OR EXISTS (SELECT 1 FROM lms.groups g
										   WHERE g.group_id = parent AND g.created_by = creator))
		END, false)
$$;

-- lms._may_write_members(grp) tells whether the principal may add or
-- remove members of group grp
CREATE FUNCTION lms._may_write_members(grp bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce((SELECT CASE lms._team_role(g.tenant_id)
		WHEN 'platform_admin' THEN true
		WHEN 'learner_manager' THEN g.created_by = lms.current_principal()
		END FROM lms.groups g WHERE g.group_id = grp), false)
$$;

-- lms._group_in_use(grp) tells whether deleting group grp would delete or
-- change more than its memberships: roles, catalog entries, enrolments,
-- connections or the ownership of content, which this path cannot reach.
-- The trigger runs as the writer, which must be able to call this and
-- lms._lock_group: each answers only a principal with a say over the
-- group's tenant.
CREATE FUNCTION lms._group_in_use(grp bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN EXISTS (SELECT 1 FROM lms.groups g
							 WHERE g.group_id = grp AND lms._team_role(g.tenant_id) IS NOT NULL) THEN
		EXISTS (SELECT 1 FROM lms.group_roles WHERE group_id = grp)
		OR EXISTS (SELECT 1 FROM lms.catalog_entries WHERE group_id = grp)
		OR EXISTS (SELECT 1 FROM lms.group_enrollments WHERE group_id = grp)
		OR EXISTS (SELECT 1 FROM lms.group_connections
				   WHERE group_id = grp OR connected_group_id = grp)
		OR EXISTS (SELECT 1 FROM lms.content WHERE owner_group_id = grp)
	END
$$;

-- lms._lock_group(grp) locks the row of group grp against changes until
-- the end of the transaction, so that what a rule read of it (its creator,
-- its parent) holds when the write commits; NULL locks nothing
CREATE FUNCTION lms._lock_group(grp bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM 1 FROM lms.groups g WHERE g.group_id = grp AND lms._team_role(g.tenant_id) IS NOT NULL
		FOR SHARE OF g;
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

	IF TG_TABLE_NAME = 'groups' THEN
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
	FOR EACH ROW EXECUTE FUNCTION lms._team_rules();
CREATE TRIGGER team_rules BEFORE INSERT OR UPDATE OR DELETE ON lms.group_members
	FOR EACH ROW EXECUTE FUNCTION lms._team_rules();
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
-- Accountability (SPEC.md 8): who can see a learner, pseudonymous and
-- expiring bindings, the bindings for DBAs, and the audit trail (the
-- setting lms.audit, src/vis_audit.c)
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
-- forward rule (can_view_user, can_view_stats), so the answer cannot
-- disagree with what the principal is shown.
CREATE FUNCTION lms.who_can_see(user_id bigint, content_id bigint DEFAULT NULL,
								context_group_id bigint DEFAULT NULL)
	RETURNS TABLE (principal bigint, roles text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	u bigint := who_can_see.user_id;
	c bigint := who_can_see.content_id;
	x bigint := who_can_see.context_group_id;
BEGIN
	PERFORM lms._require_trusted('lms.who_can_see()');
	RETURN QUERY
	WITH RECURSIVE
	mine AS (SELECT m.group_id FROM lms.group_members m WHERE m.user_id = u),
	up (group_id) AS (
		SELECT mine.group_id FROM mine
		UNION
		SELECT g.parent_group_id FROM lms.groups g JOIN up ON g.group_id = up.group_id
		WHERE g.parent_group_id IS NOT NULL
	),
	bosses (manager_id) AS (
		SELECT m.manager_id FROM lms.managers m WHERE m.user_id = u
		UNION
		SELECT m.manager_id FROM lms.managers m JOIN bosses b ON m.user_id = b.manager_id
	),
	candidates (principal, role) AS (
		SELECT r.user_id, r.role || ' of tenant ' || t.tenant_id
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
		FROM lms.session_instructors si
		WHERE EXISTS (SELECT 1 FROM lms.progress p WHERE p.user_id = u
					  AND (p.content_id = si.session_id OR p.session_id = si.session_id))
		UNION ALL
		SELECT r.user_id, 'contributor (own results)' FROM lms.tenant_roles r
		WHERE r.user_id = u AND r.role = 'contributor'
	)
	SELECT k.principal, string_agg(DISTINCT k.role, ', ')
	FROM candidates k
	WHERE CASE WHEN c IS NULL THEN lms.can_view_user(k.principal, u)
			   ELSE lms.can_view_stats(k.principal, u, c, x) END
	GROUP BY k.principal
	ORDER BY k.principal;
END
$$;
REVOKE ALL ON FUNCTION lms.who_can_see(bigint, bigint, bigint) FROM PUBLIC;

-- the bindings gain personal_data (false: a pseudonymous role) and
-- valid_until (after it the binding counts as absent)
ALTER TABLE lms.role_bindings ADD COLUMN personal_data boolean NOT NULL DEFAULT true,
	ADD COLUMN valid_until timestamptz;
DROP TRIGGER invalidate_cache_update ON lms.role_bindings;
CREATE TRIGGER invalidate_cache_update AFTER UPDATE OF role, principal, personal_data, valid_until
	ON lms.role_bindings FOR EACH ROW
	WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.principal IS DISTINCT FROM NEW.principal
		  OR OLD.personal_data IS DISTINCT FROM NEW.personal_data
		  OR OLD.valid_until IS DISTINCT FROM NEW.valid_until)
	EXECUTE FUNCTION lms._invalidate_rows();

DROP FUNCTION lms.bind_role(regrole, bigint);
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
REVOKE ALL ON FUNCTION lms.bind_role(regrole, bigint, boolean, timestamptz) FROM PUBLIC;

-- lms.bindings: each bound or trusted role, for DBAs
CREATE VIEW lms.bindings WITH (security_invoker = true) AS
	SELECT coalesce(b.role, t.role) AS role, b.principal, b.personal_data, b.valid_until,
		   b.role IS NOT NULL AND (b.valid_until IS NULL OR b.valid_until > now()) AS active,
		   t.role IS NOT NULL AS trusted
	FROM lms.role_bindings b FULL JOIN lms.trusted_roles t ON t.role = b.role;
REVOKE ALL ON lms.bindings FROM PUBLIC;
COMMENT ON VIEW lms.bindings IS 'bound and trusted roles: principal, personal data, expiry';

-- lms._personal_data() tells whether the running query may see names,
-- e-mails, company and custom fields: false for a pseudonymous role
CREATE FUNCTION lms._personal_data() RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_personal_data' LANGUAGE C STABLE PARALLEL SAFE;

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

-- a pseudonymous role sees no row of lms.users
DROP POLICY users_visibility ON lms.users;
CREATE POLICY users_visibility ON lms.users FOR SELECT
	USING (lms.can_view_user((SELECT lms.current_principal()), user_id) AND (SELECT lms._personal_data()));

-- the export surfaces: learner_key in place of names, e-mails, company and
-- custom fields for a pseudonymous role (NULL otherwise), ordered by it
DROP VIEW lms.progress_report;
DROP FUNCTION lms.group_progress_report(bigint);
DROP FUNCTION lms._report_rows(bigint);
CREATE FUNCTION lms._report_rows(root bigint)
	RETURNS TABLE (first_name text, last_name text, email text, company text,
				   completed_at timestamptz, started_at timestamptz,
				   activated_at timestamptz, expires_at timestamptz, course_name text,
				   last_sign_in_at timestamptz, viewed_pct numeric, completed_pct numeric,
				   custom_fields jsonb, learner_key text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN pd.ok THEN u.first_name END, CASE WHEN pd.ok THEN u.last_name END,
		   CASE WHEN pd.ok THEN u.email END, CASE WHEN pd.ok THEN u.company END,
		   pr.completed_at, pr.started_at, e.activated_at, e.expires_at, c.title,
		   u.last_sign_in_at, pr.viewed_pct, pr.completed_pct,
		   CASE WHEN pd.ok THEN u.custom_fields END,
		   CASE WHEN NOT pd.ok THEN lms._learner_key(u.user_id) END
	FROM (SELECT lms._personal_data() AS ok) pd, lms.progress pr
	JOIN lms.users u ON u.user_id = pr.user_id
	JOIN lms.content c ON c.content_id = pr.content_id
	LEFT JOIN lms.enrollments e ON e.user_id = pr.user_id AND e.content_id = pr.content_id
	WHERE lms.can_view_stats(lms.current_principal(), pr.user_id, pr.content_id, pr.context_group_id)
	  AND (root IS NULL OR pr.user_id IN (
			SELECT m.user_id FROM lms.group_members m WHERE m.group_id IN (SELECT lms._subtree(root))))
	ORDER BY 2, 1, 14, c.title
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

DROP FUNCTION lms.group_learners(bigint);
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

DROP FUNCTION lms.content_progress(bigint);
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

------------------------------------------------------------------------------
-- Read your revocation on a replica (SPEC.md 7): lms.consistency_token()
-- on the primary after a change, lms.await_token(token) on a standby
-- before the read (src/vis_token.c)
------------------------------------------------------------------------------

CREATE FUNCTION lms.consistency_token() RETURNS text
	AS 'MODULE_PATHNAME', 'lms_consistency_token' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.consistency_token() IS
	'on the primary: a token for the store''s state after this session''s changes';

CREATE FUNCTION lms.await_token(token text, timeout_ms integer DEFAULT 5000) RETURNS void
	AS 'MODULE_PATHNAME', 'lms_await_token' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.await_token(text, integer) IS
	'on a standby: wait until the state of the token is replayed, or fail after timeout_ms';
