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
