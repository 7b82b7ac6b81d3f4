-- Thinking like an attacker with a SQL login: hijacking names on the
-- search_path, side channels through errors, EXPLAIN and explain_visibility,
-- settings, and objects that would run as their owner.
BEGIN;
SELECT plan(22);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE t_attacker;
SELECT lms.bind_role('t_attacker', 104);	-- the coach of Sales East
CREATE SCHEMA evil AUTHORIZATION t_attacker;
\set QUIET 0

-- nothing is falsely LEAKPROOF; every SECURITY DEFINER function pins search_path
SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'lms'::regnamespace AND proleakproof), 0,
	'no lms function claims to be leakproof');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE pronamespace = 'lms'::regnamespace AND prosecdef
		   AND NOT coalesce(proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)), 0,
	'every SECURITY DEFINER function pins search_path to pg_catalog, pg_temp');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relnamespace = 'lms'::regnamespace AND relkind = 'v'
		   AND NOT coalesce(reloptions @> ARRAY['security_invoker=true'], false)), 0,
	'no view of the extension runs as its owner');

SET ROLE t_attacker;
SELECT is((SELECT count(*)::int FROM lms.progress), 3, 'the attacker''s own slice: 3 rows');

-- hijack attempts through objects on the attacker's search_path
CREATE FUNCTION evil.current_principal() RETURNS bigint LANGUAGE sql AS 'SELECT 101::bigint';
CREATE FUNCTION evil.can_view_stats(bigint, bigint, bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq);
CREATE FUNCTION evil.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
SET LOCAL search_path = evil, lms, public;
SELECT is((SELECT count(*)::int FROM lms.progress), 3, 'look-alike functions and operators on the search_path change nothing');
SELECT is((SELECT count(*)::int FROM lms.progress_report), 3, 'nor through the view');
SELECT is((SELECT count(*)::int FROM lms.group_progress_report(11)), 3, 'nor through the report functions');
SELECT is(lms.current_principal(), 104::bigint, 'the qualified principal is still the attacker''s own');
RESET search_path;

-- side channels: failing predicates, errors, EXPLAIN
SELECT lives_ok('SELECT count(*) FROM lms.progress WHERE 1 / (score - 88) > 0',
	'a predicate that would fail on a hidden row (score 88) never sees it');
SELECT throws_ok('SELECT * FROM lms.content_progress(505)', '42501', 'no visibility on this content', 'hidden content of the tenant');
SELECT throws_ok('SELECT * FROM lms.content_progress(601)', '42501', 'no visibility on this content', 'another tenant''s content: the same answer');
SELECT throws_ok('SELECT * FROM lms.content_progress(999999)', '42501', 'no visibility on this content', 'content that does not exist: the same answer');
SELECT throws_ok('SELECT * FROM lms.user_progress(211)', '42501', 'no visibility on this user', 'another tenant''s user');
SELECT throws_ok('SELECT * FROM lms.user_progress(999999)', '42501', 'no visibility on this user', 'a user that does not exist: the same answer');
SELECT is((SELECT reason FROM lms.explain_visibility(104, 211, 508, 11) WHERE part = 'user'),
	'user 211 is not a user of tenant 1', 'explain_visibility says nothing of another tenant''s user');
SELECT is((SELECT reason FROM lms.explain_visibility(104, 999999, 508, 11) WHERE part = 'user'),
	'user 999999 is not a user of tenant 1', 'and the same of a user that does not exist');
SELECT is((SELECT reason FROM lms.explain_visibility(104, 120, 601, 11) WHERE part = 'content'),
	'content 601 is not content of tenant 1', 'nor of another tenant''s content');
CREATE TEMP TABLE plan_lines (line text);
SELECT throws_ok('SELECT count(*) FROM lms.progress WHERE lms.can_view_stats(101, user_id, content_id, context_group_id)',
	'42501', NULL, 'a query about another principal fails when it runs');
SELECT lives_ok($q$DO $d$ DECLARE l text; BEGIN
	FOR l IN EXPLAIN SELECT * FROM lms.progress WHERE lms.can_view_stats(101, user_id, content_id, context_group_id) LOOP
		INSERT INTO plan_lines VALUES (l); END LOOP; END $d$$q$, 'EXPLAIN of it plans without running it');
SELECT ok((SELECT bool_and(line NOT LIKE '%visible_user_ids%') FROM plan_lines),
	'and its plan uses nothing computed for the other principal');

-- settings only a superuser may change
SELECT throws_ok('SET lms.allow_session_principal = on', '42501', NULL, 'lms.allow_session_principal is for superusers');
SELECT throws_ok('SET lms.cache_principals = 100000', '42501', NULL, 'lms.cache_principals is for superusers');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
