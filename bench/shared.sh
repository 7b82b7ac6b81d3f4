#!/usr/bin/env bash
# bench/shared.sh [USERS] [ROWS]: the server's shared cache (src/vis_shcache.c)
# against the per-backend cache, in one command and one run.  Generates
# bench/traffic.sh's two tenants (bench/generate.sql, bench/traffic_setup.sql)
# and a group admin on every group of tenant 1 (22000001..22001000), then, on
# the same data, with the library preloaded and then without:
#   - the application server (SET LOCAL lms.principal per transaction) for
#     a random group admin of all of them, and for a random learner, on
#     warm pooled connections (the last 5 s of 20 s) and with each
#     transaction on a new connection (pgbench -C);
# each a ratio of RLS tps over no-RLS tps of the same script, medians of
# TURNS pairs run in turns.  Then memory: 50 backends each warmed with the
# same 200 group admins and the platform admin, the server's total (the
# backends' own caches and the shared cache) against what one backend alone
# holds without preloading; once after one backend warmed the shared cache,
# once with the 50 warming it at once from cold.
#   bash bench/shared.sh                    # 100,000 users
#   bash bench/shared.sh 1000000 10000000   # the large scale
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
ROWS=${2:-$((USERS * 10))}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-5}
TURNS=${TURNS:-3}
PRELOAD="shared_preload_libraries = 'lms_visibility'"

bench_work shared
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
LMS_PRELOAD=0 bench_cluster 55800 "max_connections = 120"

. bench/pgbench.sh
two_tenants
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<'SQL'
INSERT INTO lms.users (user_id, tenant_id, first_name)
	SELECT 22000000 + group_id, 1, 'Admin of ' || group_id FROM lms.groups WHERE tenant_id = 1;
INSERT INTO lms.group_roles SELECT group_id, 22000000 + group_id, 'group_admin' FROM lms.groups WHERE tenant_id = 1;
ANALYZE;
SQL
ADMINS=$(psql -X -At -c "SELECT count(*) FROM lms.group_roles WHERE user_id > 22000000")
LAST_ADMIN=$(psql -X -At -c "SELECT max(user_id) FROM lms.group_roles WHERE user_id > 22000000")
echo "a group admin on every group of tenant 1: $ADMINS"

app_script 22000001 "$LAST_ADMIN" >"$WORK/app_every_admin.sql"
app_script 1 "$USERS" >"$WORK/app_learner.sql"

# connect ROLE SCRIPT: tps with a new connection per transaction
connect() {
	pgbench -n -C -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$WORK/$2.sql" -U "$1" bench 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
# turns LABEL FN SCRIPT: FN as the superuser and as b_app, in turns
turns() {
	local i none=() rls=() n r
	for i in $(seq "$TURNS"); do none+=("$($2 postgres "$3")"); rls+=("$($2 b_app "$3")"); done
	n=$(printf '%s\n' "${none[@]}" | median)
	r=$(printf '%s\n' "${rls[@]}" | median)
	printf '| %s | %s | %.0f | %.0f | %.2f | >= 0.8 |\n' "$MODE" "$1" "$n" "$r" \
		"$(awk -v a="$r" -v b="$n" 'BEGIN {print a / b}')" | tee -a "$WORK/table"
}
# restart_with PRELOADED(0|1): the same cluster, with or without preloading
restart_with() {
	stop_cluster "$WORK/pg"
	sed -i "/^$PRELOAD\$/d" "$WORK/pg/data/postgresql.conf"
	[ "$1" = 1 ] && echo "$PRELOAD" >>"$WORK/pg/data/postgresql.conf"
	pg_start "$WORK/pg"
}

: >"$WORK/table"
echo "| cache | workload | no RLS tps | RLS tps | ratio | target |" | tee -a "$WORK/table"
echo "|---|---|---|---|---|---|" | tee -a "$WORK/table"
for preloaded in 1 0; do
	restart_with $preloaded
	if [ $preloaded = 1 ]; then MODE="shared (preloaded)"; else MODE="per backend"; fi
	turns "a random group admin (of $ADMINS) per transaction, warm pooled" steady app_every_admin
	turns "a random group admin (of $ADMINS) per transaction, new connection each" connect app_every_admin
	turns "a random learner per transaction, warm pooled" steady app_learner
	turns "a random learner per transaction, new connection each" connect app_learner
done

echo "== memory: 50 backends, each warmed with the same 200 group admins and the platform admin"
warm_sql() {
	cat <<SQL
SELECT count(*) FROM generate_series(22000001, 22000200) p, LATERAL (SELECT count(*) FROM lms.visible_users(p)) v \\g /dev/null
SELECT count(*) FROM lms.visible_users(10000001) \\g /dev/null
SELECT sum(total_bytes) FROM pg_backend_memory_contexts WHERE name LIKE 'lms_visibility%';
SQL
}
# backends N: the private bytes of N backends warmed at once, summed: all
# that the extension's memory contexts hold (the entries, the tenants'
# structures and the cache's own bookkeeping), more than memory_bytes counts
backends() {
	local i
	for i in $(seq "$1"); do warm_sql | psql -X -q -At & done | awk '{s += $1} END {print s + 0}'
	wait
}
restart_with 0
ONE=$(backends 1)
printf '| one backend, per-backend cache | %.1f MB |\n' "$(awk -v b="$ONE" 'BEGIN {print b / 1048576}')" | tee -a "$WORK/table"
# total LABEL PRIVATE: the shared cache's bytes and the backends' own, against ONE
total() {
	local shared
	shared=$(psql -X -At -c "SELECT shared_bytes FROM lms.cache_stats()")
	printf '| %s: shared + their own | %.1f MB + %.1f MB = %.1f MB (%.2f x one backend; target <= 1.2) |\n' "$1" \
		"$(awk -v b="$shared" 'BEGIN {print b / 1048576}')" "$(awk -v b="$2" 'BEGIN {print b / 1048576}')" \
		"$(awk -v a="$shared" -v b="$2" 'BEGIN {print (a + b) / 1048576}')" \
		"$(awk -v a="$shared" -v b="$2" -v o="$ONE" 'BEGIN {print (a + b) / o}')" | tee -a "$WORK/table"
}
# one backend warms the shared cache, then 50 read it
restart_with 1
FIRST=$(backends 1)
total "shared cache: 1 backend warmed it, then 50 backends" "$((FIRST + $(backends 50)))"
# 50 backends warmed at once from cold: each that builds loads the tenant too
restart_with 1
total "shared cache: 50 backends warmed at once from cold" "$(backends 50)"
psql -X -At -c "SELECT format('| 50 backends warmed at once: %s entries, %s published, and %s more builds side by side whose entry another backend had published first (duplicates) |', shared_entries, shared_builds, shared_duplicate_builds) FROM lms.cache_stats()" |
	tee -a "$WORK/table"
echo
echo "== summary ($USERS users)"
cat "$WORK/table"
