-- A bounded fuzz of the SQL surface: every function called with generated
-- ids (NULL, 0, negative, huge, existing, of both tenants) as a superuser
-- and as a bound reader.  Every call either answers or fails with one of
-- the documented SQLSTATEs (42501), never anything else; the rules stay
-- consistent (explain agrees with can_view_stats) on all of them.
BEGIN;
SELECT plan(6);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE t_fuzz;
SELECT lms.bind_role('t_fuzz', 103);
GRANT pg_read_all_settings TO t_fuzz;
SELECT setseed(0.77);
CREATE TEMP TABLE ids AS SELECT unnest(ARRAY[NULL, 0, -1, -9223372036854775808, 9223372036854775807,
	101, 103, 104, 108, 112, 113, 120, 125, 129, 211, 501, 502, 504, 507, 509, 511, 601, 602, 10, 11, 13, 30, 41, 42]::bigint[]) AS id;
CREATE TEMP TABLE fuzz_log (who text, call text, sqlstate text);
GRANT SELECT ON ids TO t_fuzz;
GRANT INSERT, SELECT ON fuzz_log TO t_fuzz;
-- fuzz(who, n) makes n generated calls, logs each call's outcome (an
-- error is caught and logged: the checks below read the log) and returns
-- how many it logged
CREATE FUNCTION pg_temp.fuzz(who text, n int) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
	calls text[] := ARRAY[
		'SELECT count(*) FROM lms.visible_users(%1$s)',
		'SELECT lms.visible_user_ids(%1$s)',
		'SELECT lms.content_stats_access(%1$s, %2$s)',
		'SELECT count(*) FROM lms.accessible_content(%1$s)',
		'SELECT lms.accessible_content_ids(%1$s)',
		'SELECT lms.can_view_stats(%1$s, %2$s, %3$s, %4$s)',
		'SELECT lms.can_view_user(%1$s, %2$s)',
		'SELECT count(*) FROM lms.explain_visibility(%1$s, %2$s, %3$s, %4$s)',
		'SELECT count(*) FROM lms.group_progress(%1$s)',
		'SELECT count(*) FROM lms.group_learners(%1$s)',
		'SELECT count(*) FROM lms.group_progress_report(%1$s)',
		'SELECT count(*) FROM lms.user_progress(%1$s)',
		'SELECT count(*) FROM lms.content_progress(%1$s)',
		'SELECT count(*) FROM lms.progress WHERE user_id = %1$s OR content_id = %2$s'];
	a bigint[];
	q text;
	i int;
BEGIN
	FOR i IN 1 .. n LOOP
		SELECT array_agg(id ORDER BY random()) INTO a FROM (SELECT id FROM ids ORDER BY random() LIMIT 4) s;
		q := format(calls[1 + floor(random() * array_length(calls, 1))::int],
			coalesce(a[1]::text, 'NULL'), coalesce(a[2]::text, 'NULL'), coalesce(a[3]::text, 'NULL'), coalesce(a[4]::text, 'NULL'));
		BEGIN
			EXECUTE q;
			INSERT INTO fuzz_log VALUES (who, q, '00000');
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO fuzz_log VALUES (who, q, SQLSTATE);
		END;
	END LOOP;
	RETURN (SELECT count(*) FROM fuzz_log f WHERE f.who = fuzz.who);
END
$f$;
\set QUIET 0

SELECT is(pg_temp.fuzz('superuser', 1500), 1500::bigint, 'fuzzing as a superuser: 1500 calls, each logged');
SET ROLE t_fuzz;
SELECT is(pg_temp.fuzz('reader', 1500), 1500::bigint, 'fuzzing as a bound reader: 1500 calls, each logged');
RESET ROLE;
-- the generated calls reach both outcomes: answers, and refusals of the
-- reader asking about another principal
SELECT ok((SELECT count(*) FROM fuzz_log WHERE sqlstate = '00000') > 1000, 'most calls answered');
SELECT ok((SELECT count(*) FROM fuzz_log WHERE who = 'reader' AND sqlstate = '42501') > 100,
	'the reader was refused where it asked about another principal');
SELECT is_empty($$SELECT who, call, sqlstate FROM fuzz_log WHERE sqlstate NOT IN ('00000', '42501')$$,
	'every call answered or was refused with 42501');
SELECT is((SELECT count(*)::int FROM ids a, ids b, ids c, ids d
		   WHERE a.id IN (103, 104, 202, 203, -1) AND b.id IN (120, 211, 0) AND c.id IN (504, 508, 601, 602) AND d.id IN (11, 42, NULL)
		   AND (SELECT e.granted FROM lms.explain_visibility(a.id, b.id, c.id, d.id) e WHERE e.part = 'result')
			   IS DISTINCT FROM lms.can_view_stats(a.id, b.id, c.id, d.id)), 0,
	'explain_visibility agrees with can_view_stats on generated edge cases');

SELECT * FROM finish();
ROLLBACK;
