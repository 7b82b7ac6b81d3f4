# bench/pgbench.sh: the setup and pgbench helpers of the two-tenant
# benchmarks (traffic.sh, bi.sh), sourced after WORK (where the scripts
# SCRIPT.sql are), USERS, ROWS, PGBENCH_SECONDS and TURNS are set.  Each figure is RLS tps over no-RLS tps of the same script under the
# same load, medians of TURNS pairs run in turns.
# tps ROLE SCRIPT: the tps of one run as ROLE (PGBENCH_MODE: pgbench's
# query protocol, simple unless set)
tps() {
	pgbench -n -c 2 -j 2 -M "${PGBENCH_MODE:-simple}" -T "$PGBENCH_SECONDS" -f "$WORK/$2.sql" -U "$1" bench 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
# steady ROLE SCRIPT: the tps of the last 5 s of a 20 s run, once the
# backends' caches are warm, as an application server's pooled connections
# are
steady() {
	pgbench -n -c 2 -j 2 -T 20 -P 5 -f "$WORK/$2.sql" -U "$1" bench 2>&1 >/dev/null |
		sed -n 's/^progress: [0-9.]* s, \([0-9.]*\) tps.*/\1/p' | tail -1
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# pair LABEL ROLE SCRIPT TARGET: the script as the superuser and as ROLE,
# in turns; one line of the table
pair() {
	local i none=() rls=()
	for i in $(seq "$TURNS"); do none+=("$(tps postgres "$3")"); rls+=("$(tps "$2" "$3")"); done
	local n r
	n=$(printf '%s\n' "${none[@]}" | median)
	r=$(printf '%s\n' "${rls[@]}" | median)
	printf '| %s | %.0f | %.0f | %.2f | %s |\n' "$1" "$n" "$r" "$(awk -v a="$r" -v b="$n" 'BEGIN {print a / b}')" "$4" |
		tee -a "$WORK/table"
}
# app_script FIRST LAST: a transaction per principal, as an application
# server acting for a random user of [FIRST, LAST]
app_script() {
	cat <<SQL
\set p random($1, $2)
\set uid random(1, $USERS)
BEGIN;
SET LOCAL lms.principal = :p;
SELECT count(*) FROM lms.progress WHERE user_id = :uid;
END;
SQL
}
# with_load SCRIPT TPS: start a background writer at TPS transactions/s
with_load() {
	pgbench -n -c 1 -R "$2" -T 100000 -f "$WORK/$1.sql" -U postgres bench >/dev/null 2>&1 &
	BG=$!
	sleep 1
}
end_load() { kill "$BG" 2>/dev/null; wait "$BG" 2>/dev/null || true; BG=; }

# two_tenants: CREATE EXTENSION, tenant 1 of USERS users and about ROWS
# progress rows (bench/generate.sql), tenant 2 a tenth of it with 500 group
# admins and 500 managers (bench/traffic_setup.sql), the logins b_admin
# (platform admin), b_gadmin (group admin near the top) and b_deep (deep
# group admin); sets per_user, the progress rows of a learner
two_tenants() {
	echo "== generating $USERS users and about $ROWS progress rows in tenant 1, a tenth of it in tenant 2"
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -c "CREATE EXTENSION lms_visibility" \
		-v users="$USERS" -v rows="$ROWS" -f bench/generate.sql -f bench/traffic_setup.sql
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<'SQL'
CREATE ROLE b_admin LOGIN;  SELECT lms.bind_role('b_admin', 10000001);
CREATE ROLE b_gadmin LOGIN; SELECT lms.bind_role('b_gadmin', 10000002);
CREATE ROLE b_deep LOGIN;   SELECT lms.bind_role('b_deep', 10000005);
SQL
	psql -X -q -c "CHECKPOINT" -c "VACUUM ANALYZE"
	per_user=$(psql -X -At -c "SELECT round(count(*)::numeric / $USERS) FROM lms.progress WHERE user_id <= $USERS")
	echo "progress rows: $(psql -X -At -c 'SELECT count(*) FROM lms.progress'), about $per_user per learner"
}
