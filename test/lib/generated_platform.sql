-- A generated tenant (9, extended visibility on) with every kind of role
-- and relation at random: 300 users, a forest of 40 groups, 88 content
-- items, enrolments and progress.  Loaded after sample/platform.sql by the
-- property tests (test/06, test/16); random() is seeded, so every run
-- generates the same platform.
SELECT setseed(0.42);
INSERT INTO lms.tenants VALUES (9, 'Generated', true);
INSERT INTO lms.users (user_id, tenant_id, first_name) SELECT 9000 + i, 9, 'u' || i FROM generate_series(1, 300) i;
-- a random forest of 40 groups: a parent always has a smaller id
INSERT INTO lms.groups SELECT 900 + i, 9, 'g' || i,
	CASE WHEN i > 4 AND random() < 0.8 THEN 900 + 1 + floor(random() * (i - 1))::int END
	FROM generate_series(1, 40) i;
INSERT INTO lms.group_connections
	SELECT DISTINCT ON (least(a, b), greatest(a, b)) a, b FROM (
		SELECT 901 + floor(random() * 40)::int a, 901 + floor(random() * 40)::int b FROM generate_series(1, 15)) x
	WHERE a <> b ON CONFLICT DO NOTHING;
INSERT INTO lms.group_members SELECT 901 + floor(random() * 40)::int, 9001 + floor(random() * 300)::int
	FROM generate_series(1, 450) ON CONFLICT DO NOTHING;
INSERT INTO lms.tenant_roles VALUES (9001, 'platform_admin'), (9002, 'learner_manager'), (9003, 'contributor'), (9004, 'contributor');
INSERT INTO lms.group_roles SELECT 901 + floor(random() * 40)::int, 9001 + floor(random() * 120)::int,
	(ARRAY['group_admin', 'coach', 'group_analyst', 'group_leader', 'editor'])[1 + floor(random() * 5)::int]
	FROM generate_series(1, 90) ON CONFLICT DO NOTHING;
INSERT INTO lms.managers SELECT a, b FROM (SELECT 9001 + floor(random() * 150)::int a, 9001 + floor(random() * 300)::int b
	FROM generate_series(1, 160)) x WHERE a <> b ON CONFLICT DO NOTHING;
-- content: 10 paths with 2 sessions, 40 courses, 6 classrooms with 2 slots
INSERT INTO lms.content SELECT 90000 + i, 9, 'path', 'path ' || i, NULL,
	CASE WHEN random() < 0.85 THEN 901 + floor(random() * 40)::int END,
	CASE WHEN random() < 0.3 THEN 9001 + floor(random() * 120)::int END FROM generate_series(1, 10) i;
INSERT INTO lms.content SELECT 90100 + i, 9, 'path_session', 'session ' || i, 90001 + (i - 1) / 2,
	CASE WHEN random() < 0.5 THEN 901 + floor(random() * 40)::int END, NULL FROM generate_series(1, 20) i;
INSERT INTO lms.content SELECT 90200 + i, 9, 'course', 'course ' || i, NULL,
	CASE WHEN random() < 0.7 THEN 901 + floor(random() * 40)::int END,
	CASE WHEN random() < 0.2 THEN 9001 + floor(random() * 120)::int END FROM generate_series(1, 40) i;
INSERT INTO lms.content SELECT 90300 + i, 9, 'classroom', 'classroom ' || i, NULL,
	CASE WHEN random() < 0.8 THEN 901 + floor(random() * 40)::int END, NULL FROM generate_series(1, 6) i;
INSERT INTO lms.content SELECT 90400 + i, 9, 'classroom_slot', 'slot ' || i, 90301 + (i - 1) / 2,
	CASE WHEN random() < 0.4 THEN 901 + floor(random() * 40)::int END, NULL FROM generate_series(1, 12) i;
CREATE TEMP TABLE gen_content AS SELECT content_id, kind FROM lms.content WHERE tenant_id = 9;
INSERT INTO lms.content_coauthors SELECT (SELECT content_id FROM gen_content ORDER BY random() + g * 0 LIMIT 1), 9001 + floor(random() * 120)::int
	FROM generate_series(1, 25) g ON CONFLICT DO NOTHING;
INSERT INTO lms.path_steps SELECT 90001 + floor(random() * 10)::int, 90201 + floor(random() * 40)::int, 1
	FROM generate_series(1, 30) ON CONFLICT DO NOTHING;
INSERT INTO lms.catalog_entries SELECT 901 + floor(random() * 40)::int, (SELECT content_id FROM gen_content ORDER BY random() + g * 0 LIMIT 1)
	FROM generate_series(1, 90) g ON CONFLICT DO NOTHING;
INSERT INTO lms.group_enrollments SELECT 901 + floor(random() * 40)::int, (SELECT content_id FROM gen_content ORDER BY random() + g * 0 LIMIT 1),
	CASE WHEN random() < 0.5 THEN 'legacy' ELSE 'audience_builder' END FROM generate_series(1, 40) g ON CONFLICT DO NOTHING;
INSERT INTO lms.session_instructors SELECT 90101 + floor(random() * 20)::int, 9001 + floor(random() * 120)::int
	FROM generate_series(1, 15) ON CONFLICT DO NOTHING;
INSERT INTO lms.slot_trainers SELECT 90401 + floor(random() * 12)::int, 9001 + floor(random() * 120)::int
	FROM generate_series(1, 12) ON CONFLICT DO NOTHING;
INSERT INTO lms.slot_registrations SELECT 90401 + floor(random() * 12)::int, 9001 + floor(random() * 300)::int
	FROM generate_series(1, 60) ON CONFLICT DO NOTHING;
INSERT INTO lms.enrollments (user_id, content_id, source, assigned_by_group_id)
	SELECT 9001 + floor(random() * 300)::int, (SELECT content_id FROM gen_content ORDER BY random() + g * 0 LIMIT 1), 'assigned',
	CASE WHEN random() < 0.7 THEN 901 + floor(random() * 40)::int END FROM generate_series(1, 300) g ON CONFLICT DO NOTHING;
INSERT INTO lms.progress (user_id, content_id, session_id, context_group_id, score)
	SELECT 9001 + floor(random() * 300)::int, c.content_id,
		CASE WHEN c.kind = 'path' AND random() < 0.6 THEN 90101 + floor(random() * 20)::int END,
		CASE WHEN random() < 0.8 THEN 901 + floor(random() * 40)::int END, floor(random() * 101)
	FROM (SELECT (SELECT content_id FROM gen_content ORDER BY random() + g * 0 LIMIT 1) AS content_id FROM generate_series(1, 1500) g) x
	JOIN gen_content c USING (content_id) ON CONFLICT DO NOTHING;
