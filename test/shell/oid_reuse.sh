#!/usr/bin/env bash
# A binding never outlives its role (SPEC.md 8), tested by forcing a new role
# to receive the OID of a dropped bound (and of a dropped trusted) role:
# pg_resetwal -o sets the next OID of a cluster of this test's own.
. "$(dirname "$0")/common.sh"
DIR="$LMS_TEST_WORK/oid_reuse"
start_cluster "$DIR" "$(free_port $((PGPORT + 7)))"
trap 'stop_cluster "$DIR"' EXIT
new_db oid_test
q() { psql -X -q -At -d oid_test "$@"; }
q -c "CREATE ROLE victim LOGIN" -c "SELECT lms.bind_role('victim', 101)" \
	-c "CREATE ROLE victim_app LOGIN" -c "SELECT lms.trust_role('victim_app')" -c "GRANT SELECT ON lms.progress TO victim_app"
bound_oid=$(q -c "SELECT 'victim'::regrole::oid")
trusted_oid=$(q -c "SELECT 'victim_app'::regrole::oid")
same "the bound role sees the platform admin's rows" "$(q -c 'SET ROLE victim' -c 'SELECT count(*) FROM lms.progress')" 16
same "the trusted role acts for a principal" \
	"$(q -c 'SET ROLE victim_app' -c 'BEGIN' -c 'SET LOCAL lms.principal = 101' -c 'SELECT count(*) FROM lms.progress' -c 'COMMIT' | sed -n 1p)" 16
same "DROP ROLE refuses a bound role" \
	"$(q -c 'DROP ROLE victim' 2>&1 | grep -c 'cannot be dropped because some objects depend on it')" 1
same "and a trusted one" \
	"$(q -c 'DROP ROLE victim_app' 2>&1 | grep -c 'cannot be dropped because some objects depend on it')" 1
q -c "DROP OWNED BY victim, victim_app" -c "DROP ROLE victim" -c "DROP ROLE victim_app"
# a dead row still holds its OID until VACUUM removes it
q -c "VACUUM pg_catalog.pg_authid"
same "DROP OWNED BY and DROP ROLE leave the rows of the bindings" \
	"$(q -c "SELECT count(*) FROM lms.role_bindings WHERE role::oid = $bound_oid")$(q -c "SELECT count(*) FROM lms.trusted_roles WHERE role::oid = $trusted_oid")" 11

# reuse OID NAME: a new role NAME with the OID of a dropped role.  The next
# OID is set a little below it (the server may take one at startup), and
# roles are created until one receives it.
reuse() {
	local i oid=0
	stop_cluster "$DIR"
	as_postgres "$PGBIN/pg_resetwal" -o "$(($1 - 3))" "$DIR/data" >/dev/null
	pg_start "$DIR"
	for i in $(seq 10); do
		oid=$(q -c "CREATE ROLE probe_$2_$i" -c "SELECT 'probe_$2_$i'::regrole::oid")
		[ "$oid" -ge "$1" ] && break
	done
	q -c "ALTER ROLE probe_$2_$i RENAME TO $2" -c "ALTER ROLE $2 LOGIN" -c "GRANT SELECT ON lms.progress TO $2"
	same "$2 received OID $1" "$(q -c "SELECT '$2'::regrole::oid")" "$1"
}
reuse "$bound_oid" newcomer
same "a role with the dropped bound role's OID acts for nobody" "$(q -c 'SET ROLE newcomer' -c 'SELECT lms.current_principal() IS NULL')" t
same "and sees no row" "$(q -c 'SET ROLE newcomer' -c 'SELECT count(*) FROM lms.progress')" 0
reuse "$trusted_oid" newcomer_app
same "a role with the dropped trusted role's OID may not act for anyone" \
	"$(q -c 'SET ROLE newcomer_app' -c 'BEGIN' -c 'SET LOCAL lms.principal = 101' -c 'SELECT count(*) FROM lms.progress' 2>&1 | grep -c 'is not allowed to set')" 1
q -c "CREATE ROLE victim LOGIN" -c "GRANT SELECT ON lms.progress TO victim"
same "a new role of the dropped role's name inherits nothing either" "$(q -c 'SET ROLE victim' -c 'SELECT count(*) FROM lms.progress')" 0
q -c "SELECT lms.bind_role('newcomer', 104)"
same "bound anew, the role acts for its new principal" "$(q -c 'SET ROLE newcomer' -c 'SELECT lms.current_principal()')" 104
finish
