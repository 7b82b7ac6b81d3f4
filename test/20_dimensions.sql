-- The dimensions under the same rules (doc/rules.md, "The dimensions and the principal"): lms.content by C(p),
-- lms.groups by the principal's group scope, lms.group_members by both,
-- read as a bound reader and as a trusted application with SET LOCAL.
-- Every expectation comes from a reference written in plain SQL over the
-- store (the group scope from lms._subtree's recursive query, C(p) from
-- content_stats_access), for every principal of the sample, then for
-- principals with several roles and across tenants; then the star joins
-- a BI tool builds.
BEGIN;
SELECT plan(23);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE dim_reader;
CREATE ROLE dim_app;
SELECT lms.trust_role('dim_app');
-- ref_groups(p): the group scope of doc/rules.md, "The dimensions and the principal" in plain SQL
CREATE FUNCTION pg_temp.ref_groups(p bigint) RETURNS SETOF bigint LANGUAGE sql AS $$
	SELECT g.group_id FROM lms.groups g JOIN lms.users u ON u.tenant_id = g.tenant_id
		JOIN lms.tenant_roles r ON r.user_id = u.user_id
	WHERE u.user_id = p AND r.role IN ('platform_admin', 'learner_manager')
	UNION
	SELECT s FROM lms.group_roles gr, lms._subtree(gr.group_id) s
	WHERE gr.user_id = p AND gr.role IN ('group_admin', 'group_analyst', 'group_leader')
	UNION
	SELECT gr.group_id FROM lms.group_roles gr WHERE gr.user_id = p AND gr.role IN ('coach', 'editor')
$$;
-- the expected rows of each dimension for every user of the sample
CREATE TEMP TABLE expect AS
SELECT u.user_id AS p,
	(SELECT array_agg(c.content_id ORDER BY c.content_id) FROM lms.content c
	 WHERE lms.content_stats_access(u.user_id, c.content_id)) AS content,
	(SELECT array_agg(g ORDER BY g) FROM pg_temp.ref_groups(u.user_id) g) AS groups,
	(SELECT array_agg(m.group_id || ':' || m.user_id ORDER BY m.group_id, m.user_id)
	 FROM lms.group_members m WHERE m.group_id IN (SELECT pg_temp.ref_groups(u.user_id))
	   AND m.user_id IN (SELECT lms.visible_users(u.user_id))) AS members
FROM lms.users u;
CREATE TEMP TABLE seen (p bigint, how text, content bigint[], groups bigint[], members text[]);
GRANT SELECT ON expect TO PUBLIC;
GRANT ALL ON seen TO PUBLIC;
-- record(p, how): what the current role reads of the three dimensions
CREATE FUNCTION pg_temp.record(p bigint, how text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO seen SELECT p, how,
		(SELECT array_agg(content_id ORDER BY content_id) FROM lms.content),
		(SELECT array_agg(group_id ORDER BY group_id) FROM lms.groups),
		(SELECT array_agg(group_id || ':' || user_id ORDER BY group_id, user_id) FROM lms.group_members)
$$;
GRANT EXECUTE ON FUNCTION pg_temp.record(bigint, text) TO PUBLIC;
\set QUIET 0

-- the reference's answers are not empty where they must not be
SELECT is((SELECT groups FROM expect WHERE p = 103), '{10,11,12,13}', 'reference: the group admin of Sales has its subtree');
SELECT is((SELECT groups FROM expect WHERE p = 104), '{11}', 'reference: the coach of Sales East has that group only');
SELECT is((SELECT groups FROM expect WHERE p = 107), '{20}', 'reference: the editor of the Content Team has it');
SELECT is((SELECT groups FROM expect WHERE p = 101), '{10,11,12,13,20,30}', 'reference: the platform admin has every group of its tenant');

-- every principal of the sample, bound
DO $$
DECLARE
	u bigint;
BEGIN
	FOR u IN SELECT user_id FROM lms.users ORDER BY 1 LOOP
		PERFORM lms.bind_role('dim_reader', u);
		SET LOCAL ROLE dim_reader;
		PERFORM pg_temp.record(u, 'bound');
		RESET ROLE;
		SET LOCAL ROLE dim_app;
		PERFORM set_config('lms.principal', u::text, true);
		PERFORM pg_temp.record(u, 'set local');
		PERFORM set_config('lms.principal', '', true);
		RESET ROLE;
	END LOOP;
	PERFORM lms.unbind_role('dim_reader');
END $$;

SELECT is((SELECT count(*) FROM seen s JOIN expect e USING (p) WHERE s.how = 'bound'
		   AND s.content IS NOT DISTINCT FROM e.content), (SELECT count(*) FROM lms.users),
	'lms.content: every bound principal reads exactly the content of C(p)');
SELECT is((SELECT count(*) FROM seen s JOIN expect e USING (p) WHERE s.how = 'bound'
		   AND s.groups IS NOT DISTINCT FROM e.groups), (SELECT count(*) FROM lms.users),
	'lms.groups: every bound principal reads exactly its group scope');
SELECT is((SELECT count(*) FROM seen s JOIN expect e USING (p) WHERE s.how = 'bound'
		   AND s.members IS NOT DISTINCT FROM e.members), (SELECT count(*) FROM lms.users),
	'lms.group_members: every bound principal reads the members of its groups that are in U(p)');
SELECT is((SELECT count(*) FROM seen s JOIN seen b USING (p) WHERE s.how = 'set local' AND b.how = 'bound'
		   AND s.content IS NOT DISTINCT FROM b.content AND s.groups IS NOT DISTINCT FROM b.groups
		   AND s.members IS NOT DISTINCT FROM b.members), (SELECT count(*) FROM lms.users),
	'a trusted application with SET LOCAL reads the same as the bound role, principal by principal');

-- negatives, read from the tables as the roles see them
SELECT is((SELECT groups FROM seen WHERE p = 104 AND how = 'bound'), '{11}',
	'the coach sees its group, not the parent Sales nor the subgroup East Interns');
SELECT is((SELECT members FROM seen WHERE p = 104 AND how = 'bound'), '{11:110,11:120,11:121}',
	'and the members of Sales East only');
SELECT is((SELECT content FROM seen WHERE p = 115 AND how = 'bound'), NULL,
	'a bystander with no role reads no content');
SELECT is((SELECT groups FROM seen WHERE p = 115 AND how = 'bound'), NULL, 'no group');
SELECT is((SELECT groups FROM seen WHERE p = 108 AND how = 'bound'), NULL,
	'a manager sees its reports in users, but no group');
SELECT is((SELECT members FROM seen WHERE p = 113 AND how = 'bound'), NULL,
	'an instructor sees the learners of its session, but no membership');
SELECT is((SELECT groups FROM seen WHERE p = 201 AND how = 'bound'), '{40,41,42}',
	'the platform admin of tenant 2 sees the groups of tenant 2 only');
SELECT ok(NOT EXISTS (SELECT 1 FROM seen WHERE p = 101 AND how = 'bound' AND content && ARRAY[601, 602, 603]::bigint[]),
	'the platform admin of tenant 1 no content of tenant 2');

-- several roles: the group scope is the union over the roles
INSERT INTO lms.group_roles VALUES (30, 104, 'coach'), (20, 106, 'editor');
SELECT lms.bind_role('dim_reader', 104);
SET LOCAL ROLE dim_reader;
SELECT is((SELECT array_agg(group_id ORDER BY group_id) FROM lms.groups), '{11,30}',
	'a coach of two groups sees both, from the next statement on');
RESET ROLE;
SELECT lms.bind_role('dim_reader', 106);
SET LOCAL ROLE dim_reader;
SELECT is((SELECT array_agg(group_id ORDER BY group_id) FROM lms.groups), '{12,20}',
	'a group leader who is also an editor sees its subtree and the editor''s group');
RESET ROLE;
-- a group role in another tenant counts for nothing: the store refuses it
SELECT throws_ok($$INSERT INTO lms.group_roles VALUES (40, 104, 'group_admin')$$, '23514', NULL,
	'a role on another tenant''s group cannot be stored');

-- the star joins of a BI tool: completion by course and by group
SELECT lms.bind_role('dim_reader', 103);
SET LOCAL ROLE dim_reader;
CREATE TEMP TABLE by_course AS
	SELECT c.title, count(*) AS learners, count(p.completed_at) AS completed
	FROM lms.progress p JOIN lms.content c USING (content_id) GROUP BY c.title;
CREATE TEMP TABLE by_group AS
	SELECT g.name, count(*) AS rows, count(p.completed_at) AS completed
	FROM lms.progress p JOIN lms.group_members m USING (user_id) JOIN lms.groups g USING (group_id)
	GROUP BY g.name;
RESET ROLE;
SELECT set_eq('SELECT * FROM by_course',
	$$SELECT c.title, count(*) AS learners, count(p.completed_at) AS completed FROM lms.progress p JOIN lms.content c USING (content_id)
	  WHERE lms.can_view_stats(103, p.user_id, p.content_id, p.context_group_id) GROUP BY c.title$$,
	'completion by course: the group admin''s rows of progress, each with its course');
SELECT set_eq('SELECT * FROM by_group',
	$$SELECT g.name, count(*) AS rows, count(p.completed_at) AS completed FROM lms.progress p JOIN lms.group_members m USING (user_id)
	  JOIN lms.groups g USING (group_id)
	  WHERE lms.can_view_stats(103, p.user_id, p.content_id, p.context_group_id)
	    AND g.group_id IN (SELECT lms._subtree(10)) GROUP BY g.name$$,
	'completion by group: its rows by the groups of its subtree');
SELECT is((SELECT count(*) FROM by_group WHERE name IN ('Partners', 'Content Team')), 0::bigint,
	'and no group outside its scope');

-- a principal bound to a role cannot look through another principal's eyes
SET LOCAL ROLE dim_reader;
SELECT throws_ok('SELECT lms.can_view_group(101, 20)', '42501', NULL,
	'the policy functions refuse another principal to a reader');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
