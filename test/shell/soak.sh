#!/usr/bin/env bash
# A soak test of consistency under load (SPEC.md 7).  One tenant, 40
# learners in a tree of groups, 6 principals (group admins and coaches).
# While one session grants and revokes memberships and roles, committing
# three of four changes and rolling back the others, and logs each
# committed change in soak_log in the same transaction (one changer, so
# the log's order is the commit order), and another writes statistics:
#   - readers bound to principals (READ COMMITTED and REPEATABLE READ),
#   - a trusted application switching principals per transaction,
#   - the same readers on a hot standby, reading the replayed log,
# each read max(seq) before a transaction and after it and, in it, what the
# principal sees of one learner (lms.users and lms.progress).  The checker
# (test/shell/soak.py) replays the log and requires every answer to match
# the relationships committed before the reader's transaction began,
# wherever no change committed during it alters the answer.
# LMS_SOAK_PLANT=trigger disables the invalidation trigger of group_members
# (the bug the test must catch: readers keep stale entries).
. "$(dirname "$0")/common.sh"
ensure_packages python3
TXNS=${LMS_SOAK_TXNS:-10000}
W="$LMS_TEST_WORK/soak"
rm -rf "$W"
mkdir -p "$W"
dropdb --if-exists soak_test 2>/dev/null
createdb soak_test
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d soak_test <<'SQL'
CREATE EXTENSION lms_visibility;
INSERT INTO lms.tenants VALUES (71, 'soak', false);
INSERT INTO lms.users (user_id, tenant_id) SELECT u, 71 FROM generate_series(7001, 7006) u;
INSERT INTO lms.users (user_id, tenant_id) SELECT u, 71 FROM generate_series(7101, 7140) u;
-- 7110 > (7111 > 7113, 7112); 7120 > 7121; 7190 owns the content
INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES
	(7110, 71, 'a', NULL), (7111, 71, 'a1', 7110), (7112, 71, 'a2', 7110), (7113, 71, 'a11', 7111),
	(7120, 71, 'b', NULL), (7121, 71, 'b1', 7120), (7190, 71, 'content', NULL);
INSERT INTO lms.content (content_id, tenant_id, kind, title, owner_group_id)
	SELECT c, 71, 'course', 'c' || c, 7190 FROM generate_series(7150, 7154) c;
INSERT INTO lms.group_roles SELECT 7190, p, 'group_admin' FROM generate_series(7001, 7006) p;
INSERT INTO lms.progress (user_id, content_id, score)
	SELECT u, c, 50 FROM generate_series(7101, 7140) u, generate_series(7150, 7154) c WHERE (u + c) % 3 <> 0;

CREATE TABLE soak_log (seq bigserial PRIMARY KEY, kind text, g bigint, x bigint, present boolean);
GRANT SELECT ON soak_log TO PUBLIC;
-- soak_toggle(kind, g, x): adds the membership of user x in g, or the role
-- kind of principal x on g, if it is not there, else removes it; logs it
CREATE FUNCTION soak_toggle(k text, grp bigint, x bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	n int;
BEGIN
	IF k = 'member' THEN
		DELETE FROM lms.group_members WHERE group_id = grp AND user_id = x;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n = 0 THEN INSERT INTO lms.group_members VALUES (grp, x); END IF;
	ELSE
		DELETE FROM lms.group_roles WHERE group_id = grp AND user_id = x AND role = k;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n = 0 THEN INSERT INTO lms.group_roles VALUES (grp, x, k); END IF;
	END IF;
	INSERT INTO soak_log (kind, g, x, present) VALUES (k, grp, x, n = 0);
END $$;
-- the starting relationships, logged as the first changes
SELECT soak_toggle('member', (ARRAY[7110, 7111, 7112, 7113, 7120, 7121])[1 + u % 6], u) FROM generate_series(7101, 7140) u;
SELECT soak_toggle(r.kind, r.g, r.p) FROM (VALUES ('group_admin', 7110, 7001), ('group_admin', 7111, 7002),
	('coach', 7112, 7003), ('group_admin', 7120, 7004), ('coach', 7121, 7005), ('coach', 7113, 7006)) r(kind, g, p);
SQL
for p in 7001 7002 7003 7004 7005 7006; do
	psql -X -q -o /dev/null -d soak_test -c "DROP ROLE IF EXISTS soak_$p" -c "CREATE ROLE soak_$p LOGIN" \
		-c "SELECT lms.bind_role('soak_$p', $p)" 2>/dev/null
done
psql -X -q -o /dev/null -d soak_test -c "DROP ROLE IF EXISTS soak_app" -c "CREATE ROLE soak_app LOGIN" -c "SELECT lms.trust_role('soak_app')" 2>/dev/null
if [ "${LMS_SOAK_PLANT:-}" = trigger ]; then
	psql -X -q -d soak_test -c "ALTER TABLE lms.group_members DISABLE TRIGGER invalidate_cache"
	echo "# planted: group_members' invalidation trigger disabled"
fi
psql -X -At -d soak_test -c "SELECT group_id, coalesce(parent_group_id::text, '-') FROM lms.groups WHERE tenant_id = 71" -F ' ' >"$W/tree"
psql -X -At -d soak_test -c "SELECT user_id, count(*) FROM lms.progress WHERE user_id > 7100 AND user_id < 7200 GROUP BY 1" -F ' ' >"$W/rows"

# a hot standby of the primary
SB="$LMS_TEST_WORK/soak_standby"
SBPORT=$(free_port $((PGPORT + 7)))
rm -rf "$SB"
mkdir -p "$SB"
chown postgres:postgres "$SB"
as_postgres "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PGPORT" -U postgres -D "$SB/data" -R -X stream --checkpoint=fast >/dev/null
printf "port = %s\nunix_socket_directories = '%s'\n" "$SBPORT" "$SB" >>"$SB/data/postgresql.conf"
pg_start "$SB"
STATS=
trap '[ -n "$STATS" ] && kill $STATS 2>/dev/null; stop_cluster "$SB"' EXIT

# reader_script MODE SEED: TXNS reader transactions; MODE bound (principal
# of the role), rr (bound, REPEATABLE READ) or app (SET LOCAL, a random
# principal each time)
reader_script() {
	awk -v n="$TXNS" -v mode="$1" -v seed="$2" -v fixed="${3:-0}" 'BEGIN {
		srand(seed)
		for (i = 0; i < n; i++) {
			u = 7101 + int(rand() * 40)
			p = (mode == "app") ? 7001 + int(rand() * 6) : fixed
			print "SELECT coalesce(max(seq), 0) AS b FROM soak_log \\gset"
			print (mode == "rr") ? "BEGIN ISOLATION LEVEL REPEATABLE READ;" : "BEGIN;"
			if (mode == "app") print "SET LOCAL lms.principal = " p ";"
			print "SELECT count(*) AS su FROM lms.users WHERE user_id = " u " \\gset"
			print "SELECT count(*) AS sr FROM lms.progress WHERE user_id = " u " \\gset"
			print "COMMIT;"
			print "SELECT max(seq) AS a FROM soak_log \\gset"
			print "\\echo obs " p " " u " :b :a :su :sr"
		}
	}'
}
# the changer: memberships mostly, roles now and then; a quarter rolled back
awk -v seed=7 'BEGIN {
	srand(seed)
	split("7110 7111 7112 7113 7120 7121", g, " ")
	for (i = 0; i < 4000; i++) {
		print "BEGIN;"
		if (rand() < 0.8)
			print "SELECT soak_toggle(\x27member\x27, " g[1 + int(rand() * 6)] ", " 7101 + int(rand() * 40) ");"
		else
			print "SELECT soak_toggle(\x27" (rand() < 0.5 ? "group_admin" : "coach") "\x27, " g[1 + int(rand() * 6)] ", " 7001 + int(rand() * 6) ");"
		print (rand() < 0.25) ? "ROLLBACK;" : "COMMIT;"
	}
}' >"$W/changer.sql"
cat >"$W/stats.sql" <<'SQL'
\set u random(7101, 7140)
UPDATE lms.progress SET score = floor(random() * 101), last_activity_at = now() WHERE user_id = :u;
SQL

pgbench -n -c 1 -R 50 -T 600 -f "$W/stats.sql" -d soak_test >/dev/null 2>&1 &
STATS=$!
(while [ ! -f "$W/done" ]; do psql -X -q -o /dev/null -d soak_test -f "$W/changer.sql"; done) &
changer=$!
readers=()
run_reader() {	# NAME MODE SEED HOST PORT ROLE [PRINCIPAL]
	reader_script "$2" "$3" "${7:-0}" >"$W/$1.sql"
	psql -X -q -At -h "$4" -p "$5" -U "$6" -d soak_test -f "$W/$1.sql" >"$W/$1.out" 2>"$W/$1.err" &
	readers+=($!)
}
run_reader primary_bound1 bound 11 "$PGHOST" "$PGPORT" soak_7001 7001
run_reader primary_bound2 bound 12 "$PGHOST" "$PGPORT" soak_7002 7002
run_reader primary_rr rr 13 "$PGHOST" "$PGPORT" soak_7003 7003
run_reader primary_app app 14 "$PGHOST" "$PGPORT" soak_app
run_reader standby_bound bound 21 "$SB" "$SBPORT" soak_7004 7004
run_reader standby_rr rr 22 "$SB" "$SBPORT" soak_7006 7006
run_reader standby_app app 23 "$SB" "$SBPORT" soak_app
wait "${readers[@]}"
touch "$W/done"
wait "$changer"
kill "$STATS" 2>/dev/null
STATS=

same "the readers ran without errors" "$(cat "$W"/*.err | grep -v '^$' | head -3)" ""
psql -X -At -F ' ' -d soak_test -c "SELECT seq, kind, g, x, present FROM soak_log" >"$W/log"
echo "# $(wc -l <"$W/log") committed changes, $(psql -X -At -d soak_test -c "SELECT last_value FROM soak_log_seq_seq") attempted"
if /usr/bin/python3 test/shell/soak.py "$W/tree" "$W/log" "$W/rows" "$W"/primary_*.out "$W"/standby_*.out >"$W/check" 2>&1; then
	pass "every reader answered by the relationships committed before its transaction"
else
	fail "a reader answered from stale or future relationships"
fi
sed 's/^/# /' "$W/check"
stop_cluster "$SB"
dropdb soak_test
for p in 7001 7002 7003 7004 7005 7006; do psql -X -q -c "DROP ROLE soak_$p"; done
psql -X -q -c "DROP ROLE soak_app"
finish
