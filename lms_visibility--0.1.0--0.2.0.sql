/* lms_visibility--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION lms_visibility UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------
-- Covering indexes for the policy columns.  The row-level security policy
-- of progress reads user_id, content_id and context_group_id; with all
-- three in an index, a narrow principal's query is an index-only scan on
-- the side (users or content) it sees least of, and never touches the
-- heap of a vacuumed table (src/vis_planner.c decides which side).  The
-- primary key stays (user_id, content_id): INCLUDE adds no key column.
------------------------------------------------------------------------------

ALTER TABLE lms.progress
	DROP CONSTRAINT progress_pkey,
	ADD CONSTRAINT progress_pkey PRIMARY KEY (user_id, content_id) INCLUDE (context_group_id);

DROP INDEX lms.progress_content_idx;
CREATE INDEX progress_content_idx ON lms.progress (content_id) INCLUDE (user_id, context_group_id);

-- enrollments: the policy reads user_id and content_id
DROP INDEX lms.enrollments_content_idx;
CREATE INDEX enrollments_content_idx ON lms.enrollments (content_id) INCLUDE (user_id);

------------------------------------------------------------------------------
-- lms.cache_stats() also counts the scans that skipped the per-row check
-- because the principal sees every row of the store, and those that ran it
-- inline (src/vis_exec.c)
------------------------------------------------------------------------------

DROP FUNCTION lms.cache_stats();
CREATE FUNCTION lms.cache_stats(
	OUT principals_cached integer, OUT memory_bytes bigint, OUT hits bigint,
	OUT rebuilds bigint, OUT invalidations bigint, OUT last_invalidation timestamptz,
	OUT last_rebuild_ms double precision, OUT shortcut_scans bigint,
	OUT inline_scans bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'lms_cache_stats'
	LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION lms.cache_stats() IS 'the visibility cache of this backend';
