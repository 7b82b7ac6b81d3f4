#!/usr/bin/env bash
# bench/policy_arg.sh [USERS]: what the policies' principal argument costs a
# point query.  On one cluster and one data set (bench/generate.sql, USERS
# users, ten progress rows each), in turns, pgbench tps of
#   SELECT count(*) FROM lms.progress WHERE user_id = :uid
# as the superuser (no RLS) and as a bound group admin (near the top of the
# tree: a tenth of the users), with the policy of lms.progress written two
# ways:
#   sub-select  lms.can_view_stats((SELECT lms.current_principal()), ...)
#               0.5.0 and before: an InitPlan planned and run per statement
#   call        lms.can_view_stats(lms.current_principal(), ...)
#               0.6.0: no InitPlan; the executor guard decides each row
# Each ratio is RLS tps over no-RLS tps of the same turn; medians of TURNS
# turns of PGBENCH_SECONDS runs, 2 clients.
#   bash bench/policy_arg.sh            # 100,000 users
#   bash bench/policy_arg.sh 1000000    # 1,000,000 users, ~10,000,000 rows
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-5}
TURNS=${TURNS:-5}

bench_work policy_arg
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 56300
bench_tenant "$USERS" "$((USERS * 10))"
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -c "CREATE ROLE b_gadmin LOGIN" -c "SELECT lms.bind_role('b_gadmin', 10000002)"
psql -X -q -c "CHECKPOINT" -c "VACUUM ANALYZE"
printf '\\set uid random(1, %d)\nSELECT count(*) FROM lms.progress WHERE user_id = :uid;\n' "$USERS" >"$WORK/point.sql"
# policy ARG: the policy of lms.progress with ARG as its principal argument
policy() {
	psql -X -q -c "ALTER POLICY progress_visibility ON lms.progress
		USING (lms.can_view_stats($1, user_id, content_id, context_group_id))"
}
. bench/pgbench.sh	# tps ROLE SCRIPT, median
for _ in $(seq "$TURNS"); do
	policy '(SELECT lms.current_principal())'
	echo "sub $(tps postgres point) $(tps b_gadmin point)"
	policy 'lms.current_principal()'
	echo "call $(tps postgres point) $(tps b_gadmin point)"
done >"$WORK/tps"
echo "| principal argument | no RLS tps | RLS tps | ratio |"
echo "|---|---|---|---|"
for k in sub call; do
	case $k in
	sub) what='`(SELECT lms.current_principal())` (0.5.0)' ;;
	call) what='`lms.current_principal()` (0.6.0)' ;;
	esac
	printf '| %s | %.0f | %.0f | %.2f |\n' "$what" \
		"$(awk -v k=$k '$1 == k {print $2}' "$WORK/tps" | median)" \
		"$(awk -v k=$k '$1 == k {print $3}' "$WORK/tps" | median)" \
		"$(awk -v k=$k '$1 == k {print $3 / $2}' "$WORK/tps" | median)"
done
echo "(medians of $TURNS turns of ${PGBENCH_SECONDS}s runs, 2 clients, $USERS users)"
