-- doc/consistency.md within one session: a change is honoured by the changing
-- transaction from its next statement; a rolled-back savepoint takes its
-- grant with it; the cache is reused between changes and says so.
BEGIN;
SELECT plan(16);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE t_reader;
SELECT lms.bind_role('t_reader', 106);
CREATE TEMP TABLE stats AS SELECT * FROM lms.cache_stats();
GRANT SELECT ON stats TO t_reader;
\set QUIET 0

-- a binding revoked after the role's principal was resolved, with no
-- visibility computed in between (0.1.0 missed that invalidation: the role
-- kept acting for its old principal)
CREATE ROLE t_revoked;
SELECT lms.bind_role('t_revoked', 104);
\set QUIET 0
SET ROLE t_revoked;
SELECT is(lms.current_principal(), 104::bigint, 'a bound role acts for its principal');
RESET ROLE;
SELECT lms.unbind_role('t_revoked');
SET ROLE t_revoked;
SELECT is(lms.current_principal(), NULL::bigint, 'and for nobody from the statement after its binding is revoked');
RESET ROLE;
\set QUIET 1
DROP ROLE t_revoked;
\set QUIET 0

SET ROLE t_reader;
SELECT is((SELECT count(*)::int FROM lms.progress), 1, 'group_leader of Sales West: one row');
SELECT is((SELECT count(*)::int FROM lms.progress), 1, 'asked again');
RESET ROLE;
SELECT cmp_ok((SELECT hits FROM lms.cache_stats()), '>', (SELECT hits FROM stats), 'the second statement hit the cache');

-- a grant is seen from the next statement
INSERT INTO lms.group_roles VALUES (10, 106, 'group_leader');
SET ROLE t_reader;
SELECT is((SELECT count(*)::int FROM lms.progress), 9, 'a new role is honoured by the next statement');
RESET ROLE;

-- a savepoint rolled back takes its grant with it
SAVEPOINT s1;
INSERT INTO lms.tenant_roles VALUES (106, 'platform_admin');
SET ROLE t_reader;
SELECT is((SELECT count(*)::int FROM lms.progress), 16, 'inside the savepoint: the admin''s rows');
RESET ROLE;
ROLLBACK TO SAVEPOINT s1;
SET ROLE t_reader;
SELECT is((SELECT count(*)::int FROM lms.progress), 9, 'after ROLLBACK TO SAVEPOINT: the grant is gone');
RESET ROLE;

-- an error inside a subtransaction does not leave a stale cache either
SAVEPOINT s2;
INSERT INTO lms.tenant_roles VALUES (106, 'learner_manager');
SET ROLE t_reader;
SELECT is((SELECT count(*)::int FROM lms.progress), 16, 'learner_manager inside the savepoint');
RESET ROLE;
SELECT throws_ok('SELECT 1/0', '22012', NULL, 'an error');
ROLLBACK TO SAVEPOINT s2;
SET ROLE t_reader;
SELECT is((SELECT count(*)::int FROM lms.progress), 9, 'after the failed subtransaction: back to the group_leader''s rows');
RESET ROLE;

-- revocations of every kind of relation take effect at once
DELETE FROM lms.group_roles WHERE user_id = 106 AND group_id = 10;
SET ROLE t_reader;
SELECT is((SELECT count(*)::int FROM lms.progress), 1, 'a revoked role');
RESET ROLE;
DELETE FROM lms.group_members WHERE user_id = 123;
SET ROLE t_reader;
SELECT is((SELECT count(*)::int FROM lms.progress), 0, 'a removed membership');
RESET ROLE;
TRUNCATE lms.slot_trainers;
SELECT ok(NOT lms.can_view_user(112, 120), 'TRUNCATE invalidates too');
UPDATE lms.tenants SET extended_visibility = false WHERE tenant_id = 2;
SELECT ok(NOT lms.content_stats_access(203, 601), 'a tenant setting change invalidates');

SELECT cmp_ok((SELECT invalidations FROM lms.cache_stats()), '>', (SELECT invalidations FROM stats),
	'invalidations are counted');

SELECT * FROM finish();
ROLLBACK;
