-- What a change will do (doc/accountability.md, "What a change will do"):
-- lms.preview(change) against making the change and comparing what every
-- user of every tenant sees before and after it through today's functions
-- (visible_user_ids, accessible_content_ids), for memberships, roles, a
-- group moved, extended visibility, catalog, managers, a new user, a
-- change in another tenant and one in the generated platform; that it
-- never commits and leaves nothing of the hypothetical state in the cache;
-- which statements it refuses; who may call it.
BEGIN;
SELECT plan(32);
\set QUIET 1
\i sample/platform.sql
\i test/lib/generated_platform.sql
ANALYZE lms.progress, lms.enrollments, lms.users, lms.content;
SET LOCAL lms.cache_principals = 1000;
CREATE ROLE pv_reader;
CREATE ROLE pv_sneaky;
CREATE ROLE pv_sync;
GRANT lms_writer TO pv_sync;
GRANT EXECUTE ON FUNCTION lms.preview(text) TO pv_sneaky;
CREATE TEMP TABLE pv_other (x int);

-- what every user of the store sees, and the differences a change makes,
-- through today's functions: the change made and rolled back in a block
CREATE TEMP TABLE pv_scope AS SELECT tenant_id FROM lms.tenants;
CREATE FUNCTION pg_temp.seen() RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_object_agg(user_id, jsonb_build_array(lms.visible_user_ids(user_id),
													   lms.accessible_content_ids(user_id)))
	FROM lms.users WHERE tenant_id IN (SELECT tenant_id FROM pv_scope) $$;
CREATE FUNCTION pg_temp.minus(x jsonb, y jsonb) RETURNS bigint[] LANGUAGE sql AS $$
	SELECT coalesce(array_agg(e ORDER BY e), '{}')
	FROM jsonb_array_elements_text(coalesce(x, '[]')) t, LATERAL (SELECT t.value::bigint AS e) v
	WHERE NOT coalesce(y, '[]') @> to_jsonb(e) $$;
CREATE FUNCTION pg_temp.changed(change text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	b jsonb := pg_temp.seen();
	a jsonb;
BEGIN
	BEGIN
		EXECUTE change;
		a := pg_temp.seen();
		RAISE SQLSTATE 'LMSPV';
	EXCEPTION WHEN SQLSTATE 'LMSPV' THEN
	END;
	RETURN QUERY
	SELECT format('%s %s %s %s %s', k, pg_temp.minus(a->k->0, b->k->0), pg_temp.minus(b->k->0, a->k->0),
				  pg_temp.minus(a->k->1, b->k->1), pg_temp.minus(b->k->1, a->k->1))
	FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) ks(k)
	WHERE pg_temp.minus(a->k->0, b->k->0) <> '{}' OR pg_temp.minus(b->k->0, a->k->0) <> '{}'
	   OR pg_temp.minus(a->k->1, b->k->1) <> '{}' OR pg_temp.minus(b->k->1, a->k->1) <> '{}'
	ORDER BY k::bigint;
END $$;
CREATE FUNCTION pg_temp.previewed(change text) RETURNS SETOF text LANGUAGE sql AS $$
	SELECT format('%s %s %s %s %s', principal, gained_users, lost_users, gained_content, lost_content)
	FROM lms.preview(change) $$;

CREATE TEMP TABLE changes (n int, change text);
INSERT INTO changes VALUES
	(1, 'INSERT INTO lms.group_members VALUES (11, 115)'),
	(2, 'DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = 120'),
	(3, 'UPDATE lms.groups SET parent_group_id = 10 WHERE group_id = 30'),
	(4, 'INSERT INTO lms.group_roles VALUES (30, 104, ''group_admin'')'),
	(5, 'UPDATE lms.tenants SET extended_visibility = true WHERE tenant_id = 1'),
	(6, 'INSERT INTO lms.catalog_entries VALUES (12, 504)'),
	(7, 'DELETE FROM lms.managers WHERE manager_id = 109'),
	(8, 'INSERT INTO lms.users (user_id, tenant_id) VALUES (130, 1); INSERT INTO lms.group_members VALUES (12, 130)'),
	(9, 'INSERT INTO lms.group_members VALUES (41, 212)'),
	(10, 'DELETE FROM lms.group_members WHERE user_id % 7 = 0 AND group_id BETWEEN 901 AND 940'),
	(11, 'WITH r AS (DELETE FROM lms.group_roles WHERE user_id = 104 RETURNING group_id) '
		 'INSERT INTO lms.group_roles SELECT group_id, 106, ''coach'' FROM r'),
	(12, 'MERGE INTO lms.group_members m USING (VALUES (12, 115)) v(g, u) ON m.group_id = v.g AND m.user_id = v.u '
		 'WHEN NOT MATCHED THEN INSERT VALUES (v.g, v.u)');
-- under valgrind (scripts/test.sh): the sample's tenants only
\if :{?memcheck}
DELETE FROM pv_scope WHERE tenant_id NOT IN (1, 2);
UPDATE changes SET change = 'INSERT INTO lms.group_members VALUES (40, 212)' WHERE n = 10;
\endif
\set QUIET 0

SELECT is((SELECT count(*) FROM changes WHERE NOT EXISTS (SELECT FROM pg_temp.changed(change))), 0::bigint,
	'every change of the list changes what some principal sees');
SELECT is(array(SELECT pg_temp.previewed(change)), array(SELECT pg_temp.changed(change)),
	'preview agrees with making the change and comparing: ' || change)
FROM changes ORDER BY n;

-- one answer read in full: Bob joins Sales East
SELECT is(array(SELECT pg_temp.previewed('INSERT INTO lms.group_members VALUES (11, 115)')),
	ARRAY['103 {115} {} {} {}', '104 {115} {} {} {}', '105 {115} {} {} {}'],
	'Bob joining Sales East: its coach, and the group admin and analyst of Sales above it, gain him');
SELECT is((SELECT count(*) FROM lms.preview('INSERT INTO lms.group_members VALUES (41, 212)') p
		   JOIN lms.users u ON u.user_id = p.principal WHERE u.tenant_id <> 2), 0::bigint,
	'a change in tenant 2 names no principal of another tenant');

-- never committed, nothing of it cached: the coach's entry warm before
SELECT ok(NOT 115 = ANY (lms.visible_user_ids(104)), 'the coach does not see Bob');
SELECT is((SELECT count(*) FROM lms.preview('INSERT INTO lms.group_members VALUES (11, 115)')), 3::bigint,
	'a preview of Bob joining, in this session');
SELECT is((SELECT count(*) FROM lms.group_members WHERE group_id = 11 AND user_id = 115), 0::bigint,
	'after the preview, Bob is not a member');
SELECT ok(NOT 115 = ANY (lms.visible_user_ids(104)), 'and the coach, read again in the same session, does not see him');
SELECT is(array(SELECT pg_temp.changed('INSERT INTO lms.group_members VALUES (11, 115)')),
	array(SELECT pg_temp.previewed('INSERT INTO lms.group_members VALUES (11, 115)')),
	'and the same change made for real changes what the preview said');

-- what it refuses
SELECT throws_ok($$SELECT * FROM lms.preview('DROP TABLE lms.group_members')$$, '0A000',
	'lms.preview() does not run DROP TABLE', 'DDL is refused');
SELECT throws_ok($$SELECT * FROM lms.preview('TRUNCATE lms.group_members')$$, '0A000',
	'lms.preview() does not run TRUNCATE TABLE', 'TRUNCATE is refused');
SELECT throws_ok($$SELECT * FROM lms.preview('INSERT INTO lms.group_members VALUES (11, 115); COMMIT')$$, '0A000',
	'lms.preview() does not run COMMIT', 'a COMMIT among the statements is refused, and nothing runs');
SELECT throws_ok($$SELECT * FROM lms.preview('INSERT INTO lms.no_such_table VALUES (1)')$$, '42P01',
	'relation "no_such_table" does not exist', 'a table that does not exist is named');
SELECT throws_ok($$SELECT * FROM lms.preview('INSERT INTO pv_other VALUES (1)')$$, '42809',
	'lms.preview() changes only the tables of the store, not "pv_other"', 'DML on another table is refused');
SELECT throws_ok($$SELECT * FROM lms.preview('WITH d AS (DELETE FROM pv_other RETURNING x) INSERT INTO lms.group_members SELECT 11, 115')$$,
	'42809', 'lms.preview() changes only the tables of the store, not "pv_other"',
	'a data-modifying WITH on another table is refused');
SELECT throws_ok($$SELECT * FROM lms.preview('INSERT INTO lms.group_members SELECT 11, 115 FROM lms.preview(''DELETE FROM lms.managers'')')$$,
	'0A000', 'lms.preview() cannot run inside the change it previews', 'a preview inside the change is refused');
SELECT throws_ok($$SELECT * FROM lms.preview('INSERT INTO lms.group_members VALUES (11, 201)')$$, '23514',
	NULL, 'a change the store refuses (a user of tenant 2 in a group of tenant 1) fails with its own error');
SELECT is(array(SELECT pg_temp.previewed('INSERT INTO lms.group_members VALUES (11, 115)'))::text,
	'{"103 {115} {} {} {}","104 {115} {} {} {}","105 {115} {} {} {}"}',
	'and the next preview answers as before');

-- who may call it
SET LOCAL ROLE pv_reader;
SELECT throws_ok($$SELECT * FROM lms.preview('INSERT INTO lms.group_members VALUES (11, 115)')$$, '42501',
	NULL, 'PUBLIC cannot call it');
RESET ROLE;
SET LOCAL ROLE pv_sneaky;
SELECT throws_ok($$SELECT * FROM lms.preview('INSERT INTO lms.group_members VALUES (11, 115)')$$, '42501',
	'permission denied for lms.preview()', 'a role granted EXECUTE but not lms_writer is refused all the same');
RESET ROLE;
SET LOCAL ROLE pv_sync;
SELECT is((SELECT count(*) FROM lms.preview('INSERT INTO lms.group_members VALUES (11, 115)')), 3::bigint,
	'a member of lms_writer previews a change');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
