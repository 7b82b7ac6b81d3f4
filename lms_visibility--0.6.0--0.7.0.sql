/* lms_visibility--0.6.0--0.7.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lms_visibility UPDATE TO '0.7.0'" to load this file. \quit

------------------------------------------------------------------------------
-- lms.cache_stats() also reports the server's shared cache (used when the
-- library is in shared_preload_libraries; NULL otherwise): its bytes and
-- entries, hits, builds, builds that another backend had just published
-- (two backends that miss the same principal build it side by side),
-- evictions and invalidations.  memory_bytes stays this backend's own.
------------------------------------------------------------------------------

DROP FUNCTION lms.cache_stats();
CREATE FUNCTION lms.cache_stats(
	OUT principals_cached integer, OUT memory_bytes bigint, OUT hits bigint,
	OUT rebuilds bigint, OUT invalidations bigint, OUT last_invalidation timestamptz,
	OUT last_rebuild_ms double precision, OUT shortcut_scans bigint,
	OUT inline_scans bigint, OUT tenants_cached integer, OUT tenant_bytes bigint,
	OUT memory_limit_bytes bigint, OUT evictions bigint,
	OUT shared_bytes bigint, OUT shared_entries bigint, OUT shared_hits bigint,
	OUT shared_builds bigint, OUT shared_duplicate_builds bigint,
	OUT shared_evictions bigint, OUT shared_invalidations bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'lms_cache_stats'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.cache_stats() IS 'the visibility cache of this backend, and the server''s shared cache';

------------------------------------------------------------------------------
-- lms._rules(): the library's rule table (src/vis_rules.c, doc/rules.md),
-- a row per role or relation: where it is held, whether it adds users
-- (U(p)) and content (C(p)), whether it gets restricted grants in tenants
-- with extended visibility, its group scope and the teams it may change.
-- The tests check the SQL that names roles on its own (the roles' CHECKs,
-- the reports' permissions, the team role, who_can_see's reverse rules)
-- against it.
------------------------------------------------------------------------------

CREATE FUNCTION lms._rules(
	OUT name text, OUT held_on text, OUT adds_users boolean, OUT adds_content boolean,
	OUT extended boolean, OUT group_scope text, OUT teams text)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'lms_rules'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION lms._rules() IS 'the rule table: each role or relation, where it is held, what it adds, its group scope and the teams it may change';
REVOKE ALL ON FUNCTION lms._rules() FROM PUBLIC;

------------------------------------------------------------------------------
-- lms.who_can_see() on a Citus cluster: the sessions the learner played are
-- read first, by the distribution column of lms.progress, and each
-- candidate is confirmed on the node the function runs on.  Its one query
-- that joined lms.progress to the reference tables failed there (Citus
-- deparsed the common table expression's column list wrongly for the
-- workers), and a forward check pushed to a worker would have answered
-- from that worker's rows of lms.progress alone.
------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION lms.who_can_see(user_id bigint, content_id bigint DEFAULT NULL,
								context_group_id bigint DEFAULT NULL)
	RETURNS TABLE (principal bigint, roles text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	u bigint := who_can_see.user_id;
	c bigint := who_can_see.content_id;
	x bigint := who_can_see.context_group_id;
	played bigint[];
	k record;
BEGIN
	PERFORM lms._require_trusted('lms.who_can_see()');
	-- the sessions u played, alone: on a Citus cluster a query of
	-- lms.progress by its distribution column goes to the one node that
	-- holds u's rows, and the candidates below read reference tables only
	played := ARRAY(SELECT p.content_id FROM lms.progress p WHERE p.user_id = u
					UNION
					SELECT p.session_id FROM lms.progress p WHERE p.user_id = u AND p.session_id IS NOT NULL);
	FOR k IN
		WITH RECURSIVE
		mine AS (SELECT m.group_id FROM lms.group_members m WHERE m.user_id = u),
		up AS (
			SELECT mine.group_id FROM mine
			UNION
			SELECT g.parent_group_id FROM lms.groups g JOIN up ON g.group_id = up.group_id
			WHERE g.parent_group_id IS NOT NULL
		),
		bosses AS (
			SELECT m.manager_id FROM lms.managers m WHERE m.user_id = u
			UNION
			SELECT m.manager_id FROM lms.managers m JOIN bosses b ON m.user_id = b.manager_id
		),
		candidates AS (
			SELECT r.user_id AS who, r.role || ' of tenant ' || t.tenant_id AS why
			FROM lms.users t JOIN lms.users o ON o.tenant_id = t.tenant_id
			JOIN lms.tenant_roles r ON r.user_id = o.user_id
			WHERE t.user_id = u AND r.role IN ('platform_admin', 'learner_manager')
			UNION ALL
			SELECT gr.user_id, gr.role || ' of group ' || gr.group_id
			FROM lms.group_roles gr JOIN up ON up.group_id = gr.group_id
			WHERE gr.role IN ('group_admin', 'group_analyst', 'group_leader')
			UNION ALL
			SELECT gr.user_id, 'coach of group ' || gr.group_id
			FROM lms.group_roles gr JOIN mine ON mine.group_id = gr.group_id WHERE gr.role = 'coach'
			UNION ALL
			SELECT b.manager_id, 'manager' FROM bosses b WHERE b.manager_id <> u
			UNION ALL
			SELECT st.user_id, 'trainer of slot ' || st.slot_id
			FROM lms.slot_trainers st JOIN lms.slot_registrations sr ON sr.slot_id = st.slot_id
			WHERE sr.user_id = u
			UNION ALL
			SELECT si.user_id, 'instructor of session ' || si.session_id
			FROM lms.session_instructors si WHERE si.session_id = ANY (played)
			UNION ALL
			SELECT r.user_id, 'contributor (own results)' FROM lms.tenant_roles r
			WHERE r.user_id = u AND r.role = 'contributor'
		)
		SELECT cand.who, string_agg(DISTINCT cand.why, ', ') AS why
		FROM candidates cand GROUP BY cand.who ORDER BY cand.who
	LOOP
		-- confirmed here, on this node, by the forward rule
		IF (CASE WHEN c IS NULL THEN lms.can_view_user(k.who, u)
				 ELSE lms.can_view_stats(k.who, u, c, x) END) THEN
			principal := k.who;
			roles := k.why;
			RETURN NEXT;
		END IF;
	END LOOP;
END
$$;

-- lms.preview(change): what a change of the store would do before it is
-- made (doc/accountability.md, "What a change will do").  The change runs
-- as the caller in a subtransaction that is always rolled back; each
-- principal of the tenants it touches whose U(p) or C(p) it would change
-- comes with the users and content it would gain and lose.  For superusers
-- and members of lms_writer (checked in C too).
CREATE FUNCTION lms.preview(change text)
	RETURNS TABLE (principal bigint, gained_users bigint[], lost_users bigint[],
				   gained_content bigint[], lost_content bigint[])
	AS 'MODULE_PATHNAME', 'lms_preview' LANGUAGE C STRICT VOLATILE;
REVOKE ALL ON FUNCTION lms.preview(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lms.preview(text) TO lms_writer;

------------------------------------------------------------------------------
-- The relationship history (doc/accountability.md, "What changed").  From
-- the upgrade on: the changes made before it are not known.
------------------------------------------------------------------------------

-- The relationship history (doc/accountability.md, "What changed"): every
-- change of a relationship table of the store, kept with the time its
-- transaction committed and the role and principal that made it
-- (src/vis_history.c).  A row holds the row's key and the columns the rules
-- read of it, the columns the invalidation triggers watch, as JSON: new_row
-- after an insert or update, old_row before an update or delete.  Not
-- lms.progress (statistics, not relationships), not lms.path_steps (read by
-- no rule).  The setting lms.history (superuser) turns it off, for a
-- restore.  Readable by superusers alone (row-level security with no
-- policy, as for lms.secret: not through pg_read_all_data either); on a
-- Citus cluster each node keeps its own (doc/citus.md).
CREATE TABLE lms.history (
	id				bigserial PRIMARY KEY,
	committed_at	timestamptz NOT NULL,
	relation		text NOT NULL,
	change			text NOT NULL CONSTRAINT history_change_check CHECK (change IN ('insert', 'update', 'delete')),
	new_row			jsonb,
	old_row			jsonb,
	by_role			text,
	by_principal	bigint
);
CREATE INDEX history_committed_at_idx ON lms.history (committed_at);
COMMENT ON TABLE lms.history IS 'every change of the store''s relationships, with its commit time, role and principal';
ALTER TABLE lms.history ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.history FORCE ROW LEVEL SECURITY;
REVOKE ALL ON lms.history FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('lms.history', '');
SELECT pg_catalog.pg_extension_config_dump('lms.history_id_seq', '');

CREATE FUNCTION lms._record_history() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_record_history' LANGUAGE C;
CREATE FUNCTION lms._record_truncate() RETURNS trigger
	AS 'MODULE_PATHNAME', 'lms_record_truncate' LANGUAGE C;
REVOKE ALL ON FUNCTION lms._record_history(), lms._record_truncate() FROM PUBLIC;

-- the history's triggers on each table with invalidation triggers but
-- lms.progress: deferred to the commit, with the columns of its UPDATE
-- trigger and of its primary key as arguments
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN
		SELECT g.tgrelid::regclass AS rel,
			(SELECT string_agg(quote_literal(a.attname), ', ' ORDER BY a.attnum)
			 FROM pg_attribute a
			 WHERE a.attrelid = g.tgrelid
			   AND (a.attnum = ANY (g.tgattr) OR a.attnum = ANY (
					SELECT unnest(i.indkey) FROM pg_index i WHERE i.indrelid = g.tgrelid AND i.indisprimary))) AS args,
			(SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
			 FROM pg_attribute a WHERE a.attrelid = g.tgrelid AND a.attnum = ANY (g.tgattr)) AS watched,
			(SELECT string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', a.attname), ' OR ' ORDER BY a.attnum)
			 FROM pg_attribute a WHERE a.attrelid = g.tgrelid AND a.attnum = ANY (g.tgattr)) AS changed
		FROM pg_trigger g JOIN pg_class r ON r.oid = g.tgrelid
		WHERE g.tgname = 'invalidate_cache_update' AND r.relnamespace = 'lms'::regnamespace
		  AND r.relname <> 'progress'
		ORDER BY r.relname
	LOOP
		EXECUTE format('CREATE CONSTRAINT TRIGGER record_history AFTER INSERT OR DELETE ON %s '
			'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lms._record_history(%s)', t.rel, t.args);
		EXECUTE format('CREATE CONSTRAINT TRIGGER record_history_update AFTER UPDATE OF %s ON %s '
			'DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (%s) EXECUTE FUNCTION lms._record_history(%s)',
			t.watched, t.rel, t.changed, t.args);
		EXECUTE format('CREATE TRIGGER record_history_truncate BEFORE TRUNCATE ON %s '
			'FOR EACH STATEMENT EXECUTE FUNCTION lms._record_truncate(%s)', t.rel, t.args);
	END LOOP;
END
$$;

-- lms.prune_history(before): drops the history committed before before;
-- the rows dropped.  Superusers.
CREATE FUNCTION lms.prune_history(before timestamptz) RETURNS bigint
LANGUAGE plpgsql STRICT SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n bigint;
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION 'permission denied to prune the history'
			USING ERRCODE = 'insufficient_privilege', HINT = 'Run lms.prune_history() as a superuser.';
	END IF;
	DELETE FROM lms.history h WHERE h.committed_at < before;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION lms.prune_history(timestamptz) IS 'drop the history committed before the given time (superusers)';
REVOKE ALL ON FUNCTION lms.prune_history(timestamptz) FROM PUBLIC;

-- lms.distribute() leaves lms.history each node's own
CREATE OR REPLACE FUNCTION lms.distribute(shard_count integer DEFAULT 32) RETURNS void
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
		  AND r.relname NOT IN ('progress', 'cache_proxy', 'history') ORDER BY r.oid LOOP
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
