-- A superuser-only setting in a non-superuser's connection options, given
-- before the library is loaded (it is not in shared_preload_libraries: the
-- test command runs this test against a server without it): refused when
-- the library loads (the WARNING), and the value a superuser configured for
-- the role is in force, not the setting's built-in default; after the load,
-- SET is refused outright.  A preloaded library refuses the connection.
CREATE EXTENSION IF NOT EXISTS lms_visibility;
INSERT INTO lms.tenants VALUES (95, 'late', false);
INSERT INTO lms.users (user_id, tenant_id) VALUES (9501, 95);
CREATE ROLE lms_late_reader LOGIN;
SELECT lms.bind_role('lms_late_reader', 9501);
SELECT current_setting('shared_preload_libraries') !~ 'lms_visibility' AS not_preloaded;
ALTER ROLE lms_late_reader SET lms.cache_principals = 77;
\c -reuse-previous=on "user=lms_late_reader options='-c lms.cache_principals=5'"
SELECT count(*) >= 0 AS loaded FROM lms.progress;
SHOW lms.cache_principals;
SET lms.cache_principals = 5;
\c -reuse-previous=on "user=postgres options=''"
ALTER ROLE lms_late_reader RESET lms.cache_principals;
SELECT lms.unbind_role('lms_late_reader');
DROP ROLE lms_late_reader;
DELETE FROM lms.users WHERE tenant_id = 95;
DELETE FROM lms.tenants WHERE tenant_id = 95;
