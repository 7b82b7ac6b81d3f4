#!/usr/bin/env bash
# bench/run.sh [USERS] [ROWS]: the benchmark, in one command and one run
# against one cluster.  Generates a tenant (default 100,000 users and about
# 1,000,000 progress rows), then measures this extension next to (a) the
# same query without row-level security, as a superuser, and (b) the
# plain-SQL implementation of bench/plain_rules.sql behind the policy of
# bench/plain_policy.sql.  It checks that they return the same rows and
# prints medians and ratios (RUNS=7 runs each by default).
#   bash bench/run.sh                    # 100,000 users, ~1,000,000 rows
#   bash bench/run.sh 1000000 10000000   # the large scale
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
ROWS=${2:-1000000}
RUNS=${RUNS:-7}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-5}

bench_work bench
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 55600 "max_parallel_workers_per_gather = 2"

echo "== generating $USERS users and about $ROWS progress rows"
gen_start=$(date +%s.%N)
bench_tenant "$USERS" "$ROWS"
gen_end=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<'SQL'
CREATE ROLE b_admin LOGIN;  SELECT lms.bind_role('b_admin', 10000001);
CREATE ROLE b_gadmin LOGIN; SELECT lms.bind_role('b_gadmin', 10000002);
CREATE ROLE b_deep LOGIN;   SELECT lms.bind_role('b_deep', 10000005);
SQL
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -f bench/plain_rules.sql -f bench/plain_policy.sql 2>&1 | grep -v NOTICE || true
# the steady state autovacuum keeps a table in: all-visible pages (the
# checkpoint first, so that every commit is on disk and VACUUM may mark them)
psql -X -q -c "CHECKPOINT" -c "VACUUM ANALYZE lms.progress" -c "VACUUM ANALYZE lms_plain.progress"
psql -X -At -c "SELECT 'progress rows: ' || count(*) FROM lms.progress"

# medians ROLE_A SQL_A ROLE_B SQL_B: the median times in ms of RUNS runs of
# A and of B, taken in turns in one session after one warm-up run of each,
# so that both see the same machine (a shared one is noisy over seconds)
medians() {
	{ for _ in $(seq 0 "$RUNS"); do
		echo "SET ROLE $1;"; echo '\timing on'; echo "$2;"; echo '\timing off'
		echo "SET ROLE $3;"; echo '\timing on'; echo "$4;"; echo '\timing off'
	  done; } |
		psql -X -q -At 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk -v runs="$RUNS" '
			NR > 2 { if (NR % 2) a[++na] = $1; else b[++nb] = $1 }
			function median(v, n,   i, j, t) {
				for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
				return v[int((n + 1) / 2)]
			}
			END { print median(a, na), median(b, nb) }'
}
answer() { psql -X -q -At -c "SET ROLE $1" -c "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

COUNT="SELECT count(*) FROM lms.progress"
PLAIN="SELECT count(*) FROM lms_plain.progress"
fail=0
check() { if [ "$2" != "$3" ]; then echo "MISMATCH: $1: $2 vs $3"; fail=1; fi; }

echo "== checking that the three implementations return the same rows"
a_none=$(answer postgres "$COUNT"); a_ext=$(answer b_admin "$COUNT"); a_plain=$(answer b_admin "$PLAIN")
check "platform admin, extension vs no RLS" "$a_ext" "$a_none"; check "platform admin, extension vs plain" "$a_ext" "$a_plain"
for r in b_gadmin b_deep; do
	e=$(answer $r "$COUNT"); p=$(answer $r "$PLAIN")
	check "$r count" "$e" "$p"
	e=$(answer $r "SELECT md5(string_agg(user_id || ':' || content_id, ',' ORDER BY user_id, content_id)) FROM lms.progress")
	p=$(answer $r "SELECT md5(string_agg(user_id || ':' || content_id, ',' ORDER BY user_id, content_id)) FROM lms_plain.progress")
	check "$r rows" "$e" "$p"
done
[ $fail = 0 ] && echo "same rows: yes"

echo "== timing (median of $RUNS runs, ms)"
read -r t_admin t_none < <(medians b_admin "$COUNT" postgres "$COUNT")
read -r _ t_admin_plain < <(medians b_admin "$COUNT" b_admin "$PLAIN")
read -r t_g t_g_plain < <(medians b_gadmin "$COUNT" b_gadmin "$PLAIN")
read -r t_d t_d_plain < <(medians b_deep "$COUNT" b_deep "$PLAIN")

# rebuild after a relationship change, as reported by the cache itself (the
# tenant's setting flipped twice: a change every entry of the tenant read,
# its structure included, that leaves the answers as they were)
FLIP="UPDATE lms.tenants SET extended_visibility = NOT extended_visibility"
rebuilds=$(for _ in $(seq "$RUNS"); do
	psql -X -q -At -c "$FLIP" -c "$FLIP" -c "SET ROLE b_admin" \
		-c "SELECT count(*) FROM lms.visible_users()" -c "RESET ROLE" \
		-c "SELECT last_rebuild_ms FROM lms.cache_stats()" | tail -1
done | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
first_after_change=$(for _ in $(seq "$RUNS"); do
	{ echo "$FLIP;"; echo "$FLIP;"; echo "SET ROLE b_admin;"; echo '\timing on'; echo "SELECT count(*) FROM lms.progress WHERE user_id = 42;"; } |
		psql -X -q -At | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
done | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')

echo "== pgbench: one point query per transaction (3 x ${PGBENCH_SECONDS}s each, in turns, 2 clients)"
printf '\\set uid random(1, %d)\nSELECT * FROM lms.progress WHERE user_id = :uid;\n' "$USERS" >"$WORK/point.sql"
tps() { pgbench -n -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$WORK/point.sql" -U "$1" bench 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
# three runs of each, in turns; the medians
for _ in 1 2 3; do echo "$(tps postgres) $(tps b_gadmin)"; done >"$WORK/tps"
tps_none=$(awk '{print $1}' "$WORK/tps" | sort -n | sed -n 2p)
tps_g=$(awk '{print $2}' "$WORK/tps" | sort -n | sed -n 2p)

echo "== COPY into the store, with and without the invalidation trigger"
COPY_USERS=$((USERS / 5 < 20000 ? USERS / 5 : 20000))
psql -X -q -c "COPY (SELECT * FROM lms.progress WHERE user_id <= $COPY_USERS) TO '$WORK/pg/progress.copy'"
# copy_time on|off: one COPY of those rows, after a VACUUM (each COPY is
# rolled back: the next one starts from the same table)
copy_time() {
	psql -X -q -c "VACUUM lms.progress"
	{ echo "BEGIN;"; echo "DELETE FROM lms.progress WHERE user_id <= $COPY_USERS;"
	  [ "$1" = off ] && echo "ALTER TABLE lms.progress DISABLE TRIGGER invalidate_cache;"
	  echo '\timing on'; echo "COPY lms.progress FROM '$WORK/pg/progress.copy';"; echo '\timing off'; echo "ROLLBACK;"; } |
		psql -X -q -At | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
# in turns, as the queries: a shared machine drifts over a minute
copies=$(for _ in 1 2 3; do echo "$(copy_time on) $(copy_time off)"; done)
copy_on=$(echo "$copies" | awk '{print $1}' | sort -n | sed -n 2p)
copy_off=$(echo "$copies" | awk '{print $2}' | sort -n | sed -n 2p)
copy_rows=$(psql -X -q -At -c "SELECT count(*) FROM lms.progress WHERE user_id <= $COPY_USERS")

echo "== the group admins again, with both progress tables clustered on (user_id, content_id)"
psql -X -q -c "CLUSTER lms.progress USING progress_pkey" -c "CLUSTER lms_plain.progress USING progress_pkey" \
	-c "CHECKPOINT" -c "VACUUM ANALYZE lms.progress" -c "VACUUM ANALYZE lms_plain.progress"
read -r t_gc t_gc_plain < <(medians b_gadmin "$COUNT" b_gadmin "$PLAIN")
read -r t_dc t_dc_plain < <(medians b_deep "$COUNT" b_deep "$PLAIN")

OUT=bench/out
mkdir -p "$OUT"
REPORT="$OUT/results-$(date +%Y%m%d-%H%M%S).md"
{
	echo "## lms_visibility benchmark: $USERS users, $a_none progress rows, $(date -u +%Y-%m-%d)"
	echo
	echo "| measurement | this extension | baseline | ratio | target |"
	echo "|---|---|---|---|---|"
	echo "| platform admin \`count(*)\` vs no RLS (superuser) | ${t_admin} ms | ${t_none} ms | $(ratio "$t_admin" "$t_none")x | <= 1.5x |"
	echo "| platform admin \`count(*)\` vs plain SQL | ${t_admin} ms | ${t_admin_plain} ms | $(ratio "$t_admin_plain" "$t_admin")x faster | |"
	echo "| group admin near the top (10% of users) vs plain SQL | ${t_g} ms | ${t_g_plain} ms | $(ratio "$t_g_plain" "$t_g")x faster | >= 20x |"
	echo "| group admin deep in the tree (1% of users) vs plain SQL | ${t_d} ms | ${t_d_plain} ms | $(ratio "$t_d_plain" "$t_d")x faster | |"
	echo "| the same, progress clustered by user (10% of users) | ${t_gc} ms | ${t_gc_plain} ms | $(ratio "$t_gc_plain" "$t_gc")x faster | |"
	echo "| the same, progress clustered by user (1% of users) | ${t_dc} ms | ${t_dc_plain} ms | $(ratio "$t_dc_plain" "$t_dc")x faster | |"
	echo "| pgbench point query, group admin vs no RLS (tps) | ${tps_g} | ${tps_none} | $(ratio "$tps_g" "$tps_none") | >= 0.5 |"
	echo "| rebuild of the platform admin after a change | ${rebuilds} ms | | | < 50 ms |"
	echo "| first point query after a change, platform admin | ${first_after_change} ms | | | |"
	echo "| COPY $copy_rows rows into lms.progress, trigger on vs off | ${copy_on} ms | ${copy_off} ms | $(ratio "$copy_on" "$copy_off")x | <= 1.2x |"
	echo
	echo "Generation of the data set (with the integrity triggers): $(awk -v a="$gen_start" -v b="$gen_end" 'BEGIN {printf "%.0f", b - a}') s."
} | tee "$REPORT"
echo "saved in $REPORT"
exit $fail
