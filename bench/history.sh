#!/usr/bin/env bash
# bench/history.sh [USERS]: what the relationship history costs the service
# that syncs the store, in bench/generate.sql's tenant of USERS users
# (default 100,000).  Three workloads of the writer role, each run with
# lms.history on and off in turns (TURNS pairs, default 5, of
# PGBENCH_SECONDS each, default 6; two clients): single-row inserts of
# memberships, upserts of enrolments that change the group that assigned
# them (a column the rules read), and batches of 100 memberships in one
# statement.  Prints each one's median tps both ways and the ratio on/off.
# First the rules at a past time over a history of CHANGES (default 200)
# learners moved to another group, one transaction each: visible_users(p,
# at) of a group admin halfway back and all the way back, and who_could_see
# of a learner over the whole history (median of 3 each, ms; absolute
# times of this machine: they grow with the changes undone and, for
# who_could_see, with the changes in the interval).
#   bash bench/history.sh
#   bash bench/history.sh 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
CHANGES=${CHANGES:-200}
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
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "== the rules at a past time over $CHANGES learners moved, one transaction each"
t0=$(psql -X -At -c 'SELECT clock_timestamp()')
for i in $(seq "$CHANGES"); do
	echo "UPDATE lms.group_members SET group_id = 1 + (group_id + 37) % 1000 WHERE user_id = $((i * 7 % USERS + 1));"
done | psql -X -q -v ON_ERROR_STOP=1
half=$(psql -X -At -c "SELECT committed_at FROM lms.history WHERE committed_at > '$t0' ORDER BY id LIMIT 1 OFFSET $((CHANGES / 2))")
t1=$(psql -X -At -c 'SELECT clock_timestamp()')
# ms QUERY: the median of 3 runs
ms() {
	for _ in 1 2 3; do
		{ echo '\timing on'; echo "$1"; } | psql -X -q -At | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
	done | median
}
printf '| question | changes undone | ms |\n|---|---|---|\n'
printf '| visible_users(group admin, halfway back) | %s | %s |\n' "$((CHANGES / 2))" \
	"$(ms "SELECT count(*) FROM lms.visible_users(10000002, '$half')")"
printf '| visible_users(group admin, all the way back) | %s | %s |\n' "$CHANGES" \
	"$(ms "SELECT count(*) FROM lms.visible_users(10000002, '$t0')")"
printf '| who_could_see(learner, over the %s changes) | %s, a state after each | %s |\n' "$CHANGES" "$CHANGES" \
	"$(ms "SELECT count(*) FROM lms.who_could_see(8, '$t0', '$t1')")"

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

