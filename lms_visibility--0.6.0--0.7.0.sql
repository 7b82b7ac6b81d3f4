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
