-- bench/plain_policy.sql: the plain-SQL baseline's copy of lms.progress,
-- protected by a policy a good DBA would write: uncorrelated IN
-- sub-selects over the plain rules, each evaluated once per statement
-- (hashed SubPlans), as PostgreSQL's RLS guides recommend.
\set ON_ERROR_STOP 1
-- the plain implementation's bindings: a table the invoker can read
DROP TABLE IF EXISTS lms_plain.progress, lms_plain.bindings;
CREATE TABLE lms_plain.bindings AS SELECT role::text AS role, principal FROM lms.role_bindings;
CREATE OR REPLACE FUNCTION lms_plain.principal() RETURNS bigint LANGUAGE sql STABLE AS $$
	SELECT b.principal FROM lms_plain.bindings b WHERE b.role = current_user
$$;
GRANT SELECT ON lms_plain.bindings TO PUBLIC;
-- the same columns and the same indexes as lms.progress
CREATE TABLE lms_plain.progress (LIKE lms.progress INCLUDING INDEXES);
INSERT INTO lms_plain.progress SELECT * FROM lms.progress;
ALTER TABLE lms_plain.progress ENABLE ROW LEVEL SECURITY;
CREATE POLICY plain_visibility ON lms_plain.progress FOR SELECT USING (
	user_id IN (SELECT u.user_id FROM lms_plain.visible_users(lms_plain.principal()) u)
	AND (content_id IN (SELECT g.content_id FROM lms_plain.content_grants(lms_plain.principal()) g WHERE g.ctx IS NULL)
		 OR (content_id, context_group_id) IN (SELECT g.content_id, g.ctx
											   FROM lms_plain.content_grants(lms_plain.principal()) g
											   WHERE g.ctx IS NOT NULL)));
GRANT USAGE ON SCHEMA lms_plain TO PUBLIC;
GRANT SELECT ON lms_plain.progress TO PUBLIC;
VACUUM ANALYZE lms_plain.progress;
