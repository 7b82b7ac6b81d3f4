#!/usr/bin/env bash
# bench/ab.sh REV [USERS]: the quiet store's read path, the library of git
# revision REV against this tree's, on one cluster and one data set, in
# turns (new backends load whichever library is installed at the time).
# Measures pgbench tps of a group admin's point query and of the platform
# admin's aggregate, each against the superuser, TURNS pairs of
# PGBENCH_SECONDS runs per library.  The SQL objects are this tree's: REV's
# library must read them (any 0.2.x or later does).
#   bash bench/ab.sh c13f5c9
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
REV=${1:?usage: bench/ab.sh REV [USERS]}
USERS=${2:-100000}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-5}
TURNS=${TURNS:-4}

bench_work ab
LIBDIR=$("$PGBIN/pg_config" --pkglibdir)
cp lms_visibility.so "$WORK/new.so"
git worktree add -q "$WORK/old" "$REV"
make -s -C "$WORK/old" PG_CONFIG="$PGBIN/pg_config" >/dev/null 2>&1
cp "$WORK/old/lms_visibility.so" "$WORK/old.so"
trap 'cp "$WORK/new.so" "$LIBDIR/lms_visibility.so"; stop_cluster "$WORK/pg"; git worktree remove --force "$WORK/old"; rm -rf "$WORK"' EXIT
bench_cluster 55800
bench_tenant "$USERS" "$((USERS * 10))"
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<'SQL'
CREATE ROLE b_admin LOGIN;  SELECT lms.bind_role('b_admin', 10000001);
CREATE ROLE b_gadmin LOGIN; SELECT lms.bind_role('b_gadmin', 10000002);
SQL
psql -X -q -c "CHECKPOINT" -c "VACUUM ANALYZE"
printf '\\set uid random(1, %d)\nSELECT count(*) FROM lms.progress WHERE user_id = :uid;\n' "$USERS" >"$WORK/point.sql"
printf '\\set cid random(1, 2000)\nSELECT count(*), avg(score) FROM lms.progress WHERE content_id = :cid;\n' >"$WORK/aggregate.sql"
tps() { pgbench -n -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$WORK/$2.sql" -U "$1" bench 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "| library | group admin point query / no RLS | platform admin aggregate / no RLS |"
echo "|---|---|---|"
for _ in $(seq "$TURNS"); do
	for lib in old new; do
		cp "$WORK/$lib.so" "$LIBDIR/lms_visibility.so"
		p=$(awk -v a="$(tps b_gadmin point)" -v b="$(tps postgres point)" 'BEGIN {print a / b}')
		a=$(awk -v a="$(tps b_admin aggregate)" -v b="$(tps postgres aggregate)" 'BEGIN {print a / b}')
		echo "$lib $p $a"
	done
done >"$WORK/ratios"
for lib in old new; do
	printf '| %s | %.2f | %.2f |\n' "$([ $lib = old ] && echo "$REV" || echo "this tree")" \
		"$(awk -v l=$lib '$1 == l {print $2}' "$WORK/ratios" | median)" \
		"$(awk -v l=$lib '$1 == l {print $3}' "$WORK/ratios" | median)"
done
echo "(medians of $TURNS turns; each ratio from one pair of ${PGBENCH_SECONDS}s runs)"
