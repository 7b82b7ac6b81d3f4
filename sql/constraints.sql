-- The store refuses rows that would link two tenants, close a cycle or
-- break the content trees, with messages naming both ids.
CREATE EXTENSION lms_visibility;
\set SHOW_CONTEXT never
\set VERBOSITY default
\set ECHO none
\i sample/platform.sql
\set ECHO all

-- a member of another tenant's group
INSERT INTO lms.group_members (group_id, user_id) VALUES (40, 120);
-- content owned by another tenant's group
INSERT INTO lms.content (content_id, tenant_id, kind, title, owner_group_id) VALUES (900, 1, 'course', 'x', 40);
-- a subgroup under another tenant's group
INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (90, 2, 'x', 10);
-- a progress row whose context group belongs to another tenant
INSERT INTO lms.progress (user_id, content_id, context_group_id) VALUES (121, 508, 42);
-- a progress row whose session belongs to another tenant
INSERT INTO lms.progress (user_id, content_id, session_id) VALUES (211, 603, 502);
-- a manager of another tenant
INSERT INTO lms.managers (manager_id, user_id) VALUES (201, 120);
-- a public connection across tenants
INSERT INTO lms.group_connections (group_id, connected_group_id) VALUES (10, 42);
-- the same connection twice, once each way
INSERT INTO lms.group_connections (group_id, connected_group_id) VALUES (30, 11);
-- a cycle of groups
UPDATE lms.groups SET parent_group_id = 13 WHERE group_id = 10;
UPDATE lms.groups SET parent_group_id = 10 WHERE group_id = 10;
-- a cycle made inside one statement
INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (91, 1, 'a', 92), (92, 1, 'b', 91);
-- a session whose parent is not a path, a slot whose parent is not a classroom
INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id) VALUES (901, 1, 'path_session', 'x', 504);
INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id) VALUES (902, 1, 'classroom_slot', 'x', 501);
INSERT INTO lms.content (content_id, tenant_id, kind, title) VALUES (903, 1, 'path_session', 'x');
INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id) VALUES (904, 1, 'course', 'x', 501);
-- a session of the wrong kind for an instructor, a slot of the wrong kind
INSERT INTO lms.session_instructors (session_id, user_id) VALUES (504, 113);
INSERT INTO lms.slot_trainers (slot_id, user_id) VALUES (506, 112);
-- out-of-range statistics and unknown enumerations
INSERT INTO lms.progress (user_id, content_id, viewed_pct) VALUES (121, 508, 101);
INSERT INTO lms.progress (user_id, content_id, score) VALUES (121, 508, -1);
INSERT INTO lms.tenant_roles (user_id, role) VALUES (115, 'root');
INSERT INTO lms.content (content_id, tenant_id, kind, title) VALUES (905, 1, 'webinar', 'x');
-- a row's tenant never changes
UPDATE lms.users SET tenant_id = 2 WHERE user_id = 115;
-- deleting a user, group or content item with statistics is refused by
-- the store's foreign keys (ON DELETE RESTRICT: SQLSTATE 23503 up to
-- PostgreSQL 17, 23001 restrict_violation from 18, in other words)
CREATE FUNCTION pg_temp.refused(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	c text;
BEGIN
	EXECUTE stmt;
	RETURN 'not refused';
EXCEPTION WHEN foreign_key_violation OR restrict_violation THEN
	GET STACKED DIAGNOSTICS c = CONSTRAINT_NAME;
	RETURN 'refused by ' || c;
END
$$;
SELECT pg_temp.refused('DELETE FROM lms.users WHERE user_id = 120');
SELECT pg_temp.refused('DELETE FROM lms.content WHERE content_id = 504');
SELECT pg_temp.refused('DELETE FROM lms.groups WHERE group_id = 42');
-- a path with sessions keeps its kind
UPDATE lms.content SET kind = 'course' WHERE content_id = 501;
-- good rows still go in
INSERT INTO lms.group_members (group_id, user_id) VALUES (13, 121);
INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id, owner_group_id)
	VALUES (906, 1, 'path_session', 'Onboarding - March', 501, 11);
INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (93, 1, 'c', 94), (94, 1, 'd', NULL);
SELECT group_id, parent_group_id FROM lms.groups WHERE group_id IN (93, 94) ORDER BY 1;
