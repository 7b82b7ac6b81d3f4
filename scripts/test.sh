#!/usr/bin/env bash
# scripts/test.sh: runs every test of lms_visibility against throwaway
# clusters it starts and stops itself, and prints one summary line.
#   pg_regress   sql/ + expected/         exact output: errors, plans, upgrades
#   isolation    specs/ + expected/       two sessions at once (SPEC.md 7)
#   pgTAP        test/*.sql via pg_prove  behaviour, as real SQL roles
#   shell        test/shell/*.sh          hot standby, pg_dump/restore, ...
# Then the whole suite once more with the extension built with AddressSanitizer
# and UndefinedBehaviorSanitizer and the ASan runtime preloaded into every
# server it starts (LMS_SANITIZE=1): a finding aborts the backend and is
# reported, and the run fails.  The normal build is installed again after.
# Usage: bash scripts/test.sh            (as root on Debian 12)
#        LMS_SANITIZE=1 bash scripts/test.sh   (the sanitizer pass alone)
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
set -e
# pgbouncer for test/shell/pgbouncer.sh; debhelper, dpkg-dev and
# postgresql-server-dev-all (pg_buildext) for test/shell/package.sh
ensure_packages pgbouncer debhelper dpkg-dev postgresql-server-dev-all
build_install
echo "   (built and installed at ${SECONDS}s)"
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
# record NAME RC [PASSED FAILED]: a suite's result, counted in tests
record() {
	local p=${3:-} f=${4:-}
	if [ -z "$p" ]; then if [ "$2" = 0 ]; then p=1 f=0; else p=0 f=1; fi; fi
	[ "$2" != 0 ] && [ "$f" = 0 ] && f=1
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$2" = 0 ]; then echo "ok   - $1 ($p passed, at ${SECONDS}s)"
	else failures+=("$1"); echo "FAIL - $1 ($p passed, $f failed, at ${SECONDS}s)"; fi
}

echo "== pg_regress and isolation tests (make installcheck)"
make -s PG_CONFIG="$PGBIN/pg_config" installcheck >"$WORK/installcheck.log" 2>&1
rc=$?
grep -E '^(ok|not ok|test |     )|tests? (passed|failed)|^#' "$WORK/installcheck.log" | sed 's/^/   /'
if [ $rc != 0 ]; then
	[ -f regression.diffs ] && head -150 regression.diffs
	[ -f output_iso/regression.diffs ] && head -150 output_iso/regression.diffs
fi
record "pg_regress + isolation" $rc \
	"$(grep -cE '^(ok|test) .*(\.\.\. ok|ok +[0-9]+ ms)' "$WORK/installcheck.log")" \
	"$(grep -cE 'FAILED|failed \(' "$WORK/installcheck.log")"

echo "== pgTAP tests (pg_prove)"
createdb lms_tap
psql -X -q -d lms_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION lms_visibility;"
pg_prove -d lms_tap --failures test/*.sql 2>&1 | tee "$WORK/prove.log"
rc=${PIPESTATUS[0]}
tap_total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$WORK/prove.log")
tap_failed=$(grep -oE 'Failed [0-9]+/' "$WORK/prove.log" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}')
record "pgTAP (pg_prove test/*.sql)" "$rc" "$((${tap_total:-0} - tap_failed))" "$tap_failed"

for t in test/shell/standby.sh test/shell/dump_restore.sh test/shell/concurrency.sh test/shell/memory.sh test/shell/pgbouncer.sh test/shell/bi_login.sh test/shell/package.sh; do
	[ -f "$t" ] || continue
	# packaging builds and installs the normal build: not a memory check
	[ "${LMS_SANITIZE:-0}" = 1 ] && [ "$t" = test/shell/package.sh ] && continue
	echo "== $t"
	bash "$t" >"$WORK/shell.log" 2>&1
	rc=$?
	sed 's/^/   /' "$WORK/shell.log" | tail -40
	record "$t" $rc "$(grep -c '^ok ' "$WORK/shell.log")" "$(grep -c '^not ok ' "$WORK/shell.log")"
done

if [ "${LMS_SANITIZE:-0}" = 1 ]; then
	echo "== sanitizer reports"
	stop_cluster "$WORK/primary"
	for d in "$WORK"/*/; do stop_cluster "$d"; done
	sanitizer_reports "$WORK" "$WORK"/*/ | sed 's/^/   /' | tee "$WORK/sanitizer.log"
	found=$(wc -l <"$WORK/sanitizer.log")
	record "no ASan/UBSan report and no crashed backend in any cluster" "$([ "$found" = 0 ] && echo 0 || echo 1)"
else
	echo
	echo "== the whole suite again, with AddressSanitizer and UndefinedBehaviorSanitizer"
	LMS_SANITIZE=1 bash scripts/test.sh >"$WORK/sanitize.log" 2>&1
	rc=$?
	grep -E '^(ok|FAIL) ' "$WORK/sanitize.log" | sed 's/^/   /'
	[ $rc != 0 ] && grep -vE '^(ok|FAIL) ' "$WORK/sanitize.log" | tail -60 | sed 's/^/   | /'
	read -r sp sf < <(sed -n 's/^tests: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$WORK/sanitize.log")
	record "the suite under ASan + UBSan" $rc "${sp:-0}" "${sf:-1}"
	build_install >/dev/null
fi

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
