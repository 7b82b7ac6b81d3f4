-- test/lib/revoke_roles.sql: pg_temp.revoke_roles(u) deletes the group
-- roles of user u and rebuilds u's cache entry, from inside a statement
-- (SECURITY DEFINER: the statement runs as the bound role); it returns the
-- size of u's U(p) after it.  Included by test/14 and test/15.
CREATE FUNCTION pg_temp.revoke_roles(u bigint) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog AS $$
BEGIN
	DELETE FROM lms.group_roles WHERE user_id = u;
	RETURN (SELECT count(*) FROM lms.visible_users(u));
END $$;
