-- The SQL that names roles on its own, held against the library's rule table
-- (lms._rules(), doc/development.md "A role is one entry of the rule table"):
-- the roles' CHECKs accept exactly the table's roles of their kind, and the
-- group reports admit exactly the roles whose group scope is the tenant or a
-- subtree.  A role added to the table and not to the SQL fails here.
BEGIN;
SELECT plan(5);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE t_app;
SELECT lms.trust_role('t_app');
-- one user per role of the table, holding it (a group role on group 10)
CREATE TEMP TABLE holder AS
	SELECT 9000 + row_number() OVER (ORDER BY name) AS user_id, name, held_on, group_scope
	FROM lms._rules() WHERE held_on IN ('tenant', 'group');
INSERT INTO lms.users (user_id, tenant_id) SELECT user_id, 1 FROM holder;
INSERT INTO lms.tenant_roles SELECT user_id, name FROM holder WHERE held_on = 'tenant';
INSERT INTO lms.group_roles SELECT 10, user_id, name FROM holder WHERE held_on = 'group';
INSERT INTO lms.users (user_id, tenant_id) VALUES (9100, 1);
GRANT SELECT ON holder TO t_app;

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
CREATE TEMP VIEW candidate AS SELECT name FROM lms._rules() UNION ALL SELECT 'owner';
\set QUIET 0

SELECT is((SELECT count(*)::int FROM lms._rules()), 13, 'the rule table has its 13 roles and relations');
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
RESET ROLE;
SELECT is_empty($$SELECT name FROM lms._rules() WHERE held_on NOT IN ('tenant', 'group', 'relation')
	OR group_scope NOT IN ('none', 'tenant', 'subtree', 'group')$$,
	'every role is held on a tenant, a group or a relation, with a group scope');

SELECT * FROM finish();
ROLLBACK;
