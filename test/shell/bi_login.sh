#!/usr/bin/env bash
# The BI path, end to end as the outside analyst's login (the recipe of the
# README's quick start): create a login, bind it, connect with psql and with
# Node's pg driver, export the group progress report as CSV.
. "$(dirname "$0")/common.sh"
if [ ! -d examples/node_modules/pg ]; then
	(cd examples && npm install --no-audit --no-fund --silent >/dev/null 2>&1) || { fail "npm install pg"; finish; exit 1; }
fi
new_db bi_test
psql -X -q -o /dev/null -d bi_test -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS ana_bi" -c "CREATE ROLE ana_bi LOGIN" \
	-c "SELECT lms.bind_role('ana_bi', 105)"
expected=$(psql -X -At -d bi_test -c "SELECT count(*) FROM lms.progress p
	WHERE lms.can_view_stats(105, p.user_id, p.content_id, p.context_group_id)
	  AND p.user_id IN (SELECT m.user_id FROM lms.group_members m WHERE m.group_id IN (SELECT lms._subtree(10)))")
psql -X -q -U ana_bi -d bi_test -c "COPY (SELECT * FROM lms.group_progress_report(10)) TO STDOUT WITH CSV HEADER" \
	>"$LMS_TEST_WORK/export.csv"
same "the CSV export starts with the export columns" "$(head -1 "$LMS_TEST_WORK/export.csv")" \
	"first_name,last_name,email,company,completed_at,started_at,activated_at,expires_at,course_name,last_sign_in_at,viewed_pct,completed_pct,custom_fields,learner_key"
same "and has one line per row the analyst may see" "$(($(wc -l <"$LMS_TEST_WORK/export.csv") - 1))" "$expected"
same "psql as the analyst: the principal is its binding" "$(psql -X -At -U ana_bi -d bi_test -c 'SELECT lms.current_principal()')" 105
same "the analyst cannot read the relationship tables" \
	"$(psql -X -At -U ana_bi -d bi_test -c 'SELECT count(*) FROM lms.group_roles' 2>&1 | grep -c 'permission denied')" 1
out=$(node examples/bi_query.js ana_bi bi_test 2>&1)
echo "# node: $out"
all=$(psql -X -At -d bi_test -c "SELECT count(*) FROM lms.progress p WHERE lms.can_view_stats(105, p.user_id, p.content_id, p.context_group_id)")
users=$(psql -X -At -d bi_test -c "SELECT count(*) FROM lms.visible_users(105)")
same "Node's pg driver as the analyst sees the same" "$out" "principal=105 report_rows=$all users=$users"
dropdb bi_test
psql -X -q -c "DROP ROLE ana_bi"
finish
