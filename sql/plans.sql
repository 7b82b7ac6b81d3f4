-- The plans the row-level security policies rely on: the store's policies
-- pass lms.current_principal() itself (the executor guard decides each row),
-- the dimensions' and lms.users' personal-data test resolve theirs once per
-- statement (an InitPlan), and the policy applies to every scan of the
-- protected tables.
SET ROLE NONE;
-- plan(query): its EXPLAIN (COSTS OFF), with an InitPlan's output named as
-- PostgreSQL 17 and later name it, "(InitPlan 1).col1", where 15 and 16
-- print a parameter ("$0", and "InitPlan 1 (returns $0)")
CREATE FUNCTION pg_temp.plan(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	lines text[] := '{}';
	m text[];
	l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		lines := lines || l;
	END LOOP;
	FOREACH l IN ARRAY lines LOOP
		FOR m IN SELECT regexp_matches(l, 'InitPlan (\d+) \(returns \$(\d+)\)') LOOP
			lines := ARRAY(SELECT replace(regexp_replace(x, '\$' || m[2] || '(?!\d)', '(InitPlan ' || m[1] || ').col1', 'g'),
										  ' (returns (InitPlan ' || m[1] || ').col1)', '')
						   FROM unnest(lines) WITH ORDINALITY AS u(x, i) ORDER BY i);
		END LOOP;
	END LOOP;
	RETURN QUERY SELECT x FROM unnest(lines) WITH ORDINALITY AS u(x, i) ORDER BY i;
END
$$;
CREATE ROLE lms_plan_reader;
SELECT lms.bind_role('lms_plan_reader', 103);
SET ROLE lms_plan_reader;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
EXPLAIN (COSTS OFF) SELECT * FROM lms.progress WHERE user_id = 120;
SELECT pg_temp.plan($$SELECT * FROM lms.users WHERE email = 'eve@acme.test'$$);
-- a user's non-leakproof predicate runs after the policy, never before it
EXPLAIN (COSTS OFF) SELECT * FROM lms.progress WHERE 1 / (score - 37) > 0;
-- scores 88 and 95 belong to rows hidden from this principal: no error
SELECT count(*) FROM lms.progress WHERE 1 / (score - 88) > 0;
SELECT count(*) FROM lms.progress WHERE 1 / (score - 95) > 0;
RESET ROLE;

-- with statistics, the planner support estimates the principal's share:
-- a narrow principal gets a range scan (src/vis_rangescan.c) of an index by
-- the runs of its visible ids, which tests the rule on each index tuple and
-- reads the heap only for the rows that pass; a tenant-wide one keeps the
-- sequential scan
SET max_parallel_workers_per_gather = 0;
-- (commits flushed at once: VACUUM marks a page all-visible only once its
-- rows' commits are on disk, which the test cluster's
-- synchronous_commit = off delays)
SET synchronous_commit = on;
INSERT INTO lms.tenants VALUES (5, 'planned', false);
INSERT INTO lms.users (user_id, tenant_id) SELECT 50000 + i, 5 FROM generate_series(1, 4000) i;
INSERT INTO lms.groups VALUES (500, 5, 'small', NULL);
INSERT INTO lms.group_members SELECT 500, 50000 + i FROM generate_series(1, 20) i;
INSERT INTO lms.content SELECT 5000 + i, 5, 'course', 'c' || i, NULL, 500, NULL FROM generate_series(1, 10) i;
INSERT INTO lms.progress (user_id, content_id) SELECT 50000 + i, 5000 + j FROM generate_series(1, 4000) i, generate_series(1, 10) j;
INSERT INTO lms.group_roles VALUES (500, 50001, 'group_admin');
INSERT INTO lms.tenant_roles VALUES (50002, 'platform_admin');
ANALYZE lms.users, lms.content, lms.progress;
CREATE ROLE lms_plan_narrow;
CREATE ROLE lms_plan_wide;
SELECT lms.bind_role('lms_plan_narrow', 50001) IS NULL, lms.bind_role('lms_plan_wide', 50002) IS NULL;
SET ROLE lms_plan_narrow;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
SELECT count(*) FROM lms.progress;
RESET ROLE;
SET ROLE lms_plan_wide;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
SELECT count(*) FROM lms.progress;
RESET ROLE;
-- once the table is vacuumed (all-visible), a query that needs only the
-- policy's columns is an index-only scan: the key (user_id, content_id)
-- INCLUDEs context_group_id, and the content index INCLUDEs user_id and
-- context_group_id; a query that needs other columns fetches the heap
VACUUM ANALYZE lms.progress;
SET ROLE lms_plan_narrow;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
SELECT count(*) FROM lms.progress;
EXPLAIN (COSTS OFF) SELECT user_id, content_id FROM lms.progress WHERE context_group_id IS NULL;
EXPLAIN (COSTS OFF) SELECT sum(score) FROM lms.progress;
-- the range scan returns rows in the index's order
EXPLAIN (COSTS OFF) SELECT user_id, content_id FROM lms.progress ORDER BY user_id, content_id;
SELECT user_id, content_id FROM lms.progress ORDER BY user_id, content_id LIMIT 3;
-- and runs again for each row of an outer query
SELECT pg_temp.plan($$SELECT u.user_id, (SELECT count(*) FROM lms.progress p WHERE p.content_id > u.user_id - 45000)
	FROM lms.users u WHERE u.user_id IN (50001, 50002)$$);
SELECT u.user_id, (SELECT count(*) FROM lms.progress p WHERE p.content_id > u.user_id - 45000)
	FROM lms.users u WHERE u.user_id IN (50001, 50002) ORDER BY 1;
-- without it (lms.enable_rangescan = off, any role may set it): an index
-- condition on the principal's ids
SET lms.enable_rangescan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
SELECT count(*) FROM lms.progress;
RESET lms.enable_rangescan;
RESET ROLE;
SET ROLE lms_plan_wide;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
RESET ROLE;
-- a principal who sees half the users but one content item: the index on
-- the content side, the one with fewer ids and fewer rows
INSERT INTO lms.groups VALUES (501, 5, 'half', NULL);
INSERT INTO lms.group_members SELECT 501, 50000 + i FROM generate_series(1, 2000) i;
INSERT INTO lms.content VALUES (5011, 5, 'course', 'one', NULL, 501, NULL);
INSERT INTO lms.progress (user_id, content_id) SELECT 50000 + i, 5011 FROM generate_series(1, 4000) i;
INSERT INTO lms.group_roles VALUES (501, 50003, 'group_admin');
VACUUM ANALYZE lms.progress;
SELECT FROM lms.bind_role('lms_plan_wide', 50003);
SET ROLE lms_plan_wide;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
SELECT count(*) FROM lms.progress;
SET lms.enable_rangescan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM lms.progress;
SELECT count(*) FROM lms.progress;
RESET lms.enable_rangescan;
RESET ROLE;
DROP OWNED BY lms_plan_narrow, lms_plan_wide;
SELECT lms.unbind_role('lms_plan_narrow') IS NULL, lms.unbind_role('lms_plan_wide') IS NULL;
DROP ROLE lms_plan_narrow;
DROP ROLE lms_plan_wide;
DELETE FROM lms.progress WHERE content_id > 5000;
DELETE FROM lms.group_roles WHERE group_id IN (500, 501);
DELETE FROM lms.tenant_roles WHERE user_id = 50002;
DELETE FROM lms.content WHERE tenant_id = 5;
DELETE FROM lms.groups WHERE tenant_id = 5;
DELETE FROM lms.users WHERE tenant_id = 5;
DELETE FROM lms.tenants WHERE tenant_id = 5;
RESET max_parallel_workers_per_gather;
RESET synchronous_commit;
DROP OWNED BY lms_plan_reader;
SELECT lms.unbind_role('lms_plan_reader');
DROP ROLE lms_plan_reader;
