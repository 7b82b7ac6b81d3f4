-- src/vis_exec.c: in a database of one tenant, its platform_admin and
-- learner_manager skip the per-row check of the policies; other principals
-- run it inline (test/06 compares that with the plain-SQL rule).  The
-- answer must stay the policy's in every case: other principals, other
-- tenants, the scan's own quals, correlated principals, a principal changed
-- inside the statement, a revocation while a cursor is open, parallel
-- plans, application tables.
BEGIN;
SELECT plan(38);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE x_admin;
CREATE ROLE x_lmgr;
CREATE ROLE x_coach;
CREATE ROLE x_app;
SELECT lms.bind_role('x_admin', 101);
SELECT lms.bind_role('x_lmgr', 102);
SELECT lms.bind_role('x_coach', 104);
SELECT lms.trust_role('x_app');
CREATE FUNCTION pg_temp.scans() RETURNS bigint LANGUAGE sql AS 'SELECT shortcut_scans FROM lms.cache_stats()';
CREATE TEMP TABLE mark (n bigint);
CREATE FUNCTION pg_temp.skipped() RETURNS bigint LANGUAGE sql AS $$
	WITH d AS (SELECT pg_temp.scans() - coalesce((SELECT n FROM mark), 0) AS n),
		 u AS (UPDATE mark SET n = pg_temp.scans())
	SELECT n FROM d
$$;
INSERT INTO mark VALUES (0);
GRANT SELECT, UPDATE ON mark TO PUBLIC;
-- acts for principal 104 from inside a statement
CREATE FUNCTION pg_temp.act_for_coach() RETURNS text LANGUAGE sql AS
	$$ SELECT set_config('lms.principal', '104', true) $$;
\set QUIET 0

-- two tenants: no shortcut, the admin sees its own tenant only
SET ROLE x_admin;
SELECT is((SELECT count(*) FROM lms.progress),
	(SELECT count(*) FROM lms.progress pr WHERE lms.can_view_stats(101, pr.user_id, pr.content_id, pr.context_group_id)),
	'two tenants: the platform admin sees the rows of its tenant');
RESET ROLE;
SELECT ok((SELECT count(*) FROM lms.progress WHERE user_id >= 200) > 0, 'and the other tenant has rows');
SELECT is(pg_temp.skipped(), 0::bigint, 'while another tenant exists, no scan skips the check');

-- one tenant left
\set QUIET 1
DELETE FROM lms.progress WHERE user_id >= 200;
DELETE FROM lms.enrollments WHERE user_id >= 200;
DELETE FROM lms.content WHERE tenant_id = 2;
DELETE FROM lms.groups WHERE group_id = 41;
DELETE FROM lms.groups WHERE tenant_id = 2;
DELETE FROM lms.users WHERE tenant_id = 2;
DELETE FROM lms.tenants WHERE tenant_id = 2;
\set QUIET 0
SET ROLE x_admin;
SELECT is((SELECT count(*) FROM lms.progress), 16::bigint, 'one tenant: the admin sees every progress row');
SELECT is(pg_temp.skipped(), 1::bigint, 'the scan skipped the per-row check');
SELECT is((SELECT count(*) FROM lms.enrollments), 7::bigint, 'every enrollment');
SELECT is((SELECT count(*) FROM lms.users), 21::bigint, 'every user');
SELECT is(pg_temp.skipped(), 2::bigint, 'also without the check');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT is((SELECT count(*) FROM lms.users), 21::bigint, 'every user through an index-only scan');
SELECT is(pg_temp.skipped(), 1::bigint, 'also without the check');
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT is((SELECT count(*) FROM lms.progress WHERE score > 80), 4::bigint, 'the query''s own quals still apply');
SELECT is((SELECT array_agg(user_id ORDER BY user_id) FROM lms.progress WHERE content_id = 510),
	ARRAY[110, 111, 129]::bigint[], 'rows, not only counts');
RESET ROLE;
SET ROLE x_lmgr;
SELECT is((SELECT count(*) FROM lms.progress), 16::bigint, 'a learner manager too');
RESET ROLE;
SELECT is(pg_temp.skipped(), 3::bigint, 'with the shortcut');

-- anyone else keeps the check and its answer
SET ROLE x_coach;
SELECT is((SELECT count(*) FROM lms.progress), 3::bigint, 'the coach sees its 3 rows');
RESET ROLE;
SELECT is(pg_temp.skipped(), 0::bigint, 'through the per-row check');

-- a principal argument that is not the session's principal: the check runs
SET LOCAL lms.principal = 101;
CREATE TEMP VIEW per_principal AS
	SELECT u.user_id, (SELECT count(*) FROM lms.progress pr
					   WHERE lms.can_view_stats(u.user_id, pr.user_id, pr.content_id, pr.context_group_id)) AS n
	FROM lms.users u;
SET LOCAL lms.row_shortcut = off;
CREATE TEMP TABLE without_shortcut AS SELECT * FROM per_principal;
RESET lms.row_shortcut;
SELECT results_eq('SELECT * FROM per_principal ORDER BY 1', 'SELECT * FROM without_shortcut ORDER BY 1',
	'a correlated principal argument gets each principal''s own answer');
SELECT ok((SELECT count(DISTINCT n) > 3 FROM without_shortcut), 'and the answers differ between principals');
SELECT is((SELECT count(*) FROM lms.progress pr WHERE lms.can_view_stats(104, pr.user_id, pr.content_id, pr.context_group_id)),
	3::bigint, 'an explicit other principal gets its own answer');
RESET lms.principal;

-- the principal changes inside the statement, before the policy reads it
SET ROLE x_app;
SET LOCAL lms.principal = 101;
SELECT is((SELECT c FROM (SELECT pg_temp.act_for_coach() AS s, (SELECT count(*) FROM lms.progress) AS c) x),
	3::bigint, 'a principal changed inside the statement gets its own answer');
RESET lms.principal;
RESET ROLE;

-- the same from a narrow principal, whose rule runs inline
SET ROLE x_app;
SET LOCAL lms.principal = 103;
SELECT is((SELECT count(*) FROM lms.progress), 11::bigint, 'the group admin of Sales sees 11 rows');
SELECT is((SELECT c FROM (SELECT pg_temp.act_for_coach() AS s, (SELECT count(*) FROM lms.progress) AS c) x),
	3::bigint, 'a principal changed inside the statement gets its own answer, from a narrow principal too');
RESET lms.principal;
RESET ROLE;

-- one cached plan (PL/pgSQL's, generic after the fifth run), run for one
-- principal after another: each run decides for its own principal
CREATE TEMP TABLE prepared_runs (p bigint, n bigint);
GRANT INSERT, SELECT ON prepared_runs TO x_app;
CREATE FUNCTION pg_temp.run_prepared(q bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('lms.principal', q::text, true);
	INSERT INTO prepared_runs SELECT q, count(*) FROM lms.progress;
END $$;
SET ROLE x_app;
SELECT pg_temp.run_prepared(q) FROM (VALUES (103), (104), (101), (103), (104), (101), (103), (104), (101)) v(q);
RESET lms.principal;
RESET ROLE;
SELECT results_eq('SELECT DISTINCT p, n FROM prepared_runs ORDER BY p',
	$$VALUES (101::bigint, 16::bigint), (103, 11), (104, 3)$$,
	'the same statement, run again and again for changing principals, gives each its own count');
-- two scans of the store in one statement, each with its own guard
SET ROLE x_coach;
SELECT is((SELECT count(*) FROM lms.progress a JOIN lms.progress b USING (user_id)),
	(SELECT count(*) FROM lms.progress a JOIN lms.progress b USING (user_id)
	 WHERE lms.can_view_stats(104, a.user_id, a.content_id, a.context_group_id)
	   AND lms.can_view_stats(104, b.user_id, b.content_id, b.context_group_id)),
	'a self-join applies the rule to both sides');
RESET ROLE;

-- a revocation inside the transaction while a cursor is open: the fetches
-- after it follow it, inline or not (the cache reads the relationships as
-- last changed, not as of the cursor's snapshot), and so does the next
-- statement: the entry rebuilt for the cursor must not be an old one
CREATE FUNCTION pg_temp.fetch_rest(c refcursor) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	n int := 0;
	r record;
BEGIN
	LOOP
		FETCH c INTO r;
		EXIT WHEN NOT FOUND;
		n := n + 1;
	END LOOP;
	RETURN n;
END $$;
-- opens a cursor as the coach, fetches one row, revokes the coach's role
\set revoke_under_cursor 'SET ROLE x_coach; DECLARE cur CURSOR FOR SELECT user_id FROM lms.progress; MOVE cur; RESET ROLE; DELETE FROM lms.group_roles WHERE user_id = 104; SET ROLE x_coach;'
SAVEPOINT cursor_open;
:revoke_under_cursor
SELECT is(pg_temp.fetch_rest('cur'), 0, 'the coach''s role revoked while its cursor is open: no row after it');
SELECT is((SELECT count(*) FROM lms.progress), 0::bigint, 'and the next statement sees none');
RESET ROLE;
ROLLBACK TO cursor_open;
SET LOCAL lms.row_shortcut = off;
:revoke_under_cursor
SELECT is(pg_temp.fetch_rest('cur'), 0, 'the same through the function calls');
SELECT is((SELECT count(*) FROM lms.progress), 0::bigint, 'and the next statement sees none');
RESET ROLE;
ROLLBACK TO cursor_open;

-- the same for a binding: the role map reloaded during the fetch must not
-- be an old one either
SET ROLE x_coach;
DECLARE cur CURSOR FOR SELECT user_id FROM lms.progress;
MOVE cur;
RESET ROLE;
SELECT lms.unbind_role('x_coach');
SET ROLE x_coach;
SELECT is(pg_temp.fetch_rest('cur'), 0, 'a binding revoked while its cursor is open: no row after it');
SELECT is(lms.current_principal(), NULL, 'the role acts for no principal any more');
SELECT is((SELECT count(*) FROM lms.progress), 0::bigint, 'and sees no row');
RESET ROLE;
ROLLBACK TO cursor_open;

-- a revocation by a function inside the scan, which also rebuilds the
-- coach's entry: the inline rule must notice that its entry is gone (under
-- valgrind a use of the freed entry would be reported) and hide the rows
-- after the first
\i test/lib/revoke_roles.sql
SET ROLE x_coach;
SELECT is((SELECT count(*) FROM (SELECT user_id, pg_temp.revoke_roles(104) AS n FROM lms.progress) x WHERE n >= 0),
	1::bigint, 'a revocation inside the statement: the rows after it are hidden');
RESET ROLE;
ROLLBACK TO cursor_open;

-- parallel plans: the workers decide for themselves
SET ROLE x_admin;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SELECT is((SELECT count(*) FROM lms.progress), 16::bigint, 'a parallel scan sees every row too');
RESET ROLE;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- an application table has no foreign keys to the store: it keeps the check
CREATE TABLE public.x_scores (user_id bigint, content_id bigint, score int);
INSERT INTO public.x_scores VALUES (120, 504, 1), (999, 504, 2), (120, 999, 3);
SELECT lms.protect_table('public.x_scores', 'user_id', 'content_id');
GRANT SELECT ON public.x_scores TO x_admin;
SELECT pg_temp.skipped();
SET ROLE x_admin;
SELECT is((SELECT array_agg(score) FROM public.x_scores), ARRAY[1], 'an application table''s rows of unknown users or content stay hidden');
RESET ROLE;
SELECT is(pg_temp.skipped(), 0::bigint, 'it keeps the per-row check');

-- a second tenant appears: the shortcut is gone at once
INSERT INTO lms.tenants VALUES (3, 'Third', false);
INSERT INTO lms.users (user_id, tenant_id) VALUES (301, 3);
INSERT INTO lms.content (content_id, tenant_id, kind, title) VALUES (701, 3, 'course', 'Third course');
INSERT INTO lms.progress (user_id, content_id) VALUES (301, 701);
SET ROLE x_admin;
SELECT is((SELECT count(*) FROM lms.progress), 16::bigint, 'with a second tenant, its rows stay hidden');
RESET ROLE;
SELECT is(pg_temp.skipped(), 0::bigint, 'and no scan skips the check');

-- only a superuser may turn it off
SET ROLE x_coach;
SELECT throws_ok('SET lms.row_shortcut = off', '42501', NULL, 'lms.row_shortcut is for superusers');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
