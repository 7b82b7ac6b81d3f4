#!/usr/bin/env bash
# Faults: a backend killed with kill -9 in the middle of a rebuild, and the
# leader of a parallel query killed while its workers use the entry it
# shares.  The server restarts, the answers afterwards are right, and no
# published file of a dead leader stays in pg_stat_tmp.  Then a million-row
# lms.progress vacuumed, fully vacuumed and clustered, and every index of
# the store rebuilt with REINDEX CONCURRENTLY, while warm readers (one of
# them on the range scan) keep querying: every answer is right.
. "$(dirname "$0")/common.sh"
DIR="$LMS_TEST_WORK/faults"
rm -rf "$DIR"
start_cluster "$DIR" "$(free_port $((PGPORT + 9)))" "max_parallel_workers_per_gather = 2"
trap 'stop_cluster "$DIR"' EXIT
new_db fault_test
q() { psql -X -q -At -d fault_test "$@"; }
# a platform admin of 3,000 users: an entry large enough to be shared with workers
q -c "INSERT INTO lms.tenants VALUES (5, 'faults', false)" \
	-c "INSERT INTO lms.users (user_id, tenant_id) SELECT 500000 + i, 5 FROM generate_series(1, 3000) i" \
	-c "INSERT INTO lms.tenant_roles VALUES (500001, 'platform_admin')" \
	-c "INSERT INTO lms.content VALUES (500000, 5, 'course', 'c', NULL, NULL, NULL)" \
	-c "INSERT INTO lms.progress (user_id, content_id) SELECT 500000 + i, 500000 FROM generate_series(1, 3000) i" \
	-c "CREATE ROLE f_admin LOGIN" -c "SELECT lms.bind_role('f_admin', 500001)" -c "ANALYZE"
# poll SQL: the first non-empty answer of SQL within 5 s
poll() {
	local out
	for _ in $(seq 50); do
		out=$(q -c "$1")
		[ -n "$out" ] && { echo "$out"; return 0; }
		sleep 0.1
	done
	return 0
}
count_as_admin() { psql -X -q -At -d fault_test -U f_admin -c "SELECT count(*) FROM lms.progress"; }
# wait_up PID: the crash restart has ended backend PID (every backend goes),
# and the server accepts connections again
wait_up() {
	local i
	for i in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	for i in $(seq 100); do q -c "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.2; done
	return 1
}
same "before any fault the admin sees its tenant's rows" "$(count_as_admin)" 3000

# 1. killed in the middle of a rebuild: the build waits on a lock held elsewhere
psql -X -q -d fault_test -c "BEGIN" -c "LOCK TABLE lms.slot_trainers IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
sleep 0.5
holder_pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'")
count_as_admin >/dev/null 2>&1 &
victim=$(poll "SELECT pid FROM pg_stat_activity WHERE usename = 'f_admin' AND wait_event_type = 'Lock'")
same "the admin's rebuild waits inside the build" "$([ -n "$victim" ] && echo yes)" yes
[ -z "$victim" ] || kill -9 "$victim"
wait_up "$holder_pid" && pass "the server restarts after a backend is killed during a rebuild" ||
	fail "the server did not come back"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
same "then the admin sees its rows" "$(count_as_admin)" 3000

# 2. the leader of a parallel query killed while its workers read its shared entry
PAR="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;"
psql -X -q -At -d fault_test -U f_admin -c "$PAR" \
	-c "SELECT count(*) FROM lms.progress p, generate_series(1, 20000) g WHERE p.user_id + g > 0" >/dev/null 2>&1 &
reader=$!
leader=$(poll "SELECT leader_pid FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND leader_pid IS NOT NULL LIMIT 1")
same "a parallel query of the admin runs with workers" "$([ -n "$leader" ] && echo yes)" yes
left_before=$(ls "$DIR/data/pg_stat_tmp" | grep -c "^lms_visibility\.$leader\.")
[ -z "$leader" ] || kill -9 "$leader"
sleep 0.2
wait_up "$leader" && pass "the server restarts after the leader is killed" || fail "the server did not come back"
kill "$reader" 2>/dev/null || true
wait "$reader" 2>/dev/null || true
same "the killed leader had published its entry" "$left_before" 1
psql -X -q -At -d fault_test -U f_admin -c "$PAR" -c "SELECT count(*) FROM lms.progress" >"$LMS_TEST_WORK/faults.out"
same "a parallel query afterwards answers right" "$(tail -1 "$LMS_TEST_WORK/faults.out")" 3000
same "and no file of the dead leader is left in pg_stat_tmp" \
	"$(ls "$DIR/data/pg_stat_tmp" | grep -c "^lms_visibility\.$leader\.")" 0

# 3. maintenance of a million-row store under readers: 10,000 learners in
# 10 groups of consecutive ids, 100 courses, every learner on every course; a group admin of
# one group (100,000 rows) and a coach who sees 5 courses of another
# (5,000 rows, read by the range scan)
q -c "INSERT INTO lms.tenants VALUES (6, 'maintenance', false)" \
	-c "INSERT INTO lms.users (user_id, tenant_id) SELECT i, 6 FROM generate_series(600001, 610002) i" \
	-c "INSERT INTO lms.groups (group_id, tenant_id, name) SELECT g, 6, 'g' || g FROM generate_series(6001, 6010) g" \
	-c "INSERT INTO lms.group_members SELECT 6001 + (i - 600001) / 1000, i FROM generate_series(600001, 610000) i" \
	-c "INSERT INTO lms.content (content_id, tenant_id, kind, title, owner_group_id) SELECT c, 6, 'course', 'c', 6001 FROM generate_series(600001, 600100) c" \
	-c "INSERT INTO lms.catalog_entries SELECT 6002, c FROM generate_series(600001, 600005) c" \
	-c "INSERT INTO lms.group_roles VALUES (6001, 610001, 'group_admin'), (6002, 610002, 'coach')" \
	-c "INSERT INTO lms.progress (user_id, content_id, score) SELECT u, c, 50 FROM generate_series(600001, 610000) u, generate_series(600001, 600100) c" \
	-c "CREATE ROLE f_gadmin LOGIN" -c "SELECT lms.bind_role('f_gadmin', 610001)" \
	-c "CREATE ROLE f_coach LOGIN" -c "SELECT lms.bind_role('f_coach', 610002)" -c "VACUUM ANALYZE"
want_gadmin=$(q -c "SELECT count(*) FROM lms.progress WHERE lms.can_view_stats(610001, user_id, content_id, context_group_id)")
want_coach=$(q -c "SELECT count(*) FROM lms.progress WHERE lms.can_view_stats(610002, user_id, content_id, context_group_id)")
same "the store holds a million progress rows" "$(q -c "SELECT count(*) FROM lms.progress WHERE user_id > 600000")" 1000000
same "the coach's query is a range scan" \
	"$(psql -X -At -d fault_test -U f_coach -c "EXPLAIN SELECT count(*) FROM lms.progress" | grep -c LmsRangeScan)" 1
# reader ROLE: a warm session querying until the file done appears
reader() {
	(while [ ! -f "$DIR/done" ]; do echo "SELECT count(*) FROM lms.progress;"; sleep 0.05; done) |
		psql -X -q -At -d fault_test -U "$1" >"$DIR/reads.$1" 2>&1
}
reader f_gadmin &
r1=$!
reader f_coach &
r2=$!
sleep 1
q -c "VACUUM lms.progress" -c "UPDATE lms.progress SET score = 60 WHERE user_id % 7 = 0" -c "VACUUM lms.progress" \
	-c "VACUUM FULL lms.progress" -c "CLUSTER lms.progress USING progress_content_idx" -c "ANALYZE lms.progress"
sleep 0.5
q -c "REINDEX SCHEMA CONCURRENTLY lms"
# a relationship change, and back, so that the readers rebuild over the new indexes
q -c "DELETE FROM lms.group_members WHERE group_id = 6002 AND user_id = 601001"
sleep 0.3
q -c "INSERT INTO lms.group_members VALUES (6002, 601001)"
sleep 0.5
touch "$DIR/done"
wait $r1 $r2
same "the group admin read through VACUUM FULL, CLUSTER and REINDEX CONCURRENTLY: no error" \
	"$(grep -vcE '^[0-9]+$' "$DIR/reads.f_gadmin")" 0
same "and every answer was right" \
	"$(grep -cvE "^($want_gadmin)$" "$DIR/reads.f_gadmin")" 0
same "the coach (range scan): no error" "$(grep -vcE '^[0-9]+$' "$DIR/reads.f_coach")" 0
same "and every answer was its 5,000 rows, or 4,995 while the learner was out" \
	"$(grep -cvE "^($want_coach|$((want_coach - 5)))$" "$DIR/reads.f_coach")" 0
same "the coach's readers saw the change" "$(grep -c "^$((want_coach - 5))$" "$DIR/reads.f_coach" | awk '{print ($1 > 0)}')" 1
same "afterwards the range scan answers right" "$(psql -X -At -d fault_test -U f_coach -c "SELECT count(*) FROM lms.progress")" "$want_coach"
same "the store's indexes are all valid" "$(q -c "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'lms'::regnamespace AND NOT i.indisvalid")" 0
finish
