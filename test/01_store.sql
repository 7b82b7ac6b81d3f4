-- doc/reference.md, "Tables": every table and column, and every constraint of the store:
-- the bad row refused with the right SQLSTATE, the good row accepted.
BEGIN;
SELECT plan(81);
\set QUIET 1
\i sample/platform.sql
\set QUIET 0

SELECT columns_are('lms', 'tenants', ARRAY['tenant_id', 'name', 'extended_visibility']);
SELECT columns_are('lms', 'users', ARRAY['user_id', 'tenant_id', 'first_name', 'last_name', 'email', 'company', 'last_sign_in_at', 'custom_fields']);
SELECT columns_are('lms', 'groups', ARRAY['group_id', 'tenant_id', 'name', 'parent_group_id', 'created_by']);
SELECT columns_are('lms', 'group_connections', ARRAY['group_id', 'connected_group_id']);
SELECT columns_are('lms', 'group_members', ARRAY['group_id', 'user_id']);
SELECT columns_are('lms', 'tenant_roles', ARRAY['user_id', 'role']);
SELECT columns_are('lms', 'group_roles', ARRAY['group_id', 'user_id', 'role']);
SELECT columns_are('lms', 'managers', ARRAY['manager_id', 'user_id']);
SELECT columns_are('lms', 'content', ARRAY['content_id', 'tenant_id', 'kind', 'title', 'parent_content_id', 'owner_group_id', 'main_author_id']);
SELECT columns_are('lms', 'content_coauthors', ARRAY['content_id', 'user_id']);
SELECT columns_are('lms', 'path_steps', ARRAY['path_id', 'step_id', 'position']);
SELECT columns_are('lms', 'catalog_entries', ARRAY['group_id', 'content_id']);
SELECT columns_are('lms', 'group_enrollments', ARRAY['group_id', 'content_id', 'method']);
SELECT columns_are('lms', 'session_instructors', ARRAY['session_id', 'user_id']);
SELECT columns_are('lms', 'slot_trainers', ARRAY['slot_id', 'user_id']);
SELECT columns_are('lms', 'slot_registrations', ARRAY['slot_id', 'user_id']);
SELECT columns_are('lms', 'enrollments', ARRAY['user_id', 'content_id', 'source', 'assigned_by_group_id', 'activated_at', 'expires_at']);
SELECT columns_are('lms', 'progress', ARRAY['user_id', 'content_id', 'session_id', 'context_group_id', 'started_at', 'completed_at', 'viewed_pct', 'completed_pct', 'score', 'certificate_issued_at', 'last_activity_at']);
SELECT col_is_pk('lms', 'group_roles', ARRAY['group_id', 'user_id', 'role']::name[], 'group_roles key');
SELECT col_is_pk('lms', 'progress', ARRAY['user_id', 'content_id']::name[], 'progress key');
SELECT col_default_is('lms', 'tenants', 'extended_visibility', 'false'::text, 'extended_visibility defaults to false');
SELECT col_has_default('lms', 'users', 'custom_fields', 'custom_fields has a default');

-- pg_dump keeps the rows of every relationship table
SELECT set_eq(
	$$SELECT unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = 'lms_visibility'$$,
	ARRAY['lms.tenants', 'lms.users', 'lms.groups', 'lms.group_connections', 'lms.group_members',
		  'lms.tenant_roles', 'lms.group_roles', 'lms.managers', 'lms.content', 'lms.content_coauthors',
		  'lms.path_steps', 'lms.catalog_entries', 'lms.group_enrollments', 'lms.session_instructors',
		  'lms.slot_trainers', 'lms.slot_registrations', 'lms.enrollments', 'lms.progress',
		  'lms.role_bindings', 'lms.trusted_roles', 'lms.secret', 'lms.history', 'lms.history_id_seq',
		  'lms.history_horizon'],
	'every store table is registered with pg_extension_config_dump');

-- cross-tenant links: refused, naming both ids
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (40, 120)$$, '23514',
	'user 120 belongs to tenant 1, but group 40 belongs to tenant 2', 'member of another tenant''s group');
SELECT throws_ok($$INSERT INTO lms.groups VALUES (90, 2, 'x', 10)$$, '23514', NULL, 'subgroup under another tenant''s group');
SELECT throws_ok($$INSERT INTO lms.group_connections VALUES (10, 42)$$, '23514', NULL, 'connection across tenants');
SELECT throws_ok($$INSERT INTO lms.group_roles VALUES (40, 103, 'coach')$$, '23514', NULL, 'group role in another tenant');
SELECT throws_ok($$INSERT INTO lms.managers VALUES (201, 120)$$, '23514', NULL, 'manager of another tenant');
SELECT throws_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title, owner_group_id) VALUES (900, 1, 'course', 'x', 40)$$,
	'23514', 'group 40 belongs to tenant 2, not to tenant 1', 'content owned by another tenant''s group');
SELECT throws_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title, main_author_id) VALUES (900, 1, 'course', 'x', 201)$$,
	'23514', NULL, 'main author of another tenant');
SELECT throws_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id) VALUES (900, 2, 'path_session', 'x', 501)$$,
	'23514', NULL, 'session under another tenant''s path');
SELECT throws_ok($$INSERT INTO lms.content_coauthors VALUES (601, 107)$$, '23514', NULL, 'co-author of another tenant');
SELECT throws_ok($$INSERT INTO lms.path_steps VALUES (501, 601, 3)$$, '23514', NULL, 'step of another tenant');
SELECT throws_ok($$INSERT INTO lms.catalog_entries VALUES (42, 504)$$, '23514', NULL, 'catalog entry across tenants');
SELECT throws_ok($$INSERT INTO lms.group_enrollments VALUES (42, 504, 'legacy')$$, '23514', NULL, 'group enrolment across tenants');
SELECT throws_ok($$INSERT INTO lms.session_instructors VALUES (502, 201)$$, '23514', NULL, 'instructor of another tenant');
SELECT throws_ok($$INSERT INTO lms.slot_trainers VALUES (507, 201)$$, '23514', NULL, 'trainer of another tenant');
SELECT throws_ok($$INSERT INTO lms.slot_registrations VALUES (507, 210)$$, '23514', NULL, 'registration of another tenant');
SELECT throws_ok($$INSERT INTO lms.enrollments (user_id, content_id) VALUES (210, 504)$$, '23514', NULL, 'enrolment across tenants');
SELECT throws_ok($$INSERT INTO lms.enrollments (user_id, content_id, source, assigned_by_group_id) VALUES (120, 508, 'assigned', 40)$$,
	'23514', NULL, 'enrolment assigned by another tenant''s group');
SELECT throws_ok($$INSERT INTO lms.progress (user_id, content_id) VALUES (210, 504)$$, '23514', NULL, 'progress across tenants');
SELECT throws_ok($$INSERT INTO lms.progress (user_id, content_id, context_group_id) VALUES (121, 508, 42)$$,
	'23514', 'group 42 belongs to tenant 2, but user 121 belongs to tenant 1', 'progress with another tenant''s context group');
SELECT throws_ok($$INSERT INTO lms.progress (user_id, content_id, session_id) VALUES (211, 603, 502)$$,
	'23514', NULL, 'progress with another tenant''s session');
SELECT throws_ok($$UPDATE lms.users SET tenant_id = 2 WHERE user_id = 115$$, '23514', NULL, 'a user''s tenant never changes');
SELECT throws_ok($$UPDATE lms.group_members SET user_id = 210 WHERE group_id = 11 AND user_id = 120$$, '23514', NULL,
	'an UPDATE is guarded like an INSERT');
SELECT throws_ok($$INSERT INTO lms.group_members SELECT 11, 121 UNION ALL SELECT 40, 121$$, '23505', NULL,
	'a duplicate membership is refused');

-- trees
SELECT throws_ok($$UPDATE lms.groups SET parent_group_id = 13 WHERE group_id = 10$$, '23514', NULL, 'a cycle of groups');
SELECT throws_ok($$UPDATE lms.groups SET parent_group_id = 10 WHERE group_id = 10$$, '23514', NULL, 'a group as its own parent');
SELECT throws_ok($$INSERT INTO lms.groups VALUES (91, 1, 'a', 92), (92, 1, 'b', 91)$$, '23514', NULL, 'a cycle within one statement');
SELECT lives_ok($$UPDATE lms.groups SET parent_group_id = 12 WHERE group_id = 13$$, 'moving a subgroup elsewhere is fine');
SELECT throws_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id) VALUES (901, 1, 'path_session', 'x', 504)$$,
	'23514', NULL, 'a path_session''s parent must be a path');
SELECT throws_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id) VALUES (902, 1, 'classroom_slot', 'x', 501)$$,
	'23514', NULL, 'a classroom_slot''s parent must be a classroom');
SELECT throws_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title) VALUES (903, 1, 'path_session', 'x')$$,
	'23514', NULL, 'a path_session needs a parent');
SELECT throws_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id) VALUES (904, 1, 'course', 'x', 501)$$,
	'23514', NULL, 'a course has no parent');
SELECT throws_ok($$UPDATE lms.content SET kind = 'course' WHERE content_id = 501$$, '23514', NULL, 'a path with sessions keeps its kind');
SELECT lives_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title, parent_content_id) VALUES (905, 1, 'path_session', 'ok', 501), (906, 1, 'classroom', 'ok', NULL), (907, 1, 'classroom_slot', 'ok', 906)$$,
	'well-parented sessions and slots go in, even in one statement');
SELECT throws_ok($$INSERT INTO lms.session_instructors VALUES (504, 113)$$, '23514', NULL, 'an instructor''s session must be a path_session');
SELECT throws_ok($$INSERT INTO lms.slot_trainers VALUES (506, 112)$$, '23514', NULL, 'a trainer''s slot must be a classroom_slot');
SELECT throws_ok($$INSERT INTO lms.path_steps VALUES (504, 508, 1)$$, '23514', NULL, 'steps belong to paths');
SELECT throws_ok($$INSERT INTO lms.progress (user_id, content_id, session_id) VALUES (121, 508, 504)$$, '23514', NULL,
	'a progress row''s session must be a path_session');

-- enumerations and ranges
SELECT throws_ok($$INSERT INTO lms.tenant_roles VALUES (115, 'root')$$, '23514', NULL, 'unknown tenant role');
SELECT throws_ok($$INSERT INTO lms.group_roles VALUES (10, 115, 'owner')$$, '23514', NULL, 'unknown group role');
SELECT throws_ok($$INSERT INTO lms.content (content_id, tenant_id, kind, title) VALUES (908, 1, 'webinar', 'x')$$, '23514', NULL, 'unknown kind');
SELECT throws_ok($$INSERT INTO lms.group_enrollments VALUES (10, 504, 'magic')$$, '23514', NULL, 'unknown enrolment method');
SELECT throws_ok($$INSERT INTO lms.enrollments (user_id, content_id, source) VALUES (115, 504, 'gift')$$, '23514', NULL, 'unknown source');
SELECT throws_ok($$INSERT INTO lms.progress (user_id, content_id, viewed_pct) VALUES (115, 504, 100.5)$$, '23514', NULL, 'viewed_pct over 100');
SELECT throws_ok($$INSERT INTO lms.progress (user_id, content_id, completed_pct) VALUES (115, 504, -0.1)$$, '23514', NULL, 'completed_pct under 0');
SELECT throws_ok($$INSERT INTO lms.progress (user_id, content_id, score) VALUES (115, 504, 101)$$, '23514', NULL, 'score over 100');
SELECT lives_ok($$INSERT INTO lms.progress (user_id, content_id, viewed_pct, completed_pct, score) VALUES (115, 504, 0, 100, 100)$$,
	'bounds 0 and 100 are accepted');
SELECT throws_ok($$INSERT INTO lms.managers VALUES (115, 115)$$, '23514', NULL, 'nobody manages themselves');
SELECT throws_ok($$INSERT INTO lms.group_connections VALUES (30, 11)$$, '23505', NULL, 'one row connects both ways');
SELECT throws_ok($$INSERT INTO lms.group_connections VALUES (30, 30)$$, '23514', NULL, 'a group is not connected to itself');
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (10, 99999)$$, '23503', NULL, 'unknown user');

-- deleting never silently loses statistics
-- the store's foreign keys are ON DELETE RESTRICT, which PostgreSQL 18
-- reports as restrict_violation (23001), earlier majors as 23503
SELECT CASE WHEN current_setting('server_version_num')::int >= 180000 THEN '23001' ELSE '23503' END AS restrict_code \gset
SELECT throws_ok($$DELETE FROM lms.users WHERE user_id = 129$$, :'restrict_code', NULL, 'a user with progress is not deleted');
SELECT throws_ok($$DELETE FROM lms.content WHERE content_id = 510$$, :'restrict_code', NULL, 'content with progress is not deleted');
SELECT throws_ok($$DELETE FROM lms.groups WHERE group_id = 42$$, :'restrict_code', NULL, 'a context group of progress is not deleted');
SELECT throws_ok($$DELETE FROM lms.groups WHERE group_id = 10$$, :'restrict_code', NULL, 'a group with subgroups is not deleted');
SELECT lives_ok($$DELETE FROM lms.groups WHERE group_id = 20$$, 'a group without statistics is deleted with its memberships and roles');
SELECT is((SELECT owner_group_id FROM lms.content WHERE content_id = 508), NULL, 'its content stays, unowned');
SELECT is((SELECT count(*)::int FROM lms.group_roles WHERE group_id = 20), 0, 'its roles go with it');
SELECT is((SELECT count(*)::int FROM lms.progress), 21, 'no progress row was lost');

SELECT * FROM finish();
ROLLBACK;
