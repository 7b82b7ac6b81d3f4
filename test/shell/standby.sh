#!/usr/bin/env bash
# Hot standby: a replica made with pg_basebackup -R answers every reader
# exactly as the primary does, and follows a revocation once replayed, in a
# session whose cache was warm.
. "$(dirname "$0")/common.sh"
new_db standby_test
SB="$LMS_TEST_WORK/standby"
SBPORT=$(free_port $((PGPORT + 1)))
mkdir -p "$SB"
chown postgres:postgres "$SB"
as_postgres "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PGPORT" -U postgres -D "$SB/data" -R -X stream --checkpoint=fast >/dev/null
cat >>"$SB/data/postgresql.conf" <<CONF
port = $SBPORT
unix_socket_directories = '$SB'
CONF
pg_start "$SB"
trap 'stop_cluster "$SB"' EXIT

catch_up() {
	local lsn
	lsn=$(psql -X -At -c "SELECT pg_current_wal_lsn()")
	for _ in $(seq 100); do
		[ "$(psql -X -At -h "$SB" -p "$SBPORT" -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && return 0
		sleep 0.1
	done
	return 1
}
catch_up && pass "the standby caught up"
same "the standby is in recovery" "$(psql -X -At -h "$SB" -p "$SBPORT" -c 'SELECT pg_is_in_recovery()')" t
for r in $READERS; do
	same "$r sees the same rows on the standby" "$(rows_seen standby_test "$r" -h "$SB" -p "$SBPORT")" "$(rows_seen standby_test "$r")"
done
same "explain_visibility works on the standby" \
	"$(psql -X -At -h "$SB" -p "$SBPORT" -d standby_test -c "SELECT string_agg(granted::text, ',') FROM lms.explain_visibility(104, 120, 508, 11)")" "true,true,true,true"

# a warm session on the standby, then a revocation on the primary
LOG="$LMS_TEST_WORK/standby_watch.log"
(printf 'SET ROLE s_coach;\nSELECT now(), count(*) FROM lms.progress \\watch 0.2\n' |
	timeout 20 psql -X -q -At -h "$SB" -p "$SBPORT" -d standby_test >"$LOG" 2>&1 || true) &
watcher=$!
sleep 1.5
same "the standby session sees the coach's 3 rows" "$(tail -1 "$LOG" | cut -d'|' -f2)" 3
psql -X -q -d standby_test -c "DELETE FROM lms.group_roles WHERE user_id = 104"
catch_up
sleep 1
same "after replay the same standby session sees the revocation" "$(tail -1 "$LOG" | cut -d'|' -f2)" 0
same "a new standby session too" "$(rows_seen standby_test s_coach -h "$SB" -p "$SBPORT")" "-"
pkill -P "$watcher" >/dev/null 2>&1 || true
wait 2>/dev/null || true
dropdb standby_test
finish
