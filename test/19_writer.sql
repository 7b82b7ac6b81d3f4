-- The sync service's role lms_writer: it writes every store table with the
-- integrity and invalidation triggers on, as a member that has not run SET
-- ROLE and, for COPY, as lms_writer itself; it cannot bind, trust, act for
-- a principal or TRUNCATE, and a reader sees its writes from the next
-- statement.
BEGIN;
SELECT plan(16);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE sync_login;
GRANT lms_writer TO sync_login;
CREATE ROLE w_reader;
SELECT lms.bind_role('w_reader', 103);
\set QUIET 0

SELECT ok(NOT lms.can_view_user(103, 129), 'before: the group_admin of Sales does not see user 129');
SET ROLE sync_login;
SELECT lives_ok($$INSERT INTO lms.group_members VALUES (12, 129)$$, 'a member of lms_writer inserts a membership');
SELECT lives_ok($$UPDATE lms.progress SET score = 99, viewed_pct = 100 WHERE user_id = 120 AND content_id = 504$$,
	'updates statistics');
SELECT lives_ok($$INSERT INTO lms.progress (user_id, content_id, score) VALUES (120, 504, 42), (129, 504, 7)
	ON CONFLICT (user_id, content_id) DO UPDATE SET score = EXCLUDED.score$$,
	'upserts them with INSERT ... ON CONFLICT');
SELECT lives_ok($$DELETE FROM lms.managers WHERE manager_id = 109$$, 'deletes relationships');
SELECT throws_ok($$INSERT INTO lms.group_members VALUES (40, 120)$$, '23514', NULL,
	'the integrity triggers still refuse a row linking two tenants');
SELECT throws_ok($$INSERT INTO lms.role_bindings VALUES ('sync_login', 101)$$, '42501', NULL, 'it cannot bind a role');
SELECT throws_ok($$SELECT lms.bind_role('sync_login', 101)$$, '42501', NULL, 'nor call bind_role');
SELECT throws_ok($$INSERT INTO lms.trusted_roles VALUES ('sync_login')$$, '42501', NULL, 'nor trust one');
SELECT throws_ok($$SELECT lms.trust_role('sync_login')$$, '42501', NULL, 'nor call trust_role');
SELECT throws_ok($$TRUNCATE lms.progress$$, '42501', NULL, 'nor TRUNCATE');
SELECT throws_ok($$SELECT set_config('lms.principal', '101', true), lms.current_principal()$$, '42501', NULL,
	'nor act for a principal');
RESET ROLE;
SELECT is((SELECT score FROM lms.progress WHERE user_id = 120 AND content_id = 504), 42::numeric, 'the upsert landed');
SET ROLE w_reader;
SELECT ok(EXISTS (SELECT 1 FROM lms.progress WHERE user_id = 129), 'the group_admin sees the new member''s row at once');
RESET ROLE;

-- bulk loading: COPY as lms_writer itself
SET ROLE sync_login;
SET ROLE lms_writer;
COPY lms.progress (user_id, content_id, score) FROM STDIN;
121	509	60
123	508	70
\.
RESET ROLE;
SELECT is((SELECT count(*) FROM lms.progress WHERE (user_id, content_id) IN ((121, 509), (123, 508))), 2::bigint,
	'COPY FROM as lms_writer loads the rows');
SELECT is((SELECT rolbypassrls AND NOT rolcanlogin FROM pg_roles WHERE rolname = 'lms_writer'), true,
	'lms_writer bypasses row-level security and cannot log in');

SELECT * FROM finish();
ROLLBACK;
