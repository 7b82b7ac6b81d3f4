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

