-- Invalidation by fact (src/vis_inval.c): a write that changes no fact the
-- rules read keeps every cached entry; one that does drops exactly the
-- entries that read it, in its tenant only.  Then a property test: every
-- kind of store change, one at a time, each followed by every principal's
-- cached U(p) and C(p) against the plain-SQL implementation.
BEGIN;
SELECT plan(66);
\set QUIET 1
\i sample/platform.sql
\i bench/plain_rules.sql
\i test/lib/generated_platform.sql
ANALYZE lms.progress, lms.enrollments, lms.users, lms.content;
CREATE FUNCTION pg_temp.rebuilds() RETURNS bigint LANGUAGE sql AS 'SELECT rebuilds FROM lms.cache_stats()';
-- warm(ps) asks for U(p) and C(p) of each principal, and returns how many
-- entries that built
CREATE FUNCTION pg_temp.warm(ps bigint[]) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	before bigint := pg_temp.rebuilds();
	q bigint;
BEGIN
	FOREACH q IN ARRAY ps LOOP
		PERFORM count(*) FROM lms.visible_users(q);
		PERFORM count(*) FROM lms.accessible_content(q);
	END LOOP;
	RETURN pg_temp.rebuilds() - before;
END $$;
-- rebuilt_by(ps, stmt, undo) warms ps, runs stmt, and returns how many of
-- their entries the next warm rebuilds.  A backend that falls more than
-- 4,096 messages behind on the shared invalidation queue (the queue is
-- one for all databases: under valgrind, the other suites' writes fill it
-- while this backend computes) is reset and must flush everything, so a
-- nonzero count is tried twice more, after undo: a write that invalidates
-- the entries does so every time.
CREATE FUNCTION pg_temp.rebuilt_by(ps bigint[], stmt text, undo text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	FOR attempt IN 1..3 LOOP
		IF attempt > 1 AND undo IS NOT NULL THEN
			EXECUTE undo;
		END IF;
		PERFORM pg_temp.warm(ps);
		EXECUTE stmt;
		n := pg_temp.warm(ps);
		EXIT WHEN n = 0;
	END LOOP;
	RETURN n;
END $$;
\set QUIET 0

-- The sample: 113 instructs session 502, 103 is group_admin of Sales (10,
-- with subgroups 11 and 12), 105 group_analyst of Sales, 101 platform_admin,
-- 201 platform_admin of tenant 2.
\set sample '\'{101, 103, 104, 105, 106, 112, 113, 201, 202, 203}\'::bigint[]'
SELECT cmp_ok(pg_temp.warm(:sample), '>', 0::bigint, 'the sample''s principals are built once');
SELECT is(pg_temp.rebuilt_by(:sample, 'SELECT'), 0::bigint, 'and then come from the cache');

-- statistics writes: nothing the rules read
SELECT is(pg_temp.rebuilt_by(:sample, $q$UPDATE lms.progress SET viewed_pct = 50, completed_pct = 40, score = 77,
	last_activity_at = now(), certificate_issued_at = now(), completed_at = now()$q$), 0::bigint,
	'progress written (percentages, score, dates): no entry is rebuilt');
SELECT is(pg_temp.rebuilt_by(:sample, $q$UPDATE lms.enrollments SET activated_at = now(), expires_at = now() + interval '1 year'$q$),
	0::bigint, 'enrolment dates written: no entry is rebuilt');
SELECT is(pg_temp.rebuilt_by(:sample, $q$UPDATE lms.users SET last_sign_in_at = now(), company = 'Acme', custom_fields = '{"a": 1}'$q$),
	0::bigint, 'users'' personal data written: no entry is rebuilt');
SELECT is(pg_temp.rebuilt_by(:sample, $q$UPDATE lms.content SET title = title || ' (v2)';
	UPDATE lms.groups SET name = name || ' (renamed)'$q$), 0::bigint, 'titles and group names written: no entry is rebuilt');
SELECT is(pg_temp.rebuilt_by(:sample, 'INSERT INTO lms.progress (user_id, content_id, context_group_id) VALUES (127, 509, 10)',
	'DELETE FROM lms.progress WHERE user_id = 127 AND content_id = 509'), 0::bigint,
	'a first row on a course: no entry is rebuilt (no rule reads it)');

-- a learner's first row in a path session changes what its instructor sees
SELECT ok(NOT lms.can_view_user(113, 127), 'before: the instructor of session 502 does not see learner 127');
SELECT is(pg_temp.rebuilt_by('{101, 103, 104, 105, 106, 112, 201, 202, 203}',
	'INSERT INTO lms.progress (user_id, content_id, context_group_id) VALUES (127, 502, 10)',
	'DELETE FROM lms.progress WHERE user_id = 127 AND content_id = 502'), 0::bigint,
	'a first row on session 502: no entry but the instructor''s is rebuilt');
SELECT ok(lms.can_view_user(113, 127), 'and its instructor sees the learner from the next statement');
CREATE ROLE inval_instructor;
SELECT lms.bind_role('inval_instructor', 113);
SET ROLE inval_instructor;
SELECT ok(EXISTS (SELECT 1 FROM lms.progress WHERE user_id = 127 AND content_id = 502),
	'the instructor reads the new row through the policy');
RESET ROLE;
DELETE FROM lms.progress WHERE user_id = 127 AND content_id = 502;
SELECT ok(NOT lms.can_view_user(113, 127), 'the row deleted: the learner is gone from the instructor''s view');

-- assigned_by_group_id changes what group analysts see
SELECT ok(NOT lms.content_stats_access(105, 510), 'before: the group_analyst of Sales has no access to course 510');
INSERT INTO lms.enrollments (user_id, content_id, source, assigned_by_group_id) VALUES (127, 510, 'assigned', 12)
	ON CONFLICT (user_id, content_id) DO UPDATE SET assigned_by_group_id = 12, source = 'assigned';
SELECT ok(lms.content_stats_access(105, 510), 'a subgroup of Sales assigns course 510: the analyst gains it');
UPDATE lms.enrollments SET assigned_by_group_id = NULL WHERE user_id = 127 AND content_id = 510;
SELECT ok(NOT lms.content_stats_access(105, 510), 'the assignment taken back: the analyst loses it');

-- tenants are independent
SELECT pg_temp.warm(:sample) AS warmed \gset
SELECT is(pg_temp.rebuilt_by('{101, 103, 104, 105, 106, 112, 113}', $q$
	INSERT INTO lms.group_members SELECT g.group_id, u.user_id FROM lms.groups g, lms.users u
		WHERE g.tenant_id = 2 AND u.tenant_id = 2 ON CONFLICT DO NOTHING;
	INSERT INTO lms.group_roles SELECT g.group_id, 202, 'coach' FROM lms.groups g WHERE g.tenant_id = 2 ON CONFLICT DO NOTHING;
	UPDATE lms.tenants SET extended_visibility = NOT extended_visibility WHERE tenant_id = 2$q$), 0::bigint,
	'memberships, roles and the setting of tenant 2 changed: no entry of tenant 1 is rebuilt');
SELECT cmp_ok(pg_temp.warm('{201, 202, 203}'), '>', 0::bigint, 'tenant 2''s own entries are');

-- within a tenant, only the entries that read the changed fact
SELECT ok(NOT lms.can_view_user(103, 129), 'before: the group_admin of Sales does not see user 129');
SELECT is(pg_temp.rebuilt_by('{101, 112, 113}', 'INSERT INTO lms.group_members VALUES (12, 129)',
	'DELETE FROM lms.group_members WHERE group_id = 12 AND user_id = 129'), 0::bigint,
	'a member added to a sub-subgroup of Sales: the platform admin''s, slot trainer''s and instructor''s entries are kept');
SELECT ok(lms.can_view_user(103, 129), 'and its group_admin sees them');
SELECT ok(lms.can_view_user(101, 129) AND NOT lms.can_view_user(112, 129),
	'the platform admin and the slot trainer see as before');
DELETE FROM lms.group_members WHERE group_id = 12 AND user_id = 129;
SELECT ok(NOT lms.can_view_user(103, 129), 'the member removed: gone from the group_admin''s view');

-- a rolled-back change leaves nothing behind
SAVEPOINT s1;
INSERT INTO lms.group_members VALUES (12, 129);
SELECT ok(lms.can_view_user(103, 129), 'inside a savepoint: the new member is seen');
ROLLBACK TO SAVEPOINT s1;
SELECT ok(NOT lms.can_view_user(103, 129), 'after ROLLBACK TO SAVEPOINT: the entry built from it is gone');

-- the memory bound
SET LOCAL lms.cache_memory = '1MB';
SELECT pg_temp.warm(array_agg(user_id)) AS built FROM lms.users WHERE tenant_id = 9 \gset
SELECT cmp_ok((SELECT memory_bytes FROM lms.cache_stats()), '<=', (SELECT memory_limit_bytes FROM lms.cache_stats()),
	'300 principals through a 1 MB cache: it stays under its bound');
SELECT cmp_ok((SELECT evictions FROM lms.cache_stats()), '>', 0::bigint, 'by evicting the least recently used');
-- a platform admin of 5,000 users: more than a 64 kB cache holds
INSERT INTO lms.tenants VALUES (11, 'Large', false);
INSERT INTO lms.users (user_id, tenant_id) SELECT 110000 + i, 11 FROM generate_series(0, 5000) i;
INSERT INTO lms.tenant_roles VALUES (110000, 'platform_admin');
SET LOCAL lms.cache_memory = '64kB';
SELECT is((SELECT count(*) FROM lms.visible_users(110000)), 5001::bigint,
	'an entry larger than the whole bound is computed for its statement');
SELECT is((SELECT memory_bytes <= memory_limit_bytes FROM lms.cache_stats()), true,
	'and not kept; the bound lowered, the cache shrinks to it');
RESET lms.cache_memory;

-- Every kind of change, one statement at a time; after each, every
-- principal's U(p) and C(p) as cached against the plain-SQL rules.
CREATE TEMP TABLE principals AS SELECT user_id AS p, true AS checked FROM lms.users WHERE tenant_id IN (1, 2, 9)
	AND (user_id < 9000 OR user_id IN (SELECT user_id FROM lms.group_roles UNION SELECT user_id FROM lms.tenant_roles
		UNION SELECT manager_id FROM lms.managers UNION SELECT user_id FROM lms.session_instructors
		UNION SELECT user_id FROM lms.slot_trainers UNION SELECT user_id FROM lms.content_coauthors
		UNION SELECT main_author_id FROM lms.content)
		-- and those the changes below give a role or relation, 9015 and
		-- 9016 from none: their first entries are built without the tenant
		OR user_id BETWEEN 9010 AND 9025);
-- under valgrind (pg_prove -S memcheck=1) every principal is still rebuilt
-- after each change, and a sample compared with the plain-SQL rules (the
-- plain side is nine tenths of the time, and none of it this extension's)
\if :{?memcheck}
DELETE FROM principals WHERE p > 9000 AND p % 3 <> 0;
UPDATE principals SET checked = (p % 4 = 0);
\endif
-- the principals whose U(p) and C(p) as cached differ from the plain-SQL
-- rules' (every principal's read from the cache, the checked ones compared)
CREATE FUNCTION pg_temp.mismatches() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM (
		SELECT p, checked,
			(SELECT coalesce(md5(string_agg(u::text, ',' ORDER BY u)), '') FROM lms.visible_users(p) u) AS u,
			(SELECT coalesce(md5(string_agg(content_id || ':' || restricted, ',' ORDER BY content_id)), '')
			 FROM lms.accessible_content(p)) AS c
		FROM principals OFFSET 0) cached
	WHERE CASE WHEN checked THEN
		u IS DISTINCT FROM (SELECT coalesce(md5(string_agg(user_id::text, ',' ORDER BY user_id)), '')
							FROM lms_plain.visible_users(p))
		OR c IS DISTINCT FROM (SELECT coalesce(md5(string_agg(content_id || ':' || r, ',' ORDER BY content_id)), '')
							   FROM (SELECT content_id, bool_and(ctx IS NOT NULL) AS r
									 FROM lms_plain.content_grants(p) GROUP BY content_id) g)
		ELSE false END
$$;
SELECT is(pg_temp.mismatches(), 0::bigint, 'to start with: the cache agrees with the plain-SQL rules');
CREATE TEMP TABLE changes (n serial, what text, stmt text);
INSERT INTO changes (what, stmt) VALUES
	('a member added', $q$INSERT INTO lms.group_members SELECT 905, 9000 + i FROM generate_series(1, 300, 7) i ON CONFLICT DO NOTHING$q$),
	('members moved to another group', $q$UPDATE lms.group_members SET group_id = 903 WHERE group_id = 907 AND user_id NOT IN (SELECT user_id FROM lms.group_members WHERE group_id = 903)$q$),
	('members removed', $q$DELETE FROM lms.group_members WHERE group_id IN (911, 912)$q$),
	('a group moved under another', $q$UPDATE lms.groups SET parent_group_id = 901 WHERE group_id IN (920, 930)$q$),
	('a new subgroup with members', $q$WITH g AS (INSERT INTO lms.groups VALUES (941, 9, 'new', 902) RETURNING group_id) INSERT INTO lms.group_members SELECT 941, 9000 + i FROM g, generate_series(100, 140) i$q$),
	('group roles granted', $q$INSERT INTO lms.group_roles SELECT 900 + i, 9000 + i, 'group_admin' FROM generate_series(1, 40, 3) i ON CONFLICT DO NOTHING$q$),
	('group roles revoked', $q$DELETE FROM lms.group_roles WHERE role IN ('coach', 'editor') AND user_id % 2 = 0$q$),
	('a group role changed', $q$UPDATE lms.group_roles SET role = 'group_leader' WHERE role = 'group_analyst'$q$),
	('tenant roles', $q$INSERT INTO lms.tenant_roles VALUES (9010, 'learner_manager'), (9011, 'contributor') ON CONFLICT DO NOTHING$q$),
	('a tenant role revoked', $q$DELETE FROM lms.tenant_roles WHERE user_id = 9002$q$),
	('managers', $q$INSERT INTO lms.managers SELECT 9000 + i, 9000 + i + 1 FROM generate_series(1, 60, 5) i ON CONFLICT DO NOTHING$q$),
	('managers removed', $q$DELETE FROM lms.managers WHERE user_id % 3 = 0$q$),
	('content moved to another owner', $q$UPDATE lms.content SET owner_group_id = 904 WHERE tenant_id = 9 AND content_id % 4 = 0$q$),
	('content authored', $q$UPDATE lms.content SET main_author_id = 9012 WHERE content_id IN (90201, 90003)$q$),
	('new content', $q$INSERT INTO lms.content VALUES (90500, 9, 'course', 'new course', NULL, 905, 9013)$q$),
	('a learner made a main author', $q$UPDATE lms.content SET main_author_id = 9016 WHERE content_id = 90202$q$),
	('a content kind changed', $q$UPDATE lms.content SET kind = 'classroom' WHERE content_id = 90240$q$),
	('co-authors', $q$INSERT INTO lms.content_coauthors VALUES (90202, 9014), (90001, 9015) ON CONFLICT DO NOTHING$q$),
	('catalog entries added', $q$INSERT INTO lms.catalog_entries SELECT 900 + i, 90200 + i FROM generate_series(1, 40, 4) i ON CONFLICT DO NOTHING$q$),
	('catalog entries removed', $q$DELETE FROM lms.catalog_entries WHERE content_id % 3 = 0$q$),
	('group enrolments', $q$INSERT INTO lms.group_enrollments SELECT 900 + i, 90200 + i, 'legacy' FROM generate_series(2, 40, 5) i ON CONFLICT DO NOTHING$q$),
	('a group enrolment method changed', $q$UPDATE lms.group_enrollments SET method = CASE method WHEN 'legacy' THEN 'audience_builder' ELSE 'legacy' END$q$),
	('session instructors', $q$INSERT INTO lms.session_instructors VALUES (90101, 9020), (90102, 9021) ON CONFLICT DO NOTHING$q$),
	('slot trainers and registrations', $q$WITH t AS (INSERT INTO lms.slot_trainers VALUES (90401, 9022) ON CONFLICT DO NOTHING RETURNING 1) INSERT INTO lms.slot_registrations SELECT 90401, 9000 + i FROM generate_series(200, 230) i ON CONFLICT DO NOTHING$q$),
	('registrations removed', $q$DELETE FROM lms.slot_registrations WHERE user_id % 2 = 1$q$),
	('enrolments assigned by a group', $q$UPDATE lms.enrollments SET assigned_by_group_id = 906, source = 'assigned' WHERE user_id % 5 = 0 AND user_id > 9000$q$),
	('progress played in sessions', $q$INSERT INTO lms.progress (user_id, content_id, session_id) SELECT 9000 + i, 90001, 90101 + i % 2 FROM generate_series(240, 290) i ON CONFLICT DO NOTHING$q$),
	('progress moved to another session', $q$UPDATE lms.progress SET session_id = 90102 WHERE session_id = 90101$q$),
	('progress on a session deleted', $q$DELETE FROM lms.progress WHERE content_id BETWEEN 90101 AND 90120$q$),
	('public connections', $q$INSERT INTO lms.group_connections VALUES (901, 935), (910, 939) ON CONFLICT DO NOTHING$q$),
	('connections removed', $q$DELETE FROM lms.group_connections WHERE group_id % 2 = 0$q$),
	('extended visibility turned off', $q$UPDATE lms.tenants SET extended_visibility = false WHERE tenant_id = 9$q$),
	('a new tenant', $q$INSERT INTO lms.tenants VALUES (10, 'Another', false)$q$),
	('statistics only', $q$UPDATE lms.progress SET score = 1, viewed_pct = 2$q$);
-- each change in turn, and after it the principals that disagree
CREATE FUNCTION pg_temp.apply_all() RETURNS TABLE (k int, what text, bad bigint) LANGUAGE plpgsql AS $$
BEGIN
	FOR k, what IN SELECT n, c.what FROM changes c ORDER BY n LOOP
		EXECUTE (SELECT stmt FROM changes WHERE n = k);
		bad := pg_temp.mismatches();
		RETURN NEXT;
	END LOOP;
END $$;
SELECT is(bad, 0::bigint, 'after ' || what || ': every principal''s cached view equals the plain-SQL rules')
FROM pg_temp.apply_all() ORDER BY k;
SELECT is(pg_temp.rebuilt_by(array_agg(p), 'UPDATE lms.progress SET score = 3, viewed_pct = 4'), 0::bigint,
	'after a statistics-only write every entry comes from the cache')
FROM principals;

-- a principal with no role and no relation is built without its tenant's
-- structure, from the store's keys alone: becoming a main author reaches it
INSERT INTO lms.users (user_id, tenant_id) VALUES (9990, 9);
SELECT is((SELECT count(*) FROM lms.accessible_content(9990)), 0::bigint,
	'a learner with no role or relation sees no content');
UPDATE lms.content SET main_author_id = 9990 WHERE content_id = 90203;
SELECT is((SELECT count(*) FROM lms.accessible_content(9990) WHERE content_id = 90203), 1::bigint,
	'made the main author of a course, it sees the course from the next statement');

SELECT * FROM finish();
ROLLBACK;
