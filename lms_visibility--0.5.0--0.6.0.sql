/* lms_visibility--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lms_visibility UPDATE TO '0.6.0'" to load this file. \quit

------------------------------------------------------------------------------
-- The policies' principal argument is the call lms.current_principal(), not
-- the sub-select (SELECT lms.current_principal()).
--
-- The sub-select made PostgreSQL plan a subquery and run an InitPlan for
-- every statement that reads a protected table: about a tenth of a point
-- query's time (bench/policy_arg.sh).  The call costs nothing per row on
-- the store's tables, where the executor guard (src/vis_exec.c) decides
-- each row without evaluating the argument while the principal's settings
-- and role stay as they were at executor start; elsewhere the function is
-- a hash look-up.  A parallel worker takes lms.principal without the scope
-- it was set with, so the leader resolves the principal of a parallel plan
-- that calls it before any worker starts (src/vis_exec.c): a value the
-- leader refuses fails the query, as the InitPlan did.
------------------------------------------------------------------------------

-- lms._principal_arg() is the principal argument of a policy that
-- lms.protect_table writes
CREATE OR REPLACE FUNCTION lms._principal_arg() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT 'lms.current_principal()'::text
$$;

-- the store's policies, and those lms.protect_table wrote on applications'
-- tables and their partitions and children
DO $$
DECLARE
	pol record;
	q text;
	c text;
	-- as pg_get_expr prints the sub-select, with or without the schema
	-- (the script runs with lms on the search_path)
	arg constant text := '\( SELECT (lms\.)?current_principal\(\) AS current_principal\)';
BEGIN
	FOR pol IN SELECT p.polrelid::regclass AS rel, p.polname,
			pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS chk
		FROM pg_policy p JOIN pg_class r ON r.oid = p.polrelid
		WHERE r.relnamespace = 'lms'::regnamespace OR p.polname = 'lms_visibility' LOOP
		q := regexp_replace(pol.qual, arg, 'lms.current_principal()', 'g');
		c := regexp_replace(pol.chk, arg, 'lms.current_principal()', 'g');
		IF q IS DISTINCT FROM pol.qual THEN
			EXECUTE format('ALTER POLICY %I ON %s USING (%s)', pol.polname, pol.rel, q);
		END IF;
		IF c IS DISTINCT FROM pol.chk THEN
			EXECUTE format('ALTER POLICY %I ON %s WITH CHECK (%s)', pol.polname, pol.rel, c);
		END IF;
	END LOOP;
END
$$;
