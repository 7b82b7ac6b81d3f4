-- Accountability (doc/accountability.md): who_can_see against can_view_stats for every
-- (principal, user, content) of the sample and for the generated platform
-- (a property test: the reverse listing must never disagree with the
-- forward check); its privilege; pseudonymous bindings on every surface;
-- expiring bindings and lms.bindings.  The audit trail and an expiry that
-- happens between transactions are in sql/accountability.sql.
BEGIN;
SELECT plan(32);
\set QUIET 1
\i sample/platform.sql
\i test/lib/generated_platform.sql
ANALYZE lms.progress, lms.enrollments, lms.users, lms.content;
SET LOCAL lms.cache_principals = 1000;
CREATE ROLE acc_reader;
CREATE ROLE acc_app;
SELECT lms.trust_role('acc_app');
\set QUIET 0

-- the property, on the sample: every user, every content item and every
-- context group a row of it has (and none)
CREATE TEMP TABLE sample_cases AS
	SELECT u.user_id AS u, c.content_id AS c, x.x
	FROM lms.users u JOIN lms.content c ON c.tenant_id = u.tenant_id
	CROSS JOIN LATERAL (SELECT NULL::bigint AS x UNION SELECT g.group_id FROM lms.groups g WHERE g.tenant_id = u.tenant_id) x
	WHERE u.tenant_id IN (1, 2);
-- under valgrind (scripts/test.sh): a tenth of the cases, a tenth of the
-- generated users and rows
\if :{?memcheck}
DELETE FROM sample_cases WHERE (u + c + coalesce(x, 0)) % 10 <> 0;
\set min_cases 150
\set every 10
\else
\set min_cases 1500
\set every 1
\endif
SELECT cmp_ok((SELECT count(*) FROM sample_cases), '>', :min_cases::bigint, 'the sample gives well over a thousand cases (a hundred and more under valgrind)');
SELECT is((SELECT count(*) FROM sample_cases s
		   WHERE (SELECT coalesce(array_agg(w.principal ORDER BY w.principal), '{}') FROM lms.who_can_see(s.u, s.c, s.x) w)
			  IS DISTINCT FROM
				 (SELECT coalesce(array_agg(p.user_id ORDER BY p.user_id), '{}') FROM lms.users p
				  WHERE lms.can_view_stats(p.user_id, s.u, s.c, s.x))),
	0::bigint, 'sample: who_can_see(u, c, x) is exactly the principals for whom can_view_stats(p, u, c, x) (a tenth of the cases under valgrind)');
SELECT is((SELECT count(*) FROM lms.users s WHERE s.tenant_id IN (1, 2)
		   AND (SELECT coalesce(array_agg(w.principal ORDER BY w.principal), '{}') FROM lms.who_can_see(s.user_id) w)
			  IS DISTINCT FROM
				 (SELECT coalesce(array_agg(p.user_id ORDER BY p.user_id), '{}') FROM lms.users p
				  WHERE lms.can_view_user(p.user_id, s.user_id))),
	0::bigint, 'sample: who_can_see(u) is exactly the principals with u in U(p)');
-- the generated platform: every user, and a sample of its progress rows
SELECT is((SELECT count(*) FROM lms.users s WHERE s.tenant_id = 9 AND s.user_id % :every = 0
		   AND (SELECT coalesce(array_agg(w.principal ORDER BY w.principal), '{}') FROM lms.who_can_see(s.user_id) w)
			  IS DISTINCT FROM
				 (SELECT coalesce(array_agg(p.user_id ORDER BY p.user_id), '{}') FROM lms.users p
				  WHERE p.tenant_id = 9 AND lms.can_view_user(p.user_id, s.user_id))),
	0::bigint, 'generated: who_can_see(u) agrees with can_view_user for all 300 users (a tenth under valgrind)');
SELECT is((SELECT count(*) FROM (SELECT * FROM lms.progress WHERE user_id > 9000 ORDER BY user_id, content_id LIMIT 150 / :every) s
		   WHERE (SELECT coalesce(array_agg(w.principal ORDER BY w.principal), '{}')
				  FROM lms.who_can_see(s.user_id, s.content_id, s.context_group_id) w)
			  IS DISTINCT FROM
				 (SELECT coalesce(array_agg(p.user_id ORDER BY p.user_id), '{}') FROM lms.users p
				  WHERE p.tenant_id = 9 AND lms.can_view_stats(p.user_id, s.user_id, s.content_id, s.context_group_id))),
	0::bigint, 'generated: and with can_view_stats on 150 progress rows');
SELECT cmp_ok((SELECT count(*) FROM lms.users u, lms.who_can_see(u.user_id) w WHERE u.tenant_id = 9 AND w.roles ~ '^(group_|coach)'),
	'>', 100::bigint,
	'the generated platform reaches learners through group roles');

-- what it says
SELECT results_eq($$SELECT principal, roles FROM lms.who_can_see(120, 504, 11)$$,
	$$VALUES (101::bigint, 'platform_admin of tenant 1'), (102, 'learner_manager of tenant 1'),
			 (103, 'group_admin of group 10'), (105, 'group_analyst of group 10')$$,
	'who can see Eve''s Safety Basics from Sales East: the tenant''s admins and the Sales roles');
SELECT results_eq($$SELECT principal, roles FROM lms.who_can_see(110)$$,
	$$VALUES (101::bigint, 'platform_admin of tenant 1'), (102, 'learner_manager of tenant 1'),
			 (103, 'group_admin of group 10'), (104, 'coach of group 11'), (105, 'group_analyst of group 10'),
			 (108, 'manager'), (109, 'manager'), (113, 'instructor of session 502')$$,
	'who can see Nina at all: her managers up the chain and the instructor of the session she played too');
SELECT is((SELECT count(*) FROM lms.who_can_see(120, 601)), 0::bigint, 'content of another tenant: nobody');
SELECT is((SELECT count(*) FROM lms.who_can_see(-1)), 0::bigint, 'an unknown user: nobody');

-- privileged: superusers and trusted roles only
SELECT lms.bind_role('acc_reader', 101);
GRANT EXECUTE ON FUNCTION lms.who_can_see(bigint, bigint, bigint) TO acc_reader, acc_app;
SET LOCAL ROLE acc_reader;
SELECT throws_ok('SELECT * FROM lms.who_can_see(120)', '42501', 'permission denied for lms.who_can_see()',
	'a bound reader, even a platform admin, may not ask who can see a learner');
RESET ROLE;
SET LOCAL ROLE acc_app;
SELECT is((SELECT count(*) FROM lms.who_can_see(120)), 6::bigint, 'a trusted role may');
RESET ROLE;
SELECT is((SELECT has_function_privilege('public', 'lms.who_can_see(bigint, bigint, bigint)', 'EXECUTE')), false,
	'and PUBLIC has no EXECUTE on it');

-- pseudonymous: the group admin of Sales without personal data
SELECT lms.bind_role('acc_reader', 103, personal_data => false);
CREATE TEMP TABLE emails AS SELECT email, first_name || ' ' || last_name AS name FROM lms.users;
GRANT SELECT ON emails TO PUBLIC;
SET LOCAL ROLE acc_reader;
SELECT is((SELECT count(*) FROM lms.users), 0::bigint, 'a pseudonymous role sees no row of lms.users');
SELECT is((SELECT count(*) FROM lms.progress), (SELECT count(*) FROM lms.progress p
	WHERE lms.can_view_stats(103, p.user_id, p.content_id, p.context_group_id)), 'and the same statistics as ever');
CREATE TEMP TABLE pseudo AS SELECT * FROM lms.progress_report;
CREATE TEMP TABLE pseudo_group AS SELECT * FROM lms.group_progress_report(10);
CREATE TEMP TABLE pseudo_learners AS SELECT * FROM lms.group_learners(10);
CREATE TEMP TABLE pseudo_content AS SELECT * FROM lms.content_progress(504);
CREATE TEMP TABLE pseudo_explain AS SELECT * FROM lms.explain_visibility(103, 120, 504, 11)
	UNION ALL SELECT * FROM lms.explain_visibility(103, 129, 510, 30);
SELECT throws_ok('SELECT lms._learner_key(120)', '42501', NULL, 'it cannot compute a pseudonym itself');
SELECT throws_ok('SELECT * FROM lms.secret', '42501', NULL, 'nor read the secret');
RESET ROLE;
SELECT is((SELECT count(*) FROM pseudo WHERE first_name IS NOT NULL OR last_name IS NOT NULL
		   OR email IS NOT NULL OR company IS NOT NULL OR custom_fields IS NOT NULL), 0::bigint,
	'progress_report: no name, e-mail, company or custom field');
SELECT is((SELECT count(*) FROM pseudo WHERE learner_key ~ '^[0-9a-f]{64}$'), (SELECT count(*) FROM pseudo),
	'but a learner_key on every row');
SELECT cmp_ok((SELECT count(*) FROM pseudo), '>', 5::bigint, 'of the rows it sees');
SELECT is((SELECT count(*) FROM pseudo_group WHERE first_name IS NOT NULL OR email IS NOT NULL OR learner_key IS NULL),
	0::bigint, 'group_progress_report: the same');
SELECT is((SELECT count(*) FROM pseudo_learners WHERE first_name IS NOT NULL OR email IS NOT NULL OR learner_key IS NULL),
	0::bigint, 'group_learners: the same');
SELECT is((SELECT count(*) FROM pseudo_content WHERE first_name IS NOT NULL OR email IS NOT NULL OR learner_key IS NULL),
	0::bigint, 'content_progress: the same');
SELECT is((SELECT count(*) FROM emails e WHERE EXISTS (
		SELECT 1 FROM pseudo_explain x WHERE x.reason LIKE '%' || e.email || '%' OR x.reason LIKE '%' || e.name || '%')),
	0::bigint, 'explain_visibility names no learner');
SELECT is((SELECT count(DISTINCT learner_key) FROM pseudo_learners), (SELECT count(*) FROM pseudo_learners),
	'one pseudonym per learner');
SELECT is((SELECT learner_key FROM pseudo_learners WHERE user_id = 120),
	encode(lms._hmac_sha256((SELECT key FROM lms.secret ORDER BY created_at LIMIT 1), '120'), 'hex'),
	'the pseudonym is the keyed hash of the user under the server''s secret');
SET LOCAL ROLE acc_reader;
SELECT is((SELECT learner_key FROM lms.group_learners(10) WHERE user_id = 120),
	(SELECT learner_key FROM pseudo_learners WHERE user_id = 120), 'stable across queries');
RESET ROLE;
SELECT lms.bind_role('acc_reader', 103);
SET LOCAL ROLE acc_reader;
SELECT is((SELECT count(*) FROM lms.progress_report WHERE first_name IS NULL OR learner_key IS NOT NULL), 0::bigint,
	'bound again with personal data: names, and no learner_key');
RESET ROLE;

-- expiring bindings
SELECT lms.bind_role('acc_reader', 103, valid_until => now() - interval '1 second');
SET LOCAL ROLE acc_reader;
SELECT is(lms.current_principal(), NULL, 'a binding past its valid_until counts as absent');
SELECT is((SELECT count(*) FROM lms.progress), 0::bigint, 'and shows no row');
RESET ROLE;
SELECT lms.bind_role('acc_reader', 103, valid_until => now() + interval '1 hour');
SET LOCAL ROLE acc_reader;
SELECT is(lms.current_principal(), 103::bigint, 'before it, the binding holds');
RESET ROLE;
SELECT results_eq($$SELECT role::text, principal, personal_data, active, trusted FROM lms.bindings
					WHERE role::text IN ('acc_reader', 'acc_app') ORDER BY 1$$,
	$$VALUES ('acc_app', NULL::bigint, NULL::boolean, false, true), ('acc_reader', 103, true, true, false)$$,
	'lms.bindings lists each role with its principal, its flags and whether it is active');

SELECT * FROM finish();
ROLLBACK;
