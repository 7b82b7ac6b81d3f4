#!/usr/bin/env bash
# bench/citus.sh [USERS] [ROWS]: the store on a Citus cluster (a coordinator
# and two workers on this machine) against one node, in one run.  The same
# tenant (default 100,000 users, about 1,000,000 progress rows) on both;
# each figure is the tps of the query as the principal's role over the tps
# of the same query as the superuser (no RLS) on the same deployment,
# medians of TURNS pairs in turns; and the cluster's tps over the single
# node's for each.  Then the cost of a principal's first query: on the
# cluster every worker builds the principal's entry from its own copy of the
# reference tables, in parallel with the others.  An instructor of two
# path sessions (about 500 learners played each) reads lms.users, which the
# coordinator answers after asking the workers who played its sessions, once
# per statement, and lms.progress, which the workers answer.
#   bash bench/citus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
ROWS=${2:-1000000}
TURNS=${TURNS:-3}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}

bench_work citus
ensure_citus || { echo "Citus is not available: ${CITUS_MISSING:-}"; exit 1; }
trap 'stop_cluster "$WORK/pg"; for n in 0 1 2; do stop_cluster "$WORK/n$n"; done; rm -rf "$WORK"' EXIT

load() {	# the tenant and the logins, into the database bench of PGHOST/PGPORT
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -c "CREATE EXTENSION IF NOT EXISTS lms_visibility" \
		-v users="$USERS" -v rows="$ROWS" -f bench/generate.sql
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d bench <<'SQL'
CREATE ROLE b_admin LOGIN;  SELECT lms.bind_role('b_admin', 10000001);
CREATE ROLE b_gadmin LOGIN; SELECT lms.bind_role('b_gadmin', 10000002);
INSERT INTO lms.users (user_id, tenant_id, first_name) VALUES (10000006, 1, 'Instructor');
INSERT INTO lms.session_instructors VALUES (1701, 10000006), (1702, 10000006);
CREATE ROLE b_instr LOGIN;  SELECT lms.bind_role('b_instr', 10000006);
SQL
}
cat >"$WORK/admin.sql" <<'SQL'
SELECT count(*) FROM lms.progress;
SQL
cat >"$WORK/users.sql" <<'SQL'
SELECT count(*) FROM lms.users;
SQL
cat >"$WORK/point.sql" <<SQL
\\set u random(1, $USERS)
SELECT count(*) FROM lms.progress WHERE user_id = :u;
SQL
tps() {	# ROLE SCRIPT
	pgbench -n -c 2 -j 2 -T "$PGBENCH_SECONDS" -f "$WORK/$2.sql" -U "$1" bench 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
pair() {	# ROLE SCRIPT: "none rls" medians
	local i none=() rls=()
	for i in $(seq "$TURNS"); do none+=("$(tps postgres "$2")"); rls+=("$(tps "$1" "$2")"); done
	echo "$(printf '%s\n' "${none[@]}" | median) $(printf '%s\n' "${rls[@]}" | median)"
}
# first ROLE: ms of a new session's first and second count(*) of lms.progress
first() {
	psql -X -At -U "$1" -d bench -c '\timing on' -c 'SELECT count(*) FROM lms.progress' -c 'SELECT count(*) FROM lms.progress' |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tr '\n' ' '
}
# build ROLE HOST PORT: ms of the first and second U(p) of a new session on one node
build() {
	psql -X -At -h "$2" -p "$3" -U "$1" -d bench -c '\timing on' -c 'SELECT cardinality(lms.visible_user_ids())' \
		-c 'SELECT cardinality(lms.visible_user_ids())' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tr '\n' ' '
}

echo "== one node: $USERS users, about $ROWS progress rows"
bench_cluster 55900 "work_mem = 64MB"
load
psql -X -q -c "CHECKPOINT" -c "VACUUM ANALYZE"
echo "progress rows: $(psql -X -At -c 'SELECT count(*) FROM lms.progress')"
read -r s_admin_none s_admin_rls < <(pair b_admin admin)
read -r s_point_none s_point_rls < <(pair b_gadmin point)
read -r s_iusers_none s_iusers_rls < <(pair b_instr users)
read -r s_iprog_none s_iprog_rls < <(pair b_instr admin)
s_instr_seen=$(psql -X -At -U b_instr -d bench -c 'SELECT count(*) FROM lms.users')
s_first_admin=$(first b_admin)
s_first_gadmin=$(first b_gadmin)
stop_cluster "$WORK/pg"

echo "== a coordinator and two workers: the same tenant, then lms.distribute()"
citus_cluster "$WORK" "$(free_port 55910)" bench >/dev/null
CPORT=$PGPORT
load
dist_start=$(date +%s.%N)
psql -X -q -o /dev/null -d bench -c "SET client_min_messages = warning" -c "SELECT lms.distribute()"
dist_end=$(date +%s.%N)
for n in 0 1 2; do psql -X -q -h "$WORK/n$n" -p $((CPORT + n)) -d bench -c "CHECKPOINT" -c "VACUUM ANALYZE"; done
read -r c_admin_none c_admin_rls < <(pair b_admin admin)
read -r c_point_none c_point_rls < <(pair b_gadmin point)
read -r c_iusers_none c_iusers_rls < <(pair b_instr users)
read -r c_iprog_none c_iprog_rls < <(pair b_instr admin)
c_instr_seen=$(psql -X -At -U b_instr -d bench -c 'SELECT count(*) FROM lms.users')
# Citus keeps one connection per worker between transactions by default; the
# others, and their backends' caches, go at the end of each transaction
export PGOPTIONS="-c citus.max_cached_conns_per_worker=32"
read -r k_admin_none k_admin_rls < <(pair b_admin admin)
read -r k_point_none k_point_rls < <(pair b_gadmin point)
unset PGOPTIONS
c_first_admin=$(first b_admin)
c_first_gadmin=$(first b_gadmin)
builds=""
for n in 0 1 2; do
	builds+="| node $n: U(p) of the platform admin, first / second call (ms) | $(build b_admin "$WORK/n$n" $((CPORT + n)) | awk '{printf "%.1f / %.1f", $1, $2}') |"$'\n'
done

r() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo
echo "Citus: $USERS users, $(psql -X -At -d bench -c 'SELECT count(*) FROM lms.progress') progress rows, lms.distribute() took $(awk -v a="$dist_start" -v b="$dist_end" 'BEGIN {printf "%.1f", b - a}') s; pgbench 2 clients, ${PGBENCH_SECONDS} s, medians of $TURNS"
echo
echo "| query | one node: no RLS / RLS (tps) | ratio | cluster: no RLS / RLS (tps) | ratio | cluster / one node, RLS |"
echo "|---|---|---|---|---|---|"
printf '| platform admin, count(*) | %.1f / %.1f | %s | %.1f / %.1f | %s | %s |\n' "$s_admin_none" "$s_admin_rls" "$(r "$s_admin_rls" "$s_admin_none")" \
	"$c_admin_none" "$c_admin_rls" "$(r "$c_admin_rls" "$c_admin_none")" "$(r "$c_admin_rls" "$s_admin_rls")"
printf '| group admin, point query | %.0f / %.0f | %s | %.0f / %.0f | %s | %s |\n' "$s_point_none" "$s_point_rls" "$(r "$s_point_rls" "$s_point_none")" \
	"$c_point_none" "$c_point_rls" "$(r "$c_point_rls" "$c_point_none")" "$(r "$c_point_rls" "$s_point_rls")"
printf '| instructor of 2 sessions, count(*) of lms.users (%s learners on one node, %s on the cluster) | %.0f / %.0f | %s | %.0f / %.0f | %s | %s |\n' \
	"$s_instr_seen" "$c_instr_seen" "$s_iusers_none" "$s_iusers_rls" "$(r "$s_iusers_rls" "$s_iusers_none")" \
	"$c_iusers_none" "$c_iusers_rls" "$(r "$c_iusers_rls" "$c_iusers_none")" "$(r "$c_iusers_rls" "$s_iusers_rls")"
printf '| instructor of 2 sessions, count(*) of lms.progress | %.1f / %.1f | %s | %.1f / %.1f | %s | %s |\n' \
	"$s_iprog_none" "$s_iprog_rls" "$(r "$s_iprog_rls" "$s_iprog_none")" \
	"$c_iprog_none" "$c_iprog_rls" "$(r "$c_iprog_rls" "$c_iprog_none")" "$(r "$c_iprog_rls" "$s_iprog_rls")"
printf '| platform admin, count(*), worker connections kept (max_cached_conns_per_worker = 32) | | | %.1f / %.1f | %s | %s |\n' \
	"$k_admin_none" "$k_admin_rls" "$(r "$k_admin_rls" "$k_admin_none")" "$(r "$k_admin_rls" "$s_admin_rls")"
printf '| group admin, point query, worker connections kept | | | %.0f / %.0f | %s | %s |\n' \
	"$k_point_none" "$k_point_rls" "$(r "$k_point_rls" "$k_point_none")" "$(r "$k_point_rls" "$s_point_rls")"
echo
echo "| a new session's first / second count(*) (ms) | one node | cluster |"
echo "|---|---|---|"
echo "| platform admin | $(echo "$s_first_admin" | awk '{printf "%.1f / %.1f", $1, $2}') | $(echo "$c_first_admin" | awk '{printf "%.1f / %.1f", $1, $2}') |"
echo "| group admin | $(echo "$s_first_gadmin" | awk '{printf "%.1f / %.1f", $1, $2}') | $(echo "$c_first_gadmin" | awk '{printf "%.1f / %.1f", $1, $2}') |"
echo
echo "| per node | ms |"
echo "|---|---|"
printf '%s' "$builds"
