#!/usr/bin/env bash
# The drivers BI tools really use, as logins bound to principals: pgjdbc
# (Debian's libpostgresql-jdbc-java on Java 17, examples/BiJdbc.java) and
# psqlODBC under unixODBC (examples/bi_odbc.py).  Each introspects schema
# lms, reads every table and view it finds, and runs the two dashboard
# queries as prepared statements more often than pgjdbc's prepareThreshold.
# Every line must equal what psql gives the same login, and psql's rows
# must be the principal's (the reference: the rule functions as the
# superuser); then the same through PgBouncer in transaction mode.
. "$(dirname "$0")/common.sh"
ensure_packages libpostgresql-jdbc-java odbc-postgresql unixodbc python3-pyodbc
JAR=/usr/share/java/postgresql.jar
SINCE=2026-09-03
new_db bi_drivers
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d bi_drivers <<'SQL'
-- bi_expected(since): what psql gives the calling role, in the clients' format
CREATE FUNCTION public.bi_expected(since timestamptz) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	t name;
	n bigint;
	r record;
BEGIN
	FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'lms'::regnamespace
			 AND c.relkind IN ('r', 'p', 'v') ORDER BY c.relname COLLATE "C" LOOP
		RETURN NEXT format('columns %s %s', t, (SELECT count(*) FROM pg_attribute a
			WHERE a.attrelid = format('lms.%I', t)::regclass AND a.attnum > 0 AND NOT a.attisdropped));
		BEGIN
			EXECUTE format('SELECT count(*) FROM lms.%I', t) INTO n;
			RETURN NEXT format('table %s rows %s', t, n);
		EXCEPTION WHEN OTHERS THEN
			RETURN NEXT format('table %s refused %s', t, SQLSTATE);
		END;
	END LOOP;
	FOR r IN SELECT c.title, count(*) AS learners, count(p.completed_at) AS completed
			 FROM lms.progress p JOIN lms.content c USING (content_id)
			 WHERE p.started_at >= since GROUP BY c.title ORDER BY c.title LOOP
		RETURN NEXT format('course %s|%s|%s', r.title, r.learners, r.completed);
	END LOOP;
	RETURN NEXT 'executions course 8 identical true';
	FOR r IN SELECT g.name, count(*) AS rows, count(p.completed_at) AS completed
			 FROM lms.progress p JOIN lms.group_members m USING (user_id) JOIN lms.groups g USING (group_id)
			 WHERE p.started_at >= since GROUP BY g.name ORDER BY g.name LOOP
		RETURN NEXT format('group %s|%s|%s', r.name, r.rows, r.completed);
	END LOOP;
	RETURN NEXT 'executions group 8 identical true';
END $$;
SQL
# reference PRINCIPAL: the rows the rules give the principal, as the superuser
reference() {
	psql -X -At -d bi_drivers -c "SELECT format('progress %s users %s content %s groups %s',
		(SELECT count(*) FROM lms.progress WHERE lms.can_view_stats($1, user_id, content_id, context_group_id)),
		(SELECT count(*) FROM lms.visible_users($1)),
		(SELECT count(*) FROM lms.accessible_content($1)),
		(SELECT count(*) FROM lms.groups g WHERE EXISTS (SELECT 1 FROM lms.tenant_roles r JOIN lms.users u USING (user_id)
				WHERE r.user_id = $1 AND u.tenant_id = g.tenant_id AND r.role IN ('platform_admin', 'learner_manager'))
			OR g.group_id IN (SELECT lms._subtree(gr.group_id) FROM lms.group_roles gr WHERE gr.user_id = $1
				AND gr.role IN ('group_admin', 'group_analyst', 'group_leader'))
			OR g.group_id IN (SELECT gr.group_id FROM lms.group_roles gr WHERE gr.user_id = $1 AND gr.role IN ('coach', 'editor'))))"
}
# seen FILE: the same four counts, from a client's output
seen() {
	awk '$1 == "table" && $3 == "rows" { n[$2] = $4 }
		END { printf "progress %s users %s content %s groups %s\n", n["progress"], n["users"], n["content"], n["groups"] }' "$1"
}
# closed FILE: the tables of the store that gave the login a row although
# SPEC.md 6 gives readers none of them
closed() {
	awk '$1 == "table" && $3 == "rows" && $4 > 0 && $2 !~ /^(progress|enrollments|users|content|groups|group_members|progress_report)$/ { print $2 }' "$1" | tr '\n' ' '
}

# run_clients LABEL PORT [JDBC_OPTIONS]: every reader through both drivers
run_clients() {
	local label=$1 port=$2 opts=${3:-} r p
	for r in $READERS; do
		p=$(psql -X -At -d bi_drivers -c "SELECT principal FROM lms.role_bindings WHERE role = '$r'::regrole")
		psql -X -At -U "$r" -d bi_drivers -c "SELECT * FROM public.bi_expected('$SINCE')" >"$LMS_TEST_WORK/bi_psql.$r"
		java -cp "$JAR" examples/BiJdbc.java "jdbc:postgresql://127.0.0.1:$port/bi_drivers$opts" "$r" "$SINCE" \
			>"$LMS_TEST_WORK/bi_jdbc.$r" 2>&1
		/usr/bin/python3 examples/bi_odbc.py 127.0.0.1 "$port" bi_drivers "$r" "$SINCE" >"$LMS_TEST_WORK/bi_odbc.$r" 2>&1
		if [ "$label" = direct ]; then
			same "$r: psql's rows are the principal's" "$(seen "$LMS_TEST_WORK/bi_psql.$r")" "$(reference "$p")"
			same "$r: and no row of a closed table" "$(closed "$LMS_TEST_WORK/bi_psql.$r")" ""
			same "$r: pgjdbc switched to server-side prepared statements" \
				"$(grep -c 'server_prepared true' "$LMS_TEST_WORK/bi_jdbc.$r")" 2
		fi
		same "$r ($label): pgjdbc introspects and reads exactly psql's rows" \
			"$(sed 's/ server_prepared [a-z]*$//' "$LMS_TEST_WORK/bi_jdbc.$r" | md5sum)" "$(md5sum <"$LMS_TEST_WORK/bi_psql.$r")"
		same "$r ($label): psqlODBC introspects and reads exactly psql's rows" \
			"$(md5sum <"$LMS_TEST_WORK/bi_odbc.$r")" "$(md5sum <"$LMS_TEST_WORK/bi_psql.$r")"
	done
}
run_clients direct "$PGPORT"
same "the group admin's dashboard has rows" "$(grep -c '^course ' "$LMS_TEST_WORK/bi_jdbc.s_gadmin")" 6
same "the platform admin of tenant 2 sees none of tenant 1's courses" \
	"$(grep -cE '^course (Safety|Compliance|Negotiation)' "$LMS_TEST_WORK/bi_jdbc.s_globex")" 0

# through PgBouncer in transaction mode: pgjdbc without server-side
# prepared statements (PgBouncer before 1.21 does not carry them across
# server connections), psqlODBC's unnamed ones as they are
B="$LMS_TEST_WORK/pgbouncer_bi"
# shellcheck disable=SC2086
start_pgbouncer "$B" bi_drivers $READERS
run_clients pgbouncer "$BPORT" "?prepareThreshold=0"
kill "$(cat "$B/pgbouncer.pid")"
dropdb bi_drivers
finish
