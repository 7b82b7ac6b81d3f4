#!/usr/bin/env bash
# pg_dump + pg_restore into a fresh database keeps every relationship and
# applies the same rules.
. "$(dirname "$0")/common.sh"
new_db dump_src
psql -X -q -d dump_src -c "SELECT lms.trust_role('s_admin')" -o /dev/null
as_postgres "$PGBIN/pg_dump" -h "$PGHOST" -p "$PGPORT" -U postgres -Fc -f "$LMS_TEST_WORK/pg/dump.custom" dump_src 2>/dev/null ||
	pg_dump -Fc -f "$LMS_TEST_WORK/dump.custom" dump_src
DUMP=$LMS_TEST_WORK/pg/dump.custom
[ -f "$DUMP" ] || DUMP=$LMS_TEST_WORK/dump.custom
dropdb --if-exists dump_dst
createdb dump_dst
pg_restore -d dump_dst "$DUMP" && pass "pg_restore succeeded"
for t in tenants users groups group_connections group_members tenant_roles group_roles managers content \
	content_coauthors path_steps catalog_entries group_enrollments session_instructors slot_trainers \
	slot_registrations enrollments progress role_bindings trusted_roles; do
	q="SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM lms.$t t"
	same "lms.$t survives dump and restore" "$(psql -X -At -d dump_dst -c "$q")" "$(psql -X -At -d dump_src -c "$q")"
done
for r in $READERS; do
	same "$r sees the same rows after restore" "$(rows_seen dump_dst "$r")" "$(rows_seen dump_src "$r")"
done
dropdb dump_src
dropdb dump_dst
finish
