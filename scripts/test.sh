#!/usr/bin/env bash
# scripts/test.sh: runs every test of lms_visibility against throwaway
# clusters it starts and stops itself, and prints one summary line.
#   pg_regress   sql/ + expected/         exact output: errors, plans, upgrades
#   isolation    specs/ + expected/       two sessions at once (SPEC.md 7)
#   pgTAP        test/*.sql via pg_prove  behaviour, as real SQL roles
#   shell        test/shell/*.sh          hot standby, pg_dump/restore, ...
# Usage: bash scripts/test.sh            (as root on Debian 12)
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
set -e
ensure_packages
build_install
set +e

WORK=$(mktemp -d /tmp/lms_visibility_test.XXXXXX)
chmod 755 "$WORK"
PORT=$(free_port 54321)
trap 'stop_cluster "$WORK/primary"; for d in "$WORK"/*/; do stop_cluster "$d"; done; rm -rf "$WORK"' EXIT
start_cluster "$WORK/primary" "$PORT"
export LMS_TEST_WORK=$WORK

passed=0
failed=0
failures=()
record() {
	if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok   - $1"
	else failed=$((failed + 1)); failures+=("$1"); echo "FAIL - $1"; fi
}

echo "== pg_regress and isolation tests (make installcheck)"
make -s PG_CONFIG="$PGBIN/pg_config" installcheck >"$WORK/installcheck.log" 2>&1
rc=$?
grep -E '^(ok|not ok|test |     )|tests? (passed|failed)|^#' "$WORK/installcheck.log" | sed 's/^/   /'
if [ $rc != 0 ]; then
	[ -f regression.diffs ] && head -150 regression.diffs
	[ -f output_iso/regression.diffs ] && head -150 output_iso/regression.diffs
fi
record "pg_regress + isolation" $rc

echo "== pgTAP tests (pg_prove)"
createdb lms_tap
psql -X -q -d lms_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION lms_visibility;"
pg_prove -d lms_tap --failures test/*.sql
record "pgTAP (pg_prove test/*.sql)" $?

for t in test/shell/*.sh; do
	[ -f "$t" ] || continue
	echo "== $t"
	bash "$t" >"$WORK/shell.log" 2>&1
	rc=$?
	sed 's/^/   /' "$WORK/shell.log" | tail -40
	record "$t" $rc
done

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
