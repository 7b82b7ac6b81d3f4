-- The SQL that names roles on its own, held against the library's rule table
-- (lms._rules(), doc/development.md "A role is one entry of the rule table"):
-- the roles' CHECKs accept exactly the table's roles of their kind, the
-- group reports admit exactly the roles whose group scope is the tenant or a
-- subtree, team writes (lms._team_role and the team policies) allow exactly
-- what each role's teams field says, and who_can_see's reverse rules find
-- every holder of every role and relation that would show it a learner.  A
-- role added to the table and not to the SQL fails here.
BEGIN;
SELECT plan(9);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE t_app;
SELECT lms.trust_role('t_app');
-- one user per role of the table, holding it (a group role on group 10)
CREATE TEMP TABLE holder AS
	SELECT 9000 + row_number() OVER (ORDER BY name) AS user_id, name, held_on, group_scope, teams
	FROM lms._rules() WHERE held_on IN ('tenant', 'group');
INSERT INTO lms.users (user_id, tenant_id) SELECT user_id, 1 FROM holder;
INSERT INTO lms.tenant_roles SELECT user_id, name FROM holder WHERE held_on = 'tenant';
INSERT INTO lms.group_roles SELECT 10, user_id, name FROM holder WHERE held_on = 'group';
INSERT INTO lms.users (user_id, tenant_id) VALUES (9100, 1);
GRANT SELECT ON holder TO t_app;
-- learner 9100 in group 10, and a holder of each relation to it
INSERT INTO lms.group_members VALUES (10, 9100);
CREATE TEMP TABLE relation_holder (name text, user_id bigint);
INSERT INTO relation_holder VALUES ('manager', 9201), ('trainer', 9202), ('instructor', 9203);
INSERT INTO lms.users (user_id, tenant_id) SELECT user_id, 1 FROM relation_holder;
INSERT INTO lms.managers VALUES (9201, 9100);
INSERT INTO lms.slot_trainers VALUES (507, 9202);
INSERT INTO lms.slot_registrations VALUES (507, 9100);
INSERT INTO lms.session_instructors VALUES (502, 9203);
INSERT INTO lms.progress (user_id, content_id) VALUES (9100, 502);

-- accepts(t, role): whether the CHECK of table t accepts role
CREATE FUNCTION pg_temp.accepts(t text, role text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF t = 'tenant_roles' THEN
		INSERT INTO lms.tenant_roles VALUES (9100, role);
	ELSE
		INSERT INTO lms.group_roles VALUES (10, 9100, role);
	END IF;
	RAISE EXCEPTION 'accepted';
EXCEPTION
	WHEN check_violation THEN RETURN false;
	WHEN raise_exception THEN RETURN true;
END $$;

-- reports(p): whether principal p may run group_progress(10)
CREATE FUNCTION pg_temp.reports(p bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('lms.principal', p::text, true);
	PERFORM * FROM lms.group_progress(10);
	RETURN true;
EXCEPTION
	WHEN insufficient_privilege THEN RETURN false;
END $$;
-- writes(p, parent): whether principal p may create a group of tenant 1
-- below parent (NULL: at the top level)
CREATE FUNCTION pg_temp.writes(p bigint, parent bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('lms.principal', p::text, true);
	INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id)
		VALUES (900000 + p * 10 + (parent IS NULL)::int, 1, 'team of ' || p, parent);
	RAISE EXCEPTION 'written';
EXCEPTION
	WHEN insufficient_privilege THEN RETURN false;
	WHEN raise_exception THEN RETURN true;
END $$;
CREATE TEMP VIEW candidate AS SELECT name FROM lms._rules() UNION ALL SELECT 'owner';
\set QUIET 0

SELECT is((SELECT count(DISTINCT name)::int FROM lms._rules()), (SELECT count(*)::int FROM lms._rules()),
	'each role or relation of the rule table is named once');
SELECT set_eq('SELECT name FROM candidate WHERE pg_temp.accepts(''tenant_roles'', name)',
	$$SELECT name FROM lms._rules() WHERE held_on = 'tenant'$$,
	'tenant_roles accepts exactly the roles the table holds on a tenant');
SELECT set_eq('SELECT name FROM candidate WHERE pg_temp.accepts(''group_roles'', name)',
	$$SELECT name FROM lms._rules() WHERE held_on = 'group'$$,
	'group_roles accepts exactly the roles the table holds on a group');
SET ROLE t_app;
SELECT set_eq('SELECT name FROM holder WHERE pg_temp.reports(user_id)',
	$$SELECT name FROM holder WHERE group_scope IN ('tenant', 'subtree')$$,
	'group reports admit exactly the roles whose group scope is the tenant or a subtree');
SELECT set_eq('SELECT h.name FROM holder h WHERE pg_temp.writes(h.user_id, NULL)',
	$$SELECT name FROM holder WHERE teams IN ('all', 'created')$$,
	'a group at the top level is created by exactly the roles the table lets change teams');
SELECT set_eq('SELECT h.name FROM holder h WHERE pg_temp.writes(h.user_id, 10)',
	$$SELECT name FROM holder WHERE teams = 'all'$$,
	'a group below a group the principal did not create is created by exactly the roles the table lets change all teams');
RESET ROLE;
SELECT set_eq($$SELECT name FROM relation_holder$$,
	$$SELECT name FROM lms._rules() WHERE held_on = 'relation' AND adds_users$$,
	'every relation that adds users has a holder in this test');
SELECT set_eq($$SELECT h.name FROM lms.who_can_see(9100) w
				JOIN (SELECT name, user_id FROM holder UNION ALL SELECT name, user_id FROM relation_holder) h
				ON h.user_id = w.principal$$,
	$$SELECT name FROM lms._rules() WHERE adds_users AND (group_scope <> 'none' OR held_on = 'relation')$$,
	'who_can_see finds the holder of every role and relation that adds a learner of its group');
SELECT is_empty($$SELECT name FROM lms._rules() WHERE held_on NOT IN ('tenant', 'group', 'relation')
	OR group_scope NOT IN ('none', 'tenant', 'subtree', 'group') OR teams NOT IN ('none', 'all', 'created')
	OR (teams <> 'none' AND held_on <> 'tenant')$$,
	'every role is held on a tenant, a group or a relation, with a group scope, and only tenant roles change teams');

SELECT * FROM finish();
ROLLBACK;
