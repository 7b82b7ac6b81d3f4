-- Who may change teams (doc/team-management.md), through plain SQL under row-level
-- security: the platform_admin of a tenant manages its groups and
-- memberships; a learner_manager creates groups at the top level or below
-- groups it created, and changes, deletes and fills only those; anyone else
-- is refused with 42501 and a message naming the group.  created_by is set
-- by the extension.  The sync service (lms_writer) writes without the
-- rules.  Each rule is tried allowed and refused, as a bound login and as a
-- trusted application with SET LOCAL, across tenants.
BEGIN;
SELECT plan(46);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE tw_lm;				-- the learner manager 102 of tenant 1
CREATE ROLE tw_admin;			-- the platform admin 101 of tenant 1
CREATE ROLE tw_gadmin;			-- the group admin 103 of Sales
CREATE ROLE tw_admin2;			-- the platform admin 201 of tenant 2
CREATE ROLE tw_nobody;			-- no principal
CREATE ROLE tw_app;				-- a trusted application
CREATE ROLE tw_sync;			-- the sync service
GRANT lms_writer TO tw_sync;
SELECT lms.bind_role('tw_lm', 102), lms.bind_role('tw_admin', 101), lms.bind_role('tw_gadmin', 103),
	lms.bind_role('tw_admin2', 201), lms.trust_role('tw_app');
\set QUIET 0

-- a learner manager builds a team
SET LOCAL ROLE tw_lm;
WITH x AS (INSERT INTO lms.groups (group_id, tenant_id, name) VALUES (50, 1, 'Company A Team')
		   RETURNING created_by)
SELECT is((SELECT created_by FROM x), 102::bigint,
	'a learner manager creates a top-level team, stamped with its principal, and sees it in RETURNING');
SELECT lives_ok($$INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (51, 1, 'Company A Leads', 50)$$,
	'and a subteam below a team it created');
SELECT throws_ok($$INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (52, 1, 'Sneaky', 10)$$,
	'42501', 'permission denied to create group 52 below group 10',
	'but not below a group it did not create');
SELECT throws_ok($$INSERT INTO lms.groups (group_id, tenant_id, name, created_by) VALUES (53, 1, 'Forged', 101)$$,
	'42501', 'permission denied to set created_by of group 53', 'created_by cannot be forged');
SELECT throws_ok($$UPDATE lms.groups SET created_by = 101 WHERE group_id = 50$$,
	'42501', 'permission denied to change created_by of group 50', 'nor changed');
SELECT throws_ok($$INSERT INTO lms.groups (group_id, tenant_id, name) VALUES (54, 2, 'Other tenant')$$,
	'42501', 'permission denied to insert group 54', 'a team in another tenant is refused');
SELECT lives_ok($$UPDATE lms.groups SET name = 'Company A' WHERE group_id = 50$$, 'it renames its team');
SELECT throws_ok($$UPDATE lms.groups SET name = 'Mine now' WHERE group_id = 10$$,
	'42501', 'permission denied to update group 10', 'but no other group of the tenant');
SELECT throws_ok($$UPDATE lms.groups SET parent_group_id = 10 WHERE group_id = 51$$,
	'42501', 'permission denied to move group 51 below group 10',
	'it cannot move its team below a team it did not create');
SELECT throws_ok($$UPDATE lms.groups SET parent_group_id = 51 WHERE group_id = 50$$,
	'23514', NULL, 'a cycle through the write path is refused');
SELECT lives_ok($$INSERT INTO lms.group_members VALUES (50, 120), (50, 121), (51, 123)$$,
	'it adds users of its tenant to its teams');
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (50, 110), (10, 125)$$,
	'42501', 'permission denied to change the members of group 10',
	'not to a group it did not create; the statement writes nothing');
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (50, 210)$$, '23514', NULL,
	'a user of another tenant is refused');
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (40, 120)$$, '42501',
	'permission denied to change the members of group 40', 'a group of another tenant is refused');
SELECT throws_ok($$DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = 120$$,
	'42501', 'permission denied to change the members of group 11', 'it removes no member of another group');
SELECT lives_ok($$DELETE FROM lms.group_members WHERE group_id = 51$$, 'it removes members of its own team');
SELECT is((SELECT count(*) FROM lms.group_members WHERE group_id = 50), 2::bigint,
	'it reads its team''s members, from the next statement on');
SELECT throws_ok($$DELETE FROM lms.groups WHERE group_id = 20$$, '42501',
	'permission denied to delete group 20', 'it deletes no group it did not create');
SELECT lives_ok($$DELETE FROM lms.groups WHERE group_id = 51$$, 'it deletes its empty subteam');
RESET ROLE;

SELECT is((SELECT count(*) FROM lms.group_members WHERE group_id = 50 AND user_id = 110), 0::bigint,
	'the refused multi-row INSERT left no row behind');
SELECT results_eq('SELECT group_id, name, parent_group_id, created_by FROM lms.groups WHERE group_id >= 50 ORDER BY 1',
	$$VALUES (50::bigint, 'Company A'::text, NULL::bigint, 102::bigint)$$, 'the store holds exactly the team it built');
SELECT is((SELECT name FROM lms.groups WHERE group_id = 10), 'Sales', 'Sales is untouched');
-- a team in use by the platform is out of a learner manager's reach
INSERT INTO lms.group_roles VALUES (50, 104, 'coach');
SET LOCAL ROLE tw_lm;
SELECT throws_ok($$DELETE FROM lms.groups WHERE group_id = 50$$, '42501', 'permission denied to delete group 50',
	'a team that holds a role is not deleted by its learner manager');
RESET ROLE;
DELETE FROM lms.group_roles WHERE group_id = 50;

-- a trusted application acting for the learner manager
SET LOCAL ROLE tw_app;
SET LOCAL lms.principal = 102;
SELECT lives_ok($$INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (55, 1, 'Company A East', 50)$$,
	'a trusted application with SET LOCAL acts as the learner manager');
SET LOCAL lms.principal = 104;
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (11, 127)$$, '42501',
	'permission denied to change the members of group 11', 'and as the coach, who may change nothing');
SET LOCAL lms.principal = '';
RESET ROLE;
SELECT is((SELECT created_by FROM lms.groups WHERE group_id = 55), 102::bigint, 'stamped with the principal it acted for');

-- the platform admin manages every team of its tenant, and only there
SET LOCAL ROLE tw_admin;
SELECT lives_ok($$INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (14, 1, 'Sales North', 10)$$,
	'a platform admin creates a subgroup anywhere in its tenant');
SELECT lives_ok($$INSERT INTO lms.group_members VALUES (14, 115), (50, 125)$$,
	'adds members to any group, the learner manager''s team included');
SELECT lives_ok($$UPDATE lms.groups SET name = 'Sales (all)' WHERE group_id = 10$$, 'renames any group');
SELECT lives_ok($$DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = 121$$, 'removes any member');
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (40, 212)$$, '42501',
	'permission denied to change the members of group 40', 'but touches no group of tenant 2');
SELECT throws_ok($$INSERT INTO lms.groups (group_id, tenant_id, name, created_by) VALUES (15, 1, 'x', 102)$$,
	'42501', 'permission denied to set created_by of group 15', 'and cannot forge created_by either');
RESET ROLE;
SET LOCAL ROLE tw_admin2;
SELECT lives_ok($$DELETE FROM lms.groups WHERE group_id = 50; DELETE FROM lms.group_members WHERE group_id = 50$$,
	'the platform admin of tenant 2 deletes tenant 1''s team and its members: no row is reached');
SELECT is((SELECT count(*) FROM lms.groups WHERE tenant_id = 1), 0::bigint, 'it cannot even read them');
RESET ROLE;
SELECT is((SELECT count(*) FROM lms.group_members WHERE group_id = 50), 3::bigint, 'the team and its members are all there');

-- consistency: the group admin of Sales gains the new subgroup's member
-- from the next statement on
SET LOCAL ROLE tw_gadmin;
SELECT ok(115 IN (SELECT user_id FROM lms.users), 'the group admin of Sales sees the member of the new Sales North');
SELECT ok(14 IN (SELECT group_id FROM lms.groups), 'and the new subgroup itself');
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (10, 129)$$, '42501',
	'permission denied to change the members of group 10', 'a group admin changes no membership, not even of its group');
SELECT throws_ok($$INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (16, 1, 'x', 10)$$,
	'42501', 'permission denied to insert group 16', 'nor creates a group');
RESET ROLE;
SET LOCAL ROLE tw_nobody;
SELECT throws_ok($$INSERT INTO lms.groups (group_id, tenant_id, name) VALUES (17, 1, 'x')$$,
	'42501', 'permission denied to insert group 17', 'a role without a principal is refused');
SELECT lives_ok($$DELETE FROM lms.group_members; UPDATE lms.groups SET name = 'x'$$,
	'and its deletes and updates reach no row it cannot see');
RESET ROLE;
SELECT is((SELECT count(*) FROM lms.group_members), 14::bigint, 'no membership was deleted');

-- the sync service writes without the rules, created_by included
SET LOCAL ROLE tw_sync;
SELECT lives_ok($$INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id, created_by) VALUES (18, 1, 'Synced', 10, 102)$$,
	'the sync service writes any group, with the created_by it syncs');
SELECT lives_ok($$INSERT INTO lms.group_members VALUES (18, 123); DELETE FROM lms.group_members WHERE group_id = 40$$,
	'and any membership of any tenant');
RESET ROLE;
SELECT is((SELECT created_by FROM lms.groups WHERE group_id = 18), 102::bigint, 'its created_by is kept');
SET LOCAL ROLE tw_lm;
SELECT lives_ok($$INSERT INTO lms.group_members VALUES (18, 125)$$,
	'a synced team with the learner manager as creator is the learner manager''s to fill');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
