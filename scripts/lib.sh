#!/usr/bin/env bash
# scripts/lib.sh: shared helpers of the project's commands.
#   ensure_packages   install the server headers and pgTAP from Debian (idempotent)
#   build_install     build the extension warning-free and install it
#   start_cluster DIR PORT   initdb + start a throwaway cluster in DIR on PORT
#   pg_start DIR             start the server of DIR (with the sanitizer
#                            runtime when LMS_SANITIZE=1)
#   stop_cluster DIR         stop it
#   sanitizer_reports DIR... what the sanitizers found in those clusters
# PostgreSQL refuses to run as root: initdb/pg_ctl run as postgres, in a temp
# dir it owns, on a unix socket in that dir; clients run as root with
# PGHOST/PGPORT/PGUSER set.

PGBIN=/usr/lib/postgresql/15/bin
export PATH="$PGBIN:$PATH"

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

# LMS_SANITIZE=1: build with AddressSanitizer and UndefinedBehaviorSanitizer
# (any finding aborts the backend), and start every cluster with the ASan
# runtime preloaded into the server; reports go to DIR/asan.* / DIR/ubsan.*
SANITIZE_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
build_install() {
	echo "== building and installing lms_visibility$([ "${LMS_SANITIZE:-0}" = 1 ] && echo " with ASan + UBSan")"
	local args=()
	[ "${LMS_SANITIZE:-0}" = 1 ] && args=("COPT=$SANITIZE_FLAGS" with_llvm=no)
	make -s PG_CONFIG="$PGBIN/pg_config" clean >/dev/null
	make -s PG_CONFIG="$PGBIN/pg_config" "${args[@]}" 2>&1 | grep -v '^/usr/bin/clang' || true
	test -f lms_visibility.so
	make -s PG_CONFIG="$PGBIN/pg_config" "${args[@]}" install >/dev/null
}

# server_env DIR: the environment a server of DIR starts with
server_env() {
	if [ "${LMS_SANITIZE:-0}" = 1 ]; then
		echo "LD_PRELOAD=$(gcc -print-file-name=libasan.so)"
		echo "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$1/asan"
		echo "UBSAN_OPTIONS=print_stacktrace=1:log_path=$1/ubsan"
	fi
}

# pg_start DIR: start the server of DIR/data (logging to DIR/server.log)
pg_start() {
	local dir=$1 envs
	mapfile -t envs < <(server_env "$dir")
	as_postgres env "${envs[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 start >/dev/null
}

# sanitizer_reports DIR...: the sanitizer reports and crashed backends of
# these clusters, one line each; nothing when clean
sanitizer_reports() {
	local d f
	for d in "$@"; do
		for f in "$d"/asan.* "$d"/ubsan.*; do
			[ -f "$f" ] && echo "$f: $(grep -m1 -E 'ERROR|runtime error' "$f")"
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

# free_port BASE: the first port from BASE on that nothing listens on
free_port() {
	local p=$1
	while (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
	echo $p
}
