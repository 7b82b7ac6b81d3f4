-- lms.protect_table covers every route to the rows (doc/reference.md, "Functions"): each
-- partition at every level and each inheritance child, read directly by a
-- role granted SELECT on it, whether it existed when the table was
-- protected or was created, attached or inherited later; a detached part
-- stays protected; hostile names.
BEGIN;
SELECT plan(21);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE parts_reader;
SELECT lms.bind_role('parts_reader', 104);
CREATE ROLE parts_owner;
CREATE SCHEMA "app; parts" AUTHORIZATION parts_owner;
SET ROLE parts_owner;
-- by course, and the rest by learner: two levels
CREATE TABLE "app; parts"."an""swers" ("learner id" bigint, "course'id" bigint, ctx bigint, answer text)
	PARTITION BY LIST ("course'id");
CREATE TABLE "app; parts"."p 508" PARTITION OF "app; parts"."an""swers" FOR VALUES IN (508);
CREATE TABLE "app; parts"."p rest" PARTITION OF "app; parts"."an""swers" DEFAULT PARTITION BY RANGE ("learner id");
CREATE TABLE "app; parts"."p rest low" PARTITION OF "app; parts"."p rest" FOR VALUES FROM (0) TO (122);
CREATE TABLE "app; parts"."p rest high" PARTITION OF "app; parts"."p rest" FOR VALUES FROM (122) TO (MAXVALUE);
INSERT INTO "app; parts"."an""swers" VALUES
	(120, 508, 11, 'visible: catalog course of the coach''s group'),
	(120, 509, NULL, 'visible: legacy enrolment, unrestricted'),
	(121, 504, 11, 'hidden: content not granted'),
	(125, 508, 13, 'hidden: user in a subgroup'),
	(125, 509, NULL, 'hidden: user in a subgroup, high');
-- an inheritance parent with a child from before the protection
CREATE TABLE "app; parts".inh (learner bigint, course bigint, answer text);
CREATE TABLE "app; parts".inh_old () INHERITS ("app; parts".inh);
INSERT INTO "app; parts".inh_old VALUES (120, 509, 'visible'), (121, 504, 'hidden');
RESET ROLE;
GRANT USAGE ON SCHEMA "app; parts" TO parts_reader;
-- what a role that reads every part sees of the rows, part by part
CREATE FUNCTION pg_temp.seen(tbl regclass) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	r text[];
BEGIN
	EXECUTE format('SELECT coalesce(array_agg(answer ORDER BY answer), ''{}'') FROM %s', tbl) INTO r;
	RETURN r;
END $$;
\set QUIET 0

SET ROLE parts_owner;
SELECT lives_ok($$SELECT lms.protect_table('"app; parts"."an""swers"', 'learner id', 'course''id', 'ctx')$$,
	'the owner protects a partitioned table with hostile names');
SELECT lives_ok($$SELECT lms.protect_table('"app; parts".inh', 'learner', 'course')$$,
	'and an inheritance parent');
GRANT SELECT ON ALL TABLES IN SCHEMA "app; parts" TO parts_reader;
RESET ROLE;
SELECT is((SELECT count(*) FROM pg_class c WHERE c.relnamespace = '"app; parts"'::regnamespace AND c.relkind IN ('r', 'p')
		   AND NOT (c.relrowsecurity AND c.relforcerowsecurity
					AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'lms_visibility'))),
	0::bigint, 'every part at every level has the policy and forced row-level security');

SET ROLE parts_reader;
SELECT is(pg_temp.seen('"app; parts"."an""swers"'),
	ARRAY['visible: catalog course of the coach''s group', 'visible: legacy enrolment, unrestricted'],
	'through the partitioned table: the coach''s rows');
SELECT is(pg_temp.seen('"app; parts"."p 508"'), ARRAY['visible: catalog course of the coach''s group'],
	'through a partition read directly: only its visible row');
SELECT is(pg_temp.seen('"app; parts"."p rest"'), ARRAY['visible: legacy enrolment, unrestricted'],
	'through the default partition, itself partitioned');
SELECT is(pg_temp.seen('"app; parts"."p rest low"'), ARRAY['visible: legacy enrolment, unrestricted'],
	'through a second-level partition');
SELECT is(pg_temp.seen('"app; parts"."p rest high"'), '{}'::text[], 'and the other second-level one: nothing');
SELECT is(pg_temp.seen('"app; parts".inh_old'), ARRAY['visible'], 'through an existing inheritance child');
RESET ROLE;

-- parts created, attached and inherited later
SET ROLE parts_owner;
CREATE TABLE "app; parts"."p 510" PARTITION OF "app; parts"."an""swers" FOR VALUES IN (510);
CREATE TABLE "app; parts"."p 505" ("learner id" bigint, "course'id" bigint, ctx bigint, answer text);
ALTER TABLE "app; parts"."an""swers" ATTACH PARTITION "app; parts"."p 505" FOR VALUES IN (505);
CREATE TABLE "app; parts"."p rest mid" (LIKE "app; parts"."p rest low");
ALTER TABLE "app; parts"."p rest" DETACH PARTITION "app; parts"."p rest high";
ALTER TABLE "app; parts"."p rest" ATTACH PARTITION "app; parts"."p rest mid" FOR VALUES FROM (122) TO (200);
CREATE TABLE "app; parts".inh_new () INHERITS ("app; parts".inh);
CREATE TABLE "app; parts".inh_adopted (learner bigint, course bigint, answer text);
ALTER TABLE "app; parts".inh_adopted INHERIT "app; parts".inh;
GRANT SELECT ON ALL TABLES IN SCHEMA "app; parts" TO parts_reader;
RESET ROLE;
-- the application writes as a role that bypasses row-level security
INSERT INTO "app; parts"."p 510" VALUES (123, 510, 10, 'hidden: not the coach''s content');
INSERT INTO "app; parts"."p 505" VALUES (120, 505, 11, 'hidden: course 505');
INSERT INTO "app; parts".inh_new VALUES (121, 504, 'hidden');
INSERT INTO "app; parts".inh_adopted VALUES (120, 509, 'visible'), (125, 509, 'hidden');
SELECT policies_are('app; parts', 'p 510', ARRAY['lms_visibility'], 'a partition created later has the policy');
SELECT ok((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = '"app; parts"."p 510"'::regclass),
	'and forced row-level security');
SELECT policies_are('app; parts', 'p 505', ARRAY['lms_visibility'], 'a table attached as a partition has it');
SELECT policies_are('app; parts', 'p rest mid', ARRAY['lms_visibility'], 'so has one attached at the second level');
SELECT policies_are('app; parts', 'inh_new', ARRAY['lms_visibility'], 'a child created with INHERITS has it');
SELECT policies_are('app; parts', 'inh_adopted', ARRAY['lms_visibility'], 'and one added with ALTER TABLE ... INHERIT');
SET ROLE parts_reader;
SELECT is(pg_temp.seen('"app; parts"."p 510"'), '{}'::text[], 'the new partition read directly shows no hidden row');
SELECT is(pg_temp.seen('"app; parts"."p 505"'), '{}'::text[], 'nor does the attached one');
SELECT is(pg_temp.seen('"app; parts".inh_adopted'), ARRAY['visible'], 'the adopted child: only its visible row');
SELECT is(pg_temp.seen('"app; parts"."p rest high"'), '{}'::text[], 'a detached partition stays protected');
RESET ROLE;

-- only an owner protects, and nobody reaches the helper
SET ROLE parts_reader;
SELECT throws_ok($$SELECT lms._protect_tree('"app; parts".inh', '"app; parts".inh', false)$$, '42501', NULL,
	'the helper is not for readers');
SELECT throws_ok($$SELECT lms.protect_table('"app; parts".inh', 'learner', 'course')$$, '42501', NULL,
	'nor is protecting another''s table');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
