-- lms.protect_table: an application's own statistics table gets the rules
-- of doc/rules.md, "The rules"; idempotent; safe with hostile identifiers.
BEGIN;
SELECT plan(13);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE t_reader;
SELECT lms.bind_role('t_reader', 104);
CREATE SCHEMA "app; schema";
CREATE TABLE "app; schema"."quiz ""answers""; DROP TABLE x" (
	"learner id" bigint, "course'id" bigint, "ctx;group" bigint, answer text);
INSERT INTO "app; schema"."quiz ""answers""; DROP TABLE x" VALUES
	(120, 508, 11, 'visible: catalog course of the coach''s group'),
	(120, 509, NULL, 'visible: legacy enrolment, unrestricted'),
	(121, 504, 11, 'hidden: content not granted'),
	(125, 508, 13, 'hidden: user in a subgroup');
GRANT USAGE ON SCHEMA "app; schema" TO t_reader;
GRANT SELECT ON "app; schema"."quiz ""answers""; DROP TABLE x" TO t_reader;
CREATE TABLE public.t_plain (user_id bigint, content_id bigint);
CREATE TABLE public.t_text (user_id text, content_id bigint);
\set QUIET 0

SELECT lives_ok($$SELECT lms.protect_table('"app; schema"."quiz ""answers""; DROP TABLE x"', 'learner id', 'course''id', 'ctx;group')$$,
	'protect_table takes hostile identifiers');
SELECT lives_ok($$SELECT lms.protect_table('"app; schema"."quiz ""answers""; DROP TABLE x"', 'learner id', 'course''id', 'ctx;group')$$,
	'and is idempotent');
SELECT policies_are('app; schema', 'quiz "answers"; DROP TABLE x', ARRAY['lms_visibility'], 'one policy, however often it is called');
SELECT ok((SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = '"app; schema"."quiz ""answers""; DROP TABLE x"'::regclass),
	'row-level security is enabled and forced');
SELECT has_table('public', 't_plain', 'nothing was dropped along the way');
SET ROLE t_reader;
SELECT results_eq($$SELECT answer FROM "app; schema"."quiz ""answers""; DROP TABLE x" ORDER BY 1$$,
	ARRAY['visible: catalog course of the coach''s group', 'visible: legacy enrolment, unrestricted'],
	'the reader sees exactly the rows of doc/rules.md, "The rules"');
RESET ROLE;
SELECT lives_ok($$SELECT lms.protect_table('public.t_plain', 'user_id', 'content_id')$$, 'without a context column');
SELECT ok((SELECT pg_get_expr(polqual, polrelid) LIKE '%NULL%' FROM pg_policy WHERE polrelid = 'public.t_plain'::regclass),
	'then only unrestricted grants count');
SELECT throws_ok($$SELECT lms.protect_table('public.t_plain', 'nope', 'content_id')$$, '42703', NULL, 'unknown column');
SELECT throws_ok($$SELECT lms.protect_table('public.t_text', 'user_id', 'content_id')$$, '42804', NULL, 'a column of the wrong type');
SELECT throws_ok($$SELECT lms.protect_table(NULL, 'user_id', 'content_id')$$, '22004', NULL, 'a NULL table');
SELECT throws_ok($$SELECT lms.protect_table('public.no_such_table', 'user_id', 'content_id')$$, '42P01', NULL, 'an unknown table');
SET ROLE t_reader;
SELECT throws_ok($$SELECT lms.protect_table('public.t_plain', 'user_id', 'content_id')$$, '42501', NULL,
	'only the table''s owner may protect it');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
