/* lms_visibility--0.4.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lms_visibility UPDATE TO '0.5.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Scaling out on Citus.  lms.distribute() makes the relationship store's
-- tables reference tables (a copy on every node) and distributes
-- lms.progress by user_id.  The engine reads each node's own shards
-- (src/vis_citus.c), so a policy evaluated on a worker never runs a
-- distributed query; the store's triggers run on every shard, so a change
-- written through the coordinator invalidates on every node that holds a
-- copy of the row, at the commit of that node's part of the transaction.
------------------------------------------------------------------------------

CREATE FUNCTION lms._distributed() RETURNS boolean
	AS 'MODULE_PATHNAME', 'lms_distributed' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION lms._distributed() IS
	'has lms.distribute() made lms.progress a Citus table';

-- lms._principal_arg() is the principal argument of a policy: an InitPlan,
-- evaluated once per statement, or on a Citus cluster (whose policies may
-- not hold subqueries) the call itself
CREATE FUNCTION lms._principal_arg() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE WHEN lms._distributed() THEN 'lms.current_principal()'
		   ELSE '(SELECT lms.current_principal())' END
$$;

-- Roles are stored as regrole, an OID, and every node numbers its roles
-- itself: Citus copies a table's rows to other nodes in binary, OIDs and
-- all, when it creates a reference table, adds a node or moves a shard.
-- The bindings and trusted roles are therefore written through the
-- coordinator as statements, which name each role, and each node's
-- anchor trigger anchors them among its own roles.  lms._stash_roles()
-- moves the rows into the temporary tables lms_roles and lms_trusted,
-- lms._insert_roles() writes them back; lms._rewrite_roles() does both.
CREATE FUNCTION lms._insert_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT * FROM lms_roles LOOP
		EXECUTE format('INSERT INTO lms.role_bindings (role, principal, personal_data, valid_until) VALUES (%L::regrole, %s, %L, %L)',
					   r.role, r.principal, r.personal_data, r.valid_until);
	END LOOP;
	FOR r IN SELECT * FROM lms_trusted LOOP
		EXECUTE format('INSERT INTO lms.trusted_roles (role) VALUES (%L::regrole)', r.role);
	END LOOP;
END
$$;
CREATE FUNCTION lms._stash_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	CREATE TEMP TABLE lms_roles ON COMMIT DROP AS
		SELECT b.role::text AS role, b.principal, b.personal_data, b.valid_until FROM lms.role_bindings b;
	CREATE TEMP TABLE lms_trusted ON COMMIT DROP AS SELECT t.role::text AS role FROM lms.trusted_roles t;
	DELETE FROM lms.role_bindings;
	DELETE FROM lms.trusted_roles;
END
$$;
CREATE FUNCTION lms._rewrite_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM lms._stash_roles();
	PERFORM lms._insert_roles();
END
$$;
REVOKE ALL ON FUNCTION lms._stash_roles(), lms._insert_roles(), lms._rewrite_roles() FROM PUBLIC;

-- lms.distribute(shard_count) sets the store out on the Citus cluster this
-- database is the coordinator of.  Citus refuses, on distributed tables,
-- policies with subqueries (the principal argument becomes a plain call)
-- and, without citus.enable_unsafe_triggers, tables with triggers.  A
-- foreign key from a local table to a reference table would make Citus
-- convert the extension's tables one by one, so the keys are dropped on
-- every node first and added again once every table is distributed.
CREATE FUNCTION lms.distribute(shard_count integer DEFAULT 32) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fk record;
	pol record;
	tbl regclass;
	q text;
	c text;
	failed text;
	arg constant text := '\( SELECT (lms\.(current_principal|_personal_data))\(\) AS \2\)';
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied to distribute the store'
			USING ERRCODE = 'insufficient_privilege', HINT = 'Run lms.distribute() as a superuser.';
	END IF;
	IF shard_count IS NULL OR shard_count < 1 OR shard_count > 1024 THEN
		RAISE EXCEPTION 'shard_count must be between 1 and 1024, not %', shard_count
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'Citus is not installed in this database'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Put citus in shared_preload_libraries and run CREATE EXTENSION citus on every node, then add the workers.';
	END IF;
	IF lms._distributed() THEN
		PERFORM lms._rewrite_roles();
		RAISE NOTICE 'the store is distributed already: its bindings and trusted roles were written again to every node';
		RETURN;
	END IF;
	IF (SELECT g.groupid FROM pg_dist_local_group g) <> 0 THEN
		RAISE EXCEPTION 'lms.distribute() runs on the coordinator'
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_dist_node n WHERE n.groupid = 0) THEN
		RAISE EXCEPTION 'the coordinator is not in the cluster''s metadata'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'The coordinator must hold a copy of the reference tables to answer lms functions itself.',
				  HINT = 'SELECT citus_set_coordinator_host(host, port) first.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_dist_node n WHERE n.groupid <> 0 AND n.isactive) THEN
		RAISE EXCEPTION 'the cluster has no worker'
			USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'SELECT citus_add_node(host, port) first.';
	END IF;
	PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
	-- foreign keys to reference tables: one connection per node throughout
	PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);

	CREATE TEMP TABLE lms_foreign_keys ON COMMIT DROP AS
		SELECT k.conrelid::regclass AS rel, k.conname, pg_get_constraintdef(k.oid) AS def
		FROM pg_constraint k WHERE k.contype = 'f' AND k.connamespace = 'lms'::regnamespace;
	FOR fk IN SELECT * FROM lms_foreign_keys LOOP
		EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.conname);
		SELECT string_agg(r.nodename || ':' || r.nodeport || ': ' || r.result, '; ') INTO failed
		FROM run_command_on_workers(format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', fk.rel, fk.conname)) r
		WHERE NOT r.success;
		IF failed IS NOT NULL THEN
			RAISE EXCEPTION 'could not drop constraint % of % on the workers', fk.conname, fk.rel
				USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = failed,
					  HINT = 'Every node needs CREATE EXTENSION lms_visibility of the same version (Citus forwards it).';
		END IF;
	END LOOP;

	-- the store's policies and those of lms.protect_table, without subqueries
	FOR pol IN SELECT p.polrelid::regclass AS rel, p.polname,
			pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS chk
		FROM pg_policy p JOIN pg_class r ON r.oid = p.polrelid
		WHERE r.relnamespace = 'lms'::regnamespace OR p.polname = 'lms_visibility' LOOP
		q := regexp_replace(pol.qual, arg, '\1()', 'g');
		c := regexp_replace(pol.chk, arg, '\1()', 'g');
		IF q IS DISTINCT FROM pol.qual THEN
			EXECUTE format('ALTER POLICY %I ON %s USING (%s)', pol.polname, pol.rel, q);
		END IF;
		IF c IS DISTINCT FROM pol.chk THEN
			EXECUTE format('ALTER POLICY %I ON %s WITH CHECK (%s)', pol.polname, pol.rel, c);
		END IF;
	END LOOP;

	PERFORM lms._stash_roles();
	FOR tbl IN SELECT r.oid::regclass FROM pg_class r
		WHERE r.relnamespace = 'lms'::regnamespace AND r.relkind = 'r'
		  AND r.relname NOT IN ('progress', 'cache_proxy') ORDER BY r.oid LOOP
		PERFORM create_reference_table(tbl);
	END LOOP;
	PERFORM create_distributed_table('lms.progress', 'user_id', shard_count => shard_count);
	FOR fk IN SELECT * FROM lms_foreign_keys LOOP
		EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel, fk.conname, fk.def);
	END LOOP;
	FOR tbl IN SELECT p.logicalrelid FROM pg_dist_partition p
		JOIN pg_class r ON r.oid = p.logicalrelid WHERE r.relnamespace = 'lms'::regnamespace LOOP
		PERFORM truncate_local_data_after_distributing_table(tbl);
	END LOOP;
	PERFORM lms._insert_roles();
	-- SET LOCAL lms.principal reaches the workers only so
	EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = local', current_database());
END
$$;
REVOKE ALL ON FUNCTION lms.distribute(integer) FROM PUBLIC;
COMMENT ON FUNCTION lms.distribute(integer) IS
	'sets the store out on a Citus cluster: reference tables, lms.progress distributed by user_id';

-- protect_table gives the policy the principal argument of the cluster
CREATE OR REPLACE FUNCTION lms.protect_table(tbl regclass, user_column name, content_column name,
											 context_column name DEFAULT NULL)
	RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	col name;
	typ oid;
	using_expr text;
BEGIN
	IF tbl IS NULL OR user_column IS NULL OR content_column IS NULL THEN
		RAISE EXCEPTION 'table, user column and content column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH col IN ARRAY ARRAY[user_column, content_column, context_column] LOOP
		CONTINUE WHEN col IS NULL;
		SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
			WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
				USING ERRCODE = 'undefined_column';
		END IF;
		IF typ NOT IN ('pg_catalog.int8'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int2'::regtype) THEN
			RAISE EXCEPTION 'column "%" of relation % has type %, not an integer type', col, tbl, typ::regtype
				USING ERRCODE = 'datatype_mismatch',
				HINT = 'Visibility columns hold user, content and group ids (bigint).';
		END IF;
	END LOOP;
	using_expr := format('lms.can_view_stats(%s, %I, %I, %s)', lms._principal_arg(),
		user_column, content_column,
		CASE WHEN context_column IS NULL THEN 'NULL' ELSE quote_ident(context_column) END);
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_policy p
			   WHERE p.polrelid = tbl AND p.polname = 'lms_visibility') THEN
		EXECUTE format('ALTER POLICY lms_visibility ON %s USING (%s)', tbl, using_expr);
	ELSE
		EXECUTE format('CREATE POLICY lms_visibility ON %s FOR SELECT USING (%s)', tbl, using_expr);
	END IF;
	EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
	PERFORM lms._protect_parts_of(tbl);
END
$$;

-- The report rows in PL/pgSQL: Citus plans no SQL-function query with
-- parameters on a distributed table, and a worker must not read lms.secret
-- (a reference table) from inside its query on a shard.  The principal,
-- its personal-data flag and the pseudonyms' secret are read once, here,
-- and reach the query as values.
CREATE OR REPLACE FUNCTION lms._report_rows(root bigint)
	RETURNS TABLE (first_name text, last_name text, email text, company text,
				   completed_at timestamptz, started_at timestamptz,
				   activated_at timestamptz, expires_at timestamptz, course_name text,
				   last_sign_in_at timestamptz, viewed_pct numeric, completed_pct numeric,
				   custom_fields jsonb, learner_key text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
	p bigint := lms.current_principal();
	pd boolean := lms._personal_data();
	secret bytea;
	groups bigint[];
BEGIN
	IF NOT pd THEN
		SELECT s.key INTO secret FROM lms.secret s ORDER BY s.created_at LIMIT 1;
	END IF;
	IF root IS NOT NULL THEN
		groups := ARRAY(SELECT lms._subtree(root));
	END IF;
	RETURN QUERY
	SELECT CASE WHEN pd THEN u.first_name END, CASE WHEN pd THEN u.last_name END,
		   CASE WHEN pd THEN u.email END, CASE WHEN pd THEN u.company END,
		   pr.completed_at, pr.started_at, e.activated_at, e.expires_at, c.title,
		   u.last_sign_in_at, pr.viewed_pct, pr.completed_pct,
		   CASE WHEN pd THEN u.custom_fields END,
		   CASE WHEN NOT pd THEN encode(lms._hmac_sha256(secret, convert_to(u.user_id::text, 'UTF8')), 'hex') END
	FROM lms.progress pr
	JOIN lms.users u ON u.user_id = pr.user_id
	JOIN lms.content c ON c.content_id = pr.content_id
	LEFT JOIN lms.enrollments e ON e.user_id = pr.user_id AND e.content_id = pr.content_id
	WHERE lms.can_view_stats(p, pr.user_id, pr.content_id, pr.context_group_id)
	  AND (root IS NULL OR pr.user_id IN (
			SELECT m.user_id FROM lms.group_members m WHERE m.group_id = ANY (groups)))
	ORDER BY 2, 1, 14, 9;
END
$$;
