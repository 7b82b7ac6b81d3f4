#!/usr/bin/env bash
# Memory: a backend running 10,000 statements with changing principals (more
# principals than the cache keeps, and store changes in between) does not
# grow: its memory after 10,000 statements is within 10% of after 1,000,
# and the cache stays within its bound of lms.cache_principals entries.
. "$(dirname "$0")/common.sh"
new_db memory_test 2>/dev/null
psql -X -q -o /dev/null -d memory_test <<'SQL'
INSERT INTO lms.users (user_id, tenant_id) SELECT 300000 + i, 1 FROM generate_series(1, 200) i;
INSERT INTO lms.group_roles SELECT 10 + i % 4, 300000 + i, (ARRAY['coach', 'group_admin', 'group_analyst'])[1 + i % 3]
	FROM generate_series(1, 200) i;
SQL
{
	echo "SET lms.cache_principals = 16;"
	for i in $(seq 1 10000); do
		[ $((i % 500)) = 0 ] && echo "UPDATE lms.tenants SET extended_visibility = NOT extended_visibility WHERE tenant_id = 1;"
		echo "SELECT count(*) FROM lms.visible_users($((300001 + i % 200)));"
		[ "$i" = 1000 ] && echo "\\o $LMS_TEST_WORK/mem1000" && echo "SELECT sum(total_bytes) FROM pg_backend_memory_contexts;" && echo "\\o /dev/null"
	done
	echo "\\o $LMS_TEST_WORK/mem10000"
	echo "SELECT sum(total_bytes) FROM pg_backend_memory_contexts;"
	echo "SELECT principals_cached <= 16 FROM lms.cache_stats();"
} | psql -X -q -At -d memory_test -o /dev/null
m1=$(head -1 "$LMS_TEST_WORK/mem1000")
m2=$(head -1 "$LMS_TEST_WORK/mem10000")
echo "# backend memory after 1,000 statements: $m1 bytes; after 10,000: $m2 bytes"
same "no growth across 10,000 statements (within 10%)" "$(awk -v a="$m1" -v b="$m2" 'BEGIN {print (b <= a * 1.10) ? "yes" : "no"}')" yes
same "the cache keeps at most lms.cache_principals principals" "$(sed -n 2p "$LMS_TEST_WORK/mem10000")" t
dropdb memory_test
finish
