-- bench/plain_rules.sql: doc/rules.md, "The rules" written in plain SQL, the way a
-- good DBA would without this extension: recursive CTEs, set-returning
-- functions evaluated once per statement.  It is the baseline of the
-- benchmark and, being independent of the C engine, the reference of the
-- property test (test/06_property.sql).
CREATE SCHEMA IF NOT EXISTS lms_plain;

-- U(p)
CREATE OR REPLACE FUNCTION lms_plain.visible_users(p bigint)
RETURNS TABLE (user_id bigint) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
WITH RECURSIVE
me AS (SELECT u.tenant_id FROM lms.users u WHERE u.user_id = p),
roles AS (
	SELECT gr.group_id AS g, gr.role FROM lms.group_roles gr
	JOIN lms.groups x ON x.group_id = gr.group_id JOIN me ON x.tenant_id = me.tenant_id
	WHERE gr.user_id = p),
sub(g, group_id) AS (
	SELECT g, g FROM roles WHERE role IN ('group_admin', 'group_analyst', 'group_leader')
	UNION
	SELECT s.g, c.group_id FROM sub s JOIN lms.groups c ON c.parent_group_id = s.group_id),
mgr(user_id) AS (
	SELECT m.user_id FROM lms.managers m WHERE m.manager_id = p
	UNION
	SELECT m.user_id FROM lms.managers m JOIN mgr ON m.manager_id = mgr.user_id),
cand AS (
	SELECT u.user_id FROM lms.users u JOIN me ON u.tenant_id = me.tenant_id
	WHERE EXISTS (SELECT 1 FROM lms.tenant_roles r WHERE r.user_id = p AND r.role IN ('platform_admin', 'learner_manager'))
	UNION SELECT gm.user_id FROM lms.group_members gm JOIN sub ON gm.group_id = sub.group_id
	UNION SELECT gm.user_id FROM lms.group_members gm JOIN roles ON roles.g = gm.group_id AND roles.role = 'coach'
	UNION SELECT mgr.user_id FROM mgr WHERE mgr.user_id <> p
	UNION SELECT sr.user_id FROM lms.slot_registrations sr JOIN lms.slot_trainers st ON st.slot_id = sr.slot_id WHERE st.user_id = p
	UNION SELECT pr.user_id FROM lms.progress pr JOIN lms.session_instructors si ON si.session_id = pr.content_id WHERE si.user_id = p
	UNION SELECT pr.user_id FROM lms.progress pr JOIN lms.session_instructors si ON si.session_id = pr.session_id WHERE si.user_id = p
	UNION SELECT r.user_id FROM lms.tenant_roles r WHERE r.user_id = p AND r.role = 'contributor')
SELECT c.user_id FROM cand c JOIN lms.users u ON u.user_id = c.user_id JOIN me ON u.tenant_id = me.tenant_id
$$;

-- C(p): one row per grant; ctx NULL = unrestricted, else one allowed context group
CREATE OR REPLACE FUNCTION lms_plain.content_grants(p bigint)
RETURNS TABLE (content_id bigint, ctx bigint) LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
WITH RECURSIVE
me AS (SELECT u.tenant_id, t.extended_visibility AS ext FROM lms.users u JOIN lms.tenants t USING (tenant_id) WHERE u.user_id = p),
tc AS (SELECT c.* FROM lms.content c JOIN me ON c.tenant_id = me.tenant_id),
roles AS (
	SELECT gr.group_id AS g, gr.role FROM lms.group_roles gr
	JOIN lms.groups x ON x.group_id = gr.group_id JOIN me ON x.tenant_id = me.tenant_id
	WHERE gr.user_id = p),
sub(g, role, group_id) AS (
	SELECT g, role, g FROM roles WHERE role IN ('group_admin', 'group_analyst', 'group_leader')
	UNION
	SELECT s.g, s.role, c.group_id FROM sub s JOIN lms.groups c ON c.parent_group_id = s.group_id),
s AS (SELECT g, role, group_id FROM sub UNION SELECT g, role, g FROM roles WHERE role IN ('coach', 'editor')),
authored AS (
	SELECT tc.content_id FROM tc WHERE tc.main_author_id = p
	UNION SELECT ca.content_id FROM lms.content_coauthors ca WHERE ca.user_id = p),
unr AS (
	SELECT tc.content_id FROM tc
	WHERE EXISTS (SELECT 1 FROM lms.tenant_roles r WHERE r.user_id = p AND r.role IN ('platform_admin', 'learner_manager'))
	UNION SELECT tc.content_id FROM tc JOIN authored a ON a.content_id = tc.content_id
	UNION SELECT ch.content_id FROM tc ch JOIN tc par ON ch.parent_content_id = par.content_id
		JOIN authored a ON a.content_id = par.content_id WHERE par.kind = 'path'
	UNION SELECT tc.content_id FROM tc JOIN s ON tc.owner_group_id = s.group_id
		WHERE s.role IN ('group_admin', 'group_analyst', 'group_leader', 'editor')
	UNION SELECT ch.content_id FROM tc ch JOIN tc par ON ch.parent_content_id = par.content_id
		JOIN s ON par.owner_group_id = s.group_id WHERE par.kind = 'path' AND s.role IN ('group_admin', 'editor')
	UNION SELECT ch.content_id FROM tc ch JOIN tc par ON ch.parent_content_id = par.content_id
		JOIN s ON par.owner_group_id = s.group_id WHERE par.kind = 'classroom' AND s.role = 'group_admin'
	UNION SELECT tc.content_id FROM tc JOIN s ON tc.owner_group_id = s.group_id
		WHERE s.role = 'coach' AND tc.kind = 'path_session'
	UNION SELECT tc.content_id FROM tc JOIN lms.catalog_entries ce ON ce.content_id = tc.content_id
		JOIN s ON s.group_id = ce.group_id
		WHERE tc.kind = 'course' AND s.role IN ('group_admin', 'coach', 'group_analyst', 'group_leader')
	UNION SELECT tc.content_id FROM tc JOIN lms.group_enrollments ge ON ge.content_id = tc.content_id
		JOIN s ON s.group_id = ge.group_id WHERE ge.method = 'legacy' AND s.role IN ('group_admin', 'coach')
	UNION SELECT tc.content_id FROM tc JOIN lms.enrollments e ON e.content_id = tc.content_id
		JOIN s ON s.group_id = e.assigned_by_group_id WHERE s.role = 'group_analyst'
	UNION SELECT tc.content_id FROM tc JOIN lms.session_instructors si ON si.session_id = tc.content_id WHERE si.user_id = p
	UNION SELECT tc.content_id FROM tc JOIN lms.slot_trainers st ON st.slot_id = tc.content_id WHERE st.user_id = p),
xs AS (SELECT g, role, group_id FROM s WHERE role IN ('group_admin', 'coach') AND (SELECT ext FROM me)),
xconn AS (
	SELECT DISTINCT xs.g, xs.role, o.other AS group_id
	FROM xs
	JOIN lms.group_connections gc ON xs.group_id IN (gc.group_id, gc.connected_group_id)
	CROSS JOIN LATERAL (SELECT CASE WHEN gc.group_id = xs.group_id THEN gc.connected_group_id ELSE gc.group_id END AS other) o
	JOIN lms.groups og ON og.group_id = o.other JOIN me ON og.tenant_id = me.tenant_id
	WHERE NOT EXISTS (SELECT 1 FROM xs x2 WHERE x2.g = xs.g AND x2.role = xs.role AND x2.group_id = o.other)),
xe AS (SELECT g, role, group_id FROM xs UNION SELECT g, role, group_id FROM xconn),
res AS (
	SELECT tc.content_id, xe.g, xe.role FROM tc JOIN xe ON tc.owner_group_id = xe.group_id
	UNION SELECT ch.content_id, xe.g, xe.role FROM tc ch JOIN tc par ON ch.parent_content_id = par.content_id
		JOIN xe ON par.owner_group_id = xe.group_id WHERE par.kind = 'path'
	UNION SELECT tc.content_id, xc.g, xc.role FROM xconn xc JOIN lms.catalog_entries ce ON ce.group_id = xc.group_id
		JOIN tc ON tc.content_id = ce.content_id WHERE tc.kind = 'course')
SELECT content_id, NULL::bigint FROM unr
UNION
SELECT res.content_id, xe.group_id FROM res JOIN xe ON xe.g = res.g AND xe.role = res.role
$$;
