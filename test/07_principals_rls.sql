-- doc/rules.md, "The dimensions and the principal", through plain SQL as the roles users will be: a bound
-- reader, a trusted application role, an untrusted role trying every
-- route, an unbound login; the policies and the view; protect_table.
BEGIN;
SELECT plan(38);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE t_coach;
CREATE ROLE t_admin;
CREATE ROLE t_app;
CREATE ROLE t_intruder;
CREATE ROLE t_unbound;
SELECT lms.bind_role('t_coach', 104);
SELECT lms.bind_role('t_admin', 101);
SELECT lms.bind_role('t_intruder', 115);
SELECT lms.trust_role('t_app');
\set QUIET 0

-- the policies
SELECT policies_are('lms', 'progress', ARRAY['progress_visibility', 'lms_writer']);
SELECT policies_are('lms', 'enrollments', ARRAY['enrollments_visibility', 'lms_writer']);
SELECT policies_are('lms', 'users', ARRAY['users_visibility', 'lms_writer']);
SELECT is((SELECT polroles FROM pg_policy WHERE polrelid = 'lms.progress'::regclass AND polname = 'progress_visibility'), ARRAY[0]::oid[],
	'the policy applies to every role (PUBLIC)');
SELECT policy_cmd_is('lms', 'progress', 'progress_visibility', 'SELECT', 'the policy filters reads');
SELECT is((SELECT array_agg(relname::text ORDER BY relname) FROM pg_class
		   WHERE relnamespace = 'lms'::regnamespace AND relkind = 'r' AND NOT (relrowsecurity AND relforcerowsecurity)),
	NULL, 'row-level security is enabled and forced on every table of the store');
SELECT is((SELECT reloptions FROM pg_class WHERE oid = 'lms.progress_report'::regclass), ARRAY['security_invoker=true'],
	'the view runs as its invoker');

-- bound reader: exactly the rows of doc/rules.md, "The rules"
SET ROLE t_coach;
SELECT is(lms.current_principal(), 104::bigint, 'a bound role''s principal');
SELECT results_eq('SELECT user_id, content_id FROM lms.progress ORDER BY 1, 2',
	$$VALUES (120::bigint, 508::bigint), (120, 509), (121, 502)$$, 'coach sees its rows of lms.progress');
SELECT results_eq('SELECT user_id FROM lms.users ORDER BY 1', ARRAY[110, 120, 121]::bigint[], 'and U(p) in lms.users');
SELECT results_eq('SELECT user_id, content_id FROM lms.enrollments ORDER BY 1, 2', $$VALUES (120::bigint, 508::bigint)$$,
	'and the enrolments it may see');
SELECT results_eq('SELECT course_name FROM lms.progress_report ORDER BY 1',
	ARRAY['Compliance', 'Excel for Sales', 'Onboarding - January'], 'the view shows the same rows');
SELECT is((SELECT count(*)::int FROM lms.progress_report), (SELECT count(*)::int FROM lms.progress),
	'the view and the table agree');
SELECT throws_ok('INSERT INTO lms.group_roles VALUES (10, 104, ''group_admin'')', '42501', NULL, 'a reader cannot write the store');
SELECT throws_ok('UPDATE lms.progress SET score = 100', '42501', NULL, 'nor its statistics');
SELECT throws_ok('SELECT * FROM lms.tenant_roles', '42501', NULL, 'nor read the relationship tables');
SELECT throws_ok('SELECT lms.bind_role(''t_coach'', 101)', '42501', NULL, 'nor bind');
SELECT throws_ok('SELECT lms.unbind_role(''t_coach'')', '42501', NULL, 'nor unbind');
SELECT throws_ok('SELECT lms.trust_role(''t_coach'')', '42501', NULL, 'nor trust');
SELECT throws_ok('SELECT lms.distrust_role(''t_app'')', '42501', NULL, 'nor distrust');
SELECT throws_ok('SELECT lms.visible_users(101)', '42501', NULL, 'nor ask about another principal');
SELECT throws_ok('SELECT lms.can_view_stats(101, 123, 509, 12)', '42501', NULL, 'nor probe another principal''s row rule');
SELECT lives_ok('SELECT lms.can_view_stats(104, 120, 508, 11)', 'asking about oneself is fine');
RESET ROLE;

-- the trusted application role, per transaction
SET ROLE t_app;
SELECT is(lms.current_principal(), NULL, 'a trusted role without a setting has no principal');
SELECT is((SELECT count(*)::int FROM lms.progress), 0, 'and sees nothing');
SELECT set_config('lms.principal', '106', true);
SELECT results_eq('SELECT user_id, content_id FROM lms.progress', $$VALUES (123::bigint, 507::bigint)$$,
	'SET LOCAL lms.principal = group_leader: its rows');
SELECT set_config('lms.principal', '101', true);
SELECT is((SELECT count(*)::int FROM lms.progress), 16, 'switching the principal within the transaction: the admin''s rows');
SELECT lives_ok('SELECT lms.visible_users(104)', 'a trusted role may ask about other principals');
SELECT set_config('lms.principal', '106', false);
SELECT throws_ok('SELECT count(*) FROM lms.progress', '42501', NULL, 'a session-level principal is refused');
SELECT set_config('lms.principal', '', true);
RESET ROLE;

-- the untrusted role, by every route
SET ROLE t_intruder;
SELECT is((SELECT count(*)::int FROM lms.progress), 0, 'a bound role without roles of its own sees nothing');
SELECT set_config('lms.principal', '101', true);
SELECT throws_ok('SELECT count(*) FROM lms.progress', '42501', NULL, 'SET LOCAL by an untrusted role: refused');
SELECT throws_ok('SELECT count(*) FROM lms.users', '42501', NULL, 'on every protected table');
SELECT throws_ok('SELECT lms.current_principal()', '42501', NULL, 'and when read directly');
SELECT set_config('lms.principal', '101', false);
SELECT throws_ok('SELECT count(*) FROM lms.progress_report', '42501', NULL, 'SET by an untrusted role: refused, through the view too');
SELECT set_config('lms.principal', '', false);
RESET ROLE;

-- the unbound login
SET ROLE t_unbound;
SELECT is(lms.current_principal(), NULL, 'an unbound role has no principal');
SELECT is((SELECT count(*)::int FROM lms.progress) + (SELECT count(*)::int FROM lms.users)
		  + (SELECT count(*)::int FROM lms.enrollments) + (SELECT count(*)::int FROM lms.progress_report), 0,
	'and sees no row anywhere');
RESET ROLE;

-- a revoked binding is honoured from the next statement
SELECT lms.unbind_role('t_coach');
SET ROLE t_coach;
SELECT is((SELECT count(*)::int FROM lms.progress), 0, 'unbinding takes effect at once');
RESET ROLE;
SELECT lms.bind_role('t_coach', 104);
DELETE FROM lms.group_roles WHERE user_id = 104;
SET ROLE t_coach;
SELECT is((SELECT count(*)::int FROM lms.progress), 0, 'revoking the coach role takes effect at once');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
