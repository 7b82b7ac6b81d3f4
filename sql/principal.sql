-- Principal resolution: who may set lms.principal, and for how long.
\set SHOW_CONTEXT never
CREATE ROLE lms_reg_reader;
CREATE ROLE lms_reg_app;
SELECT lms.bind_role('lms_reg_reader', 104);
SELECT lms.trust_role('lms_reg_app');

SET ROLE lms_reg_reader;
SELECT lms.current_principal();
-- an untrusted role may not act for someone else, by any route
SET lms.principal = 101;
SELECT lms.current_principal();
RESET lms.principal;
BEGIN;
SET LOCAL lms.principal = 101;
SELECT count(*) FROM lms.progress;
ROLLBACK;
SELECT set_config('lms.principal', '101', true), lms.current_principal();
-- nor ask about someone else
SELECT count(*) FROM lms.visible_users(101);
SELECT lms.can_view_stats(101, 120, 504, NULL);
SELECT count(*) FROM lms.explain_visibility(101, 120, 504);
-- nor bind or trust
SELECT lms.bind_role('lms_reg_reader', 101);
SELECT lms.trust_role('lms_reg_reader');
-- nor write the store
INSERT INTO lms.tenant_roles (user_id, role) VALUES (104, 'platform_admin');
RESET ROLE;

SET ROLE lms_reg_app;
-- a trusted role: the transaction-scoped setting is honoured
BEGIN;
SET LOCAL lms.principal = 106;
SELECT lms.current_principal(), count(*) FROM lms.progress;
COMMIT;
SELECT lms.current_principal();
-- a session-level setting is refused
SET lms.principal = 106;
SELECT lms.current_principal();
RESET lms.principal;
SELECT set_config('lms.principal', '106', false) IS NOT NULL;
SELECT lms.current_principal();
RESET lms.principal;
-- a malformed principal is refused when set
SET LOCAL lms.principal = 'alice';
RESET ROLE;

-- ALTER ROLE ... SET and connection options (PGOPTIONS) are session values
-- too: refused for trusted roles, and for untrusted ones anyway
ALTER ROLE lms_reg_app LOGIN;
ALTER ROLE lms_reg_reader LOGIN;
ALTER ROLE lms_reg_app SET lms.principal = '106';
\c -reuse-previous=on "user=lms_reg_app"
SELECT current_user, current_setting('lms.principal');
SELECT lms.current_principal();
\c -reuse-previous=on "user=lms_reg_reader options='-c lms.principal=101'"
SELECT current_user, current_setting('lms.principal');
SELECT count(*) FROM lms.progress;
\c -reuse-previous=on "user=postgres options=''"
ALTER ROLE lms_reg_app RESET lms.principal;

DROP OWNED BY lms_reg_reader, lms_reg_app;
SELECT lms.unbind_role('lms_reg_reader');
SELECT lms.distrust_role('lms_reg_app');
DROP ROLE lms_reg_reader;
DROP ROLE lms_reg_app;
