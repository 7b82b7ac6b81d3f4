#!/usr/bin/env bash
# bench/floor.sh [USERS]: what row-level security itself costs a point
# query, against what this extension's policy costs.  On one cluster and
# one data set (bench/generate.sql), in turns, pgbench tps of
#   SELECT count(*) FROM <table> WHERE user_id = :uid
# on lms.progress as the superuser (no RLS) and as a bound group admin,
# and on a copy of lms.progress (same rows, same primary key index) as the
# superuser and as a role under a policy that does nothing but compare
# user_id with a sub-select of a STABLE function: the same shape as the
# extension's policy (an InitPlan for the principal, one qual per row),
# with none of its work; and a second copy whose policy calls a PL/pgSQL
# STABLE function directly, without the sub-select (no InitPlan).  Each
# ratio is RLS tps over no-RLS tps on the same table, the median of TURNS
# pairs of PGBENCH_SECONDS runs.
#   bash bench/floor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-5}
TURNS=${TURNS:-5}

bench_work floor
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 55900
bench_tenant "$USERS" "$((USERS * 10))"
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<'SQL'
CREATE ROLE b_gadmin LOGIN; SELECT lms.bind_role('b_gadmin', 10000002);
CREATE TABLE public.progress_copy (LIKE lms.progress INCLUDING INDEXES);
INSERT INTO public.progress_copy SELECT * FROM lms.progress;
CREATE FUNCTION public.floor_principal() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT 10000002::bigint';
ALTER TABLE public.progress_copy ENABLE ROW LEVEL SECURITY;
CREATE POLICY floor ON public.progress_copy FOR SELECT
	USING (user_id > (SELECT public.floor_principal()) - 20000000);
CREATE ROLE b_floor LOGIN;
GRANT SELECT ON public.progress_copy TO b_floor;
CREATE TABLE public.progress_call (LIKE lms.progress INCLUDING INDEXES);
INSERT INTO public.progress_call SELECT * FROM lms.progress;
CREATE FUNCTION public.floor_call() RETURNS bigint LANGUAGE plpgsql STABLE AS 'BEGIN RETURN 10000002; END';
ALTER TABLE public.progress_call ENABLE ROW LEVEL SECURITY;
CREATE POLICY floor ON public.progress_call FOR SELECT USING (user_id > public.floor_call() - 20000000);
GRANT SELECT ON public.progress_call TO b_floor;
SQL
psql -X -q -c "CHECKPOINT" -c "VACUUM ANALYZE"
for t in lms.progress public.progress_copy public.progress_call; do
	printf '\\set uid random(1, %d)\nSELECT count(*) FROM %s WHERE user_id = :uid;\n' "$USERS" "$t" >"$WORK/$t.sql"
done
tps() { pgbench -n -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$WORK/$2.sql" -U "$1" bench 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for _ in $(seq "$TURNS"); do
	echo "lms $(tps postgres lms.progress) $(tps b_gadmin lms.progress)"
	echo "floor $(tps postgres public.progress_copy) $(tps b_floor public.progress_copy)"
	echo "call $(tps postgres public.progress_call) $(tps b_floor public.progress_call)"
done >"$WORK/tps"
echo "| policy | no RLS tps | RLS tps | ratio |"
echo "|---|---|---|---|"
for k in floor call lms; do
	case $k in
	floor) what="a sub-select and one comparison (the floor)" ;;
	call) what="a function call and one comparison, no sub-select" ;;
	lms) what="lms_visibility, a group admin" ;;
	esac
	printf '| %s | %.0f | %.0f | %.2f |\n' "$what" \
		"$(awk -v k=$k '$1 == k {print $2}' "$WORK/tps" | median)" \
		"$(awk -v k=$k '$1 == k {print $3}' "$WORK/tps" | median)" \
		"$(awk -v k=$k '$1 == k {print $3 / $2}' "$WORK/tps" | median)"
done
echo "(medians of $TURNS turns of ${PGBENCH_SECONDS}s runs, 2 clients, $USERS users)"
