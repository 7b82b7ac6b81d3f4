-- doc/rules.md, "U(p), the users": U(p), one block per row of the table, positive and negative.
BEGIN;
SELECT plan(24);
\set QUIET 1
\i sample/platform.sql
\set QUIET 0

-- tenant platform_admin, learner_manager: every user of the tenant, and only of it
SELECT set_eq('SELECT lms.visible_users(101)', 'SELECT user_id FROM lms.users WHERE tenant_id = 1',
	'platform_admin sees every user of its tenant');
SELECT set_eq('SELECT lms.visible_users(102)', 'SELECT user_id FROM lms.users WHERE tenant_id = 1',
	'learner_manager sees every user of its tenant');
SELECT is_empty('SELECT u FROM lms.visible_users(201) u WHERE u < 200',
	'platform_admin of tenant 2 sees no user of tenant 1');

-- group_admin, group_analyst, group_leader of g: members of S*(g), subgroups at any depth
SELECT set_eq('SELECT lms.visible_users(103)', ARRAY[127, 120, 121, 110, 123, 125]::bigint[],
	'group_admin of Sales sees members of Sales and of its subgroups and sub-subgroups');
SELECT set_eq('SELECT lms.visible_users(105)', ARRAY[127, 120, 121, 110, 123, 125]::bigint[],
	'group_analyst of Sales sees the same');
SELECT set_eq('SELECT lms.visible_users(106)', ARRAY[123]::bigint[], 'group_leader of Sales West sees its members');
INSERT INTO lms.group_roles VALUES (11, 106, 'group_leader');
SELECT set_eq('SELECT lms.visible_users(106)', ARRAY[123, 120, 121, 110, 125]::bigint[],
	'group_leader of Sales East also reaches the subgroup East Interns');
SELECT ok(NOT lms.can_view_user(103, 129), 'group_admin does not reach a publicly connected group''s members');
SELECT ok(NOT lms.can_view_user(103, 103), 'group_admin does not see itself unless a member');

-- coach of g: members of g itself, not of subgroups
SELECT set_eq('SELECT lms.visible_users(104)', ARRAY[110, 120, 121]::bigint[], 'coach of Sales East sees its members');
SELECT ok(NOT lms.can_view_user(104, 125), 'coach does not reach members of a subgroup');
SELECT ok(NOT lms.can_view_user(104, 127), 'coach does not reach members of the parent group');

-- manager: directly or through managers who report to p, never p itself
SELECT set_eq('SELECT lms.visible_users(108)', ARRAY[109, 110, 111]::bigint[], 'manager sees its reports, transitively');
SELECT set_eq('SELECT lms.visible_users(109)', ARRAY[110, 111]::bigint[], 'a middle manager sees only below itself');
INSERT INTO lms.managers VALUES (110, 108);
SELECT set_eq('SELECT lms.visible_users(108)', ARRAY[109, 110, 111]::bigint[],
	'a management cycle is harmless and never shows the manager itself');
SELECT set_eq('SELECT lms.visible_users(110)', ARRAY[108, 109, 111]::bigint[],
	'in a cycle everyone else is reachable, but not oneself');

-- trainer of slot t: users registered in t
SELECT set_eq('SELECT lms.visible_users(112)', ARRAY[120, 123]::bigint[], 'trainer sees the slot''s registrants');
INSERT INTO lms.content VALUES (530, 1, 'classroom_slot', 'Sales Workshop - Tuesday', 506, 12, NULL);
INSERT INTO lms.slot_registrations VALUES (530, 125);
SELECT ok(NOT lms.can_view_user(112, 125), 'trainer does not see registrants of another slot of the same classroom');

-- instructor of session s: users who played s (content_id = s or session_id = s)
SELECT set_eq('SELECT lms.visible_users(113)', ARRAY[121, 110]::bigint[],
	'instructor sees who played the session, as content or as session');
INSERT INTO lms.progress (user_id, content_id, session_id) VALUES (127, 501, 503);
SELECT ok(NOT lms.can_view_user(113, 127), 'instructor does not see players of another session of the path');

-- contributor: own results only; editor, authors: nobody
SELECT set_eq('SELECT lms.visible_users(114)', ARRAY[114]::bigint[], 'contributor sees itself only (and being an author adds no one)');
SELECT is_empty('SELECT lms.visible_users(107)', 'editor and co-author see no users');

-- no principal, unknown principal
SELECT is_empty('SELECT lms.visible_users(NULL)', 'a NULL principal sees nobody');
SELECT is_empty('SELECT lms.visible_users(999999)', 'an unknown principal sees nobody, without error');

SELECT * FROM finish();
ROLLBACK;
