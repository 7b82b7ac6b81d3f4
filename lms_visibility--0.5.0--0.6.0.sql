/* lms_visibility--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lms_visibility UPDATE TO '0.6.0'" to load this file. \quit

------------------------------------------------------------------------------
-- The policies of lms.progress, lms.enrollments and lms.users pass the call
-- lms.current_principal() as their principal argument, not the sub-select
-- (SELECT lms.current_principal()).
--
-- The sub-select made PostgreSQL plan a subquery and run an InitPlan for
-- every statement that reads one of these tables: about a tenth of a point
-- query's time (bench/policy_arg.sh).  On these three tables the executor
-- guard (src/vis_exec.c) decides each row without evaluating the argument
-- while the principal's settings and role stay as they were at executor
-- start, so the call costs nothing per row.  The other policies (the
-- dimensions, and the tables lms.protect_table protects) are evaluated row
-- by row, where a call per row costs more than the InitPlan saves on a
-- large scan: they keep the sub-select.  A parallel worker takes
-- lms.principal without the scope it was set with, so the leader of a
-- parallel plan that calls the principal resolves it before any worker
-- starts (src/vis_exec.c): a value the leader refuses fails the query, as
-- the InitPlan did.  The rewrite keeps the rest of each policy as it is
-- (on a store lms.distribute() set out on Citus, already without
-- sub-selects, it changes nothing).
------------------------------------------------------------------------------

DO $$
DECLARE
	pol record;
	q text;
	-- as pg_get_expr prints the sub-select, with or without the schema
	-- (the script runs with lms on the search_path)
	arg constant text := '\( SELECT (lms\.)?current_principal\(\) AS current_principal\)';
BEGIN
	FOR pol IN SELECT p.polrelid::regclass AS rel, p.polname, pg_get_expr(p.polqual, p.polrelid) AS qual
		FROM pg_policy p
		WHERE (p.polrelid, p.polname) IN (('lms.progress'::regclass, 'progress_visibility'),
										 ('lms.enrollments'::regclass, 'enrollments_visibility'),
										 ('lms.users'::regclass, 'users_visibility')) LOOP
		q := regexp_replace(pol.qual, arg, 'lms.current_principal()', 'g');
		IF q IS DISTINCT FROM pol.qual THEN
			EXECUTE format('ALTER POLICY %I ON %s USING (%s)', pol.polname, pol.rel, q);
		END IF;
	END LOOP;
END
$$;
