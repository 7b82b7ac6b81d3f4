-- Parallel queries: workers answer from the leader's shared entry (or
-- build their own), always exactly as a serial plan would, and never from
-- an entry made stale by a change.
BEGIN;
SELECT plan(21);
\set QUIET 1
-- n learners on the first k of 20 courses; under valgrind (pg_prove -S
-- memcheck=1) fewer, still enough for the admin's entry to be shared (1,000
-- ids or more) and every course of the group roles' counts
\set n 3000
\set k 20
\if :{?memcheck}
\set n 1000
\set k 5
\endif
INSERT INTO lms.tenants VALUES (8, 'parallel', false);
INSERT INTO lms.users (user_id, tenant_id) SELECT 80000 + i, 8 FROM generate_series(1, :n) i;
INSERT INTO lms.groups VALUES (800, 8, 'top', NULL), (801, 8, 'sub', 800);
INSERT INTO lms.group_members SELECT 800 + i % 2, 80000 + i FROM generate_series(1, 600) i;
INSERT INTO lms.content SELECT 8000 + i, 8, 'course', 'c' || i, NULL, CASE WHEN i <= 5 THEN 801 END, NULL
	FROM generate_series(1, 20) i;
INSERT INTO lms.progress (user_id, content_id, context_group_id)
	SELECT 80000 + i, 8000 + j, 800 FROM generate_series(1, :n) i, generate_series(1, :k) j;
INSERT INTO lms.tenant_roles VALUES (80001, 'platform_admin');
INSERT INTO lms.group_roles VALUES (800, 80002, 'group_admin');
CREATE ROLE t_par_admin;
CREATE ROLE t_par_gadmin;
SELECT lms.bind_role('t_par_admin', 80001), lms.bind_role('t_par_gadmin', 80002);
ANALYZE lms.progress;
-- the setting that forces a parallel plan: debug_parallel_query, called
-- force_parallel_mode before PostgreSQL 16
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
	THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS force_parallel \gset
-- run a count with a forced parallel plan (the workers read every row; the
-- range scan a narrow principal may get is not parallel safe), or
-- serially; see whether workers ran
CREATE FUNCTION pg_temp.parallel(q text) RETURNS bigint LANGUAGE plpgsql
	SET max_parallel_workers_per_gather = 2 SET parallel_setup_cost = 0 SET parallel_tuple_cost = 0
	SET parallel_leader_participation = off SET :force_parallel = on
	SET min_parallel_table_scan_size = 0 SET enable_bitmapscan = off SET enable_indexscan = off
	SET lms.enable_rangescan = off
AS $$ DECLARE n bigint; BEGIN EXECUTE q INTO n; RETURN n; END $$;
CREATE FUNCTION pg_temp.serial(q text) RETURNS bigint LANGUAGE plpgsql
	SET max_parallel_workers_per_gather = 0
AS $$ DECLARE n bigint; BEGIN EXECUTE q INTO n; RETURN n; END $$;
CREATE FUNCTION pg_temp.workers_launched(q text) RETURNS boolean LANGUAGE plpgsql
	SET max_parallel_workers_per_gather = 2 SET parallel_setup_cost = 0 SET parallel_tuple_cost = 0
	SET parallel_leader_participation = off SET :force_parallel = on
	SET min_parallel_table_scan_size = 0 SET enable_bitmapscan = off SET enable_indexscan = off
	SET lms.enable_rangescan = off
AS $$
DECLARE l text; found boolean := false;
BEGIN
	-- a few tries: the slots of the previous queries' workers are freed
	-- only once the postmaster has reaped them
	FOR i IN 1 .. 5 LOOP
		FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ' || q LOOP
			found := found OR l ~ 'Workers Launched: [1-9]';
			IF i = 5 AND NOT found THEN
				RAISE NOTICE '%', l;
			END IF;
		END LOOP;
		EXIT WHEN found;
		PERFORM pg_sleep(0.2);
	END LOOP;
	RETURN found;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.parallel(text), pg_temp.serial(text), pg_temp.workers_launched(text) TO PUBLIC;
\set count 'SELECT count(*) FROM lms.progress'
\set QUIET 0

SET ROLE t_par_admin;
SELECT is(pg_temp.serial(:'count'), (:n * :k)::bigint, 'the tenant admin, serially: every row of its tenant');
RESET ROLE;
SELECT ok(NOT EXISTS (SELECT 1 FROM pg_ls_dir('pg_stat_tmp') f WHERE f = 'lms_visibility.' || pg_backend_pid() || '.80001'),
	'a serial query does not publish its entry for workers');
SET ROLE t_par_admin;
SELECT ok(pg_temp.workers_launched(:'count'), 'a forced parallel plan launches workers');
SELECT is(pg_temp.parallel(:'count'), (:n * :k)::bigint, 'the same with parallel workers');
-- the dimensions' policies in the workers: the group scope is shared too
-- (with a second tenant the admin no longer sees every row of the store,
-- so the workers test each membership against the shared scope)
RESET ROLE;
INSERT INTO lms.tenants VALUES (81, 'another', false);
SET ROLE t_par_admin;
SELECT is(pg_temp.serial('SELECT count(*) FROM lms.group_members'), 600::bigint,
	'the memberships of its tenant, serially');
SELECT is(pg_temp.parallel('SELECT count(*) FROM lms.group_members'), 600::bigint,
	'the same with parallel workers');
SELECT is(pg_temp.parallel('SELECT count(*) FROM lms.content'), 20::bigint,
	'its content, with parallel workers');
RESET ROLE;
SELECT ok(EXISTS (SELECT 1 FROM pg_ls_dir('pg_stat_tmp') f WHERE f = 'lms_visibility.' || pg_backend_pid() || '.80001'),
	'the large entry a parallel query used is published for the workers');
SET ROLE t_par_gadmin;
SELECT is(pg_temp.serial(:'count'), 3000::bigint, 'the group admin, serially: its 600 learners on 5 courses');
SELECT is(pg_temp.parallel(:'count'), 3000::bigint, 'the same with parallel workers');
RESET ROLE;

-- a change: the next parallel statement must not use the old shared entry
DELETE FROM lms.tenant_roles WHERE user_id = 80001;
SET ROLE t_par_admin;
SELECT is(pg_temp.parallel(:'count'), 0::bigint, 'after the revocation, parallel workers see nothing');
RESET ROLE;
INSERT INTO lms.group_roles VALUES (801, 80001, 'group_analyst');
SET ROLE t_par_admin;
SELECT is(pg_temp.parallel(:'count'), 1500::bigint, 'a new role: parallel workers follow');
SELECT is(pg_temp.serial(:'count'), 1500::bigint, 'as the serial plan does');
RESET ROLE;
-- a superuser asking about a principal: the leader does not resolve it at
-- plan time, so its stale entry must be refused by the workers themselves
\set count_of 'SELECT count(*) FROM lms.progress pr WHERE lms.can_view_stats(80003, pr.user_id, pr.content_id, pr.context_group_id)'
INSERT INTO lms.tenant_roles VALUES (80003, 'learner_manager');
SELECT is(pg_temp.parallel(:'count_of'), (:n * :k)::bigint, 'a superuser asks about a learner manager, in parallel');
DELETE FROM lms.tenant_roles WHERE user_id = 80003;
SELECT is(pg_temp.parallel(:'count_of'), 0::bigint, 'after the revocation the workers do not answer from the stale entry');

-- ids in two clusters far apart: U(p) is a chunked bitmap, not one array
-- of bits, and the workers read its chunks from the shared segment
RESET ROLE;
INSERT INTO lms.users (user_id, tenant_id) SELECT 900000000 + i, 8 FROM generate_series(1, 500) i;
INSERT INTO lms.groups VALUES (802, 8, 'far', NULL);
INSERT INTO lms.group_members SELECT 802, 80000 + i FROM generate_series(1, 600) i;
INSERT INTO lms.group_members SELECT 802, 900000000 + i FROM generate_series(1, 500) i;
INSERT INTO lms.content VALUES (8021, 8, 'course', 'far', NULL, 802, NULL);
INSERT INTO lms.progress (user_id, content_id, context_group_id)
	SELECT user_id, 8021, 802 FROM lms.group_members WHERE group_id = 802;
INSERT INTO lms.group_roles VALUES (802, 80004, 'group_admin');
CREATE ROLE t_par_far;
SELECT lms.bind_role('t_par_far', 80004);
SET ROLE t_par_far;
SELECT is(pg_temp.serial(:'count'), 1100::bigint, 'a group admin of members in two far clusters, serially');
SELECT ok(pg_temp.workers_launched(:'count'), 'its forced parallel plan launches workers');
SELECT is(pg_temp.parallel(:'count'), 1100::bigint, 'the same with parallel workers, from the shared chunks');
RESET ROLE;
SELECT ok(EXISTS (SELECT 1 FROM pg_ls_dir('pg_stat_tmp') f WHERE f = 'lms_visibility.' || pg_backend_pid() || '.80004'),
	'its entry was published for the workers');

-- a session-level principal is refused in a parallel plan as in a serial
-- one.  No row reaches the leader (no leader participation), a worker
-- takes lms.principal without the scope it was set with, and a generic
-- plan is not planned again (planning resolves the principal for its
-- estimates): the leader resolves the principal before the workers start.
CREATE ROLE t_par_app;
SELECT lms.trust_role('t_par_app');
SELECT count(*) AS admin_rows FROM lms.progress WHERE lms.can_view_stats(80001, user_id, content_id, context_group_id) \gset
SET ROLE t_par_app;
SET LOCAL lms.principal = '80001';
SET LOCAL plan_cache_mode = force_generic_plan;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL parallel_leader_participation = off;
SET LOCAL :force_parallel = on;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_indexscan = off;
SET LOCAL lms.enable_rangescan = off;
PREPARE par_count AS SELECT count(*) AS par_rows FROM lms.progress;
EXECUTE par_count \gset
SELECT is(:par_rows::bigint, :admin_rows::bigint, 'a trusted role acting for the tenant admin: its rows, by a parallel generic plan');
SET lms.principal = '80001';
SELECT throws_ok('EXECUTE par_count', '42501', NULL,
	'the same principal set for the session: its parallel generic plan is refused');
DEALLOCATE par_count;
RESET lms.principal;
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
