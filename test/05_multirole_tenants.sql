-- The expanded view (several roles add up), the limited view (users and
-- content are judged apart), and tenants: nothing of another tenant ever
-- counts, whatever rows exist.
BEGIN;
SELECT plan(18);
\set QUIET 1
\i sample/platform.sql
\set QUIET 0

-- expanded view: coach of Sales East + manager + trainer + instructor
INSERT INTO lms.managers VALUES (104, 129);
INSERT INTO lms.slot_trainers VALUES (507, 104);
INSERT INTO lms.session_instructors VALUES (502, 104);
SELECT set_eq('SELECT lms.visible_users(104)', ARRAY[110, 120, 121, 129, 123]::bigint[],
	'users of every role add up');
SELECT set_eq('SELECT content_id FROM lms.accessible_content(104)', ARRAY[502, 508, 509, 507]::bigint[],
	'content of every role adds up');
SELECT ok(lms.can_view_stats(104, 123, 507, 12), 'a user from one role (trainer) with content from another role works');
SELECT ok(NOT lms.can_view_stats(104, 129, 510, 30), 'a managed user''s row on content no role grants stays hidden (limited view)');
SELECT ok(NOT lms.can_view_stats(104, 125, 508, 13), 'granted content of a user no role reaches stays hidden (limited view)');

-- two group roles on nested groups do not double count, and coach + admin of the same group union
INSERT INTO lms.group_roles VALUES (11, 103, 'coach');
SELECT set_eq('SELECT lms.visible_users(103)', ARRAY[127, 120, 121, 110, 123, 125]::bigint[], 'admin + coach: union');

-- a principal whose roles span tenants through rows loaded with triggers off
SET LOCAL session_replication_role = replica;
INSERT INTO lms.group_roles VALUES (40, 103, 'group_admin');
INSERT INTO lms.group_members VALUES (11, 210);
INSERT INTO lms.catalog_entries VALUES (11, 601);
INSERT INTO lms.managers VALUES (109, 212);
INSERT INTO lms.tenant_roles VALUES (104, 'platform_admin');
INSERT INTO lms.group_enrollments VALUES (10, 603, 'legacy');
INSERT INTO lms.progress (user_id, content_id, context_group_id) VALUES (210, 601, 11);
SET LOCAL session_replication_role = origin;
SELECT is_empty('SELECT u FROM lms.visible_users(103) u WHERE u >= 200', 'a group role in another tenant grants no users');
SELECT is_empty('SELECT content_id FROM lms.accessible_content(103) WHERE content_id >= 600', 'nor content');
SELECT ok(NOT lms.can_view_user(104, 210), 'a foreign member of one''s group stays hidden');
-- rows written past the integrity triggers: start afresh
TRUNCATE lms.cache_proxy;
SELECT ok(NOT lms.can_view_user(103, 210), 'a foreign member of a group one coaches stays hidden');
INSERT INTO lms.users (user_id, tenant_id, first_name) VALUES (130, 1, 'Cora');
INSERT INTO lms.group_roles VALUES (11, 130, 'coach');
SELECT ok(NOT lms.can_view_user(130, 210) AND lms.can_view_user(130, 120),
	'the same for another coach, from the group''s members already in memory');
SELECT ok(NOT lms.can_view_user(109, 212), 'a foreign managed user stays hidden');
SELECT is_empty('SELECT content_id FROM lms.accessible_content(104) WHERE content_id >= 600',
	'a foreign catalog entry grants nothing; platform_admin covers its own tenant only');
SELECT is_empty('SELECT u FROM lms.visible_users(104) u WHERE u >= 200', 'platform_admin sees only its own tenant''s users');
SELECT ok(NOT lms.can_view_stats(104, 210, 601, 11), 'the cross-tenant progress row is hidden');

-- the same ids asked by tenant 2's admin
SELECT is_empty('SELECT u FROM lms.visible_users(201) u WHERE u < 200', 'tenant 2''s admin sees no user of tenant 1');
SELECT is_empty('SELECT content_id FROM lms.accessible_content(201) WHERE content_id < 600', 'nor content of tenant 1');

-- a platform_admin's row rule equals "both in the tenant"
SELECT is((SELECT count(*)::int FROM lms.progress p WHERE lms.can_view_stats(101, p.user_id, p.content_id, p.context_group_id)),
	(SELECT count(*)::int FROM lms.progress p JOIN lms.users u USING (user_id) JOIN lms.content c USING (content_id)
	 WHERE u.tenant_id = 1 AND c.tenant_id = 1),
	'platform_admin sees exactly the rows of its tenant');

SELECT * FROM finish();
ROLLBACK;
