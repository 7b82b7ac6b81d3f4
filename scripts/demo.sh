#!/usr/bin/env bash
# scripts/demo.sh: the main job.  Builds and installs lms_visibility, starts
# a throwaway cluster, loads the sample platform (sample/platform.sql),
# binds one SQL login per kind of principal, shows side by side what each
# sees through plain SELECTs, and prints how to connect.
#   bash scripts/demo.sh          start (or restart) the demo cluster
#   bash scripts/demo.sh stop     stop it and remove its files
#   LMS_PG_MAJOR=18 bash scripts/demo.sh   the same on PostgreSQL 18 (built first)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
DIR=/tmp/lms_visibility_demo

stop_cluster "$DIR"
rm -rf "$DIR"
if [ "${1:-}" = stop ]; then echo "demo cluster stopped"; exit 0; fi

ensure_packages
build_install
PORT=$(free_port 5433)
echo "== starting a throwaway cluster in $DIR on port $PORT"
# preloaded, as production should run it: one cache for the whole server
# (every entry shared: the sample's are smaller than the default threshold)
start_cluster "$DIR" "$PORT" "shared_preload_libraries = 'lms_visibility'
lms.shared_cache_min_ids = 0"
createdb lms_demo
export PGDATABASE=lms_demo
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<'SQL'
CREATE EXTENSION lms_visibility;
\i sample/platform.sql
-- one login per kind of principal; a trusted application role; an unbound login
CREATE ROLE demo_platform_admin LOGIN;  SELECT lms.bind_role('demo_platform_admin', 101);
CREATE ROLE demo_group_admin LOGIN;     SELECT lms.bind_role('demo_group_admin', 103);
CREATE ROLE demo_coach LOGIN;           SELECT lms.bind_role('demo_coach', 104);
CREATE ROLE demo_group_analyst LOGIN;   SELECT lms.bind_role('demo_group_analyst', 105);
CREATE ROLE demo_manager LOGIN;         SELECT lms.bind_role('demo_manager', 108);
CREATE ROLE demo_trainer LOGIN;         SELECT lms.bind_role('demo_trainer', 112);
CREATE ROLE demo_learner_manager LOGIN; SELECT lms.bind_role('demo_learner_manager', 102);
CREATE ROLE demo_bi_vendor LOGIN;       SELECT lms.bind_role('demo_bi_vendor', 103, personal_data => false);
CREATE ROLE demo_unbound LOGIN;
CREATE ROLE demo_app LOGIN;             SELECT lms.trust_role('demo_app');
SQL

echo
echo "== loaded the sample platform"
psql -X -q -c "SELECT t.tenant_id, t.name, t.extended_visibility,
	(SELECT count(*) FROM lms.users u WHERE u.tenant_id = t.tenant_id) AS users,
	(SELECT count(*) FROM lms.groups g WHERE g.tenant_id = t.tenant_id) AS groups,
	(SELECT count(*) FROM lms.content c WHERE c.tenant_id = t.tenant_id) AS content,
	(SELECT count(*) FROM lms.progress p JOIN lms.users u USING (user_id) WHERE u.tenant_id = t.tenant_id) AS progress_rows
	FROM lms.tenants t ORDER BY 1"

echo "== what each login sees through plain SELECTs (row-level security): rows of lms.progress, lms.users,"
echo "   lms.content and lms.groups, and the progress rows themselves"
printf '%-22s %-9s %-5s %-5s %-7s %-6s %s\n' "login" "principal" "rows" "users" "content" "groups" "rows seen (user:content@context)"
for role in postgres demo_platform_admin demo_group_admin demo_coach demo_group_analyst demo_manager demo_trainer demo_bi_vendor demo_unbound; do
	line=$(psql -X -q -At -F '|' -c "SET ROLE $role;
		SELECT coalesce(lms.current_principal()::text, '-'),
			(SELECT count(*) FROM lms.progress), (SELECT count(*) FROM lms.users),
			(SELECT count(*) FROM lms.content), (SELECT count(*) FROM lms.groups),
			coalesce((SELECT string_agg(user_id || ':' || content_id || coalesce('@' || context_group_id, ''), ' ' ORDER BY user_id, content_id)
					  FROM lms.progress), '')")
	IFS='|' read -r principal rows users content groups seen <<<"$line"
	[ "$role" = postgres ] && principal="superuser"
	printf '%-22s %-9s %-5s %-5s %-7s %-6s %s\n' "$role" "$principal" "$rows" "$users" "$content" "$groups" "$seen"
done
echo "   (postgres bypasses row-level security; demo_bi_vendor is the group admin, bound without personal data)"
echo
echo "== an application server acting for a learner per transaction (trusted role demo_app)"
psql -X -q -c "SET ROLE demo_app" -c "BEGIN" -c "SET LOCAL lms.principal = 106" \
	-c "SELECT lms.current_principal() AS principal, user_id, content_id FROM lms.progress" -c "COMMIT"
echo "== why does the coach not see user 120's Safety Basics row?"
psql -X -q -c "SET ROLE demo_coach" -c "SELECT * FROM lms.explain_visibility(lms.current_principal(), 120, 504, 11)"
echo "== a BI dashboard, completion by course, as the group admin (progress joined to content)"
psql -X -q -c "SET ROLE demo_group_admin" -c "SELECT c.title, count(*) AS learners, count(p.completed_at) AS completed
	FROM lms.progress p JOIN lms.content c USING (content_id) GROUP BY 1 ORDER BY 1"
echo "== the learner manager builds a team; a group it did not create stays read-only"
psql -X -q -c "SET ROLE demo_learner_manager" \
	-c "INSERT INTO lms.groups (group_id, tenant_id, name) VALUES (50, 1, 'Company A Team') RETURNING group_id, name, created_by" \
	-c "INSERT INTO lms.group_members VALUES (50, 120), (50, 121)"
psql -X -q -c "SET ROLE demo_learner_manager" -c "INSERT INTO lms.group_members VALUES (10, 125)" 2>&1 | head -2 || true
echo "== who can see Eve (user 120)?"
psql -X -q -c "SELECT * FROM lms.who_can_see(120)"
echo "== the group admin's export, as CSV"
psql -X -q -c "SET ROLE demo_group_admin" -c "COPY (SELECT * FROM lms.group_progress_report(11)) TO STDOUT WITH CSV HEADER"
echo "== the server's shared cache: every principal above built once, read by every backend"
psql -X -q -c "SELECT shared_entries, shared_builds, shared_hits, pg_size_pretty(shared_bytes) AS shared_size FROM lms.cache_stats()"

cat <<EOT

== the cluster keeps running; connect with psql as any of the logins:
   PGHOST=$DIR PGPORT=$PORT psql -U demo_coach lms_demo
   PGHOST=$DIR PGPORT=$PORT psql -U postgres lms_demo        (superuser: bypasses row-level security)
   try:  SELECT * FROM lms.progress;  SELECT * FROM lms.progress_report;  SELECT * FROM lms.group_progress(10);
   stop: bash scripts/demo.sh stop
EOT
