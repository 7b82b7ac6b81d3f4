-- Every object of the extension, as \dx+ lists it (less the row types of
-- its tables, which PostgreSQL 18 records as members too); and the install
-- of each released version followed by the upgrade chain to the current one.
SELECT pg_describe_object(d.classid, d.objid, 0) AS "Object description"
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'lms_visibility')
  AND NOT EXISTS (SELECT FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
                  WHERE d.classid = 'pg_type'::regclass AND c.relkind <> 'c'
                    AND t.oid IN (d.objid, (SELECT typelem FROM pg_type WHERE oid = d.objid)))
ORDER BY 1;
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'lms' AND c.relkind = 'r' ORDER BY 1;
-- every SECURITY DEFINER function pins its search_path
SELECT p.oid::regprocedure, p.proconfig
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'lms' AND p.prosecdef ORDER BY p.oid::regprocedure::text;
-- the relationship tables are dumped by pg_dump
SELECT count(*) FROM pg_extension e, unnest(e.extconfig) WHERE e.extname = 'lms_visibility';
DROP EXTENSION lms_visibility;
CREATE EXTENSION lms_visibility VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
-- ALTER EXTENSION ... UPDATE from 0.1.0 keeps every row and every answer.
-- The store's rows and each principal's view (every user of the sample as
-- principal, over every progress and enrollment row) before the update:
\set ECHO none
\i sample/platform.sql
\set ECHO all
CREATE TEMP VIEW digests AS
	SELECT 'progress' AS tbl, md5(string_agg(t::text, ',' ORDER BY t::text)) AS digest FROM lms.progress t
	UNION ALL SELECT 'enrollments', md5(string_agg(t::text, ',' ORDER BY t::text)) FROM lms.enrollments t
	UNION ALL SELECT 'group_members', md5(string_agg(t::text, ',' ORDER BY t::text)) FROM lms.group_members t
	UNION ALL SELECT 'group_roles', md5(string_agg(t::text, ',' ORDER BY t::text)) FROM lms.group_roles t;
CREATE TEMP VIEW answers AS
	SELECT p.user_id AS principal, t.kind, t.user_id, t.content_id
	FROM lms.users p,
		LATERAL (SELECT 'progress' AS kind, pr.user_id, pr.content_id FROM lms.progress pr
				 WHERE lms.can_view_stats(p.user_id, pr.user_id, pr.content_id, pr.context_group_id)
				 UNION ALL
				 SELECT 'enrollment', e.user_id, e.content_id FROM lms.enrollments e
				 WHERE lms.can_view_stats(p.user_id, e.user_id, e.content_id)) t;
CREATE TEMP TABLE before_digests AS SELECT * FROM digests;
CREATE TEMP TABLE before_answers AS SELECT * FROM answers;
SELECT count(*) > 0 AS some_rows_visible, count(DISTINCT principal) > 5 AS several_principals FROM before_answers;
ALTER EXTENSION lms_visibility UPDATE TO '0.2.0';
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
ALTER EXTENSION lms_visibility UPDATE TO '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
ALTER EXTENSION lms_visibility UPDATE TO '0.4.0';
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
ALTER EXTENSION lms_visibility UPDATE TO '0.5.0';
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
-- 0.6.0 rewrites the principal argument of the policies of progress,
-- enrollments and users, which the executor guard decides row by row
-- without evaluating it; the others, and those of lms.protect_table (here
-- on a partitioned table), keep the sub-select
CREATE TABLE app_scores (user_id bigint, content_id bigint, ctx bigint) PARTITION BY RANGE (user_id);
CREATE TABLE app_scores_low PARTITION OF app_scores FOR VALUES FROM (0) TO (1000);
INSERT INTO app_scores SELECT user_id, content_id, context_group_id FROM lms.progress WHERE user_id < 1000;
SELECT FROM lms.protect_table('app_scores', 'user_id', 'content_id', 'ctx');
GRANT SELECT ON app_scores TO PUBLIC;
CREATE TEMP VIEW principal_args AS
	SELECT polrelid::regclass AS rel, polname,
		pg_get_expr(polqual, polrelid) ~ 'SELECT lms.current_principal' AS sub_select
	FROM pg_policy WHERE pg_get_expr(polqual, polrelid) ~ 'current_principal' ORDER BY polrelid::regclass::text, polname;
SELECT * FROM principal_args;
ALTER EXTENSION lms_visibility UPDATE TO '0.6.0';
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
SELECT * FROM principal_args;
SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = 'users_visibility';
-- 0.7.0: lms.cache_stats() also reports the server's shared cache
ALTER EXTENSION lms_visibility UPDATE TO '0.7.0';
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
SELECT array_length(proargnames, 1) AS cache_stats_columns FROM pg_proc WHERE proname = 'cache_stats';
-- the same rows, and the same answers both ways
SELECT * FROM before_digests EXCEPT SELECT * FROM digests;
(SELECT * FROM before_answers EXCEPT ALL SELECT * FROM answers)
UNION ALL
(SELECT * FROM answers EXCEPT ALL SELECT * FROM before_answers);
-- the policies, the bindings and the integrity triggers still hold
CREATE ROLE lms_upgrade_coach;
SELECT FROM lms.bind_role('lms_upgrade_coach', 104);
SET ROLE lms_upgrade_coach;
SELECT count(*) AS coach_rows FROM lms.progress;
-- through the policy of a protected table, which kept its sub-select: the same rows
SELECT (SELECT count(*) FROM app_scores) = (SELECT count(*) FROM lms.progress WHERE user_id < 1000)
	AS coach_sees_the_same_app_rows;
-- 0.4.0: the dimensions, filtered; the groups of before were the platform's
SELECT (SELECT count(*) FROM lms.content) AS coach_content,
	(SELECT array_agg(group_id) FROM lms.groups) AS coach_groups,
	(SELECT count(*) FROM lms.group_members) AS coach_memberships;
RESET ROLE;
SELECT count(*) AS groups, count(created_by) AS created_by_set FROM lms.groups;
-- 0.7.0: the history starts at the upgrade, and keeps the changes after it
SELECT count(*) AS history_at_upgrade FROM lms.history;
DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = 121;
INSERT INTO lms.group_members (group_id, user_id) VALUES (11, 121);
SELECT relation, change, new_row, old_row FROM lms.history ORDER BY id;
SELECT FROM lms.unbind_role('lms_upgrade_coach');
DROP ROLE lms_upgrade_coach;
UPDATE lms.group_members SET group_id = 40 WHERE group_id = 11 AND user_id = 120;
-- the new indexes, as a fresh install makes them
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid)
FROM pg_index WHERE indrelid IN ('lms.progress'::regclass, 'lms.enrollments'::regclass)
ORDER BY indexrelid::regclass::text;
-- and the primary key is still (user_id, content_id)
SELECT conname, conkey FROM pg_constraint WHERE conrelid = 'lms.progress'::regclass AND contype = 'p';
-- the invalidation triggers of 0.3.0: a row trigger for inserts and
-- deletes, one for updates of the columns the engine reads
SELECT tgrelid::regclass, tgname, pg_get_triggerdef(oid) ~ 'FOR EACH ROW' AS per_row
FROM pg_trigger WHERE tgname LIKE 'invalidate_cache%' AND tgrelid = 'lms.progress'::regclass ORDER BY 2;
DROP VIEW digests, answers;
DROP TABLE app_scores;
-- from 0.2.0 and 0.3.0, the other released versions
DROP EXTENSION lms_visibility;
CREATE EXTENSION lms_visibility VERSION '0.2.0';
ALTER EXTENSION lms_visibility UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
DROP EXTENSION lms_visibility;
CREATE EXTENSION lms_visibility VERSION '0.3.0';
ALTER EXTENSION lms_visibility UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
DROP EXTENSION lms_visibility;
CREATE EXTENSION lms_visibility VERSION '0.4.0';
ALTER EXTENSION lms_visibility UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
-- 0.5.0: without Citus the store is not distributed, and lms.distribute()
-- says what it needs
SELECT lms._distributed(), lms._principal_arg();
SELECT lms.distribute();
DROP EXTENSION lms_visibility;
CREATE EXTENSION lms_visibility VERSION '0.5.0';
ALTER EXTENSION lms_visibility UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
DROP EXTENSION lms_visibility;
CREATE EXTENSION lms_visibility VERSION '0.6.0';
ALTER EXTENSION lms_visibility UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
DROP EXTENSION lms_visibility;
CREATE EXTENSION lms_visibility;
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
-- a fresh install's policies, as an upgraded one's
SELECT * FROM principal_args;
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid)
FROM pg_index WHERE indrelid IN ('lms.progress'::regclass, 'lms.enrollments'::regclass)
ORDER BY indexrelid::regclass::text;
