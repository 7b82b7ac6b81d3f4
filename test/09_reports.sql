-- doc/reference.md, "Functions" reports: hand-computed numbers on the sample platform, and
-- who is allowed and refused.  An application role acts for each
-- principal with set_config('lms.principal', ..., true).
BEGIN;
SELECT plan(26);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE t_app;
SELECT lms.trust_role('t_app');
\set QUIET 0
SET ROLE t_app;

-- group_progress(11) as the group_admin of its parent: members of Sales East
-- and East Interns (110, 120, 121, 125), all their 10 progress rows
SELECT set_config('lms.principal', '103', true);
SELECT results_eq('SELECT * FROM lms.group_progress(11)',
	$$VALUES (4::bigint, 4::bigint, 10::bigint, 3::bigint, 30.00::numeric, 44.00::numeric, 86.00::numeric, 2::bigint,
			  '2026-09-21 00:00:00+00'::timestamptz)$$,
	'group_progress: learners, enrolled, started, completed, rate, averages, certificates, last activity');
SELECT results_eq('SELECT learners, started FROM lms.group_progress(13)', $$VALUES (1::bigint, 1::bigint)$$,
	'group_progress of a sub-subgroup, allowed to the ancestor''s admin');

-- group_learners(10): only enrolments assigned by group 10
SELECT results_eq('SELECT user_id, course_registrations, course_completions, assessment_score, certificates FROM lms.group_learners(10) ORDER BY user_id',
	$$VALUES (110::bigint, 0::bigint, 0::bigint, NULL::numeric, 0::bigint),
			 (120, 1, 1, 92.00, 1), (121, 1, 0, NULL, 0), (123, 0, 0, NULL, 0), (125, 1, 1, 78.00, 0), (127, 1, 1, 85.00, 1)$$,
	'group_learners: registrations, completions, mean score of completed ones, certificates');
SELECT is((SELECT sum(course_registrations)::int FROM lms.group_learners(11)), 0,
	'group_learners(11): enrolments assigned by the parent group do not count');
SELECT results_eq('SELECT first_name, email FROM lms.group_learners(10) WHERE user_id = 120',
	$$VALUES ('Eve'::text, 'eve@acme.test'::text)$$, 'group_learners gives names and e-mails');

-- content_progress: drill-down needs content access
SELECT results_eq('SELECT user_id FROM lms.content_progress(504) ORDER BY user_id', ARRAY[120, 121, 125, 127]::bigint[],
	'content_progress: the visible learner rows of the content');
SELECT throws_ok('SELECT * FROM lms.content_progress(505)', '42501', 'no visibility on this content',
	'content_progress without content access');
SELECT throws_ok('SELECT * FROM lms.content_progress(601)', '42501', 'no visibility on this content',
	'content_progress on another tenant''s content');

-- the manager: overall progress of a managed user, no drill-down
SELECT set_config('lms.principal', '108', true);
SELECT results_eq('SELECT * FROM lms.user_progress(110)',
	$$VALUES (1::bigint, 3::bigint, 1::bigint, 50.00::numeric, 88.00::numeric, 1::bigint, '2026-09-19 00:00:00+00'::timestamptz)$$,
	'user_progress: a manager''s overall view, over all content');
SELECT throws_ok('SELECT * FROM lms.user_progress(120)', '42501', 'no visibility on this user', 'user_progress outside U(p)');
SELECT throws_ok('SELECT * FROM lms.content_progress(505)', '42501', 'no visibility on this content',
	'a manager drilling into content gets "no visibility on this content"');
SELECT is((SELECT count(*)::int FROM lms.progress), 0, 'a manager sees no statistics rows: no content grant');
SELECT throws_ok('SELECT * FROM lms.group_progress(11)', '42501', NULL, 'group_progress refused to a manager');

-- the export: filtered by doc/rules.md, "The rules"
SELECT set_config('lms.principal', '104', true);
SELECT results_eq('SELECT first_name, course_name, activated_at FROM lms.group_progress_report(11) ORDER BY course_name',
	$$VALUES ('Eve'::text, 'Compliance'::text, '2026-09-05 00:00:00+00'::timestamptz),
			 ('Eve', 'Excel for Sales', NULL), ('Ed', 'Onboarding - January', NULL)$$,
	'group_progress_report: the coach''s visible rows of the group, with enrolment dates');
SELECT is((SELECT count(*)::int FROM lms.group_progress_report(10)), 3, 'the same rows through the parent group');
SELECT throws_ok('SELECT * FROM lms.group_progress(11)', '42501', NULL, 'group_progress refused to a coach');
SELECT throws_ok('SELECT * FROM lms.group_learners(11)', '42501', NULL, 'group_learners refused to a coach');

-- who may see a group's dashboard
SELECT set_config('lms.principal', '106', true);
SELECT lives_ok('SELECT * FROM lms.group_progress(12)', 'group_leader of the group');
SELECT throws_ok('SELECT * FROM lms.group_progress(11)', '42501', NULL, 'group_leader of a sibling: refused');
SELECT set_config('lms.principal', '105', true);
SELECT lives_ok('SELECT * FROM lms.group_learners(13)', 'group_analyst of an ancestor');
SELECT set_config('lms.principal', '102', true);
SELECT lives_ok('SELECT * FROM lms.group_progress(30)', 'learner_manager of the tenant');
SELECT set_config('lms.principal', '201', true);
SELECT throws_ok('SELECT * FROM lms.group_progress(11)', '42501', NULL, 'platform_admin of another tenant: refused');
SELECT set_config('lms.principal', '101', true);
SELECT throws_ok('SELECT * FROM lms.group_progress(999)', '42501', NULL, 'an unknown group: refused like a foreign one');
SELECT set_config('lms.principal', '', true);
SELECT throws_ok('SELECT * FROM lms.group_progress(11)', '42501', NULL, 'no principal: refused');
SELECT throws_ok('SELECT * FROM lms.user_progress(110)', '42501', NULL, 'no principal: user_progress refused');
SELECT is((SELECT count(*)::int FROM lms.group_progress_report(11)), 0, 'no principal: an empty export');

RESET ROLE;
SELECT * FROM finish();
ROLLBACK;
