#!/usr/bin/env bash
# bench/load.sh [USERS]: the sync service's writes, as a member of
# lms_writer, against the same writes into plain tables with the same
# columns, keys, foreign keys and indexes but none of the store's triggers
# (schema lms_plain_load), in one run on one cluster:
#   - 100,000 groups in 100 trees 1,000 deep, one INSERT, top down;
#   - COPY of USERS x 10 progress rows (as lms_writer itself: COPY FROM
#     into a table with row-level security needs the role's BYPASSRLS);
#   - pgbench upserts (INSERT ... ON CONFLICT DO UPDATE of a learner's
#     score), 2 clients, 10 s.
#   bash bench/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
USERS=${1:-100000}
bench_work load
trap 'stop_cluster "$WORK/pg"; rm -rf "$WORK"' EXIT
bench_cluster 55900
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null <<SQL
CREATE EXTENSION lms_visibility;
INSERT INTO lms.tenants VALUES (1, 'Load', false);
INSERT INTO lms.users (user_id, tenant_id) SELECT i, 1 FROM generate_series(1, $USERS) i;
INSERT INTO lms.content (content_id, tenant_id, kind, title) SELECT i, 1, 'course', 'c' || i FROM generate_series(1, 1000) i;
CREATE ROLE sync LOGIN;
GRANT lms_writer TO sync;
-- the plain copy: the same tables, keys and indexes, no triggers but the foreign keys'
CREATE SCHEMA lms_plain_load;
CREATE TABLE lms_plain_load.users (LIKE lms.users INCLUDING ALL);
INSERT INTO lms_plain_load.users SELECT * FROM lms.users;
CREATE TABLE lms_plain_load.content (LIKE lms.content INCLUDING ALL);
INSERT INTO lms_plain_load.content SELECT * FROM lms.content;
CREATE TABLE lms_plain_load.groups (LIKE lms.groups INCLUDING ALL,
	FOREIGN KEY (parent_group_id) REFERENCES lms_plain_load.groups);
CREATE TABLE lms_plain_load.progress (LIKE lms.progress INCLUDING ALL,
	FOREIGN KEY (user_id) REFERENCES lms_plain_load.users, FOREIGN KEY (content_id) REFERENCES lms_plain_load.content);
GRANT USAGE ON SCHEMA lms_plain_load TO sync;
GRANT ALL ON ALL TABLES IN SCHEMA lms_plain_load TO sync;
SQL
# ten rows per learner, on contents 1 + q * 100 + (learner % 100), q = 0..9: no pair twice
psql -X -q -c "COPY (SELECT 1 + (i % $USERS), 1 + (i / $USERS) * 100 + (i % $USERS) % 100, NULL, NULL, now(), NULL, 50, 50, 50, NULL, now()
	FROM generate_series(0, $USERS * 10 - 1) i) TO '$WORK/pg/progress.copy'"
ms() { sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "| write | lms_writer into the store | plain tables | ratio |"
echo "|---|---|---|---|"
# tree k (0..99), level j (0..999): group k * 1000 + j + 1 under the one above it
TREES="SELECT k * 1000 + j + 1, 1, 'g', CASE WHEN j > 0 THEN k * 1000 + j END FROM generate_series(0, 99) k, generate_series(0, 999) j ORDER BY j, k"
a=$(psql -X -q -U sync -c '\timing on' -c "INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) $TREES" | ms)
b=$(psql -X -q -U sync -c '\timing on' -c "INSERT INTO lms_plain_load.groups (group_id, tenant_id, name, parent_group_id) $TREES" | ms)
echo "| 100,000 groups in 100 trees 1,000 deep, one INSERT | $(awk -v a="$a" 'BEGIN {printf "%.2f s", a / 1000}') | $(awk -v a="$b" 'BEGIN {printf "%.2f s", a / 1000}') | $(ratio "$a" "$b") |"
# psql's \copy on both sides (a server-side COPY FROM a file needs pg_read_server_files)
# timed by the shell: psql's \timing does not time \copy
wall_ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
a=$(wall_ms psql -X -q -v ON_ERROR_STOP=1 -U sync -c "SET ROLE lms_writer" -c "\\copy lms.progress FROM '$WORK/pg/progress.copy'")
b=$(wall_ms psql -X -q -v ON_ERROR_STOP=1 -U sync -c "\\copy lms_plain_load.progress FROM '$WORK/pg/progress.copy'")
echo "| COPY of $((USERS * 10)) progress rows | $(awk -v a="$a" 'BEGIN {printf "%.2f s", a / 1000}') | $(awk -v a="$b" 'BEGIN {printf "%.2f s", a / 1000}') | $(ratio "$a" "$b") |"
psql -X -q -c "VACUUM ANALYZE lms.progress" -c "VACUUM ANALYZE lms_plain_load.progress"
for t in lms lms_plain_load; do
	cat >"$WORK/upsert_$t.sql" <<SQL
\\set u random(1, $USERS)
\\set c random(1, 1000)
INSERT INTO $t.progress (user_id, content_id, score, last_activity_at) VALUES (:u, :c, random() * 100, now())
	ON CONFLICT (user_id, content_id) DO UPDATE SET score = EXCLUDED.score, last_activity_at = EXCLUDED.last_activity_at;
SQL
done
tps() { pgbench -n -c 2 -j 2 -T 10 -U sync -f "$WORK/upsert_$1.sql" bench 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p'; }
a=$(tps lms)
b=$(tps lms_plain_load)
echo "| pgbench upserts of a learner's score (tps) | $a | $b | $(ratio "$a" "$b") |"
