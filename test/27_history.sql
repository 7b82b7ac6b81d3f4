-- The rules at a past time (doc/accountability.md, "Who could see, and
-- when"), as a property: over a generated history of random changes of
-- the sample platform's relationships (memberships, group and tenant
-- roles, groups moved, managers, registrations, instructors, catalog,
-- extended visibility), each given its own commit time, visible_users(p,
-- t), can_view_stats(..., t) and who_could_see(u, from, to) agree with
-- what today's functions answered when the store was at that point;
-- nothing of the undo stays; a time before the history begins and an
-- interval that ends before it begins are refused; who may call them.
BEGIN;
SELECT plan(14);
\set QUIET 1
\i sample/platform.sql
SET LOCAL lms.cache_principals = 1000;
CREATE ROLE hx_reader;
CREATE ROLE hx_trusted;
GRANT EXECUTE ON FUNCTION lms.visible_users(bigint, timestamptz) TO hx_reader, hx_trusted;
SELECT FROM lms.bind_role('hx_reader', 104);
SELECT FROM lms.trust_role('hx_trusted');
-- the history's rows written at once, not at the commit this test never
-- makes; each step's rows get the step's time below
SET CONSTRAINTS ALL IMMEDIATE;
SELECT setseed(0.27);
-- under valgrind (scripts/test.sh): a shorter history
\if :{?memcheck}
\set steps 8
\else
\set steps 40
\endif

CREATE TEMP TABLE hx_steps (step int PRIMARY KEY, at timestamptz, change text);
CREATE TEMP TABLE hx_seen (step int, principal bigint, users bigint[], PRIMARY KEY (step, principal));
CREATE TEMP TABLE hx_rows (step int, principal bigint, user_id bigint, content_id bigint, context bigint, granted boolean);
CREATE TEMP TABLE hx_who (step int, user_id bigint, principal bigint, roles text);
CREATE TEMP TABLE hx_learners AS SELECT user_id FROM lms.users WHERE user_id IN (110, 111, 120, 121, 123, 125, 127, 129, 210, 212);

-- what today's functions answer now, as step s
CREATE FUNCTION pg_temp.record(s int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO hx_seen SELECT s, u.user_id, lms.visible_user_ids(u.user_id) FROM lms.users u;
	INSERT INTO hx_rows SELECT s, u.user_id, p.user_id, p.content_id, p.context_group_id,
		lms.can_view_stats(u.user_id, p.user_id, p.content_id, p.context_group_id)
	FROM lms.users u JOIN lms.users l ON l.tenant_id = u.tenant_id JOIN lms.progress p ON p.user_id = l.user_id;
	INSERT INTO hx_who SELECT s, l.user_id, w.principal, w.roles FROM hx_learners l, lms.who_can_see(l.user_id) w;
$$;
-- one random change of the relationships; NULL when the store refused it
CREATE FUNCTION pg_temp.change() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t1 bigint[] := ARRAY(SELECT user_id FROM lms.users WHERE tenant_id = 1 ORDER BY 1);
	g1 bigint[] := ARRAY[10, 11, 12, 13, 20, 30];
	u bigint := t1[1 + floor(random() * array_length(t1, 1))::int];
	v bigint := t1[1 + floor(random() * array_length(t1, 1))::int];
	g bigint := g1[1 + floor(random() * 6)::int];
	h bigint := g1[1 + floor(random() * 6)::int];
	roles text[] := ARRAY['group_admin', 'coach', 'group_analyst', 'group_leader', 'editor'];
	sql text;
BEGIN
	sql := CASE floor(random() * 12)::int
		WHEN 0 THEN format('INSERT INTO lms.group_members VALUES (%s, %s)', g, u)
		WHEN 1 THEN format('DELETE FROM lms.group_members WHERE (group_id, user_id) IN (SELECT group_id, user_id FROM lms.group_members WHERE group_id = %s ORDER BY user_id LIMIT 1)', g)
		WHEN 2 THEN format('INSERT INTO lms.group_roles VALUES (%s, %s, %L)', g, u, roles[1 + floor(random() * 5)::int])
		WHEN 3 THEN format('DELETE FROM lms.group_roles WHERE group_id = %s AND user_id = (SELECT min(user_id) FROM lms.group_roles WHERE group_id = %s)', g, g)
		WHEN 4 THEN format('UPDATE lms.groups SET parent_group_id = %s WHERE group_id = %s', CASE WHEN random() < 0.3 THEN 'NULL' ELSE h::text END, g)
		WHEN 5 THEN format('INSERT INTO lms.managers VALUES (%s, %s)', u, v)
		WHEN 6 THEN format('DELETE FROM lms.managers WHERE manager_id = (SELECT min(manager_id) FROM lms.managers)')
		WHEN 7 THEN format('INSERT INTO lms.tenant_roles VALUES (%s, %L)', u, (ARRAY['platform_admin', 'learner_manager', 'contributor'])[1 + floor(random() * 3)::int])
		WHEN 8 THEN format('DELETE FROM lms.tenant_roles WHERE user_id = (SELECT max(user_id) FROM lms.tenant_roles WHERE user_id < 200)')
		WHEN 9 THEN format('INSERT INTO lms.slot_registrations VALUES (507, %s)', u)
		WHEN 10 THEN format('INSERT INTO lms.session_instructors VALUES (%s, %s)', (ARRAY[502, 503])[1 + floor(random() * 2)::int], u)
		ELSE 'UPDATE lms.tenants SET extended_visibility = NOT extended_visibility WHERE tenant_id = 2'
	END;
	BEGIN
		EXECUTE sql;
	EXCEPTION WHEN OTHERS THEN
		RETURN NULL;
	END;
	RETURN sql;
END
$$;

-- the history: the sample as step 0, then :steps changes, each a minute
-- after the one before
CREATE TEMP TABLE hx_length AS SELECT :steps AS steps;
DO $$
DECLARE
	t0 timestamptz := (SELECT max(committed_at) FROM lms.history);
	last bigint := (SELECT max(id) FROM lms.history);
	s int := 0;
	c text;
BEGIN
	INSERT INTO hx_steps VALUES (0, t0, 'the sample');
	PERFORM pg_temp.record(0);
	WHILE s < (SELECT steps FROM hx_length) LOOP
		c := pg_temp.change();
		CONTINUE WHEN c IS NULL OR NOT EXISTS (SELECT FROM lms.history WHERE id > last);
		s := s + 1;
		UPDATE lms.history SET committed_at = t0 + s * interval '1 minute' WHERE id > last;
		last := (SELECT max(id) FROM lms.history);
		INSERT INTO hx_steps VALUES (s, t0 + s * interval '1 minute', c);
		PERFORM pg_temp.record(s);
	END LOOP;
END
$$;
SELECT is((SELECT count(*) FROM hx_steps), :steps + 1::bigint, 'a history of changes after the sample');
SELECT cmp_ok((SELECT count(DISTINCT change) FROM (SELECT split_part(change, ' ', 1) || split_part(change, ' ', 3) AS change FROM hx_steps) c),
	'>=', least(:steps - 2, 8)::bigint, 'of many kinds');

-- the times asked about: each step's and half a minute after it; each
-- principal at a quarter of them
CREATE TEMP TABLE hx_times AS
	SELECT step, at FROM hx_steps
	UNION ALL SELECT step, at + interval '30 seconds' FROM hx_steps WHERE step % 3 = 1;
SELECT is(
	(SELECT count(*) FROM hx_times t JOIN hx_seen s USING (step)
	 WHERE (s.principal + t.step) % 4 = 0 AND ARRAY(SELECT lms.visible_users(s.principal, t.at)) IS DISTINCT FROM s.users),
	0::bigint,
	'visible_users(p, t) is U(p) as it was at t, for every principal and every time asked');
SELECT is(
	(SELECT count(*) FROM hx_rows r JOIN hx_steps s USING (step)
	 WHERE (r.principal + r.user_id + r.content_id + r.step) % 9 = 0
	   AND lms.can_view_stats(r.principal, r.user_id, r.content_id, r.context, s.at + interval '10 seconds') IS DISTINCT FROM r.granted),
	0::bigint,
	'can_view_stats(p, u, c, x, t) is the row rule as it was at t');
SELECT cmp_ok((SELECT count(DISTINCT (principal, users)) FROM hx_seen), '>', (SELECT count(*) FROM lms.users) + :steps / 2,
	'the principals saw different users at different times');

-- who_could_see over intervals: every principal, its roles and periods
-- are those of who_can_see at each step of the interval
CREATE TEMP TABLE hx_asked AS
	SELECT l.user_id, a.step AS from_step, a.step + len AS to_step
	FROM hx_learners l, (VALUES (0, 1.0), (0.1, 0.3), (0.3, 0), (0.5, 0.4), (0.8, 0.2)) v(f, part),
		LATERAL (SELECT floor(v.f * :steps)::int AS step, floor(v.part * :steps)::int AS len) a
	WHERE (l.user_id + floor(v.f * 10)::int) % 3 = 0;
CREATE TEMP TABLE hx_answers AS
	SELECT a.*, w.*
	FROM hx_asked a
	JOIN hx_steps f ON f.step = a.from_step JOIN hx_steps t ON t.step = a.to_step,
	LATERAL lms.who_could_see(a.user_id, f.at + interval '20 seconds', t.at + interval '20 seconds') w;
-- each step of each interval, from the moment its state holds in it
CREATE TEMP VIEW hx_spans AS
	SELECT a.user_id, a.from_step, s.step,
		CASE WHEN s.step = a.from_step THEN s.at + interval '20 seconds' ELSE s.at END AS starts
	FROM hx_asked a JOIN hx_steps s ON s.step BETWEEN a.from_step AND a.to_step;
CREATE TEMP VIEW hx_said AS
	SELECT p.user_id, p.from_step, p.step, a.principal, a.roles
	FROM hx_spans p JOIN hx_answers a USING (user_id, from_step)
	WHERE a.could_see_from <= p.starts AND (a.could_see_until IS NULL OR a.could_see_until > p.starts);
CREATE TEMP VIEW hx_true AS
	SELECT p.user_id, p.from_step, p.step, w.principal, w.roles
	FROM hx_spans p JOIN hx_who w ON w.step = p.step AND w.user_id = p.user_id;
SELECT is((SELECT count(*) FROM ((TABLE hx_true EXCEPT TABLE hx_said) UNION ALL (TABLE hx_said EXCEPT TABLE hx_true)) d),
	0::bigint,
	'who_could_see(u, from, to): each principal with its roles for exactly the steps it could see the learner');
SELECT cmp_ok((SELECT count(*) FROM hx_answers WHERE could_see_until IS NOT NULL), '>', 0::bigint,
	'some could see only for a while');
SELECT is((SELECT count(*) FROM hx_answers a JOIN hx_answers b USING (user_id, from_step, principal, roles)
		   WHERE a.could_see_from < b.could_see_from AND a.could_see_until >= b.could_see_from),
	0::bigint, 'the periods of a principal with the same roles do not touch: they are run together');

-- nothing of the undo stays: the store and this backend's answers are today's
SELECT is(ARRAY(SELECT lms.visible_users(s.principal) ORDER BY 1), s.users, 'U(p) of today after the questions')
FROM hx_seen s WHERE s.step = :steps AND s.principal = 103;
SELECT is((SELECT count(*) FROM hx_seen s WHERE s.step = :steps AND lms.visible_user_ids(s.principal) IS DISTINCT FROM s.users),
	0::bigint, 'every principal''s U(p) is today''s after the questions');

-- refused: a time before the history begins, an interval backwards
SELECT throws_ok($$SELECT lms.visible_users(103, '2000-01-01')$$, '22023', NULL,
	'a time before the history begins is refused');
SELECT throws_ok(format('SELECT * FROM lms.who_could_see(120, %L, %L)', (SELECT at FROM hx_steps WHERE step = 5),
						(SELECT at FROM hx_steps WHERE step = 2)),
	'22023', NULL, 'an interval that ends before it begins is refused');

-- who may: superusers and trusted roles, not a bound reader
SELECT at AS at3, users AS coach3 FROM hx_steps JOIN hx_seen USING (step) WHERE step = 3 AND principal = 104 \gset
SET ROLE hx_reader;
SELECT throws_ok(format('SELECT lms.visible_users(104, %L)', :'at3'),
	'42501', NULL, 'a bound reader may not ask the past, not even its own');
RESET ROLE;
SET ROLE hx_trusted;
SELECT is(ARRAY(SELECT lms.visible_users(104, :'at3')), :'coach3'::bigint[], 'a trusted role may');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
