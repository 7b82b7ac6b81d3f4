-- Property tests on a generated platform: the C engine against the
-- independent plain-SQL implementation of bench/plain_rules.sql, row by
-- row; can_view_stats against visible_users x accessible_content;
-- explain_visibility against can_view_stats on every row of the sample; and
-- the policies, as each principal meets them, against the same rule, with
-- the row rule inline (src/vis_exec.c) in each kind of scan and without.
BEGIN;
SELECT plan(16);
\set QUIET 1
\i sample/platform.sql
\i bench/plain_rules.sql
\i test/lib/generated_platform.sql
-- statistics of this data, whatever an earlier run left in pg_class (ANALYZE
-- updates it in place: a rollback keeps it); a cache for all the principals,
-- as the joins below may ask about them in turns, row after row
ANALYZE lms.progress, lms.enrollments, lms.users, lms.content;
SET LOCAL lms.cache_principals = 1000;
CREATE TEMP TABLE principals AS SELECT user_id AS p FROM lms.users WHERE tenant_id IN (1, 2, 9);
\if :{?memcheck}
-- under valgrind (scripts/test.sh): the sample's principals, which hold
-- every kind of role, and a fifth of the generated ones
DELETE FROM principals WHERE p > 9000 AND p % 5 <> 0;
\set min_visible 100
\else
\set min_visible 1000
\endif
\set QUIET 0

SELECT cmp_ok((SELECT count(*)::int FROM lms.group_roles WHERE user_id > 9000), '>', 40, 'the generated platform has many group roles');

SELECT is((SELECT count(*)::int FROM principals WHERE EXISTS (
		(SELECT lms.visible_users(p) EXCEPT SELECT user_id FROM lms_plain.visible_users(p))
		UNION ALL
		(SELECT user_id FROM lms_plain.visible_users(p) EXCEPT SELECT lms.visible_users(p)))),
	0, 'U(p) of the C engine equals the plain-SQL implementation for every principal');

SELECT is((SELECT count(*)::int FROM principals WHERE EXISTS (
		(SELECT content_id, restricted FROM lms.accessible_content(p)
		 EXCEPT SELECT content_id, bool_and(ctx IS NOT NULL) FROM lms_plain.content_grants(p) GROUP BY content_id)
		UNION ALL
		(SELECT content_id, bool_and(ctx IS NOT NULL) FROM lms_plain.content_grants(p) GROUP BY content_id
		 EXCEPT SELECT content_id, restricted FROM lms.accessible_content(p)))),
	0, 'C(p) and its restrictions equal the plain-SQL implementation for every principal');

CREATE TEMP TABLE plain_u AS SELECT p, u.user_id FROM principals, LATERAL lms_plain.visible_users(p) u;
CREATE TEMP TABLE plain_c AS SELECT p, g.content_id, g.ctx FROM principals, LATERAL lms_plain.content_grants(p) g;
CREATE INDEX ON plain_u (p, user_id);
CREATE INDEX ON plain_c (p, content_id);
ANALYZE principals, plain_u, plain_c;
CREATE TEMP TABLE verdicts AS
	SELECT pr.p, r.user_id, r.content_id, r.context_group_id,
		   lms.can_view_stats(pr.p, r.user_id, r.content_id, r.context_group_id) AS c_engine,
		   EXISTS (SELECT 1 FROM plain_u pu WHERE pu.p = pr.p AND pu.user_id = r.user_id)
		   AND EXISTS (SELECT 1 FROM plain_c pc WHERE pc.p = pr.p AND pc.content_id = r.content_id
					   AND (pc.ctx IS NULL OR pc.ctx = r.context_group_id)) AS plain
	FROM principals pr, lms.progress r;
SELECT cmp_ok((SELECT count(*)::int FROM verdicts WHERE c_engine), '>', :min_visible, 'many rows are visible to someone');
SELECT is((SELECT count(*)::int FROM verdicts WHERE c_engine IS DISTINCT FROM plain), 0,
	'can_view_stats equals the plain-SQL row rule on every (principal, progress row)');

SELECT is((SELECT count(*)::int FROM verdicts v WHERE v.c_engine IS DISTINCT FROM (
		v.user_id IN (SELECT lms.visible_users(v.p))
		AND EXISTS (SELECT 1 FROM lms.accessible_content(v.p) a WHERE a.content_id = v.content_id
					AND (NOT a.restricted OR (v.context_group_id IS NOT NULL AND v.c_engine))))),
	0, 'can_view_stats is visible_users x accessible_content (a restricted grant needs a context)');

SELECT is((SELECT count(*)::int FROM verdicts v WHERE v.c_engine AND v.context_group_id IS NULL
		   AND (SELECT restricted FROM lms.accessible_content(v.p) a WHERE a.content_id = v.content_id)),
	0, 'no row with a null context is visible through a restricted grant only');

-- the policies as each principal meets them: a trusted role acting for
-- one principal after another, one statement each, as an application does
CREATE ROLE prop_app;
SELECT lms.trust_role('prop_app');
CREATE TEMP TABLE seen (pass text, p bigint, tbl text, user_id bigint, content_id bigint, context_group_id bigint);
GRANT SELECT ON principals TO prop_app;
GRANT INSERT ON seen TO prop_app;
-- each pass reads progress in its own way: passes(pass, qual); the user
-- index pass orders by user, or a full scan of the content index, which
-- tests no qual per index tuple, would cost a little less
CREATE TEMP TABLE passes (pass text, qual text, inline_scans bigint, plan text);
INSERT INTO passes (pass, qual) VALUES ('sequential', 'true'), ('user index', 'user_id > 0 ORDER BY user_id'),
	('content index', 'content_id = ANY (lms.accessible_content_ids())'), ('function call', 'true'),
	('range scan', 'true'), ('range scan, heap', 'score IS NULL OR score >= 0');
GRANT SELECT, UPDATE ON passes TO prop_app;
-- the index each principal's range scan read (src/vis_rangescan.c)
CREATE TEMP TABLE range_plans (pass text, p bigint, idx text);
GRANT INSERT ON range_plans TO prop_app;
CREATE FUNCTION pg_temp.as_each_principal(name text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	q bigint;
	cond text := (SELECT qual FROM passes WHERE pass = name);
	before bigint := (SELECT inline_scans FROM lms.cache_stats());
	shown text := '';
	line text;
BEGIN
	FOR q IN SELECT p FROM principals ORDER BY p LOOP
		PERFORM set_config('lms.principal', q::text, true);
		EXECUTE format('INSERT INTO seen SELECT %L, %s, %L, user_id, content_id, context_group_id FROM lms.progress WHERE %s',
					   name, q, 'progress', cond);
		INSERT INTO seen SELECT name, q, 'enrollments', user_id, content_id, NULL FROM lms.enrollments;
		INSERT INTO seen SELECT name, q, 'users', user_id, NULL, NULL FROM lms.users;
		IF name LIKE 'range scan%' THEN
			FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT user_id, content_id, context_group_id FROM lms.progress WHERE '
					|| cond LOOP
				IF line ~ '^ *(Index|Reads): ' THEN
					INSERT INTO range_plans VALUES (name, q, substring(line FROM ': (.*)$'));
				END IF;
			END LOOP;
		END IF;
	END LOOP;
	UPDATE passes SET inline_scans = (SELECT inline_scans FROM lms.cache_stats()) - before WHERE pass = name;
	-- the pass's plan without a principal, so without the index conditions
	-- src/vis_planner.c offers on a narrow principal's ids: the scan the
	-- pass's settings chose
	PERFORM set_config('lms.principal', '', true);
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT user_id, content_id, context_group_id FROM lms.progress WHERE ' || cond LOOP
		shown := shown || line || E'\n';
	END LOOP;
	UPDATE passes SET plan = shown WHERE pass = name;
END $$;
SET ROLE prop_app;
SET LOCAL lms.enable_rangescan = off;
SELECT pg_temp.as_each_principal('sequential');
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SELECT pg_temp.as_each_principal('user index');
SELECT pg_temp.as_each_principal('content index');
-- the range scan: every other scan of progress and enrollments disabled
-- (the pages are not all-visible in this transaction: each row the rule
-- admits is fetched from the heap)
SET LOCAL lms.enable_rangescan = on;
SET LOCAL enable_indexscan = off;
SET LOCAL enable_indexonlyscan = off;
SELECT pg_temp.as_each_principal('range scan');
SELECT pg_temp.as_each_principal('range scan, heap');
RESET ROLE;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_indexscan;
RESET enable_indexonlyscan;
SET LOCAL lms.row_shortcut = off;
SET LOCAL lms.enable_rangescan = off;
SET ROLE prop_app;
SELECT pg_temp.as_each_principal('function call');
RESET ROLE;
RESET lms.row_shortcut;
-- what the rule lets each principal see, table by table
CREATE TEMP TABLE expected AS
	SELECT p, 'progress' AS tbl, user_id, content_id, context_group_id FROM verdicts WHERE plain
	UNION ALL
	SELECT pr.p, 'enrollments', e.user_id, e.content_id, NULL FROM principals pr, lms.enrollments e
	WHERE EXISTS (SELECT 1 FROM plain_u pu WHERE pu.p = pr.p AND pu.user_id = e.user_id)
	  AND EXISTS (SELECT 1 FROM plain_c pc WHERE pc.p = pr.p AND pc.content_id = e.content_id AND pc.ctx IS NULL)
	UNION ALL
	SELECT pu.p, 'users', pu.user_id, NULL, NULL FROM plain_u pu JOIN lms.users USING (user_id);

SELECT results_eq($$SELECT pass, inline_scans > 0 FROM passes ORDER BY pass$$,
	$$VALUES ('content index', true), ('function call', false), ('range scan', true), ('range scan, heap', true),
			 ('sequential', true), ('user index', true)$$,
	'the passes ran their scans inline, except with lms.row_shortcut = off');
SELECT results_eq($$SELECT pass, idx, count(DISTINCT p) > 0 FROM range_plans GROUP BY pass, idx ORDER BY pass, idx$$,
	$$VALUES ('range scan', 'index only', true), ('range scan', 'progress_content_idx', true),
			 ('range scan', 'progress_pkey', true), ('range scan, heap', 'index and heap', true),
			 ('range scan, heap', 'progress_content_idx', true), ('range scan, heap', 'progress_pkey', true)$$,
	'the range scan read progress by runs of visible users and by runs of accessible content, with and without the heap');
SELECT cmp_ok((SELECT count(DISTINCT p)::int FROM range_plans), '>=',
	(SELECT count(*)::int FROM principals) / 2, 'for most principals');
SELECT is((SELECT inline_scans FROM passes WHERE pass = 'sequential'), 3 * (SELECT count(*) FROM principals),
	'every scan of every principal ran the rule inline (no principal sees every row of three tenants)');
SELECT results_eq($$SELECT pass, plan ~ 'Seq Scan on progress', plan ~ 'Index Only Scan using progress_pkey',
		plan ~ 'Index Only Scan using progress_content_idx' FROM passes WHERE pass NOT LIKE 'range scan%' ORDER BY pass$$,
	$$VALUES ('content index', false, false, true), ('function call', true, false, false),
			 ('sequential', true, false, false),
			 ('user index', false, true, false)$$,
	'the passes read progress by a sequential scan and by index-only scans of both indexes');
SELECT is((SELECT count(*)::int FROM passes x WHERE EXISTS (
		(SELECT p, tbl, user_id, content_id, context_group_id FROM seen WHERE pass = x.pass
		 EXCEPT ALL SELECT * FROM expected)
		UNION ALL
		(SELECT * FROM expected
		 EXCEPT ALL SELECT p, tbl, user_id, content_id, context_group_id FROM seen WHERE pass = x.pass))),
	0, 'in every pass, each principal sees exactly the rows of the plain-SQL rule in progress, enrollments and users');
SELECT cmp_ok((SELECT count(*)::int FROM expected WHERE tbl = 'progress' AND context_group_id IS NOT NULL
			   AND (p, content_id) IN (SELECT p, content_id FROM plain_c WHERE ctx IS NOT NULL)), '>', 0,
	'some of those rows are visible through a grant restricted to their context group');
SELECT cmp_ok((SELECT count(*)::int FROM (SELECT DISTINCT p FROM expected WHERE tbl = 'enrollments') x), '>', 5,
	'and enrollments are visible to several principals');

SELECT is((SELECT count(*)::int FROM (
			-- the sample's principals and rows first (OFFSET 0: explain runs on these only)
			SELECT pr.p, r.user_id, r.content_id, r.context_group_id
			FROM principals pr, lms.progress r JOIN lms.users u USING (user_id)
			WHERE u.tenant_id IN (1, 2) AND pr.p < 9000 OFFSET 0) x
		   WHERE (SELECT e.granted FROM lms.explain_visibility(x.p, x.user_id, x.content_id, x.context_group_id) e
				  WHERE e.part = 'result')
			   IS DISTINCT FROM lms.can_view_stats(x.p, x.user_id, x.content_id, x.context_group_id)),
	0, 'explain_visibility''s result agrees with can_view_stats on every row of the sample platform');

SELECT * FROM finish();
ROLLBACK;
