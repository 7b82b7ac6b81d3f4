#!/usr/bin/env bash
# bench/bi.sh [USERS] [ROWS]: the two dashboards every LMS report has,
# "completion by course" (progress joined to content) and "completion by
# group" (progress joined to group_members and groups), as a BI tool runs
# them: server-side prepared statements with a date parameter (pgbench -M
# prepared, as pgjdbc after prepareThreshold), for a group admin near the
# top of a deep tree (10% of the users), a deep group admin (1%) and the
# platform admin, each against the same query as the superuser (no
# row-level security), in turns, on the quiet store and while statistics
# are written at 50 rows/s.  Two tenants (bench/generate.sql and
# bench/traffic_setup.sql).
#   bash bench/bi.sh                    # 100,000 users, about 1,000,000 rows
#   bash bench/bi.sh 1000000 10000000   # the large scale
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
ROWS=${2:-$((USERS * 10))}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-5}
TURNS=${TURNS:-3}
PGBENCH_MODE=prepared

bench_work bi
BG=
trap '[ -n "$BG" ] && kill $BG 2>/dev/null; stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 55800 "max_parallel_workers_per_gather = 2"

. bench/pgbench.sh
two_tenants

cat >"$WORK/by_course.sql" <<'SQL'
\set d random(30, 300)
SELECT c.title, count(*) AS learners, count(*) FILTER (WHERE p.completed_pct = 100) AS completed
FROM lms.progress p JOIN lms.content c USING (content_id)
WHERE p.started_at >= now() - :d * interval '1 day' GROUP BY c.title;
SQL
cat >"$WORK/by_group.sql" <<'SQL'
\set d random(30, 300)
SELECT g.name, count(*) AS rows, count(*) FILTER (WHERE p.completed_pct = 100) AS completed
FROM lms.progress p JOIN lms.group_members m USING (user_id) JOIN lms.groups g USING (group_id)
WHERE p.started_at >= now() - :d * interval '1 day' GROUP BY g.name;
SQL
cat >"$WORK/stats.sql" <<SQL
\set uid random(1, $USERS)
UPDATE lms.progress SET viewed_pct = floor(random() * 101), last_activity_at = now() WHERE user_id = :uid;
SQL

# what each principal's dashboards read
declare -A reads
for r in b_deep b_gadmin b_admin; do
	reads[$r]=$(psql -X -At -U "$r" -c "SELECT format('%s progress rows, %s content, %s groups, %s memberships',
		(SELECT count(*) FROM lms.progress), (SELECT count(*) FROM lms.content),
		(SELECT count(*) FROM lms.groups), (SELECT count(*) FROM lms.group_members))")
	echo "$r: ${reads[$r]}"
done

echo "== dashboards: no-RLS tps, RLS tps, ratio (medians of $TURNS pairs of ${PGBENCH_SECONDS}s, 2 clients, prepared)"
: >"$WORK/table"
echo "| dashboard, principal, load | no RLS tps | RLS tps | ratio | reads |" | tee -a "$WORK/table"
echo "|---|---|---|---|---|" | tee -a "$WORK/table"
for load in quiet stats; do
	[ "$load" = stats ] && with_load stats "$(awk -v p="$per_user" 'BEGIN {printf "%d", 50 / p}')"
	label=$([ "$load" = stats ] && echo "statistics written at 50 rows/s" || echo "quiet")
	for d in by_course by_group; do
		for r in b_deep b_gadmin b_admin; do pair "$d, $r, $label" "$r" "$d" "${reads[$r]}"; done
	done
	[ "$load" = stats ] && end_load
done

echo "== who_can_see: 20 random learners, a fresh backend (each candidate's entry built) and then warm"
awk -v n="$USERS" 'BEGIN { srand(11); for (i = 0; i < 20; i++) print 1 + int(rand() * n) }' >"$WORK/learners"
{
	echo "CREATE TEMP TABLE t (turn int, ms float8, n bigint);"
	for turn in 1 2; do
		while read -r u; do
			echo "SELECT clock_timestamp() AS s \\gset"
			echo "SELECT count(*) AS n FROM lms.who_can_see($u) \\gset"
			echo "INSERT INTO t SELECT $turn, extract(epoch FROM clock_timestamp() - :'s') * 1000, :n;"
		done <"$WORK/learners"
	done
	echo "SELECT format('cold (a fresh backend builds each candidate''s entry): median %s ms, max %s ms; warm: median %s ms; principals per learner: %s',
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE turn = 1)::numeric, 1),
		round(max(ms) FILTER (WHERE turn = 1)::numeric, 1),
		round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE turn = 2)::numeric, 1),
		round(avg(n), 1)) FROM t;"
} >"$WORK/who.sql"
psql -X -q -At -f "$WORK/who.sql" | tee -a "$WORK/who"

echo "== the audit trail: the group admin's point query, lms.audit off and statements (tps, medians of $TURNS)"
cat >"$WORK/point.sql" <<SQL
\set uid random(1, $USERS)
SELECT count(*) FROM lms.progress WHERE user_id = :uid;
SQL
off=() on=()
for _ in $(seq "$TURNS"); do
	psql -X -q -c "ALTER ROLE b_deep RESET lms.audit"
	off+=("$(tps b_deep point)")
	psql -X -q -c "ALTER ROLE b_deep SET lms.audit = statements"
	on+=("$(tps b_deep point)")
done
psql -X -q -c "ALTER ROLE b_deep RESET lms.audit"
o=$(printf '%s\n' "${off[@]}" | median)
a=$(printf '%s\n' "${on[@]}" | median)
printf '| lms.audit off | %.0f tps |\n| lms.audit = statements | %.0f tps (%.2f of off) |\n' "$o" "$a" \
	"$(awk -v a="$a" -v b="$o" 'BEGIN {print a / b}')" | tee -a "$WORK/audit"
echo "   audit lines in the server log: $(grep -c 'lms_audit,' "$WORK/pg/server.log" || true)"

echo
echo "== summary ($USERS users)"
cat "$WORK/table"
cat "$WORK/who" "$WORK/audit"
