-- A fresh install (lms_visibility--<current>.sql, made from
-- lms_visibility.sql) and the install of each released version followed by
-- ALTER EXTENSION ... UPDATE give the same catalog: every function with its
-- body, settings, privileges and comment; every table, view and index with
-- its columns, options, privileges and comment; constraints, triggers,
-- policies, the event trigger, the tables pg_dump dumps, and the members of
-- the extension.  A difference prints as a row: which install has it, and
-- the object.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS lms_visibility CASCADE;
-- privileges as a set: the order of GRANTs does not matter
CREATE FUNCTION acl_set(acl aclitem[]) RETURNS text LANGUAGE sql IMMUTABLE
	RETURN (SELECT string_agg(a::text, ',' ORDER BY a::text) FROM unnest(acl) a);
CREATE VIEW catalog_snapshot AS
WITH lms AS (SELECT 'lms'::regnamespace AS nsp),
ext AS (SELECT oid FROM pg_extension WHERE extname = 'lms_visibility')
SELECT 'function' AS kind, p.oid::regprocedure::text AS name,
	   concat_ws(' | ', pg_get_functiondef(p.oid), acl_set(p.proacl),
				 obj_description(p.oid, 'pg_proc')) AS def
FROM pg_proc p, lms WHERE p.pronamespace = lms.nsp
UNION ALL
SELECT 'relation', c.oid::regclass::text,
	   concat_ws(' | ', c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.reloptions::text,
				 acl_set(c.relacl), obj_description(c.oid, 'pg_class'),
				 (SELECT string_agg(concat_ws(' ', a.attname, format_type(a.atttypid, a.atttypmod),
											  a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
											  acl_set(a.attacl)),
									', ' ORDER BY a.attnum)
				  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
				  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
				 CASE WHEN c.relkind = 'i' THEN pg_get_indexdef(c.oid) END,
				 CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END)
FROM pg_class c, lms WHERE c.relnamespace = lms.nsp AND c.relkind IN ('r', 'p', 'v', 'i', 'S')
UNION ALL
SELECT 'constraint', k.conrelid::regclass || '.' || k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k, lms WHERE k.connamespace = lms.nsp
UNION ALL
SELECT 'trigger', t.tgrelid::regclass || '.' || t.tgname,
	   concat_ws(' | ', pg_get_triggerdef(t.oid), t.tgenabled)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid, lms
WHERE c.relnamespace = lms.nsp AND NOT t.tgisinternal
UNION ALL
SELECT 'policy', p.polrelid::regclass || '.' || p.polname,
	   concat_ws(' | ', p.polcmd, p.polpermissive,
				 (SELECT string_agg(CASE r WHEN 0 THEN 'public' ELSE r::regrole::text END, ',' ORDER BY 1)
				  FROM unnest(p.polroles) r),
				 pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid, lms WHERE c.relnamespace = lms.nsp
UNION ALL
SELECT 'event trigger', e.evtname,
	   concat_ws(' | ', e.evtevent, e.evttags::text, e.evtfoid::regprocedure, e.evtenabled)
FROM pg_event_trigger e WHERE e.evtname LIKE 'lms%'
UNION ALL
SELECT 'schema', n.nspname, concat_ws(' | ', acl_set(n.nspacl), obj_description(n.oid, 'pg_namespace'))
FROM pg_namespace n, lms WHERE n.oid = lms.nsp
UNION ALL
SELECT 'dumped table', t.tbl::regclass::text, coalesce(x.extcondition[t.i], '')
FROM pg_extension x, unnest(x.extconfig) WITH ORDINALITY t(tbl, i)
WHERE x.extname = 'lms_visibility'
UNION ALL
SELECT 'member', pg_describe_object(d.classid, d.objid, 0), ''
FROM pg_depend d, ext WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
  AND d.refobjid = ext.oid;
CREATE EXTENSION lms_visibility;
CREATE TABLE catalog_fresh AS SELECT * FROM catalog_snapshot;
SELECT count(*) > 100 AS objects FROM catalog_fresh;
CREATE TABLE catalog_released (version text);
INSERT INTO catalog_released VALUES ('0.1.0'), ('0.2.0'), ('0.3.0'), ('0.4.0'), ('0.5.0'), ('0.6.0');
-- every version with an install or upgrade script, but the current one, is
-- in that list
SELECT v.version FROM pg_available_extension_versions v
WHERE v.name = 'lms_visibility' AND NOT v.version IN (SELECT version FROM catalog_released)
  AND v.version <> (SELECT default_version FROM pg_available_extensions WHERE name = 'lms_visibility');
CREATE FUNCTION catalog_differences(v text) RETURNS TABLE (install text, kind text, name text, def text)
LANGUAGE plpgsql AS $$
BEGIN
	DROP EXTENSION lms_visibility;
	EXECUTE format('CREATE EXTENSION lms_visibility VERSION %L', v);
	ALTER EXTENSION lms_visibility UPDATE;
	RETURN QUERY
	(SELECT 'fresh only', f.* FROM catalog_fresh f EXCEPT ALL SELECT 'fresh only', s.* FROM catalog_snapshot s)
	UNION ALL
	(SELECT 'from ' || v || ' only', s.* FROM catalog_snapshot s
	 EXCEPT ALL SELECT 'from ' || v || ' only', f.* FROM catalog_fresh f)
	ORDER BY 2, 3, 1;
END
$$;
SELECT d.* FROM catalog_released r, LATERAL catalog_differences(r.version) d;
SELECT extversion FROM pg_extension WHERE extname = 'lms_visibility';
DROP FUNCTION catalog_differences(text);
DROP TABLE catalog_fresh, catalog_released;
DROP VIEW catalog_snapshot;
DROP FUNCTION acl_set(aclitem[]);
