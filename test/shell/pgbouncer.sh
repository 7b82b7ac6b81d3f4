#!/usr/bin/env bash
# The application path behind a real pool: PgBouncer in transaction-pooling
# mode with 2 server connections, and examples/check.js (Node's pg driver)
# sending 600 concurrent requests for 6 principals through it.  Every
# request sees exactly its principal's rows; a session-level principal is
# refused; requests without a principal never see a row, so no principal
# outlives the transaction that set it on a pooled server connection; and
# a learner manager's team write with SET LOCAL, then none without it.
. "$(dirname "$0")/common.sh"
ensure_packages pgbouncer
if [ ! -d examples/node_modules/pg ]; then
	(cd examples && npm install --no-audit --no-fund --silent >/dev/null 2>&1) || { fail "npm install pg"; finish; exit 1; }
fi
new_db pool_test
psql -X -q -o /dev/null -d pool_test -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_server') THEN CREATE ROLE app_server LOGIN; END IF; END \$\$" \
	-c "SELECT lms.trust_role('app_server')"

B="$LMS_TEST_WORK/pgbouncer"
start_pgbouncer "$B" pool_test app_server

# what each principal must see, from the rules, computed directly
{
	echo "{"
	first=1
	for p in 101 103 104 106 108 112; do
		rows=$(psql -X -At -d pool_test -c "SELECT coalesce(string_agg(user_id || ':' || content_id, ' ' ORDER BY user_id, content_id), '-')
			FROM lms.progress WHERE lms.can_view_stats($p, user_id, content_id, context_group_id)")
		[ $first = 1 ] || echo ","
		first=0
		printf '"%s": "%s"' "$p" "$rows"
	done
	echo "}"
} >"$B/expected.json"

APP_HOST=127.0.0.1 APP_PORT=$BPORT APP_DB=pool_test node examples/check.js "$B/expected.json" 600 >"$B/check.log" 2>&1
rc=$?
sed 's/^/# /' "$B/check.log" | tail -6
grep -q "concurrent requests: 600 right, 0 wrong, 0 failed" "$B/check.log" && pass "600 concurrent requests for 6 principals: each saw exactly its rows" ||
	fail "concurrent requests"
grep -q "session-level principal refused: true" "$B/check.log" && pass "a session-level principal is refused (42501)" || fail "session-level principal"
grep -q "0 saw rows" "$B/check.log" && pass "requests without a principal never saw a row" || fail "a principal outlived its transaction"
[ $rc = 0 ] && pass "examples/check.js passed" || fail "examples/check.js"
same "the pool had at most 2 server connections" \
	"$(psql -X -At -d pool_test -c "SELECT count(*) <= 2 FROM pg_stat_activity WHERE usename = 'app_server'")" t

# team writes behind the pool (SPEC.md 9): the learner manager's principal
# set with SET LOCAL builds a team; the next transaction on the same pooled
# server connection has no principal and may write nothing
bouncer() { psql -X -q -At -h 127.0.0.1 -p "$BPORT" -U app_server -d pool_test "$@" 2>&1; }
out=$(bouncer -c "BEGIN; SET LOCAL lms.principal = 102;
	INSERT INTO lms.groups (group_id, tenant_id, name) VALUES (60, 1, 'Pooled Team');
	INSERT INTO lms.group_members VALUES (60, 120); COMMIT;")
same "behind PgBouncer, SET LOCAL lets the learner manager build a team" \
	"$(psql -X -At -d pool_test -c "SELECT g.created_by || ':' || count(m.user_id) FROM lms.groups g
		LEFT JOIN lms.group_members m USING (group_id) WHERE g.group_id = 60 GROUP BY g.created_by")" "102:1"
# (the server connection may still hold the session-level principal
# examples/check.js set to see it refused: refused all the same)
bouncer -v VERBOSITY=sqlstate -c "INSERT INTO lms.group_members VALUES (60, 121)" >"$B/refused.log" || true
same "the next pooled transaction has no principal: its write is refused (42501)" \
	"$(grep -c '^ERROR:  42501' "$B/refused.log")" 1
same "and nothing was written" "$(psql -X -At -d pool_test -c "SELECT count(*) FROM lms.group_members WHERE group_id = 60")" 1
same "and a session-level principal cannot be set for a write either" \
	"$( (bouncer -c "SET lms.principal = 102" -c "INSERT INTO lms.group_members VALUES (60, 121)" || true) | grep -c 'SET LOCAL')" 1
kill "$(cat "$B/pgbouncer.pid")" 2>/dev/null
dropdb pool_test
finish
