#!/usr/bin/env bash
# bench/preview.sh [USERS]: what lms.preview() costs in bench/generate.sql's
# tenant of USERS users (default 100,000): a learner moved to another group,
# a group admin made, and a group moved to another parent, each previewed
# RUNS times (default 5), in turns, after one warm-up of each; prints the
# median in ms and the principals that gain or lose.  An
# absolute time: compare it with the issue's bound on this machine only.
#   bash bench/preview.sh
#   bash bench/preview.sh 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
RUNS=${RUNS:-5}
bench_work preview
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 55700
echo "== generating $USERS users"
bench_tenant "$USERS" 100000
# the principals a platform has: a coach of every group, a group admin at
# the top of each division, a manager of every 50 users
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO lms.group_roles SELECT g, g * 50, 'coach' FROM generate_series(1, 1000) g;
INSERT INTO lms.group_roles SELECT d * 100 + 1, d * 100 + 7, 'group_admin' FROM generate_series(0, 9) d;
INSERT INTO lms.managers SELECT m, m + i FROM generate_series(1, (SELECT count(*) FROM lms.users) - 100, 50) m,
	generate_series(1, 49) i;
VACUUM ANALYZE;
SQL

changes=(
	"UPDATE lms.group_members SET group_id = 2 WHERE user_id = 1"
	"INSERT INTO lms.group_roles VALUES (5, 10000004, 'group_admin')"
	"UPDATE lms.groups SET parent_group_id = 1 WHERE group_id = 50"
)
names=("a learner moved" "a group admin made" "a group moved")
echo "== lms.preview() in a tenant of $(psql -X -At -c 'SELECT count(*) FROM lms.users') users," \
	"$(psql -X -At -c 'SELECT count(DISTINCT user_id) FROM (SELECT user_id FROM lms.group_roles UNION SELECT user_id FROM lms.tenant_roles UNION SELECT manager_id FROM lms.managers) h') of them principals (median of $RUNS, ms)"
for i in "${!changes[@]}"; do
	psql -X -At -c "SELECT count(*) FROM lms.preview(\$\$${changes[$i]}\$\$)" >"$WORK/rows.$i"
done
{ for _ in $(seq 1 "$RUNS"); do
	for i in "${!changes[@]}"; do
		echo '\timing on'; echo "SELECT count(*) FROM lms.preview(\$\$${changes[$i]}\$\$);"; echo '\timing off'
	done
  done; } | psql -X -q -At | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' >"$WORK/times"
for i in "${!changes[@]}"; do
	awk -v n=${#changes[@]} -v i="$i" 'NR % n == (i + 1) % n { print }' "$WORK/times" | sort -n |
		awk -v name="${names[$i]}" -v rows="$(cat "$WORK/rows.$i")" '
			{ v[NR] = $1 } END { printf "   %-20s %8.1f ms   %s principals gain or lose\n", name, v[int((NR + 1) / 2)], rows }'
done
