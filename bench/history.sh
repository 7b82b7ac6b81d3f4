#!/usr/bin/env bash
# bench/history.sh [USERS]: what the relationship history costs the service
# that syncs the store, in bench/generate.sql's tenant of USERS users
# (default 100,000).  Three workloads of the writer role, each run with
# lms.history on and off in turns (TURNS pairs, default 5, of
# PGBENCH_SECONDS each, default 6; two clients): single-row inserts of
# memberships, upserts of enrolments that change the group that assigned
# them (a column the rules read), and batches of 100 memberships in one
# statement.  Prints each one's median tps both ways and the ratio on/off.
#   bash bench/history.sh
#   bash bench/history.sh 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
TURNS=${TURNS:-5}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-6}
bench_work history
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 55800
echo "== generating $USERS users"
bench_tenant "$USERS" 100000
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE sync_on LOGIN IN ROLE lms_writer;
CREATE ROLE sync_off LOGIN IN ROLE lms_writer;
ALTER ROLE sync_off SET lms.history = off;
VACUUM ANALYZE;
SQL
cat >"$WORK/insert.sql" <<SQL
\set g random(1, 1000)
\set u random(1, $USERS)
INSERT INTO lms.group_members (group_id, user_id) VALUES (:g, :u) ON CONFLICT DO NOTHING;
SQL
cat >"$WORK/upsert.sql" <<SQL
\set g random(1, 1000)
\set u random(1, $USERS)
\set c random(1, 1000)
INSERT INTO lms.enrollments (user_id, content_id, source, assigned_by_group_id) VALUES (:u, :c, 'assigned', :g)
	ON CONFLICT (user_id, content_id) DO UPDATE SET assigned_by_group_id = EXCLUDED.assigned_by_group_id;
SQL
cat >"$WORK/batch.sql" <<SQL
\set g random(1, 1000)
\set u random(1, $USERS - 100)
INSERT INTO lms.group_members (group_id, user_id) SELECT :g, u FROM generate_series(:u, :u + 99) u ON CONFLICT DO NOTHING;
SQL
tps() {
	pgbench -n -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$WORK/$2.sql" -U "$1" bench 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "== the writer's tps with lms.history on and off (median of $TURNS pairs in turns, ${PGBENCH_SECONDS} s each)"
echo "| workload | history off | history on | on / off |"
echo "|---|---|---|---|"
for w in insert upsert batch; do
	on=() off=() ratios=()
	for _ in $(seq "$TURNS"); do
		a=$(tps sync_off "$w")
		b=$(tps sync_on "$w")
		off+=("$a") on+=("$b") ratios+=("$(awk -v a="$b" -v b="$a" 'BEGIN {print a / b}')")
	done
	printf '| %s | %.0f | %.0f | %.2f |\n' "$w" "$(printf '%s\n' "${off[@]}" | median)" \
		"$(printf '%s\n' "${on[@]}" | median)" "$(printf '%s\n' "${ratios[@]}" | median)"
done
echo "   (history rows written: $(psql -X -At -c 'SELECT count(*) FROM lms.history'))"
