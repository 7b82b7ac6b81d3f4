-- pg_temp.mismatches(): how many users, as principals, have a U(p) from
-- the engine that differs from the plain-SQL rules' (bench/plain_rules.sql,
-- loaded first).  Used by test/23 and test/24.
CREATE FUNCTION pg_temp.mismatches() RETURNS bigint LANGUAGE sql AS $$
	SELECT count(*) FROM lms.users u
	WHERE (SELECT coalesce(md5(string_agg(v::text, ',' ORDER BY v)), '') FROM lms.visible_users(u.user_id) v)
		  IS DISTINCT FROM
		  (SELECT coalesce(md5(string_agg(p.user_id::text, ',' ORDER BY p.user_id)), '')
		   FROM lms_plain.visible_users(u.user_id) p)
$$;
