# test/shell/common.sh: helpers of the shell tests, sourced by each.  They
# run under scripts/test.sh, which exports PGHOST/PGPORT/PGUSER of the
# primary test cluster and LMS_TEST_WORK, its scratch directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh
: "${LMS_TEST_WORK:?run through scripts/test.sh}"
fails=0
pass() { echo "ok - $1"; }
fail() { echo "not ok - $1"; fails=$((fails + 1)); }
same() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: '$2' vs '$3'"; fi; }
finish() { echo "# $fails failure(s)"; [ "$fails" = 0 ]; }

# new_db NAME: a database with the extension, the sample platform and one
# bound login per kind of principal
new_db() {
	dropdb --if-exists "$1" 2>/dev/null
	createdb "$1"
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d "$1" <<'SQL'
CREATE EXTENSION lms_visibility;
\i sample/platform.sql
DO $$
DECLARE b record;
BEGIN
	FOR b IN SELECT * FROM (VALUES ('s_admin', 101), ('s_gadmin', 103), ('s_coach', 104), ('s_analyst', 105),
		('s_manager', 108), ('s_trainer', 112), ('s_globex', 202)) v(r, p) LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = b.r) THEN
			EXECUTE format('CREATE ROLE %I LOGIN', b.r);
		END IF;
		PERFORM lms.bind_role(b.r::regrole, b.p);
	END LOOP;
END $$;
SQL
}
READERS="s_admin s_gadmin s_coach s_analyst s_manager s_trainer s_globex"

# rows_seen DB ROLE [psql options]: what ROLE sees of lms.progress, as one line
rows_seen() {
	local db=$1 role=$2
	shift 2
	psql -X -q -At "$@" -d "$db" -c "SET ROLE $role" \
		-c "SELECT coalesce(string_agg(user_id || ':' || content_id, ' ' ORDER BY user_id, content_id), '-') FROM lms.progress"
}

# start_pgbouncer DIR DB ROLE...: PgBouncer in transaction-pooling mode
# with 2 server connections, in DIR, for database DB and the given roles
# (trust); sets BPORT and stops it when the test exits
start_pgbouncer() {
	local dir=$1 db=$2 r
	shift 2
	BPORT=$(free_port $((PGPORT + 3)))
	mkdir -p "$dir"
	for r in "$@"; do echo "\"$r\" \"\""; done >"$dir/users.txt"
	sed -e "s|@DB@|$db|; s|@HOST@|$PGHOST|; s|@PORT@|$PGPORT|; s|@DBNAME@|$db|; s|@BPORT@|$BPORT|; s|@DIR@|$dir|g" \
		t/pgbouncer.ini.in >"$dir/pgbouncer.ini"
	chown -R postgres:postgres "$dir"
	as_postgres pgbouncer -d "$dir/pgbouncer.ini" && pass "pgbouncer started in transaction mode"
	trap "[ -f '$dir/pgbouncer.pid' ] && kill \$(cat '$dir/pgbouncer.pid') 2>/dev/null" EXIT
	for _ in $(seq 50); do
		psql -X -At -h 127.0.0.1 -p "$BPORT" -U "$1" -d "$db" -c 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 0.1
	done
}
