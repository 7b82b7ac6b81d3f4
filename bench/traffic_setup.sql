-- bench/traffic_setup.sql: what bench/traffic.sh adds to bench/generate.sql's
-- tenant 1 (psql -v users=N): principals of every kind in numbers, and a
-- second tenant of a tenth of the size.
--   group admins  20000001..20000500, each of one group of tenant 1
--   managers      21000001..21000500, each of 20 learners
--   tenant 2      users 30000001.., 100 groups, 200 courses, ~10 rows per user
\set ON_ERROR_STOP 1
SELECT setseed(0.77);
INSERT INTO lms.users (user_id, tenant_id, first_name)
	SELECT 20000000 + i, 1, 'GroupAdmin' || i FROM generate_series(1, 500) i;
INSERT INTO lms.group_roles SELECT 1 + (i * 7 % 1000), 20000000 + i, 'group_admin' FROM generate_series(1, 500) i;
INSERT INTO lms.users (user_id, tenant_id, first_name)
	SELECT 21000000 + i, 1, 'Manager' || i FROM generate_series(1, 500) i;
INSERT INTO lms.managers SELECT 21000000 + i, 1 + ((i * 20 + k) % :users) FROM generate_series(1, 500) i, generate_series(1, 20) k;

INSERT INTO lms.tenants VALUES (2, 'Second', false);
INSERT INTO lms.users (user_id, tenant_id, first_name)
	SELECT 30000000 + i, 2, 'T2 ' || i FROM generate_series(1, :users / 10) i;
INSERT INTO lms.groups SELECT 30000000 + k, 2, 't2 group ' || k, CASE WHEN k > 10 THEN 30000000 + (k - 1) / 10 END
	FROM generate_series(1, 100) k;
INSERT INTO lms.group_members SELECT 30000001 + i % 100, 30000000 + i FROM generate_series(1, :users / 10) i;
INSERT INTO lms.content (content_id, tenant_id, kind, title, owner_group_id)
	SELECT 30000000 + i, 2, 'course', 't2 course ' || i, 30000001 + i % 100 FROM generate_series(1, 200) i;
INSERT INTO lms.users (user_id, tenant_id, first_name) VALUES (39000001, 2, 'T2 admin'), (39000002, 2, 'T2 group admin');
INSERT INTO lms.tenant_roles VALUES (39000001, 'platform_admin');
INSERT INTO lms.group_roles VALUES (30000001, 39000002, 'group_admin');
INSERT INTO lms.progress (user_id, content_id, context_group_id, score, last_activity_at)
	SELECT 30000001 + floor(random() * (:users / 10))::int, 30000001 + floor(random() * 200)::int, NULL, 50, now()
	FROM generate_series(1, :users) ON CONFLICT DO NOTHING;

-- the application server's role, trusted to act for any principal
CREATE ROLE b_app LOGIN;
SELECT lms.trust_role('b_app');
GRANT SELECT ON lms.progress TO b_app;
ANALYZE;
