#!/usr/bin/env bash
# Readers and writers at once (SPEC.md 7): pgbench writers toggle
# memberships and roles for a bounded time while pgbench readers query as
# bound roles and two long-lived sessions keep warm caches.  No transaction
# fails, and the long-lived readers' last answers equal the rules applied
# to the final data by the independent plain-SQL implementation.
. "$(dirname "$0")/common.sh"
new_db conc_test 2>/dev/null
psql -X -q -o /dev/null -d conc_test -f bench/plain_rules.sql
W="$LMS_TEST_WORK/conc"
mkdir -p "$W"
cat >"$W/writer.sql" <<'SQL'
\set g random(10, 13)
\set i random(1, 6)
\set op random(0, 3)
\if :op = 0
INSERT INTO lms.group_members SELECT :g, (ARRAY[110, 120, 121, 123, 125, 127])[:i] ON CONFLICT DO NOTHING;
\elif :op = 1
DELETE FROM lms.group_members WHERE group_id = :g AND user_id = (ARRAY[110, 120, 121, 123, 125, 127])[:i];
\elif :op = 2
INSERT INTO lms.group_roles SELECT :g, 104, 'coach' ON CONFLICT DO NOTHING;
\else
DELETE FROM lms.group_roles WHERE user_id = 104 AND group_id = :g;
\endif
SQL
cat >"$W/reader.sql" <<'SQL'
\set r random(0, 1)
\if :r = 0
SET ROLE s_coach;
\else
SET ROLE s_gadmin;
\endif
SELECT count(*) FROM lms.progress;
SELECT count(*) FROM lms.users;
RESET ROLE;
SQL
watch_reader() {
	(printf 'SET ROLE %s;\nSELECT now(), count(*) FROM lms.progress \\watch 0.1\n' "$1" |
		timeout 25 psql -X -q -At -d conc_test >"$W/$1.log" 2>&1 || true) &
	watchers="${watchers:-} $!"
}
watch_reader s_coach
watch_reader s_gadmin
sleep 1
pgbench -n -d conc_test -c 3 -j 2 -T 6 -f "$W/writer.sql" >"$W/writers.out" 2>&1 &
wpid=$!
pgbench -n -d conc_test -c 2 -j 2 -T 6 -f "$W/reader.sql" >"$W/readers.out" 2>&1 &
rpid=$!
wait $wpid && pass "writers ran without an aborted client" || fail "writers: $(tail -3 "$W/writers.out")"
wait $rpid && pass "readers ran without an aborted client" || fail "readers: $(tail -3 "$W/readers.out")"
same "no writer transaction failed" "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$W/writers.out")" 0
same "no reader transaction failed" "$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$W/readers.out")" 0
echo "# writers: $(grep -E '^number of transactions actually processed' "$W/writers.out")"
sleep 1.5
for r in s_coach s_gadmin; do
	p=$(psql -X -At -d conc_test -c "SELECT principal FROM lms.role_bindings WHERE role = '$r'::regrole")
	expected=$(psql -X -At -d conc_test -c "SELECT count(*) FROM lms.progress pr
		WHERE pr.user_id IN (SELECT user_id FROM lms_plain.visible_users($p))
		  AND EXISTS (SELECT 1 FROM lms_plain.content_grants($p) g WHERE g.content_id = pr.content_id
					  AND (g.ctx IS NULL OR g.ctx = pr.context_group_id))")
	same "$r's long-lived session ends with the rules applied to the final data" "$(tail -1 "$W/$r.log" | cut -d'|' -f2)" "$expected"
done
for w in $watchers; do pkill -P "$w" >/dev/null 2>&1 || true; done
wait 2>/dev/null || true
dropdb conc_test
finish
