-- doc/rules.md, "C(p), restricted grants": extended visibility, context-restricted grants.  Tenant 2
-- (Globex) has it on: Ops (40) > Ops Night (41); Field (42) is publicly
-- connected to Ops Night; Other (43) is connected to Ops.
BEGIN;
SELECT plan(26);
\set QUIET 1
\i sample/platform.sql
INSERT INTO lms.groups VALUES (43, 2, 'Other', NULL), (44, 2, 'Unrelated', NULL);
INSERT INTO lms.group_connections VALUES (43, 40);
INSERT INTO lms.users (user_id, tenant_id, first_name, last_name) VALUES (213, 2, 'Otto', 'Other');
INSERT INTO lms.group_members VALUES (43, 213);
INSERT INTO lms.content VALUES
	(604, 2, 'course', 'Other Course', NULL, 43, NULL),
	(605, 2, 'path', 'Field Path', NULL, 42, NULL),
	(606, 2, 'path_session', 'Field Path - session', 605, NULL, NULL),
	(607, 2, 'course', 'Unrelated Course', NULL, 44, NULL),
	(608, 2, 'course', 'Owned by Ops Night', NULL, 41, NULL);
INSERT INTO lms.catalog_entries VALUES (44, 607);
\set QUIET 0

-- group_admin of Ops: S = {40, 41}, conn(S) = {42, 43}
SELECT set_eq('SELECT * FROM lms.accessible_content(202)',
	$$VALUES (603::bigint, false), (608, false), (601, true), (602, true), (604, true), (605, true), (606, true)$$,
	'group_admin: owned by S unrestricted; owned by conn(S), their paths'' sessions and conn(S) catalog courses restricted');
SELECT ok(lms.can_view_stats(202, 211, 601, 42), 'restricted grant, played from the connected group: visible');
SELECT ok(lms.can_view_stats(202, 211, 601, 41), 'restricted grant, played from a group of S: visible');
SELECT ok(lms.can_view_stats(202, 211, 601, 40), 'restricted grant, played from g itself: visible');
SELECT ok(NOT lms.can_view_stats(202, 211, 601, NULL), 'restricted grant, null context: never');
SELECT ok(NOT lms.can_view_stats(202, 211, 601, 44), 'restricted grant, played from an unrelated group: hidden');
SELECT ok(lms.can_view_stats(202, 211, 603, NULL), 'unrestricted grant needs no context');
SELECT ok(NOT lms.content_stats_access(202, 607), 'the catalog of an unconnected group grants nothing');
SELECT ok(lms.can_view_stats(202, 210, 606, 43), 'a session of a path owned by a connected group, played from it');
SELECT ok(NOT lms.can_view_stats(202, 212, 601, 42), 'the setting never adds users: a member of the connected group stays hidden');

-- coach of Ops Night: S = {41}, conn({41}) = {42}
SELECT set_eq('SELECT * FROM lms.accessible_content(203)',
	$$VALUES (601::bigint, true), (602, true), (605, true), (606, true), (608, true)$$,
	'coach: owned by g or conn({g}) restricted, with sessions and conn catalog courses');
SELECT ok(lms.can_view_stats(203, 211, 602, 42), 'coach: catalog course of the connected group, played from it');
SELECT ok(lms.can_view_stats(203, 211, 608, 41), 'coach: course owned by its group, played from its group');
SELECT ok(NOT lms.can_view_stats(203, 211, 608, 40), 'coach: the parent group is not an allowed context');
SELECT ok(NOT lms.content_stats_access(203, 604), 'coach: a group connected to the parent is not connected to the coach''s group');
SELECT ok(NOT lms.content_stats_access(203, 603), 'coach: content of the parent group is not granted');
SELECT ok(NOT lms.can_view_stats(203, 211, 602, NULL), 'coach: null context never qualifies');

-- the tenant's row in the sample: the row played without context stays hidden
SELECT results_eq($$SELECT count(*)::int FROM lms.progress p
	WHERE lms.can_view_stats(203, p.user_id, p.content_id, p.context_group_id)$$,
	ARRAY[2], 'coach sees exactly the two context-qualified rows of its member');

-- an unrestricted grant wins over a restricted one for the same content
INSERT INTO lms.catalog_entries VALUES (41, 601);
SELECT ok(lms.can_view_stats(203, 211, 601, NULL), 'catalog course of its own group: unrestricted, context no longer needed');
SELECT is((SELECT restricted FROM lms.accessible_content(203) WHERE content_id = 601), false, 'reported as unrestricted');
DELETE FROM lms.catalog_entries WHERE group_id = 41 AND content_id = 601;

-- other roles get nothing from the setting
INSERT INTO lms.group_roles VALUES (41, 213, 'group_analyst');
SELECT ok(NOT lms.content_stats_access(213, 601), 'group_analyst gets nothing from extended visibility');
INSERT INTO lms.group_roles VALUES (41, 213, 'group_leader'), (41, 213, 'editor');
SELECT ok(NOT lms.content_stats_access(213, 602), 'group_leader and editor get nothing from it either');

-- the setting off: restricted grants vanish, users stay the same
CREATE TEMP TABLE before_users AS SELECT lms.visible_users(202) AS u;
UPDATE lms.tenants SET extended_visibility = false WHERE tenant_id = 2;
SELECT is_empty('SELECT * FROM lms.accessible_content(202) WHERE restricted', 'extended visibility off: no restricted grant');
SELECT ok(NOT lms.can_view_stats(202, 211, 601, 42), 'and the row is hidden from the next statement on');
SELECT set_eq('SELECT lms.visible_users(202)', 'SELECT u FROM before_users', 'U(p) does not depend on the setting');

-- tenant 1 has it off: content of a connected group is not granted
SELECT ok(NOT lms.content_stats_access(104, 510), 'tenant 1: the coach of Sales East gets nothing of Partners');

SELECT * FROM finish();
ROLLBACK;
