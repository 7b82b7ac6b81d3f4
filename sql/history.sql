-- The relationship history (doc/accountability.md, "What changed"): each
-- committed change of a relationship table, with its columns the rules
-- read, its commit time, role and principal; nothing of a rolled-back one.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
TRUNCATE lms.history;
CREATE ROLE hist_writer IN ROLE lms_writer;
CREATE ROLE hist_app IN ROLE lms_writer;
SELECT FROM lms.trust_role('hist_app');
CREATE ROLE hist_reader IN ROLE pg_read_all_data;
CREATE VIEW hist AS
	SELECT relation, change, new_row, old_row, by_role, by_principal,
		dense_rank() OVER (ORDER BY committed_at) AS xact
	FROM lms.history ORDER BY id;
SET ROLE hist_writer;
-- an insert, an update of a column the rules read, a delete; a column they
-- do not read (the name) and a score leave nothing
BEGIN;
INSERT INTO lms.group_members (group_id, user_id) VALUES (11, 129);
UPDATE lms.groups SET parent_group_id = 10, name = 'Partners (moved)' WHERE group_id = 30;
UPDATE lms.groups SET name = 'Partners' WHERE group_id = 30;
UPDATE lms.progress SET score = 99 WHERE user_id = 110 AND content_id = 501;
DELETE FROM lms.managers WHERE manager_id = 109 AND user_id = 111;
COMMIT;
-- rolled back, whole or to a savepoint: nothing
BEGIN;
DELETE FROM lms.group_members WHERE group_id = 11;
ROLLBACK;
BEGIN;
INSERT INTO lms.tenant_roles (user_id, role) VALUES (110, 'contributor');
SAVEPOINT s;
DELETE FROM lms.group_roles WHERE user_id = 103;
ROLLBACK TO s;
COMMIT;
-- a change and its revert, each in its own transaction
UPDATE lms.groups SET parent_group_id = NULL WHERE group_id = 30;
-- learning paths' steps and progress are not relationships the rules read
UPDATE lms.path_steps SET position = position + 1;
-- a trusted application acting for a principal
BEGIN;
SET LOCAL ROLE hist_app;
SET LOCAL lms.principal = 103;
INSERT INTO lms.group_roles (group_id, user_id, role) VALUES (11, 110, 'coach');
COMMIT;
RESET ROLE;
-- (xact: the transactions in the order of their times, one time each)
SELECT * FROM hist;
-- a TRUNCATE: every row it removes
TRUNCATE lms.slot_trainers, lms.session_instructors;
SELECT relation, change, new_row, old_row FROM hist WHERE xact = (SELECT max(xact) FROM hist);
-- a TRUNCATE after a write in the same transaction: the deferred rows are
-- written first (PostgreSQL refuses a TRUNCATE with pending trigger events)
BEGIN;
INSERT INTO lms.slot_registrations (slot_id, user_id) VALUES (507, 125);
TRUNCATE lms.slot_registrations;
COMMIT;
SELECT relation, change, new_row, old_row FROM hist WHERE xact = (SELECT max(xact) FROM hist);
-- only superusers read it, also not through pg_read_all_data, and no one
-- but the triggers writes it
SET ROLE hist_writer;
SELECT count(*) FROM lms.history;
INSERT INTO lms.history (committed_at, relation, change) VALUES (now(), 'users', 'insert');
DELETE FROM lms.history;
SELECT lms.prune_history(now());
-- nor turns it off, by SET or set_config
SET lms.history = off;
SELECT set_config('lms.history', 'off', true);
SET ROLE hist_reader;
SELECT count(*) FROM lms.history;
RESET ROLE;
-- a superuser may turn it off (for a restore): nothing is kept meanwhile
SET lms.history = off;
INSERT INTO lms.managers (manager_id, user_id) VALUES (109, 111);
RESET lms.history;
DELETE FROM lms.managers WHERE manager_id = 109 AND user_id = 111;
SELECT relation, change, new_row, old_row FROM hist WHERE xact = (SELECT max(xact) FROM hist);
-- prune_history drops what committed before the time given
SELECT lms.prune_history((SELECT min(committed_at) FROM lms.history)) AS pruned;
SELECT lms.prune_history((SELECT max(committed_at) FROM lms.history)) = (SELECT count(*) FROM lms.history) - 1 AS all_but_the_last;
SELECT relation, change FROM lms.history;
-- the sample as it was
SET lms.history = off;
DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = 129;
DELETE FROM lms.tenant_roles WHERE user_id = 110 AND role = 'contributor';
DELETE FROM lms.group_roles WHERE user_id = 110 AND role = 'coach';
INSERT INTO lms.managers (manager_id, user_id) VALUES (109, 111);
INSERT INTO lms.slot_trainers (slot_id, user_id) VALUES (507, 112);
INSERT INTO lms.session_instructors (session_id, user_id) VALUES (502, 113);
INSERT INTO lms.slot_registrations (slot_id, user_id) VALUES (507, 123), (507, 120);
RESET lms.history;
DROP VIEW hist;
SELECT FROM lms.distrust_role('hist_app');
DROP ROLE hist_writer, hist_app, hist_reader;
