#!/usr/bin/env bash
# bench/rangescan.sh [USERS] [ROWS]: the planner's choice between the range
# scan (Custom Scan (LmsRangeScan)) and the index condition "= ANY (ids)" on
# one major (LMS_PG_MAJOR, 15 by default; 18 is /usr/local/pgsql-18).  For
# each narrow principal of bench/generate.sql (a group admin near the top,
# a deep group admin, a coach, a manager of 50) and two queries (count(*),
# which an index can answer, and sum(score), which reads the heap) it times
#   chosen  the plan the planner picks (its scan node is named),
#   range   the range scan (index scans and sequential scans off),
#   index   the index condition (lms.enable_rangescan = off),
#   none    the same rows without row-level security: the superuser's query
#           with the principal's user and content ids as literal arrays,
# as medians of RUNS alternating rounds in one session, and prints each
# against none (ratios only: never compare absolute times across majors).
#   bash bench/rangescan.sh                        # 15, 100,000 users
#   LMS_PG_MAJOR=18 bash bench/rangescan.sh        # the same on 18
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
ROWS=${2:-1000000}
RUNS=${RUNS:-7}

bench_work rangescan
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 55700
echo "== PostgreSQL $LMS_PG_MAJOR: generating $USERS users and about $ROWS progress rows"
bench_tenant "$USERS" "$ROWS"
psql -X -q -c "CHECKPOINT" -c "VACUUM ANALYZE lms.progress"
for p in 10000002 10000005 10000003 10000004; do
	psql -X -q -o /dev/null -c "CREATE ROLE r_$p" -c "SELECT lms.bind_role('r_$p', $p)"
done

# the settings of each way to run a principal's query
declare -A WAY=(
	[chosen]=""
	[range]="SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; SET enable_seqscan = off;"
	[index]="SET lms.enable_rangescan = off;"
)
# median of the numbers on standard input
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

printf '\n| PostgreSQL %s | query | planner chooses | chosen / none | range scan / none | index condition / none |\n' "$LMS_PG_MAJOR"
echo "|---|---|---|---|---|---|"
for who in "group admin near the top:10000002" "deep group admin:10000005" "coach:10000003" "manager of 50:10000004"; do
	label=${who%%:*}
	p=${who##*:}
	ids=$(psql -X -At -c "SELECT lms.visible_user_ids($p)::text")
	cids=$(psql -X -At -c "SELECT lms.accessible_content_ids($p)::text")
	for q in "count(*)" "sum(score)"; do
		rls="SELECT $q FROM lms.progress"
		none="SELECT $q FROM lms.progress WHERE user_id = ANY ('$ids'::bigint[]) AND content_id = ANY ('$cids'::bigint[])"
		# the same rows both ways, or the figure means nothing
		a=$(psql -X -q -At -c "SET ROLE r_$p" -c "$rls")
		b=$(psql -X -At -c "$none")
		[ "$a" = "$b" ] || { echo "MISMATCH for $label, $q: $a vs $b"; exit 1; }
		plan=$(psql -X -q -At -c "SET ROLE r_$p" -c "EXPLAIN (COSTS OFF) $rls" | grep -oE 'Custom Scan \(LmsRangeScan\)|Index Only Scan|Bitmap Heap Scan|Index Scan|Seq Scan' | head -1)
		# RUNS rounds, each way once per round, in one session
		{
			for _ in $(seq 0 "$RUNS"); do
				for w in chosen range index; do
					echo "SET ROLE r_$p; ${WAY[$w]}"
					echo '\timing on'; echo "$rls;"; echo '\timing off'
					echo "RESET ALL; RESET ROLE;"
				done
				echo '\timing on'; echo "$none;"; echo '\timing off'
			done
		} | psql -X -q -At 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' >"$WORK/times"
		# four timings a round; the first round warms up
		for i in 1 2 3 4; do
			awk -v i="$i" 'NR > 4 && (NR - i) % 4 == 0' "$WORK/times" | median >"$WORK/m$i"
		done
		t_none=$(cat "$WORK/m4")
		printf '| %s | `%s` | %s | %s | %s | %s |\n' "$label" "$q" "$plan" \
			"$(ratio "$(cat "$WORK/m1")" "$t_none")" "$(ratio "$(cat "$WORK/m2")" "$t_none")" "$(ratio "$(cat "$WORK/m3")" "$t_none")"
	done
done
