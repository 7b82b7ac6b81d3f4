-- A broad grant opens nothing (doc/rules.md, "The dimensions and the principal"): every table of schema lms, as a
-- reader granted SELECT on all of them, as a member of pg_read_all_data and
-- as a writer through pg_write_all_data, bound to a principal or not.  The
-- tables are listed from the catalog, so a table added later is covered.
BEGIN;
SELECT plan(12);
\set QUIET 1
\i sample/platform.sql
CREATE ROLE broad_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA lms TO broad_reader;
CREATE ROLE all_data_reader;
GRANT pg_read_all_data TO all_data_reader;
CREATE ROLE all_data_writer;
GRANT pg_read_all_data, pg_write_all_data TO all_data_writer;
-- the tables doc/rules.md, "The dimensions and the principal" filters, with the rows the coach 104 sees in each
CREATE TEMP TABLE filtered (tbl text, coach_rows bigint);
INSERT INTO filtered SELECT 'progress', count(*) FROM lms.progress WHERE lms.can_view_stats(104, user_id, content_id, context_group_id);
INSERT INTO filtered SELECT 'enrollments', count(*) FROM lms.enrollments WHERE lms.can_view_stats(104, user_id, content_id);
INSERT INTO filtered SELECT 'users', count(*) FROM lms.users WHERE lms.can_view_user(104, user_id);
-- the dimensions (0.4.0): content of C(p), the coach's own group, its members
INSERT INTO filtered SELECT 'content', count(*) FROM lms.content WHERE lms.content_stats_access(104, content_id);
INSERT INTO filtered SELECT 'groups', count(*) FROM lms.groups WHERE group_id = 11;
INSERT INTO filtered SELECT 'group_members', count(*) FROM lms.group_members WHERE group_id = 11;
GRANT SELECT ON filtered TO PUBLIC;
-- rows_seen() counts the rows of every table of lms as the current role,
-- 0 where the role may not read the table at all
CREATE FUNCTION pg_temp.rows_seen() RETURNS TABLE (tbl text, n bigint) LANGUAGE plpgsql AS $$
BEGIN
	FOR tbl IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'lms'::regnamespace
			   AND c.relkind IN ('r', 'p') ORDER BY 1 LOOP
		BEGIN
			EXECUTE format('SELECT count(*) FROM lms.%I', tbl) INTO n;
		EXCEPTION WHEN insufficient_privilege THEN
			n := -1;
		END;
		RETURN NEXT;
	END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.rows_seen() TO PUBLIC;
\set QUIET 0

SELECT cmp_ok((SELECT count(*) FROM pg_temp.rows_seen() WHERE n > 0), '>=', 15::bigint,
	'as the superuser, the sample fills the tables');

-- reader_checks(r, label): r, unbound, reads no row of any table; bound
-- to the coach, no row of a relationship table and exactly the coach's rows
-- of the filtered ones (statistics, users and the dimensions)
CREATE FUNCTION pg_temp.reader_checks(r name, label text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SET ROLE %I', r);
	RETURN NEXT is((SELECT count(*) FROM pg_temp.rows_seen() WHERE n <> 0), 0::bigint,
		label || ', no principal: no row of any table');
	RESET ROLE;
	PERFORM lms.bind_role(r::regrole, 104);
	EXECUTE format('SET ROLE %I', r);
	RETURN NEXT is((SELECT count(*) FROM pg_temp.rows_seen() x WHERE x.tbl NOT IN (SELECT f.tbl FROM filtered f) AND x.n <> 0),
		0::bigint, label || ', bound to the coach: no row of a relationship table');
	RETURN NEXT set_eq($q$SELECT tbl, n FROM pg_temp.rows_seen() WHERE tbl IN (SELECT tbl FROM filtered)$q$,
		'SELECT tbl, coach_rows FROM filtered', label || ': exactly the coach''s rows of progress, enrollments, users and the dimensions');
	RESET ROLE;
END $$;
SELECT pg_temp.reader_checks('broad_reader', 'GRANT SELECT ON ALL TABLES IN SCHEMA lms');
SELECT pg_temp.reader_checks('all_data_reader', 'pg_read_all_data');

SET ROLE all_data_writer;
SELECT throws_ok($$INSERT INTO lms.group_roles VALUES (10, 104, 'group_admin')$$, '42501', NULL,
	'pg_write_all_data cannot grant itself a role');
SELECT throws_ok($$INSERT INTO lms.role_bindings VALUES ('all_data_writer', 101)$$, '42501', NULL,
	'nor bind itself to a principal');
SELECT throws_ok($$INSERT INTO lms.trusted_roles VALUES ('all_data_writer')$$, '42501', NULL,
	'nor trust itself');
SELECT lives_ok($$UPDATE lms.group_members SET user_id = user_id; DELETE FROM lms.tenant_roles$$,
	'its updates and deletes of the relationship tables reach no row');
RESET ROLE;
SELECT is((SELECT count(*) FROM lms.tenant_roles), 4::bigint, 'the tenant roles are all still there');

SELECT * FROM finish();
ROLLBACK;
