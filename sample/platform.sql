-- sample/platform.sql: a small but realistic learning platform.
-- Two tenants; tenant 1 (Acme) has extended visibility off, tenant 2
-- (Globex) has it on.  Ids are the platform's own: users 1xx/2xx,
-- groups 1x/4x, content 5xx/6xx.

INSERT INTO lms.tenants (tenant_id, name, extended_visibility) VALUES
	(1, 'Acme Learning', false),
	(2, 'Globex Academy', true);

INSERT INTO lms.users (user_id, tenant_id, first_name, last_name, email, company, last_sign_in_at, custom_fields) VALUES
	(101, 1, 'Alice', 'Admin', 'alice@acme.test', 'Acme', '2026-11-20 09:00+00', '{"site": "HQ"}'),
	(102, 1, 'Lena', 'Learnermgr', 'lena@acme.test', 'Acme', '2026-11-19 10:00+00', '{}'),
	(103, 1, 'Gary', 'Groupadmin', 'gary@acme.test', 'Acme', '2026-11-18 11:00+00', '{}'),
	(104, 1, 'Carla', 'Coach', 'carla@acme.test', 'Acme', '2026-11-17 12:00+00', '{}'),
	(105, 1, 'Ana', 'Analyst', 'ana@partner.test', 'Partner Co', '2026-11-16 13:00+00', '{}'),
	(106, 1, 'Leo', 'Leader', 'leo@acme.test', 'Acme', NULL, '{}'),
	(107, 1, 'Ed', 'Editor', 'ed@acme.test', 'Acme', NULL, '{}'),
	(108, 1, 'Mia', 'Manager', 'mia@acme.test', 'Acme', NULL, '{}'),
	(109, 1, 'Mark', 'Midmanager', 'mark@acme.test', 'Acme', NULL, '{}'),
	(110, 1, 'Nina', 'Report', 'nina@acme.test', 'Acme', '2026-11-10 08:00+00', '{"site": "East"}'),
	(111, 1, 'Omar', 'Report', 'omar@acme.test', 'Acme', '2026-11-11 08:00+00', '{"site": "Partner"}'),
	(112, 1, 'Tom', 'Trainer', 'tom@acme.test', 'Acme', NULL, '{}'),
	(113, 1, 'Ivy', 'Instructor', 'ivy@acme.test', 'Acme', NULL, '{}'),
	(114, 1, 'Cora', 'Contributor', 'cora@acme.test', 'Acme', NULL, '{}'),
	(115, 1, 'Bob', 'Bystander', 'bob@acme.test', 'Acme', NULL, '{}'),
	(120, 1, 'Eve', 'East', 'eve@acme.test', 'Acme', '2026-11-12 08:00+00', '{"site": "East"}'),
	(121, 1, 'Ed', 'East', 'ed.east@acme.test', 'Acme', '2026-11-12 09:00+00', '{"site": "East"}'),
	(123, 1, 'Wes', 'West', 'wes@acme.test', 'Acme', '2026-11-13 08:00+00', '{"site": "West"}'),
	(125, 1, 'Ian', 'Intern', 'ian@acme.test', 'Acme', '2026-11-14 08:00+00', '{"site": "East"}'),
	(127, 1, 'Sam', 'Sales', 'sam@acme.test', 'Acme', '2026-11-15 08:00+00', '{}'),
	(129, 1, 'Pat', 'Partner', 'pat@partner.test', 'Partner Co', '2026-11-15 09:00+00', '{}'),
	(201, 2, 'Gina', 'Globexadmin', 'gina@globex.test', 'Globex', NULL, '{}'),
	(202, 2, 'Hank', 'Opsadmin', 'hank@globex.test', 'Globex', NULL, '{}'),
	(203, 2, 'Olga', 'Nightcoach', 'olga@globex.test', 'Globex', NULL, '{}'),
	(210, 2, 'Rita', 'Ops', 'rita@globex.test', 'Globex', NULL, '{}'),
	(211, 2, 'Nick', 'Night', 'nick@globex.test', 'Globex', NULL, '{}'),
	(212, 2, 'Fay', 'Field', 'fay@globex.test', 'Globex', NULL, '{}');

-- Acme: Sales > (Sales East > East Interns, Sales West); Content Team; Partners (connected to Sales East)
INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES
	(10, 1, 'Sales', NULL),
	(11, 1, 'Sales East', 10),
	(12, 1, 'Sales West', 10),
	(13, 1, 'East Interns', 11),
	(20, 1, 'Content Team', NULL),
	(30, 1, 'Partners', NULL),
	(40, 2, 'Ops', NULL),
	(41, 2, 'Ops Night', 40),
	(42, 2, 'Field', NULL);
INSERT INTO lms.group_connections (group_id, connected_group_id) VALUES (11, 30), (41, 42);

INSERT INTO lms.group_members (group_id, user_id) VALUES
	(10, 127), (11, 120), (11, 121), (11, 110), (12, 123), (13, 125), (30, 129), (30, 111),
	(40, 210), (41, 211), (42, 212);

INSERT INTO lms.tenant_roles (user_id, role) VALUES
	(101, 'platform_admin'), (102, 'learner_manager'), (114, 'contributor'), (201, 'platform_admin');
INSERT INTO lms.group_roles (group_id, user_id, role) VALUES
	(10, 103, 'group_admin'), (11, 104, 'coach'), (10, 105, 'group_analyst'),
	(12, 106, 'group_leader'), (20, 107, 'editor'), (40, 202, 'group_admin'), (41, 203, 'coach');
-- Mia manages Mark, Mark manages Nina and Omar
INSERT INTO lms.managers (manager_id, user_id) VALUES (108, 109), (109, 110), (109, 111);

INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id, owner_group_id, main_author_id) VALUES
	(501, 1, 'path', 'Onboarding Path', NULL, 10, NULL),
	(502, 1, 'path_session', 'Onboarding - January', 501, 11, NULL),
	(503, 1, 'path_session', 'Onboarding - February', 501, 10, NULL),
	(504, 1, 'course', 'Safety Basics', NULL, 10, NULL),
	(505, 1, 'course', 'Negotiation', NULL, 30, 114),
	(506, 1, 'classroom', 'Sales Workshop', NULL, 12, NULL),
	(507, 1, 'classroom_slot', 'Sales Workshop - Monday', 506, 12, NULL),
	(508, 1, 'course', 'Compliance', NULL, 20, NULL),
	(509, 1, 'course', 'Excel for Sales', NULL, NULL, NULL),
	(510, 1, 'course', 'Partner Leadership', NULL, 30, NULL),
	(511, 1, 'path', 'Content Path', NULL, 20, 107),
	(601, 2, 'course', 'Field Safety', NULL, 42, NULL),
	(602, 2, 'course', 'Night Driving', NULL, NULL, NULL),
	(603, 2, 'course', 'Ops Basics', NULL, 40, NULL);
INSERT INTO lms.content_coauthors (content_id, user_id) VALUES (505, 107);
INSERT INTO lms.path_steps (path_id, step_id, position) VALUES (501, 504, 1), (501, 508, 2);
INSERT INTO lms.catalog_entries (group_id, content_id) VALUES
	(11, 508), (10, 511), (30, 510), (42, 602);
INSERT INTO lms.group_enrollments (group_id, content_id, method) VALUES
	(11, 509, 'legacy'), (12, 511, 'audience_builder');
INSERT INTO lms.session_instructors (session_id, user_id) VALUES (502, 113);
INSERT INTO lms.slot_trainers (slot_id, user_id) VALUES (507, 112);
INSERT INTO lms.slot_registrations (slot_id, user_id) VALUES (507, 123), (507, 120);

INSERT INTO lms.enrollments (user_id, content_id, source, assigned_by_group_id, activated_at, expires_at) VALUES
	(120, 504, 'assigned', 10, '2026-09-01+00', '2027-09-01+00'),
	(121, 504, 'assigned', 10, '2026-09-01+00', '2027-09-01+00'),
	(125, 504, 'assigned', 10, '2026-09-02+00', NULL),
	(127, 504, 'assigned', 10, '2026-09-03+00', NULL),
	(120, 508, 'self', NULL, '2026-09-05+00', NULL),
	(123, 509, 'group', NULL, '2026-09-06+00', NULL),
	(110, 505, 'self', NULL, '2026-09-07+00', NULL),
	(211, 601, 'self', NULL, '2026-09-08+00', NULL);

INSERT INTO lms.progress (user_id, content_id, session_id, context_group_id, started_at, completed_at,
						  viewed_pct, completed_pct, score, certificate_issued_at, last_activity_at) VALUES
	(120, 504, NULL, 11, '2026-09-02+00', '2026-09-10+00', 100, 100, 92, '2026-09-10+00', '2026-09-10+00'),
	(121, 504, NULL, 11, '2026-09-02+00', NULL, 60, 40, NULL, NULL, '2026-09-20+00'),
	(125, 504, NULL, 13, '2026-09-03+00', '2026-09-12+00', 100, 100, 78, NULL, '2026-09-12+00'),
	(127, 504, NULL, 10, '2026-09-04+00', '2026-09-14+00', 100, 100, 85, '2026-09-14+00', '2026-09-14+00'),
	(120, 508, NULL, 11, '2026-09-05+00', NULL, 30, 20, NULL, NULL, '2026-09-21+00'),
	(123, 509, NULL, 12, '2026-09-06+00', '2026-09-16+00', 100, 100, 70, NULL, '2026-09-16+00'),
	(120, 509, NULL, 11, '2026-09-06+00', NULL, 10, 0, NULL, NULL, '2026-09-06+00'),
	(110, 505, NULL, 11, '2026-09-07+00', '2026-09-17+00', 100, 100, 88, '2026-09-17+00', '2026-09-17+00'),
	(111, 510, NULL, 30, '2026-09-07+00', NULL, 50, 50, NULL, NULL, '2026-09-18+00'),
	(110, 510, NULL, 30, '2026-09-08+00', NULL, 20, 20, NULL, NULL, '2026-09-18+00'),
	(121, 502, 502, 11, '2026-09-08+00', NULL, 40, 30, NULL, NULL, '2026-09-19+00'),
	(110, 501, 502, 11, '2026-09-08+00', NULL, 40, 30, NULL, NULL, '2026-09-19+00'),
	(123, 507, NULL, 12, '2026-09-09+00', '2026-09-09+00', 100, 100, NULL, NULL, '2026-09-09+00'),
	(120, 507, NULL, 11, '2026-09-09+00', NULL, 0, 0, NULL, NULL, '2026-09-09+00'),
	(129, 510, NULL, 30, '2026-09-10+00', '2026-09-20+00', 100, 100, 95, NULL, '2026-09-20+00'),
	(123, 511, NULL, 12, '2026-09-10+00', NULL, 10, 10, NULL, NULL, '2026-09-10+00'),
	(210, 603, NULL, 40, '2026-09-11+00', NULL, 50, 50, NULL, NULL, '2026-09-11+00'),
	(211, 601, NULL, 42, '2026-09-11+00', NULL, 70, 60, NULL, NULL, '2026-09-12+00'),
	(211, 602, NULL, 42, '2026-09-12+00', NULL, 30, 30, NULL, NULL, '2026-09-13+00'),
	(211, 603, NULL, 41, '2026-09-12+00', NULL, 80, 80, NULL, NULL, '2026-09-13+00'),
	(211, 602, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL) ON CONFLICT DO NOTHING;

