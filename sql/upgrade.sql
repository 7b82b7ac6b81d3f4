-- Every object of the extension, as \dx+ lists it; and the install of
-- each released version followed by the upgrade chain to the current one.
\dx+ lms_visibility
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
