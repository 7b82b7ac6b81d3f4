#!/usr/bin/env bash
# Hot standby: a replica made with pg_basebackup -R answers every reader
# exactly as the primary does, and follows a revocation once replayed, in a
# session whose cache was warm; its audit lines go to its own server log;
# a consistency token makes a read wait for a revocation's replay.
. "$(dirname "$0")/common.sh"
new_db standby_test
SB="$LMS_TEST_WORK/standby"
rm -rf "$SB"
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
	timeout 60 psql -X -q -At -h "$SB" -p "$SBPORT" -d standby_test >"$LOG" 2>&1 || true) &
watcher=$!
# its first answer (a server under valgrind takes seconds to start a session)
for _ in $(seq 300); do [ -s "$LOG" ] && break; sleep 0.1; done
same "the standby session sees the coach's 3 rows" "$(tail -1 "$LOG" | cut -d'|' -f2)" 3
psql -X -q -d standby_test -c "DELETE FROM lms.group_roles WHERE user_id = 104"
catch_up
sleep 1
same "after replay the same standby session sees the revocation" "$(tail -1 "$LOG" | cut -d'|' -f2)" 0
same "a new standby session too" "$(rows_seen standby_test s_coach -h "$SB" -p "$SBPORT")" "-"
out=$(psql -X -At -h "$SB" -p "$SBPORT" -d standby_test -c "SET lms.audit = statements" -c "SET client_min_messages = log" \
	-c "SET ROLE s_gadmin" -c "SELECT count(*) FROM lms.progress" 2>&1)
same "the audit trail works on the standby" "$(echo "$out" | grep -c '^LOG:  lms_audit,103,"s_gadmin","lms.progress",1$')" 1
same "into the standby's server log" "$(grep -c 'lms_audit,103,"s_gadmin"' "$SB/server.log")" 1

# read your revocation on a replica: the standby's replay paused, a
# revocation on the primary and its consistency token; awaiting it fails
# after the timeout, then succeeds once replay resumes, and the same
# transaction then reads the revocation
psql -X -q -o /dev/null -h "$SB" -p "$SBPORT" -c "SELECT pg_wal_replay_pause()"
same "before: the group admin sees its rows on the standby" "$(rows_seen standby_test s_gadmin -h "$SB" -p "$SBPORT" | wc -w)" 11
token=$(psql -X -At -d standby_test -c "DELETE FROM lms.group_roles WHERE user_id = 103" -c "SELECT lms.consistency_token()" | tail -1)
same "the primary gives a token" "$(echo "$token" | grep -cE '^[0-9A-F]+/[0-9A-F]+$')" 1
out=$(psql -X -At -h "$SB" -p "$SBPORT" -d standby_test -c "SELECT lms.await_token('$token', 300)" 2>&1 || true)
same "awaiting it on the paused standby fails after the timeout" \
	"$(echo "$out" | grep -c "has not replayed the change of consistency token $token within 300 ms")" 1
same "and a read without the token is answered from the old relationships" \
	"$(rows_seen standby_test s_gadmin -h "$SB" -p "$SBPORT" | wc -w)" 11
same "the token is refused on the standby" \
	"$(psql -X -At -h "$SB" -p "$SBPORT" -d standby_test -c "SELECT lms.consistency_token()" 2>&1 | grep -c 'comes from the primary')" 1
# replay resumes half a second after the transaction's first read (started
# from inside the session, so a slow server cannot resume it earlier)
resume="(sleep 0.5; psql -X -q -o /dev/null -h $SB -p $SBPORT -c 'SELECT pg_wal_replay_resume()') &"
same "once replay resumes, the transaction that awaited the token reads the revocation" \
	"$(psql -X -At -h "$SB" -p "$SBPORT" -d standby_test -c "BEGIN" -c "SET LOCAL ROLE s_gadmin" \
		-c "SELECT count(*) FROM lms.progress" -c "\\! $resume" -c "SELECT lms.await_token('$token', 10000)" \
		-c "SELECT count(*) FROM lms.progress" -c "COMMIT" | grep -E '^[0-9]+$' | paste -sd' ')" "11 0"
same "REPEATABLE READ must await before it begins" \
	"$(psql -X -At -h "$SB" -p "$SBPORT" -d standby_test -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT lms.await_token('$token')" 2>&1 | grep -c 'must run before')" 1
pkill -P "$watcher" >/dev/null 2>&1 || true
wait 2>/dev/null || true
dropdb standby_test
finish
