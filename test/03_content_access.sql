-- doc/rules.md, "C(p), unrestricted grants": C(p), unrestricted grants, one block per row of the table:
-- the role grants what it says, and not a group, kind or relation more.
BEGIN;
SELECT plan(39);
\set QUIET 1
\i sample/platform.sql
-- more content around the Sales tree
INSERT INTO lms.content VALUES
	(520, 1, 'classroom', 'East Workshop', NULL, 11, NULL),
	(521, 1, 'classroom_slot', 'East Workshop - Friday', 520, NULL, NULL),
	(522, 1, 'course', 'East Course (owned, not in catalog)', NULL, 11, NULL),
	(523, 1, 'course', 'Intern Course (in catalog of East Interns)', NULL, NULL, NULL),
	(524, 1, 'path_session', 'Content Path - session', 511, NULL, NULL);
INSERT INTO lms.catalog_entries VALUES (13, 523), (11, 501), (11, 503), (20, 504);
INSERT INTO lms.group_enrollments VALUES (11, 510, 'audience_builder');
INSERT INTO lms.enrollments (user_id, content_id, source, assigned_by_group_id) VALUES (125, 510, 'assigned', 13);
INSERT INTO lms.path_steps VALUES (511, 510, 1);
INSERT INTO lms.content_coauthors VALUES (501, 114);
\set QUIET 0

CREATE TEMP VIEW c AS SELECT p.principal, a.content_id, a.restricted
	FROM (VALUES (101), (103), (104), (105), (106), (107), (108), (112), (113), (114)) p(principal),
	LATERAL lms.accessible_content(p.principal) a;

-- platform_admin, learner_manager: all content of the tenant
SELECT set_eq('SELECT content_id FROM c WHERE principal = 101', 'SELECT content_id FROM lms.content WHERE tenant_id = 1',
	'platform_admin: all content of its tenant');
SELECT set_eq('SELECT * FROM lms.accessible_content(102)', 'SELECT content_id, false FROM lms.content WHERE tenant_id = 1',
	'learner_manager: all content, unrestricted');

-- main author or co-author of c: c, and a path's sessions, never its steps
SELECT set_eq('SELECT content_id FROM c WHERE principal = 114', ARRAY[505, 501, 502, 503]::bigint[],
	'main author of a course, co-author of a path with its sessions');
SELECT ok(NOT lms.content_stats_access(114, 504), 'co-author of a path does not get its steps');

-- editor of g: content owned by g, sessions of paths owned by g
SELECT set_eq('SELECT content_id FROM c WHERE principal = 107', ARRAY[508, 511, 524, 505]::bigint[],
	'editor: owned content, sessions of owned paths (and co-authored 505)');
SELECT ok(NOT lms.content_stats_access(107, 504), 'editor: catalog inclusion grants nothing');
SELECT ok(NOT lms.content_stats_access(107, 510), 'editor: a step of an owned path is judged on its own');

-- group_admin of g, S = S*(g)
SELECT ok(lms.content_stats_access(103, 501), 'group_admin: path owned by S');
SELECT ok(lms.content_stats_access(103, 502) AND lms.content_stats_access(103, 503), 'group_admin: its sessions');
SELECT ok(lms.content_stats_access(103, 504), 'group_admin: course owned by S');
SELECT ok(lms.content_stats_access(103, 522), 'group_admin: course owned by a subgroup, not in any catalog');
SELECT ok(lms.content_stats_access(103, 508), 'group_admin: course in the catalog of a subgroup');
SELECT ok(lms.content_stats_access(103, 523), 'group_admin: course in the catalog of a sub-subgroup');
SELECT ok(lms.content_stats_access(103, 506) AND lms.content_stats_access(103, 507), 'group_admin: classroom and slot owned by S');
SELECT ok(lms.content_stats_access(103, 521), 'group_admin: unowned slot of a classroom owned by S');
SELECT ok(lms.content_stats_access(103, 509), 'group_admin: legacy group enrolment of a group in S');
SELECT ok(NOT lms.content_stats_access(103, 511), 'group_admin: a path in the catalog of S is not granted');
SELECT ok(NOT lms.content_stats_access(103, 510), 'group_admin: audience-builder enrolment grants nothing');
SELECT ok(NOT lms.content_stats_access(103, 505), 'group_admin: content of a publicly connected group, extended visibility off');
SELECT is((SELECT count(*)::int FROM c WHERE principal = 103 AND restricted), 0, 'group_admin without extended visibility: no restricted grant');

-- coach of g: courses in g's catalog; sessions owned by g; legacy enrolment of g
SELECT set_eq('SELECT content_id FROM c WHERE principal = 104', ARRAY[508, 502, 509]::bigint[],
	'coach: catalog course, owned session, legacy enrolment');
SELECT ok(NOT lms.content_stats_access(104, 522), 'coach: a course its group owns but does not list is not granted');
SELECT ok(NOT lms.content_stats_access(104, 523), 'coach: the catalog of a subgroup is not its group''s');
SELECT ok(NOT lms.content_stats_access(104, 501), 'coach: a path in its catalog is not granted');
SELECT ok(NOT lms.content_stats_access(104, 503), 'coach: a session in its catalog but owned elsewhere is not granted');
SELECT ok(NOT lms.content_stats_access(104, 520), 'coach: a classroom its group owns is not granted');
SELECT ok(NOT lms.content_stats_access(104, 510), 'coach: audience-builder enrolment of its group grants nothing');

-- group_analyst of g: content owned by S; catalog courses of S; content assigned by a group of S
SELECT set_eq('SELECT content_id FROM c WHERE principal = 105',
	ARRAY[501, 502, 503, 504, 506, 507, 520, 522, 508, 523, 510]::bigint[],
	'group_analyst: owned by S, catalog courses of S, assigned by S');
SELECT ok(NOT lms.content_stats_access(105, 509), 'group_analyst: a legacy enrolment grants analysts nothing');
SELECT ok(NOT lms.content_stats_access(105, 521), 'group_analyst: an unowned slot of an owned classroom is not granted');

-- group_leader of g: content owned by S; catalog courses of S
SELECT set_eq('SELECT content_id FROM c WHERE principal = 106', ARRAY[506, 507]::bigint[],
	'group_leader of Sales West: its owned classroom and slot');
SELECT ok(NOT lms.content_stats_access(106, 511), 'group_leader: audience-builder enrolment grants nothing');

-- instructor of s: s; trainer of t: t
SELECT set_eq('SELECT content_id FROM c WHERE principal = 113', ARRAY[502]::bigint[], 'instructor: the session only');
SELECT set_eq('SELECT content_id FROM c WHERE principal = 112', ARRAY[507]::bigint[], 'trainer: the slot only, not the classroom');

-- manager, contributor: nothing
SELECT is_empty('SELECT content_id FROM c WHERE principal = 108', 'manager: no content');
DELETE FROM lms.content_coauthors WHERE user_id = 114;
UPDATE lms.content SET main_author_id = NULL WHERE main_author_id = 114;
SELECT is_empty('SELECT * FROM lms.accessible_content(114)', 'contributor: no content of its own role');
SELECT ok(NOT lms.content_stats_access(NULL, 504) AND NOT lms.content_stats_access(101, NULL)
		  AND NOT lms.content_stats_access(101, 601), 'NULL principal, NULL content, other tenant''s content: false');

-- explain_visibility says why a role's entry in the rule table grants nothing
SELECT alike((SELECT reason FROM lms.explain_visibility(107, 120, 504, NULL) WHERE part = 'content'),
	'%catalog inclusion does not grant the editor role (editor of group 20%',
	'explain: an editor is not granted the courses in its group''s catalog');
SELECT alike((SELECT reason FROM lms.explain_visibility(104, 120, 522, NULL) WHERE part = 'content'),
	'%the coach role gets only the sessions its group owns, not a course it owns%',
	'explain: a coach is not granted a course its group owns');

SELECT * FROM finish();
ROLLBACK;
