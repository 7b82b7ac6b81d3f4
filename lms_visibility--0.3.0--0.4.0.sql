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

	-- group_members
	IF TG_OP <> 'INSERT' THEN
		PERFORM lms._lock_group(OLD.group_id);
	END IF;
	IF TG_OP <> 'DELETE' THEN
		PERFORM lms._lock_group(NEW.group_id);
	END IF;
	IF TG_OP <> 'INSERT' AND NOT lms._may_write_members(OLD.group_id) THEN
		RAISE EXCEPTION 'permission denied to change the members of group %', OLD.group_id
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = CASE WHEN p IS NULL THEN 'The transaction has no principal.'
					   ELSE 'A learner_manager changes the members of the groups it created only.' END;
	END IF;
	IF TG_OP <> 'DELETE' AND NOT lms._may_write_members(NEW.group_id) THEN
		RAISE EXCEPTION 'permission denied to change the members of group %', NEW.group_id
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = CASE WHEN p IS NULL THEN 'The transaction has no principal.'
					   ELSE 'A learner_manager changes the members of the groups it created only.' END;
	END IF;
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
