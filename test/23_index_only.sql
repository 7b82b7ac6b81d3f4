-- src/vis_load.c reads a btree that holds every column it needs (the
-- groups' members from group_members_pkey) as an index-only scan does:
-- the index tuple where the visibility map says its heap page is all
-- visible, the heap where it is not.  Every principal's U(p), built from
-- members read that way, against the plain-SQL rules: on all-visible
-- pages, after members were removed and added since VACUUM, and vacuumed
-- again.  Outside a transaction, so that VACUUM can mark the pages
-- all-visible; everything is removed at the end.
\set QUIET 1
-- VACUUM marks a page all-visible only once its commits are on disk
SET synchronous_commit = on;
\i sample/platform.sql
\i bench/plain_rules.sql
\i test/lib/generated_platform.sql
ALTER TABLE lms.group_members SET (autovacuum_enabled = off);
VACUUM lms.group_members;
CREATE FUNCTION pg_temp.all_visible() RETURNS boolean LANGUAGE sql AS $$
	SELECT relallvisible > 0 AND relallvisible = relpages FROM pg_class WHERE oid = 'lms.group_members'::regclass
$$;
\i test/lib/mismatches.sql
\set QUIET 0

SELECT plan(7);

SELECT ok(pg_temp.all_visible(), 'VACUUM marked every page of the memberships all-visible');
SELECT is(pg_temp.mismatches(), 0::bigint,
	'every principal''s U(p), its groups'' members read from the index alone, equals the plain-SQL rules');

-- changed since VACUUM: those pages are checked in the heap
SELECT ok(lms.can_view_user(103, 121) AND NOT lms.can_view_user(103, 129),
	'before: the group_admin of Sales sees user 121, not user 129');
DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = 121;
INSERT INTO lms.group_members VALUES (12, 129);
DELETE FROM lms.group_members WHERE group_id IN (SELECT group_id FROM lms.groups WHERE tenant_id = 9) AND user_id % 5 = 0;
INSERT INTO lms.group_members SELECT 905, 9000 + i FROM generate_series(1, 300, 11) i ON CONFLICT DO NOTHING;
SELECT ok(NOT lms.can_view_user(103, 121) AND lms.can_view_user(103, 129),
	'a member removed and one added since VACUUM: the group_admin''s view follows both');
-- under REPEATABLE READ every entry, and the tenant's member lists, are
-- built afresh from the transaction's snapshot
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT is(pg_temp.mismatches(), 0::bigint,
	'after the changes, every principal''s U(p), built afresh, equals the plain-SQL rules');
COMMIT;

VACUUM lms.group_members;
SELECT ok(pg_temp.all_visible(), 'vacuumed again: all-visible');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT is(pg_temp.mismatches(), 0::bigint,
	'and every principal''s U(p), built afresh from the index alone, equals the plain-SQL rules');
COMMIT;

SELECT * FROM finish();

\set QUIET 1
SET client_min_messages = warning;
TRUNCATE lms.tenants CASCADE;
DROP SCHEMA lms_plain CASCADE;
ALTER TABLE lms.group_members RESET (autovacuum_enabled);
