#!/usr/bin/env bash
# scripts/lib.sh: shared helpers of the project's commands.
#   ensure_packages   install the server headers and pgTAP from Debian (idempotent)
#   build_install     build the extension warning-free and install it
#   start_cluster DIR PORT   initdb + start a throwaway cluster in DIR on PORT
#   pg_start DIR             start the server of DIR (under valgrind
#                            when LMS_MEMCHECK=1)
#   stop_cluster DIR         stop it
#   memcheck_reports DIR...  what valgrind found of this extension there
#   bench_work NAME, bench_cluster PORTBASE [conf], bench_tenant USERS ROWS
#                    a benchmark's setup
# PostgreSQL refuses to run as root: initdb/pg_ctl run as postgres, in a temp
# dir it owns, on a unix socket in that dir; clients run as root with
# PGHOST/PGPORT/PGUSER set.

# LMS_PG_MAJOR picks the server: 15 is Debian's, 18 the one ensure_pg18
# builds from the vendored source into /usr/local/pgsql-18
LMS_PG_MAJOR=${LMS_PG_MAJOR:-15}
case $LMS_PG_MAJOR in
	15) PGBIN=/usr/lib/postgresql/15/bin ;;
	*) PGBIN=/usr/local/pgsql-$LMS_PG_MAJOR/bin ;;
esac
export LMS_PG_MAJOR PATH="$PGBIN:$PATH"

as_postgres() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# ensure_packages [PACKAGE...]: the server headers, pgTAP and pg_prove, and
# any further Debian packages named; apt-get update runs first when anything
# is missing.
ensure_packages() {
	local missing=() p
	for p in postgresql-server-dev-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "== installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# build_install: the extension built for the server of LMS_PG_MAJOR (18
# is built first if it is not there) and installed into it
build_install() {
	if [ "$LMS_PG_MAJOR" != 15 ] && ! ensure_pg18; then
		echo "${PG18_MISSING:-PostgreSQL $LMS_PG_MAJOR is not here}" >&2
		return 1
	fi
	echo "== building and installing lms_visibility"
	make -s PG_CONFIG="$PGBIN/pg_config" clean >/dev/null
	make -s PG_CONFIG="$PGBIN/pg_config" 2>&1 | grep -v '^/usr/bin/clang' || true
	test -f lms_visibility.so
	make -s PG_CONFIG="$PGBIN/pg_config" install >/dev/null
}

# pg_start DIR: start the server of DIR/data, logging to DIR/server.log.
# LMS_MEMCHECK=1: under valgrind memcheck instead, one log per process in
# DIR/valgrind.PID.log (ASan is no option with Debian's server: preloading
# its runtime deadlocks in libgpg-error's constructor, before main)
pg_start() {
	local dir=$1 i
	if [ "${LMS_MEMCHECK:-0}" != 1 ]; then
		as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
		return
	fi
	as_postgres sh -c "exec valgrind --quiet --leak-check=no --num-callers=40 --log-file='$dir/valgrind.%p.log' \
		'$PGBIN/postgres' -D '$dir/data' >>'$dir/server.log' 2>&1 </dev/null &"
	for i in $(seq 240); do
		as_postgres "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 &&
			"$PGBIN/pg_isready" -q -h "$dir" -p "$(sed -n 's/^port = //p' "$dir/data/postgresql.conf" | tail -1)" && return 0
		sleep 0.5
	done
	echo "the server of $dir did not start under valgrind" >&2
	return 1
}

# memcheck_reports DIR...: valgrind's reports that involve this extension
# (a frame in lms_visibility.so), each with its first frames (a report that
# comes once in several runs must be readable from the CI log alone), and
# crashed backends.  The rest is PostgreSQL's own: Debian's server is not
# built with USE_VALGRIND, so memcheck flags e.g. the padding bytes of the
# relcache init file.
memcheck_reports() {
	local d
	for d in "$@"; do
		for f in "$d"/valgrind.*.log; do
			[ -f "$f" ] || continue
			# a report is ours when one of its first four frames, after
			# those in libc and the dynamic loader, is in lms_visibility.so:
			# our hook is deeper in the stack of every executor start.  A
			# report under ReceiveSharedInvalidMessages, before any frame of
			# ours, is PostgreSQL reading the invalidation queue: other
			# processes write it, which valgrind cannot follow, so the bytes
			# this process last left undefined in a slot (the padding of a
			# shorter message) seem to be read again (with or without us:
			# the same report comes under LockRelationOid).  Its first 16
			# frames are printed
			awk -v f="$f" '
				function done() { if (ours) printf "%s: %s\n%s", f, first, frames }
				/^==[0-9]+== [A-Z]/ { done(); first = $0; n = 0; k = 0; ours = 0; sinval = 0; frames = ""; next }
				/^==[0-9]+==    (at|by) / {
					if (++k <= 16) frames = frames "    " $0 "\n"
					if ($0 ~ /ReceiveSharedInvalidMessages/ && !ours) sinval = 1
					if ($0 ~ /\((in )?\/(usr\/)?lib(64)?\/x86_64-linux-gnu\/(libc|ld-linux)|\((strcmp|strlen|memcpy|memmove|memset|dl-|strncmp)[^)]*\)/) next
					if (++n <= 4 && !sinval && $0 ~ /lms_visibility|vis_[a-z_]*\.c/) ours = 1
				}
				END { done() }' "$f"
		done
		[ -f "$d/server.log" ] && grep -H -E 'terminated by signal|was terminated by exception' "$d/server.log"
	done
	return 0
}

# start_cluster DIR PORT [extra postgresql.conf lines]
start_cluster() {
	local dir=$1 port=$2 extra=${3:-}
	mkdir -p "$dir"
	chown postgres:postgres "$dir"
	chmod 700 "$dir"
	as_postgres "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
	cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = replica
max_wal_senders = 4
hot_standby = on
shared_buffers = 256MB
max_connections = 100
log_min_messages = warning
$extra
CONF
	echo "host replication postgres 127.0.0.1/32 trust" >>"$dir/data/pg_hba.conf"
	pg_start "$dir"
	export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

stop_cluster() {
	local dir=$1
	[ -d "$dir/data" ] && as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

# bench_work NAME: what a benchmark needs before its cluster: the packages,
# this tree built and installed, and a scratch directory in WORK
bench_work() {
	ensure_packages
	build_install
	WORK=$(mktemp -d "/tmp/lms_$1.XXXXXX")
	chmod 755 "$WORK"
}

# bench_cluster PORTBASE [extra postgresql.conf lines]: a benchmark's cluster
# in WORK/pg and its database bench (set the trap that stops it first); the
# library preloaded, as production should run it, unless LMS_PRELOAD=0
bench_cluster() {
	local preload=
	[ "${LMS_PRELOAD:-1}" = 1 ] && preload="shared_preload_libraries = 'lms_visibility'"
	PORT=$(free_port "$1")
	start_cluster "$WORK/pg" "$PORT" "work_mem = 64MB
$preload
${2:-}"
	createdb bench
	export PGDATABASE=bench
}

# bench_tenant USERS ROWS: the extension and bench/generate.sql's tenant of
# USERS users and about ROWS progress rows, in the benchmark's database
bench_tenant() {
	psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -c "CREATE EXTENSION lms_visibility" \
		-v users="$1" -v rows="$2" -f bench/generate.sql
}

# free_port BASE: the first port from BASE on that nothing listens on
free_port() {
	local p=$1
	while (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
	echo $p
}

# ensure_citus: Citus for the server, built from the vendored source (13.2.2
# for 15, 14.0.1 for 16 to 18) and installed when citus.so is not installed
# yet; later runs on the machine skip the build.  Returns 1 with
# CITUS_MISSING set when there is neither, 2 when the build fails.
ensure_citus() {
	local src version=14.0.1 b=/var/cache/lms_visibility/citus-$LMS_PG_MAJOR
	[ -f "$("$PGBIN/pg_config" --pkglibdir)/citus.so" ] && return 0
	[ "$LMS_PG_MAJOR" = 15 ] && version=13.2.2
	if ! src=$(vendor_dir "citus-$version.tar.gz"); then
		CITUS_MISSING="Citus is not installed and its vendored source (../shared/vendor/citus-$version.tar.gz) is not here"
		return 1
	fi
	echo "== building Citus $version for PostgreSQL $LMS_PG_MAJOR from $src (once per machine)"
	ensure_packages liblz4-dev libzstd-dev libkrb5-dev
	rm -rf "$b" && mkdir -p "$b"
	tar xzf "$src/citus-$version.tar.gz" -C "$b"
	if ! (cd "$b/citus-$version" &&
		{ [ "$version" != 13.2.2 ] || patch -p1 -s <"$src/citus-13.2.2-pg15.20.patch"; } &&
		./configure --without-libcurl PG_CONFIG="$PGBIN/pg_config" >"$b/configure.log" 2>&1 &&
		make -j2 >"$b/make.log" 2>&1 && make install >"$b/install.log" 2>&1); then
		CITUS_MISSING="the Citus build failed: see $b"
		return 2
	fi
}

# citus_cluster DIR PORTBASE DB: a coordinator (DIR/n0, PORTBASE) and two
# workers (DIR/n1, DIR/n2) with Citus, database DB on each, the workers
# added; the environment is left pointing at the coordinator
citus_cluster() {
	local dir=$1 base=$2 db=$3 n
	for n in 0 1 2; do
		start_cluster "$dir/n$n" $((base + n)) "shared_preload_libraries = 'citus,lms_visibility'
max_worker_processes = 16
log_min_messages = warning
log_min_error_statement = error"
		createdb "$db"
		psql -X -q -d "$db" -c "CREATE EXTENSION citus"
	done
	export PGHOST=$dir/n0 PGPORT=$base
	psql -X -q -o /dev/null -d "$db" -c "SELECT citus_set_coordinator_host('127.0.0.1', $base)" \
		-c "SELECT citus_add_node('127.0.0.1', $((base + 1)))" -c "SELECT citus_add_node('127.0.0.1', $((base + 2)))"
}

# vendor_dir FILE: the first folder of the vendored sources that holds FILE
# (LMS_VENDOR, ../shared/vendor beside the tree, /work/shared/vendor)
vendor_dir() {
	local d
	for d in "${LMS_VENDOR:-}" "$PWD/../shared/vendor" /work/shared/vendor; do
		if [ -n "$d" ] && [ -f "$d/$1" ]; then echo "$d"; return 0; fi
	done
	return 1
}

# ensure_pg18: PostgreSQL 18 in PG18_PREFIX, built once per machine from the
# vendored source (no LLVM, no ICU, TAP tests on) with pgTAP; a stamp written
# last marks a complete install, so an interrupted build is redone.  Returns
# 1 with PG18_MISSING set when there is neither install nor source, 2 when
# the build fails.
PG18_PREFIX=/usr/local/pgsql-18
ensure_pg18() {
	local src pgtap_src b=/var/cache/lms_visibility/pg18
	[ -f "$PG18_PREFIX/.lms_complete" ] && return 0
	if ! src=$(vendor_dir postgresql-18_18.6.orig.tar.bz2); then
		PG18_MISSING="PostgreSQL 18 is not installed in $PG18_PREFIX and its vendored source (../shared/vendor/postgresql-18_18.6.orig.tar.bz2) is not here"
		return 1
	fi
	echo "== building PostgreSQL 18.6 from $src into $PG18_PREFIX (once per machine: a few minutes)"
	ensure_packages bison flex zlib1g-dev libipc-run-perl
	rm -rf "$b" && mkdir -p "$b"
	tar xjf "$src/postgresql-18_18.6.orig.tar.bz2" -C "$b"
	if ! (cd "$b/postgresql-18.6" &&
		./configure --prefix="$PG18_PREFIX" --enable-tap-tests --without-icu --without-readline \
			--without-llvm >"$b/configure.log" 2>&1 &&
		make -j2 >"$b/make.log" 2>&1 && make install >"$b/install.log" 2>&1); then
		PG18_MISSING="the PostgreSQL 18 build failed: see $b"
		return 2
	fi
	if ! pgtap_src=$(vendor_dir pgtap_1.3.3.orig.tar.gz) ||
		! (tar xzf "$pgtap_src/pgtap_1.3.3.orig.tar.gz" -C "$b" && cd "$b"/pgtap-1.3.3 &&
			make PG_CONFIG="$PG18_PREFIX/bin/pg_config" >"$b/pgtap.log" 2>&1 &&
			make PG_CONFIG="$PG18_PREFIX/bin/pg_config" install >>"$b/pgtap.log" 2>&1); then
		PG18_MISSING="pgTAP for PostgreSQL 18 could not be built: see $b"
		return 2
	fi
	touch "$PG18_PREFIX/.lms_complete"
	rm -rf "$b/postgresql-18.6"
}
