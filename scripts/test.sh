#!/usr/bin/env bash
# scripts/test.sh: runs every test of lms_visibility against throwaway
# clusters it starts and stops itself, on every major this machine can
# build, with one line per suite and major and one summary line.
#   pg_regress   sql/ + expected/         exact output: errors, plans, upgrades
#   isolation    specs/ + expected/       two sessions at once (consistency)
#   TAP          t/*.pl                   clusters of their own (PostgreSQL::Test::Cluster)
#   pgTAP        test/*.sql via pg_prove  behaviour, as real SQL roles
#   shell        test/shell/package.sh    the Debian package (dpkg needs root; 15 only)
#   layout       scripts/layout.sh        no circle among the C files' objects
# Each pass runs the suites against servers that preload the library (the
# recommended set-up, with the server's shared cache), then sql/late_load,
# the isolation specs and the hot standby test against one that does not.
# The majors: Debian's PostgreSQL 15, then PostgreSQL 18, built once per
# machine from the vendored source into /usr/local/pgsql-18 (without that
# source, a "skip" line says so; a failed build fails).  Last, on 15, the SQL
# suites once more (pg_regress, isolation, pgTAP) and the hot standby test
# (t/009_standby.pl) against servers running under valgrind memcheck: any
# report with a frame in this extension, or a crashed backend, fails the run.
# Usage: bash scripts/test.sh            (as root on Debian 12)
#        LMS_PG_MAJOR=18 LMS_ONE_MAJOR=1 bash scripts/test.sh   (one major alone)
#        LMS_MEMCHECK=1 bash scripts/test.sh   (the valgrind pass alone)
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
set -e
# pgbouncer for t/005_pgbouncer.pl and t/008_bi_drivers.pl; the JDBC and ODBC drivers for
# t/008_bi_drivers.pl; debhelper, dpkg-dev and
# postgresql-server-dev-all (pg_buildext) for test/shell/package.sh
ensure_packages pgbouncer debhelper dpkg-dev postgresql-server-dev-all valgrind \
	libpostgresql-jdbc-java odbc-postgresql unixodbc python3-pyodbc libipc-run-perl
# the pass of every major but the first, and the valgrind pass, run this
# script again with LMS_ONE_MAJOR=1: each line of theirs is one suite
NESTED=${LMS_ONE_MAJOR:-0}
[ "${LMS_MEMCHECK:-0}" = 1 ] && NESTED=1
[ "${LMS_MEMCHECK:-0}" = 1 ] || build_install	# (PostgreSQL 18 first, if it is the major)
# Node's pg driver, for t/005_pgbouncer.pl and
if [ "${LMS_MEMCHECK:-0}" != 1 ] && [ ! -d examples/node_modules/pg ]; then
	(cd examples && npm install --no-audit --no-fund --silent >/dev/null 2>&1) || echo "npm install in examples/ failed" >&2
fi
[ "${LMS_MEMCHECK:-0}" = 1 ] || echo "   (built and installed at ${SECONDS}s)"
set +e
# Citus for t/011_citus.pl, built from the vendored source once per
# machine; without that source the test is skipped and says why
if [ "${LMS_MEMCHECK:-0}" != 1 ]; then
	ensure_citus
	case $? in
		0) ;;
		1) export LMS_CITUS_MISSING=$CITUS_MISSING ;;
		*) echo "$CITUS_MISSING" >&2 ;;
	esac
fi

WORK=$(mktemp -d /tmp/lms_visibility_test.XXXXXX)
chmod 755 "$WORK"
PORT=$(free_port 54321)
trap 'stop_cluster "$WORK/primary"; for d in "$WORK"/*/; do stop_cluster "$d"; done; rm -rf "$WORK"' EXIT
# the suites run with the library preloaded, the recommended set-up (the
# server's shared cache), and the TAP tests' clusters too (TEMP_CONFIG);
# then, against a server without it, what must hold there as well
PRELOAD="shared_preload_libraries = 'lms_visibility'"
# every entry shared, however small: the sample platform's are
printf '%s\nlms.shared_cache_min_ids = 0\n' "$PRELOAD" >"$WORK/preload.conf"
chmod 644 "$WORK/preload.conf"
if [ "${LMS_MEMCHECK:-0}" = 1 ]; then
	start_cluster "$WORK/primary" "$PORT" "jit = off
$(cat "$WORK/preload.conf")"
	TAP_VARS=(-S memcheck=1)	# test/06 then checks a sample of its principals
else
	start_cluster "$WORK/primary" "$PORT" "$(cat "$WORK/preload.conf")"
	TAP_VARS=()
fi
export LMS_TEST_WORK=$WORK

passed=0
failed=0
failures=()
# record NAME RC [PASSED FAILED]: a suite's result, counted in tests, on a
# line that names the major (and the valgrind pass)
LABEL="PostgreSQL $LMS_PG_MAJOR"
[ "${LMS_MEMCHECK:-0}" = 1 ] && LABEL="$LABEL under valgrind"
record() {
	local p=${3:-} f=${4:-}
	if [ -z "$p" ]; then if [ "$2" = 0 ]; then p=1 f=0; else p=0 f=1; fi; fi
	[ "$2" != 0 ] && [ "$f" = 0 ] && f=1
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$2" = 0 ]; then echo "ok   - $LABEL: $1 ($p passed, at ${SECONDS}s)"
	else failures+=("$LABEL: $1"); echo "FAIL - $LABEL: $1 ($p passed, $f failed, at ${SECONDS}s)"; fi
}
# nested NAME ENV...: this script again with ENV (one major, or the
# valgrind pass); its suites' lines are this run's, and a run that ends
# without its summary line is one failure more
nested() {
	local name=$1 log="$WORK/nested.$RANDOM.log" rc mp mf
	shift
	echo
	echo "== $name"
	env "$@" LMS_ONE_MAJOR=1 bash scripts/test.sh >"$log" 2>&1
	rc=$?
	grep -E '^(ok|FAIL|skip) |^   \(' "$log"
	[ $rc != 0 ] && grep -vE '^(ok|FAIL|skip) ' "$log" | tail -150 | sed 's/^/   | /'
	while read -r line; do failures+=("${line#FAIL - }"); done < <(grep -E '^FAIL - ' "$log" | sed 's/ ([0-9]* passed.*//')
	if read -r mp mf < <(sed -n 's/^tests: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log"); then
		passed=$((passed + mp))
		failed=$((failed + mf))
		[ $rc != 0 ] && [ "$mf" = 0 ] && { failed=$((failed + 1)); failures+=("$name: exited $rc"); }
	else
		failed=$((failed + 1))
		failures+=("$name: ended without its summary line (exit $rc)")
		echo "FAIL - $name: ended without its summary line (exit $rc)"
	fi
}

# installcheck_counts LOG: the tests make installcheck passed, and failed
installcheck_counts() {
	echo "$(($(grep -cE '^(ok|test) .*(\.\.\. ok|ok +[0-9]+ ms)|^ok [0-9]+ +- ' "$1") + \
		$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$1" | awk '{s += $1} END {print s + 0}')))" \
		"$(grep -cE 'FAILED|failed \(|^Result: FAIL|^not ok [0-9]+ +- ' "$1")"
}

# failed_in LOG: which tests of make installcheck failed, and the first
# failed check of each TAP test (or how it ended), on one line that the
# summary at the very end repeats: a CI log shown in part keeps its end
failed_in() {
	local why t f first
	why=$(sed -nE 's/^not ok [0-9]+ +- ([a-z_0-9]+).*/\1/p; s/^test ([a-z_0-9]+) +\.\.\. FAILED.*/\1/p' "$1" | tr '\n' ' ')
	for t in $(sed -nE 's#^(t/[0-9a-z_]+)\.pl .*(Wstat|Failed|Dubious).*#\1#p' "$1" | sort -u); do
		f="$WORK/tree/tmp_check/log/regress_log_${t#t/}"
		first=$(grep -m1 -oE 'not ok [0-9]+ - .*' "$f" 2>/dev/null | cut -c1-120)
		# the soak's checker (t/LmsSoak.pm): the first reader with a wrong
		# answer, and that answer
		first+=$(grep -m1 -oE '[^/]+\.out: .* [1-9][0-9]* wrong.*' "$f" 2>/dev/null | sed 's/^/ /' | cut -c1-160)
		first+=$(grep -m1 -oE 'wrong: p=.*' "$f" 2>/dev/null | sed 's/^/ /' | cut -c1-120)
		[ -n "$first" ] || first=$(grep -m1 -oE "^$t\\.pl +\\(Wstat: [0-9]+ \\(exited [0-9]+\\)" "$1" | sed 's/.*(Wstat/(Wstat/')
		why+="$t.pl: ${first:-failed}; "
	done
	[ -n "$why" ] && echo " [${why% }]"
}

# the layout: no C file needs one that needs it (from the objects just built)
if [ "${LMS_MEMCHECK:-0}" != 1 ]; then
	echo "== scripts/layout.sh"
	bash scripts/layout.sh >"$WORK/layout.log" 2>&1
	rc=$?
	grep -E '^(circle|[0-9]+ circle)' "$WORK/layout.log" | sed 's/^/   /'
	record "no circle among the C files (scripts/layout.sh)" $rc
fi

# pg_regress + isolation and pgTAP use different databases and roles: under
# valgrind they run side by side (two cores), otherwise one after the other
echo "== pg_regress and isolation tests (make installcheck), pgTAP tests (pg_prove)"
# make installcheck runs pg_regress and the isolation specs against the
# primary, and the TAP tests (which start clusters of their own, and so run
# as postgres) in a copy of the tree postgres owns; under valgrind, the TAP
# tests are left out (TAP_TESTS=)
installcheck() {
	local tap=()
	[ "${LMS_MEMCHECK:-0}" = 1 ] && tap=(TAP_TESTS= ISOLATION=)
	rm -rf "$WORK/tree"
	mkdir -p "$WORK/tree"
	cp -r Makefile lms_visibility.control lms_visibility.sql lms_visibility--*.sql sql expected specs t test sample bench examples "$WORK/tree/"
	chown -R postgres:postgres "$WORK/tree"
	# LMS_TEST_ALL: a TAP test whose tools are missing fails rather than skips
	runuser -u postgres -- env PATH="$PGBIN:$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" LMS_TEST_ALL=1 \
		LMS_CITUS_MISSING="${LMS_CITUS_MISSING:-}" TEMP_CONFIG="$WORK/preload.conf" \
		make -s -C "$WORK/tree" PG_CONFIG="$PGBIN/pg_config" REGRESS='$(REGRESS_PRELOADED)' "${tap[@]}" \
		installcheck >"$WORK/installcheck.log" 2>&1
}
# pgTAP's databases, made before make installcheck starts: under valgrind
# the two run side by side, and CREATE EXTENSION in two databases at once
# races on the cluster's role lms_writer (one of them fails whole)
tap_setup_rc=0
for db in lms_tap lms_tap2; do
	if ! createdb $db >"$WORK/tapdb.log" 2>&1 ||
		! psql -X -q -v ON_ERROR_STOP=1 -d $db -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION lms_visibility" >>"$WORK/tapdb.log" 2>&1; then
		echo "   the pgTAP database $db could not be made:"
		sed 's/^/   | /' "$WORK/tapdb.log"
		tap_setup_rc=1
	fi
done
if [ "${LMS_MEMCHECK:-0}" = 1 ]; then installcheck & installcheck_pid=$!; else installcheck; rc=$?; fi
# pgTAP; under valgrind in two databases side by side, split so that the
# halves take about as long (files that create the same roles stay together)
prove() { pg_prove -d "$1" "${TAP_VARS[@]}" --timer --failures "${@:2}"; }
if [ "${LMS_MEMCHECK:-0}" = 1 ]; then
	# the second half named, the first every other file (a new one too)
	half2=(test/06_*.sql test/11_*.sql test/16_*.sql test/1[7-9]_*.sql test/2[01]_*.sql)
	half1=()
	for f in test/*.sql; do [[ " ${half2[*]} " == *" $f "* ]] || half1+=("$f"); done
	prove lms_tap2 "${half2[@]}" >"$WORK/prove2.log" 2>&1 &
	prove2_pid=$!
	prove lms_tap "${half1[@]}" >"$WORK/prove.log" 2>&1
	tap_rc=$?
	wait $prove2_pid || tap_rc=1
	cat "$WORK/prove2.log" >>"$WORK/prove.log"
	wait $installcheck_pid
	rc=$?
	# the isolation specs count their reader's rebuilds: alone, once the
	# other suites are done, whose invalidation messages (in other
	# databases, on a shared queue) could overflow a reader slowed down by
	# valgrind and reset its caches (a flush of everything)
	runuser -u postgres -- env PATH="$PGBIN:$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
		make -s -C "$WORK/tree" PG_CONFIG="$PGBIN/pg_config" TAP_TESTS= REGRESS= installcheck >>"$WORK/installcheck.log" 2>&1 || rc=1
else
	prove lms_tap test/*.sql >"$WORK/prove.log" 2>&1
	tap_rc=$?
fi

grep -E '^(ok|not ok|test |     )|tests? (passed|failed)|^#|^t/|^Files=|^Result' "$WORK/installcheck.log" | sed 's/^/   /'
if [ $rc != 0 ]; then
	[ -f "$WORK/tree/regression.diffs" ] && head -150 "$WORK/tree/regression.diffs"
	[ -f "$WORK/tree/output_iso/regression.diffs" ] && head -150 "$WORK/tree/output_iso/regression.diffs"
	# a TAP test that failed: its failed checks, then the end of its log,
	# where a test that died says why (prove's summary names it)
	for t in $(sed -nE 's#^(t/[0-9a-z_]+)\.pl .*(Wstat|Failed|Dubious).*#\1#p' "$WORK/installcheck.log" | sort -u); do
		f="$WORK/tree/tmp_check/log/regress_log_${t#t/}"
		[ -f "$f" ] || continue
		echo "   the end of $t.pl's log:"
		{ grep -E 'not ok|Failed test' "$f" | head -10; grep -E ' [1-9][0-9]* wrong|wrong: p=' "$f" | head -20; tail -25 "$f"; } |
			sed 's/^/   | /'
	done
fi
record "pg_regress + isolation + TAP (make installcheck)$(failed_in "$WORK/installcheck.log")" $rc \
	$(installcheck_counts "$WORK/installcheck.log")

cat "$WORK/prove.log"
[ "$tap_setup_rc" = 0 ] || tap_rc=1
tap_total=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$WORK/prove.log" | awk '{s += $1} END {print s + 0}')
tap_failed=$(grep -oE 'Failed [0-9]+/' "$WORK/prove.log" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}')
tap_why=$(sed -nE 's#^(test/[0-9a-z_]+\.sql) +\(Wstat.*#\1#p' "$WORK/prove.log" | sort -u | tr '\n' ' ')
record "pgTAP (pg_prove test/*.sql)${tap_why:+ [${tap_why% }]}" "$tap_rc" "$((${tap_total:-0} - tap_failed))" "$tap_failed"

# without preloading: the settings given before the library loads
# (REGRESS_LATE), and, but under valgrind, the isolation specs and the hot
# standby on the per-backend cache alone
echo "== without preloading (the per-backend cache alone)"
stop_cluster "$WORK/primary"
sed -i "/^$PRELOAD\$/d" "$WORK/primary/data/postgresql.conf"
pg_start "$WORK/primary"
late=(TAP_TESTS= ISOLATION=)
[ "${LMS_MEMCHECK:-0}" = 1 ] || late=(PROVE_TESTS=t/009_standby.pl)
runuser -u postgres -- env PATH="$PGBIN:$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" \
	make -s -C "$WORK/tree" PG_CONFIG="$PGBIN/pg_config" REGRESS='$(REGRESS_LATE)' "${late[@]}" \
	installcheck >"$WORK/late.log" 2>&1
rc=$?
grep -E '^(ok|not ok|test |     )|tests? (passed|failed)|^t/|^Files=|^Result' "$WORK/late.log" | sed 's/^/   /'
if [ $rc != 0 ]; then
	[ -f "$WORK/tree/regression.diffs" ] && head -100 "$WORK/tree/regression.diffs"
	[ -f "$WORK/tree/output_iso/regression.diffs" ] && head -100 "$WORK/tree/output_iso/regression.diffs"
fi
if [ "${LMS_MEMCHECK:-0}" = 1 ]; then what="pg_regress"; else what="pg_regress + isolation + t/009_standby.pl"; fi
record "$what without preloading" $rc $(installcheck_counts "$WORK/late.log")

# under valgrind, of the TAP tests only the hot standby (the invalidations
# replayed from WAL, a path of its own), its servers' valgrind logs in
# $WORK/standby: the others time pgbench runs, measure memory, or drive
# clients and packages through the same SQL
if [ "${LMS_MEMCHECK:-0}" = 1 ]; then
	echo "== t/009_standby.pl"
	mkdir -p "$WORK/standby"
	chown postgres:postgres "$WORK/standby"
	runuser -u postgres -- env PATH="$PGBIN:$PATH" LMS_MEMCHECK=1 LMS_MEMCHECK_DIR="$WORK/standby" \
		make -s -C "$WORK/tree" PG_CONFIG="$PGBIN/pg_config" REGRESS= ISOLATION= PROVE_TESTS=t/009_standby.pl \
		installcheck >"$WORK/standby.log" 2>&1
	rc=$?
	sed 's/^/   /' "$WORK/standby.log" | tail -5
	[ $rc != 0 ] && grep -E 'not ok|Failed test' "$WORK"/tree/tmp_check/log/regress_log_009_standby | head -20
	record "t/009_standby.pl" $rc \
		"$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$WORK/standby.log" | awk '{s += $1} END {print s + 0}')" \
		"$(grep -oE 'Failed [0-9]+/' "$WORK/standby.log" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}')"
	SHELL_TESTS=
elif [ "$LMS_PG_MAJOR" = 15 ]; then
	SHELL_TESTS="test/shell/package.sh"	# Debian's server only
else
	SHELL_TESTS=
fi
for t in $SHELL_TESTS; do
	[ -f "$t" ] || continue
	echo "== $t"
	bash "$t" >"$WORK/shell.log" 2>&1
	rc=$?
	sed 's/^/   /' "$WORK/shell.log" | tail -40
	if [ $rc = 0 ] && grep -q '^# SKIP' "$WORK/shell.log"; then
		echo "skip - $t: $(sed -n 's/^# SKIP //p' "$WORK/shell.log" | head -1)"
		continue
	fi
	record "$t" $rc "$(grep -c '^ok ' "$WORK/shell.log")" "$(grep -c '^not ok ' "$WORK/shell.log")"
done

if [ "${LMS_MEMCHECK:-0}" = 1 ]; then
	echo "== valgrind memcheck reports involving lms_visibility"
	stop_cluster "$WORK/primary"
	memcheck_reports "$WORK/primary" "$WORK/standby" | sed 's/^/   /' | tee "$WORK/memcheck.log"
	echo "   ($(ls "$WORK"/primary/valgrind.*.log "$WORK"/standby/valgrind.*.log 2>/dev/null | wc -l) processes checked)"
	record "no valgrind report in lms_visibility and no crashed backend" "$([ -s "$WORK/memcheck.log" ] && echo 1 || echo 0)"
elif [ "$NESTED" != 1 ]; then
	# the other majors, then the valgrind pass (on 15 alone), each a run of
	# this script of its own
	stop_cluster "$WORK/primary"
	# without the vendored source there is no 18 to test: said, not passed;
	# a build that fails is a failure
	ensure_pg18
	case $? in
		0) nested "PostgreSQL 18" LMS_PG_MAJOR=18 ;;
		1) echo "skip - PostgreSQL 18: every suite skipped: $PG18_MISSING" ;;
		*) echo "FAIL - PostgreSQL 18: $PG18_MISSING"
			failed=$((failed + 1))
			failures+=("PostgreSQL 18: $PG18_MISSING") ;;
	esac
	nested "PostgreSQL 15 under valgrind memcheck: the SQL suites and the standby" LMS_PG_MAJOR=15 LMS_MEMCHECK=1
fi

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
