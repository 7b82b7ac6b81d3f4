#!/usr/bin/env bash
# bench/traffic.sh [USERS] [ROWS]: readers under the load a platform really
# has, in one command and one run against one cluster.  Generates tenant 1
# (bench/generate.sql: USERS users, about ROWS progress rows) and tenant 2
# (a tenth of it) with 500 group admins and 500 managers
# (bench/traffic_setup.sql), then measures each reader workload with
# pgbench, as a bound or trusted role and as the superuser (no row-level
# security), in turns, while a background pgbench writes:
#   statistics      UPDATE progress SET viewed_pct, last_activity_at of one
#                   learner's rows, at 50 and at 500 rows/s
#   relationships   a learner moved to another group, 5 changes/s, in
#                   tenant 2 (another tenant) and in tenant 1 (the same)
# and the application server's path (SET LOCAL lms.principal = a random
# learner, group admin or manager per transaction).  Each ratio is RLS tps
# over no-RLS tps under the same load, medians of TURNS pairs of
# PGBENCH_SECONDS runs.  Then what a principal's first query costs, and a
# backend's memory after 200 large principals.
#   bash bench/traffic.sh                    # 100,000 users
#   bash bench/traffic.sh 1000000 10000000   # the large scale
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
ROWS=${2:-$((USERS * 10))}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-5}
TURNS=${TURNS:-3}

bench_work traffic
BG=
trap '[ -n "$BG" ] && kill $BG 2>/dev/null; stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 55700 "max_parallel_workers_per_gather = 2"

. bench/pgbench.sh
two_tenants

cat >"$WORK/point.sql" <<SQL
\set uid random(1, $USERS)
SELECT count(*) FROM lms.progress WHERE user_id = :uid;
SQL
cat >"$WORK/aggregate.sql" <<'SQL'
\set cid random(1, 2000)
SELECT count(*), avg(score) FROM lms.progress WHERE content_id = :cid;
SQL
app_script 1 "$USERS" >"$WORK/app_learner.sql"
app_script 20000001 20000500 >"$WORK/app_group_admin.sql"
app_script 21000001 21000500 >"$WORK/app_manager.sql"
cat >"$WORK/stats.sql" <<SQL
\set uid random(1, $USERS)
UPDATE lms.progress SET viewed_pct = floor(random() * 101), last_activity_at = now() WHERE user_id = :uid;
SQL
# move_script FIRST_USER LAST_USER FIRST_GROUP LAST_GROUP: a learner moved
# to another group (one relationship change)
move_script() {
	cat <<SQL
\set u random($1, $2)
\set g random($3, $4)
BEGIN;
DELETE FROM lms.group_members WHERE user_id = :u;
INSERT INTO lms.group_members VALUES (:g, :u) ON CONFLICT DO NOTHING;
END;
SQL
}
move_script 30000001 $((30000000 + USERS / 10)) 30000001 30000100 >"$WORK/move_other.sql"
move_script 1 "$USERS" 1 1000 >"$WORK/move_same.sql"


echo "== readers: no-RLS tps, RLS tps, ratio (medians of $TURNS pairs of ${PGBENCH_SECONDS}s, 2 clients)"
: >"$WORK/table"
echo "| workload | no RLS tps | RLS tps | ratio | target |" | tee -a "$WORK/table"
echo "|---|---|---|---|---|" | tee -a "$WORK/table"
pair "quiet: group admin, point query" b_gadmin point "not worse than bench/run.sh"
pair "quiet: platform admin, aggregate" b_admin aggregate "not worse than bench/run.sh"
for rate in 50 500; do
	with_load stats "$(awk -v r="$rate" -v p="$per_user" 'BEGIN {printf "%d", r / p}')"
	pair "statistics written at $rate rows/s: group admin, point query" b_gadmin point ">= 0.75"
	pair "statistics written at $rate rows/s: platform admin, aggregate" b_admin aggregate ">= 0.75"
	end_load
done
with_load move_other 5
pair "5 relationship changes/s in another tenant: group admin, point query" b_gadmin point ">= 0.75"
pair "5 relationship changes/s in another tenant: platform admin, aggregate" b_admin aggregate ">= 0.75"
end_load
with_load move_same 5
pair "5 relationship changes/s in the same tenant: group admin, point query" b_gadmin point ">= 0.4"
pair "5 relationship changes/s in the same tenant: platform admin, aggregate" b_admin aggregate ">= 0.4"
end_load
pair "application server, a random learner per transaction" b_app app_learner ">= 0.6"
pair "application server, a random group admin (of 500) per transaction" b_app app_group_admin ">= 0.6"
pair "application server, a random manager (of 500) per transaction" b_app app_manager ">= 0.6"
# the same once warm: pgbench's fresh backends start with empty caches
for w in app_learner app_group_admin app_manager; do
	n=$(steady postgres $w)
	r=$(steady b_app $w)
	printf '| %s, warm (last 5 s of 20 s) | %.0f | %.0f | %.2f | >= 0.6 |\n' "$w" "$n" "$r" \
		"$(awk -v a="$r" -v b="$n" 'BEGIN {print a / b}')" | tee -a "$WORK/table"
done

echo "== a principal's first query in a new backend (ms, from lms.cache_stats().last_rebuild_ms)"
first() {
	psql -X -q -At -c "SELECT count(*) FROM lms.visible_users($1)" -c "SELECT round(last_rebuild_ms::numeric, 2) FROM lms.cache_stats()" | tail -1
}
echo "| principal | first query, cold backend (tenant loaded too) | then another of its kind (tenant cached) |"
echo "|---|---|---|"
both() {
	psql -X -q -At -c "SELECT count(*) FROM lms.visible_users($2)" -c "SELECT round(last_rebuild_ms::numeric, 2) FROM lms.cache_stats()" \
		-c "SELECT count(*) FROM lms.visible_users($3)" -c "SELECT round(last_rebuild_ms::numeric, 2) FROM lms.cache_stats()" |
		sed -n '2p;4p' | paste -sd' ' | awk -v l="$1" '{printf "| %s | %s | %s |\n", l, $1, $2}'
}
both "learner" 42 43
both "manager of 20" 21000001 21000002
both "group admin (of 500)" 20000001 20000002
both "group admin near the top (10% of users)" 10000002 20000003
both "platform admin" 10000001 10000001

echo "== memory: 200 group admins and the platform admin through one backend"
psql -X -q -At <<SQL
SELECT count(*) FROM generate_series(20000001, 20000200) p, LATERAL (SELECT count(*) FROM lms.visible_users(p)) v;
SELECT count(*) FROM lms.visible_users(10000001);
SELECT format('| %s entries | %s MB of %s MB | tenants %s (%s kB) | evictions %s |', principals_cached,
	round(memory_bytes / 1048576.0, 1), memory_limit_bytes / 1048576, tenants_cached, tenant_bytes / 1024, evictions)
FROM lms.cache_stats();
SQL
echo
echo "== summary ($USERS users)"
cat "$WORK/table"
