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

-- lms.prune_history(before): drops the history committed before before,
-- and the rules at a past time with it; the rows dropped.  Superusers.
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
	UPDATE lms.history_horizon h SET since = greatest(h.since, before);
	RETURN n;
END
$$;
COMMENT ON FUNCTION lms.prune_history(timestamptz) IS 'drop the history committed before the given time (superusers)';
REVOKE ALL ON FUNCTION lms.prune_history(timestamptz) FROM PUBLIC;

-- lms._alter_triggers(names, action): ALTER TABLE ... action TRIGGER for
-- each trigger of those names on the store's tables (not on a Citus
-- shard): the history's, DISABLE and ENABLE, for lms.distribute() while
-- Citus copies the store's rows
CREATE FUNCTION lms._alter_triggers(names text[], action text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t regclass;
	g text;
BEGIN
	-- one trigger per statement: Citus propagates no more
	FOR t, g IN SELECT g.tgrelid::regclass, g.tgname FROM pg_trigger g JOIN pg_class r ON r.oid = g.tgrelid
		WHERE g.tgname = ANY (names) AND r.relnamespace = 'lms'::regnamespace AND r.relname !~ '_[0-9]+$'
		ORDER BY r.relname, g.tgname LOOP
		EXECUTE format('ALTER TABLE %s %s TRIGGER %I', t, action, g);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION lms._alter_triggers(text[], text) FROM PUBLIC;

-- Where the history begins: at the install or upgrade, or at the last
-- prune_history().  One row, or after a restore two (the install's own and
-- the dumped one): the earliest counts.
CREATE TABLE lms.history_horizon (
	since	timestamptz NOT NULL
);
ALTER TABLE lms.history_horizon ENABLE ROW LEVEL SECURITY;
ALTER TABLE lms.history_horizon FORCE ROW LEVEL SECURITY;
REVOKE ALL ON lms.history_horizon FROM PUBLIC;
INSERT INTO lms.history_horizon VALUES (now());
SELECT pg_catalog.pg_extension_config_dump('lms.history_horizon', '');

-- The rules at a past time (doc/accountability.md, "Who could see, and
-- when").  lms._rewind(after, upto) undoes, in the calling transaction,
-- the history committed after after (and up to upto), newest first: an
-- insert deleted, a delete inserted again (a column the history does not
-- keep at its default, or empty where it has none), an update reverted.
-- Its callers set session_replication_role = replica for the undo and
-- the questions they then ask (once: a change of the setting empties the
-- plan cache), so that neither the integrity checks (the rows were valid
-- then), nor the team rules, nor the history's own triggers run; the
-- invalidation triggers fire ALWAYS, so the caches of this backend drop
-- what the undone rows touched.  The bindings and trusted roles are not
-- undone: they name who asks, not what the rules see.  The callers roll
-- the undo back, the setting with it, by raising LV000 in a block.
CREATE FUNCTION lms._rewind(after timestamptz, upto timestamptz DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h record;
	pkeys jsonb;	-- each table's key columns
	keys text;
	cols text;
	fill jsonb;
BEGIN
	IF current_setting('session_replication_role') <> 'replica' THEN
		RAISE EXCEPTION 'lms._rewind() runs with session_replication_role = replica';
	END IF;
	SELECT jsonb_object_agg(r.relname, (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
										FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)))
	INTO pkeys
	FROM pg_index i JOIN pg_class r ON r.oid = i.indrelid
	WHERE r.relnamespace = 'lms'::regnamespace AND i.indisprimary;
	FOR h IN SELECT * FROM lms.history
		WHERE committed_at > after AND (upto IS NULL OR committed_at <= upto)
		  AND relation NOT IN ('role_bindings', 'trusted_roles')
		ORDER BY id DESC LOOP
		keys := pkeys->>h.relation;
		IF h.change = 'insert' THEN
			EXECUTE format('DELETE FROM lms.%1$I WHERE (%2$s) = (SELECT %2$s FROM jsonb_populate_record(NULL::lms.%1$I, $1))',
				h.relation, keys) USING h.new_row;
		ELSIF h.change = 'update' THEN
			SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(h.old_row) k;
			EXECUTE format('UPDATE lms.%1$I SET (%3$s) = (SELECT %3$s FROM jsonb_populate_record(NULL::lms.%1$I, $2)) '
				'WHERE (%2$s) = (SELECT %2$s FROM jsonb_populate_record(NULL::lms.%1$I, $1))',
				h.relation, keys, cols) USING h.new_row, h.old_row;
		ELSE
			SELECT coalesce(jsonb_object_agg(a.attname, ''), '{}') INTO fill
			FROM pg_attribute a
			WHERE a.attrelid = format('lms.%I', h.relation)::regclass AND a.attnum > 0 AND NOT a.attisdropped
			  AND a.attnotnull AND NOT a.atthasdef AND NOT h.old_row ? a.attname;
			SELECT string_agg(quote_ident(k), ', ') INTO cols FROM jsonb_object_keys(fill || h.old_row) k;
			EXECUTE format('INSERT INTO lms.%1$I (%2$s) SELECT %2$s FROM jsonb_populate_record(NULL::lms.%1$I, $1) '
				'ON CONFLICT DO NOTHING', h.relation, cols) USING fill || h.old_row;
		END IF;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION lms._rewind(timestamptz, timestamptz) FROM PUBLIC;

-- lms._may_rewind(at, what): refuses to undo the history to at where it
-- cannot: on a hot standby, on a Citus cluster (the undo would write the
-- reference tables on every node), before the history begins
CREATE FUNCTION lms._may_rewind(at timestamptz, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	since timestamptz := (SELECT min(h.since) FROM lms.history_horizon h);
BEGIN
	IF pg_is_in_recovery() THEN
		RAISE EXCEPTION '% does not run on a hot standby', what
			USING ERRCODE = 'read_only_sql_transaction',
				  DETAIL = 'It undoes the later history in a subtransaction it rolls back, which writes.',
				  HINT = 'Ask the primary.';
	END IF;
	IF lms._distributed() THEN
		RAISE EXCEPTION '% does not run on a Citus cluster', what
			USING ERRCODE = 'feature_not_supported',
				  DETAIL = 'It undoes the later history in a subtransaction, which would write every node''s copy of the store.',
				  HINT = 'Ask a single-node copy of the store.';
	END IF;
	IF at IS NULL OR at < since THEN
		RAISE EXCEPTION '% asks about %, before the history begins', what, coalesce(at::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The history begins at %s: the install or upgrade of the extension, or the last lms.prune_history().', since);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION lms._may_rewind(timestamptz, text) FROM PUBLIC;

-- lms.visible_users(p, at): U(p) as the relationships stood at at
CREATE FUNCTION lms.visible_users(principal bigint, at timestamptz) RETURNS SETOF bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ids bigint[];
BEGIN
	PERFORM lms._require_trusted('lms.visible_users(principal, at)');
	PERFORM lms._may_rewind(at, 'lms.visible_users()');
	BEGIN
		PERFORM set_config('session_replication_role', 'replica', true);
		PERFORM lms._rewind(at);
		ids := lms.visible_user_ids(principal);
		RAISE EXCEPTION USING ERRCODE = 'LV000';
	EXCEPTION WHEN SQLSTATE 'LV000' THEN
		NULL;	-- the undo rolled back, the answer kept
	END;
	RETURN QUERY SELECT unnest(ids);
END
$$;
COMMENT ON FUNCTION lms.visible_users(bigint, timestamptz) IS 'U(p) as the relationships stood at the given time (superusers and trusted roles)';
REVOKE ALL ON FUNCTION lms.visible_users(bigint, timestamptz) FROM PUBLIC;

-- lms.can_view_stats(p, u, c, x, at): the row rule as the relationships
-- stood at at (the statistics rows as they are now)
CREATE FUNCTION lms.can_view_stats(principal bigint, user_id bigint, content_id bigint,
								   context_group_id bigint, at timestamptz) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	answer boolean;
BEGIN
	PERFORM lms._require_trusted('lms.can_view_stats(..., at)');
	PERFORM lms._may_rewind(at, 'lms.can_view_stats()');
	BEGIN
		PERFORM set_config('session_replication_role', 'replica', true);
		PERFORM lms._rewind(at);
		answer := lms.can_view_stats(principal, user_id, content_id, context_group_id);
		RAISE EXCEPTION USING ERRCODE = 'LV000';
	EXCEPTION WHEN SQLSTATE 'LV000' THEN
		NULL;
	END;
	RETURN answer;
END
$$;
COMMENT ON FUNCTION lms.can_view_stats(bigint, bigint, bigint, bigint, timestamptz) IS
	'the row rule as the relationships stood at the given time (superusers and trusted roles)';
REVOKE ALL ON FUNCTION lms.can_view_stats(bigint, bigint, bigint, bigint, timestamptz) FROM PUBLIC;

-- lms.who_could_see(u, from, to, c): every principal that could see
-- learner u (its row for content c, if given) at some moment of [from,
-- to], one row per period with the same roles: who_can_see over the store
-- as it stood at to, then before each change committed in (from, to],
-- newest first, in one undo.  could_see_until is NULL while the period
-- lasts at to.
CREATE FUNCTION lms.who_could_see(user_id bigint, "from" timestamptz, "to" timestamptz,
								  content_id bigint DEFAULT NULL)
	RETURNS TABLE (principal bigint, roles text, could_see_from timestamptz, could_see_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	u constant bigint := user_id;
	c constant bigint := content_id;
	seen jsonb := '[]';
	t timestamptz;
	t_end timestamptz;
BEGIN
	PERFORM lms._require_trusted('lms.who_could_see()');
	PERFORM lms._may_rewind("from", 'lms.who_could_see()');
	IF "to" IS NULL OR "to" < "from" THEN
		RAISE EXCEPTION 'the interval of lms.who_could_see() ends before it begins'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	BEGIN
		PERFORM set_config('session_replication_role', 'replica', true);
		PERFORM lms._rewind("to");
		-- the state since each change of the interval, newest first, then
		-- the state at from: each time the changes of the one after it undone
		t_end := NULL;
		FOR t IN SELECT DISTINCT h.committed_at FROM lms.history h
			WHERE h.committed_at > "from" AND h.committed_at <= "to"
			  AND h.relation NOT IN ('role_bindings', 'trusted_roles')
			UNION ALL SELECT "from"
			ORDER BY 1 DESC LOOP
			IF t_end IS NOT NULL THEN
				PERFORM lms._rewind(t, t_end);
			END IF;
			seen := seen || coalesce((SELECT jsonb_agg(jsonb_build_array(w.principal, w.roles, t, t_end))
									  FROM lms.who_can_see(u, c) w), '[]');
			t_end := t;
		END LOOP;
		RAISE EXCEPTION USING ERRCODE = 'LV000';
	EXCEPTION WHEN SQLSTATE 'LV000' THEN
		NULL;
	END;
	-- the states of one principal with the same roles, run together
	RETURN QUERY
	WITH s AS (
		SELECT (e->>0)::bigint AS p, e->>1 AS r, (e->>2)::timestamptz AS s_from, (e->>3)::timestamptz AS s_until
		FROM jsonb_array_elements(seen) e
	), edges AS (
		SELECT s.*, s_until IS DISTINCT FROM lag(s_from) OVER w AS starts
		FROM s WINDOW w AS (PARTITION BY p, r ORDER BY s_from DESC)
	), runs AS (
		SELECT edges.*, count(*) FILTER (WHERE starts) OVER (PARTITION BY p, r ORDER BY s_from DESC) AS run
		FROM edges
	)
	SELECT runs.p, runs.r, min(runs.s_from), (array_agg(runs.s_until ORDER BY runs.s_from DESC))[1]
	FROM runs GROUP BY runs.p, runs.r, runs.run ORDER BY 1, 3, 2;
END
$$;
COMMENT ON FUNCTION lms.who_could_see(bigint, timestamptz, timestamptz, bigint) IS
	'who could see the learner at some moment of the interval, with the roles and the periods (superusers and trusted roles)';
REVOKE ALL ON FUNCTION lms.who_could_see(bigint, timestamptz, timestamptz, bigint) FROM PUBLIC;

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

	-- the copies Citus makes of the rows are not changes: no history, and
	-- no trigger events left pending on a shard an ALTER TABLE follows
	PERFORM lms._alter_triggers(ARRAY['record_history', 'record_history_update', 'record_history_truncate'], 'DISABLE');
	PERFORM lms._stash_roles();
	FOR tbl IN SELECT r.oid::regclass FROM pg_class r
		WHERE r.relnamespace = 'lms'::regnamespace AND r.relkind = 'r'
		  AND r.relname NOT IN ('progress', 'cache_proxy', 'history', 'history_horizon') ORDER BY r.oid LOOP
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
	PERFORM lms._alter_triggers(ARRAY['record_history', 'record_history_update', 'record_history_truncate'], 'ENABLE');
	-- team writes: Citus locks the reference tables a written row refers to
	-- (lms.tenants, lms.users) only for a role that may change them.  DELETE
	-- is that privilege; row-level security leaves a reader no row of them to
	-- delete (no policy for DELETE but the sync service's)
	GRANT DELETE ON lms.tenants, lms.users TO PUBLIC;
	-- SET LOCAL lms.principal reaches the workers only so
	EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = local', current_database());
END
$$;

-- the invalidation triggers fire ALWAYS, also with session_replication_role
-- = replica: in a logical replication subscriber's apply, and in the undo of
-- the rules at a past time
SELECT lms._alter_triggers(ARRAY['invalidate_cache', 'invalidate_cache_update', 'invalidate_cache_truncate'],
							'ENABLE ALWAYS');

------------------------------------------------------------------------------
-- The team rules read each node's own copy of the store (lms._local), so
-- that team writes work through a Citus coordinator, and the trigger takes
-- the table's name from its argument (a shard's name is not the table's)
------------------------------------------------------------------------------

-- lms._local(rel) is this node's copy of table rel of the store: rel itself
-- on one node, its shard on a node of a Citus cluster, where a reference
-- table's rows are on every node.  The team rules below read it, so that
-- on a cluster each node checks a write against its own rows and never
-- starts a distributed query from inside the one that writes
-- (doc/citus.md, "Team writes").
CREATE FUNCTION lms._local(rel regclass) RETURNS regclass
	AS 'MODULE_PATHNAME', 'lms_local' LANGUAGE C STRICT STABLE;
REVOKE ALL ON FUNCTION lms._local(regclass) FROM PUBLIC;

-- lms._team_role(tenant) is what the principal of the transaction may do to
-- the teams of tenant: 'platform_admin', 'learner_manager', or NULL.
-- current_principal() is the caller's, not the definer's: it is resolved
-- for the role outside SECURITY DEFINER functions.
CREATE OR REPLACE FUNCTION lms._team_role(tenant bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r text;
BEGIN
	EXECUTE format('SELECT CASE WHEN bool_or(r.role = %L) THEN %1$L WHEN bool_or(r.role = %2$L) THEN %2$L END '
		'FROM %3$s r JOIN %4$s u ON u.user_id = r.user_id WHERE r.user_id = lms.current_principal() AND u.tenant_id = $1',
		'platform_admin', 'learner_manager', lms._local('lms.tenant_roles'), lms._local('lms.users'))
		INTO r USING tenant;
	RETURN r;
END
$$;

-- lms._may_write_group(tenant, creator, parent) tells whether the principal
-- may hold a row of lms.groups of tenant, created by creator, below parent
-- (parent NULL: the check of the parent is not asked for, or the group is
-- at the top level)
CREATE OR REPLACE FUNCTION lms._may_write_group(tenant bigint, creator bigint, parent bigint)
	RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ok boolean;
BEGIN
	CASE lms._team_role(tenant)
		WHEN 'platform_admin' THEN
			RETURN true;
		WHEN 'learner_manager' THEN
			IF creator IS DISTINCT FROM lms.current_principal() OR creator IS NULL THEN
				RETURN false;
			END IF;
			IF parent IS NULL THEN
				RETURN true;
			END IF;
			EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s g WHERE g.group_id = $1 AND g.created_by = $2)',
				lms._local('lms.groups')) INTO ok USING parent, creator;
			RETURN ok;
		ELSE
			RETURN false;
	END CASE;
END
$$;

-- lms._team_group(grp) is the tenant and the creator of group grp, as this
-- node's copy holds them (NULLs: no such group)
CREATE FUNCTION lms._team_group(grp bigint, OUT tenant bigint, OUT creator bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('SELECT g.tenant_id, g.created_by FROM %s g WHERE g.group_id = $1', lms._local('lms.groups'))
		INTO tenant, creator USING grp;
END
$$;
REVOKE ALL ON FUNCTION lms._team_group(bigint) FROM PUBLIC;

-- lms._may_write_members(grp) tells whether the principal may add or
-- remove members of group grp
CREATE OR REPLACE FUNCTION lms._may_write_members(grp bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT coalesce(CASE lms._team_role(g.tenant)
		WHEN 'platform_admin' THEN true
		WHEN 'learner_manager' THEN g.creator = lms.current_principal()
		END, false)
	FROM lms._team_group(grp) g
$$;

-- lms._group_in_use(grp) tells whether deleting group grp would delete or
-- change more than its memberships: roles, catalog entries, enrolments,
-- connections or the ownership of content, which this path cannot reach.
-- The trigger runs as the writer, which must be able to call this and
-- lms._lock_group: each answers only a principal with a say over the
-- group's tenant.
CREATE OR REPLACE FUNCTION lms._group_in_use(grp bigint) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	tenant bigint := (lms._team_group(grp)).tenant;
	used boolean;
BEGIN
	IF tenant IS NULL OR lms._team_role(tenant) IS NULL THEN
		RETURN NULL;
	END IF;
	EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE group_id = $1) OR EXISTS (SELECT 1 FROM %s WHERE group_id = $1) '
		'OR EXISTS (SELECT 1 FROM %s WHERE group_id = $1) '
		'OR EXISTS (SELECT 1 FROM %s WHERE group_id = $1 OR connected_group_id = $1) '
		'OR EXISTS (SELECT 1 FROM %s WHERE owner_group_id = $1)',
		lms._local('lms.group_roles'), lms._local('lms.catalog_entries'), lms._local('lms.group_enrollments'),
		lms._local('lms.group_connections'), lms._local('lms.content'))
		INTO used USING grp;
	RETURN used;
END
$$;

-- lms._lock_group(grp) locks the row of group grp against changes until
-- the end of the transaction, so that what a rule read of it (its creator,
-- its parent) holds when the write commits; NULL locks nothing
CREATE OR REPLACE FUNCTION lms._lock_group(grp bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	EXECUTE format('SELECT 1 FROM %s g WHERE g.group_id = $1 AND lms._team_role(g.tenant_id) IS NOT NULL FOR SHARE OF g',
		lms._local('lms.groups')) USING grp;
END
$$;

CREATE OR REPLACE FUNCTION lms._team_rules() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	p bigint;
	role text;
	grp bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = current_user
			   AND (r.rolsuper OR r.rolbypassrls OR pg_has_role(r.oid, 'lms_writer', 'USAGE'))) THEN
		RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	p := lms.current_principal();

	-- the table's name from the trigger: on a Citus node the rows are in a
	-- shard, whose name is not the table's
	IF TG_ARGV[0] = 'groups' THEN
		grp := CASE TG_OP WHEN 'INSERT' THEN NEW.group_id ELSE OLD.group_id END;
		role := lms._team_role(CASE TG_OP WHEN 'INSERT' THEN NEW.tenant_id ELSE OLD.tenant_id END);
		IF role IS NULL THEN
			RAISE EXCEPTION 'permission denied to % group %', lower(TG_OP), grp
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = CASE WHEN p IS NULL THEN 'The transaction has no principal.'
						   ELSE format('Principal %s is neither a platform_admin nor a learner_manager of the group''s tenant.', p) END;
		END IF;
		IF TG_OP = 'INSERT' THEN
			IF NEW.created_by IS DISTINCT FROM p AND NEW.created_by IS NOT NULL THEN
				RAISE EXCEPTION 'permission denied to set created_by of group %', grp
					USING ERRCODE = 'insufficient_privilege',
						  HINT = 'Leave created_by out: it is set to the principal that creates the group.';
			END IF;
			NEW.created_by := p;
			PERFORM lms._lock_group(NEW.parent_group_id);
			IF NOT lms._may_write_group(NEW.tenant_id, p, NEW.parent_group_id) THEN
				RAISE EXCEPTION 'permission denied to create group % below group %', grp, NEW.parent_group_id
					USING ERRCODE = 'insufficient_privilege',
						  DETAIL = 'A learner_manager creates groups at the top level or below groups it created.';
			END IF;
			RETURN NEW;
		END IF;
		IF NOT lms._may_write_group(OLD.tenant_id, OLD.created_by, NULL) THEN
			RAISE EXCEPTION 'permission denied to % group %', lower(TG_OP), grp
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'A learner_manager changes and deletes only the groups it created.';
		END IF;
		IF TG_OP = 'DELETE' THEN
			IF role = 'learner_manager' AND lms._group_in_use(grp) THEN
				RAISE EXCEPTION 'permission denied to delete group %', grp
					USING ERRCODE = 'insufficient_privilege',
						  DETAIL = 'The group has roles, catalog entries, enrolments, connections or content; only a platform_admin may delete it.';
			END IF;
			RETURN OLD;
		END IF;
		IF NEW.created_by IS DISTINCT FROM OLD.created_by THEN
			RAISE EXCEPTION 'permission denied to change created_by of group %', grp
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		IF NEW.parent_group_id IS DISTINCT FROM OLD.parent_group_id THEN
			PERFORM lms._lock_group(NEW.parent_group_id);
		END IF;
		IF NEW.parent_group_id IS DISTINCT FROM OLD.parent_group_id
		   AND NOT lms._may_write_group(NEW.tenant_id, NEW.created_by, NEW.parent_group_id) THEN
			RAISE EXCEPTION 'permission denied to move group % below group %', grp, NEW.parent_group_id
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'A learner_manager moves its groups to the top level or below groups it created.';
		END IF;
		RETURN NEW;
	END IF;

	-- group_members: the group a row leaves and the group it joins
	FOREACH grp IN ARRAY CASE TG_OP WHEN 'INSERT' THEN ARRAY[NEW.group_id]
		WHEN 'DELETE' THEN ARRAY[OLD.group_id] ELSE ARRAY[OLD.group_id, NEW.group_id] END LOOP
		PERFORM lms._lock_group(grp);
		IF NOT lms._may_write_members(grp) THEN
			RAISE EXCEPTION 'permission denied to change the members of group %', grp
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = CASE WHEN p IS NULL THEN 'The transaction has no principal.'
						   ELSE 'A learner_manager changes the members of the groups it created only.' END;
		END IF;
	END LOOP;
	RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- before tenant_guard (triggers fire in the order of their names), which
-- then checks the created_by it set
DROP TRIGGER team_rules ON lms.groups;
DROP TRIGGER team_rules ON lms.group_members;
CREATE TRIGGER team_rules BEFORE INSERT OR UPDATE OR DELETE ON lms.groups
	FOR EACH ROW EXECUTE FUNCTION lms._team_rules('groups');
CREATE TRIGGER team_rules BEFORE INSERT OR UPDATE OR DELETE ON lms.group_members
	FOR EACH ROW EXECUTE FUNCTION lms._team_rules('group_members');
