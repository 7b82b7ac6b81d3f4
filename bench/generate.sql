-- bench/generate.sql: one tenant at a chosen scale.
--   psql -v users=100000 -v rows=1000000 -f bench/generate.sql
-- 10 divisions, each a deep tree of 100 groups (depth about 50); every user
-- is a member of one group; 2,000 content items (paths with sessions,
-- courses, classrooms with slots) owned by groups, a quarter listed in
-- catalogs; progress rows are random (user, content) pairs.
\set ON_ERROR_STOP 1
SELECT setseed(0.2026);
INSERT INTO lms.tenants VALUES (1, 'Bench', false);
INSERT INTO lms.users (user_id, tenant_id, first_name, last_name, email)
	SELECT i, 1, 'First' || i, 'Last' || i, 'user' || i || '@bench.test' FROM generate_series(1, :users) i;
-- division d (0..9), group d*100 + k (k = 1..100), parent within the division
INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id)
	SELECT d * 100 + k, 1, 'group ' || (d * 100 + k), CASE WHEN k > 1 THEN d * 100 + k - 1 - (k % 3 = 0)::int END
	FROM generate_series(0, 9) d, generate_series(1, 100) k ORDER BY k, d;
INSERT INTO lms.group_members SELECT 1 + (i % 1000) / 100 * 100 + (i::bigint * 7919 % 100), i FROM generate_series(1, :users) i;
INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id, owner_group_id)
	SELECT i, 1, CASE WHEN i <= 100 THEN 'path' WHEN i <= 1600 THEN 'course' ELSE 'classroom' END,
		'content ' || i, NULL, 1 + floor(random() * 1000)::int
	FROM generate_series(1, 1700) i;
INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id, owner_group_id)
	SELECT 1700 + i, 1, CASE WHEN i <= 200 THEN 'path_session' ELSE 'classroom_slot' END, 'child ' || i,
		CASE WHEN i <= 200 THEN 1 + (i - 1) / 2 ELSE 1601 + (i - 201) / 1 % 100 END, NULL
	FROM generate_series(1, 300) i;
INSERT INTO lms.catalog_entries SELECT 1 + floor(random() * 1000)::int, 101 + floor(random() * 1500)::int
	FROM generate_series(1, 500) ON CONFLICT DO NOTHING;
INSERT INTO lms.group_enrollments SELECT 1 + floor(random() * 1000)::int, 1 + floor(random() * 2000)::int,
	CASE WHEN random() < 0.5 THEN 'legacy' ELSE 'audience_builder' END FROM generate_series(1, 300) ON CONFLICT DO NOTHING;
-- principals: a platform admin, a group admin near the top of division 0's
-- deep tree, a coach, a manager of 50
INSERT INTO lms.users (user_id, tenant_id, first_name) VALUES (10000001, 1, 'Admin'), (10000002, 1, 'GroupAdmin'),
	(10000003, 1, 'Coach'), (10000004, 1, 'Manager'), (10000005, 1, 'DeepGroupAdmin');
INSERT INTO lms.tenant_roles VALUES (10000001, 'platform_admin');
-- group 3 sits two levels below the top of division 0 (98 of its 100
-- groups below it, 10% of all users); group 90 is deep down (1%)
INSERT INTO lms.group_roles VALUES (3, 10000002, 'group_admin'), (5, 10000003, 'coach'), (90, 10000005, 'group_admin');
INSERT INTO lms.managers SELECT 10000004, i FROM generate_series(1, 50) i;
-- progress
INSERT INTO lms.progress (user_id, content_id, context_group_id, started_at, completed_pct, score, last_activity_at)
	SELECT u, c, CASE WHEN random() < 0.9 THEN 1 + (u % 1000) / 100 * 100 + (u::bigint * 7919 % 100) END,
		now() - interval '1 day' * floor(random() * 300), floor(random() * 101), floor(random() * 101), now()
	FROM (SELECT 1 + floor(random() * :users)::int AS u, 1 + floor(random() * 2000)::int AS c
		  FROM generate_series(1, :rows)) x
	ON CONFLICT DO NOTHING;
ANALYZE;
