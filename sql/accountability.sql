-- Accountability across transactions (doc/accountability.md): a binding that expires
-- between two transactions, with no change to the store; the audit trail's
-- lines (sent to the client here with client_min_messages = log).
SET client_min_messages = warning;
\set ECHO none
\i sample/platform.sql
\set ECHO all
CREATE ROLE acc_expiring;
CREATE ROLE acc_audit;
SELECT FROM lms.bind_role('acc_expiring', 104, valid_until => clock_timestamp() + interval '4 seconds');
SELECT FROM lms.bind_role('acc_audit', 104);
SET ROLE acc_expiring;
SELECT lms.current_principal(), (SELECT count(*) FROM lms.progress) AS rows_seen;
SELECT pg_sleep(4.2);
-- the next transaction: the binding counts as absent, and the cache keeps nothing alive
SELECT lms.current_principal(), (SELECT count(*) FROM lms.progress) AS rows_seen;
RESET ROLE;
SELECT role, principal, active FROM lms.bindings WHERE role::text LIKE 'acc\_%' ORDER BY 1;
-- the audit trail: one line per statement that reads a protected relation
-- under a principal
SET lms.audit = statements;
SET client_min_messages = log;
SET ROLE acc_audit;
SELECT count(*) FROM lms.progress;
SELECT c.title, count(*) FROM lms.progress p JOIN lms.content c USING (content_id) GROUP BY 1 ORDER BY 1;
SELECT first_name FROM lms.users ORDER BY 1;
SELECT 1 AS no_protected_relation;
-- only a superuser turns it off
SET lms.audit = off;
RESET ROLE;
-- no principal: no line
SELECT count(*) FROM lms.users;
SET lms.audit = off;
SELECT count(*) FROM lms.users WHERE lms.can_view_user(104, user_id);
RESET client_min_messages;
SELECT FROM lms.unbind_role('acc_expiring');
SELECT FROM lms.unbind_role('acc_audit');
DROP ROLE acc_expiring, acc_audit;
