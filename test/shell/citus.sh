#!/usr/bin/env bash
# The store on a Citus cluster (a coordinator and two workers on this
# machine) answers every principal exactly as one node does: the sample
# platform and a generated one are loaded into both, lms.distribute() sets
# the cluster's copy out (reference tables, lms.progress by user_id), and a
# protected application table is distributed beside it.  For each principal
# (bound roles, and a trusted application role with SET LOCAL), plain
# SELECTs, router queries, a scan over every shard at once, the reports and
# the application table give the single node's rows, before and after
# revocations written through the coordinator; no worker ever runs a
# distributed query from a query on a shard; a principal that would not
# reach the workers is refused rather than widened.
. "$(dirname "$0")/common.sh"
ensure_citus
case $? in
	0) ;;
	1) echo "# SKIP citus: $CITUS_MISSING"; exit 0 ;;
	*) fail "$CITUS_MISSING"; finish; exit 1 ;;
esac

SINGLE_HOST=$PGHOST SINGLE_PORT=$PGPORT
W="$LMS_TEST_WORK/citus"
mkdir -p "$W"
chmod 755 "$W"
trap 'for n in 0 1 2; do stop_cluster "$W/n$n"; done' EXIT

# the platform, an application table and the logins, the same on both
cat >"$W/setup.sql" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS lms_visibility;
\i sample/platform.sql
\i test/lib/generated_platform.sql
CREATE SCHEMA app;
CREATE TABLE app.scores (user_id bigint, content_id bigint, points int, PRIMARY KEY (user_id, content_id));
INSERT INTO app.scores SELECT user_id, content_id, (user_id + content_id) % 100 FROM lms.progress;
GRANT USAGE ON SCHEMA app TO PUBLIC;
GRANT SELECT ON app.scores TO PUBLIC;
DO $$
DECLARE b record;
BEGIN
	FOR b IN SELECT * FROM (VALUES ('c_admin', 101), ('c_gadmin', 103), ('c_coach', 104), ('c_analyst', 105),
		('c_manager', 108), ('c_trainer', 112), ('c_instructor', 113), ('c_globex', 202), ('c_gen', 9001),
		('c_app_bound', 101), ('c_app', NULL)) v(r, p) LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = b.r) THEN
			EXECUTE format('CREATE ROLE %I LOGIN', b.r);
		END IF;
		IF b.p IS NOT NULL THEN
			PERFORM lms.bind_role(b.r::regrole, b.p);
		END IF;
	END LOOP;
END $$;
SELECT lms.trust_role('c_app'), lms.trust_role('c_app_bound');
SQL
BOUND="c_admin c_gadmin c_coach c_analyst c_manager c_trainer c_instructor c_globex c_gen"

# check.sql: what each principal sees, one line per question
queries() {	# $1: label
	cat <<SQL
SELECT '$1 progress', coalesce(string_agg(user_id || ':' || content_id, ' ' ORDER BY user_id, content_id), '-') FROM lms.progress;
SELECT '$1 users', coalesce(string_agg(user_id::text, ' ' ORDER BY user_id), '-') FROM lms.users;
SELECT '$1 app', coalesce(string_agg(user_id || ':' || content_id || ':' || points, ' ' ORDER BY user_id, content_id), '-') FROM app.scores;
SELECT '$1 router', count(*), sum(viewed_pct) FROM lms.progress WHERE user_id = 120;
SELECT '$1 router app', count(*) FROM app.scores WHERE user_id = 9007;
SELECT '$1 report', count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM lms.progress_report r;
SELECT '$1 group report', count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM lms.group_progress_report(10) r;
SELECT '$1 group report gen', count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM lms.group_progress_report(901) r;
BEGIN;
SET LOCAL citus.force_max_query_parallelization = on;
SELECT '$1 every shard at once', count(*), sum(score) FROM lms.progress;
COMMIT;
SQL
}
principals_sql="SELECT user_id FROM lms.users WHERE user_id < 9000 OR user_id <= 9130 OR user_id % 10 = 0 ORDER BY 1"
check_script() {	# $1: the principals to act for
	echo '\pset format unaligned'
	echo '\pset tuples_only on'
	local r p
	for r in $BOUND; do
		echo "SET ROLE $r;"
		queries "$r"
		echo "RESET ROLE;"
	done
	echo "SET ROLE c_app;"
	for p in $1; do
		echo "BEGIN;"
		echo "SET LOCAL lms.principal = $p;"
		queries "principal $p" | grep -v '^BEGIN;$\|^COMMIT;$'
		echo "COMMIT;"
	done
	echo "RESET ROLE;"
}
# the changes, written through the coordinator: a group role revoked, a
# membership removed, a binding dropped, a learner's first row in a path
# session (its instructor now sees the learner), a user's progress deleted
cat >"$W/changes.sql" <<'SQL'
DELETE FROM lms.group_roles WHERE user_id = 103 AND group_id = 10;
DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = 120;
SELECT lms.unbind_role('c_coach');
INSERT INTO lms.progress (user_id, content_id, session_id, viewed_pct) VALUES (125, 502, 502, 10);
DELETE FROM lms.group_members WHERE user_id IN (SELECT user_id FROM lms.group_members WHERE group_id = 901 ORDER BY user_id LIMIT 3);
SQL

# one session per node answers before and after the changes (its caches,
# and those of the worker backends it uses, are warm when they come)
run_checks() {	# $1: host, $2: port, $3: db, $4: out
	local principals
	principals=$(psql -X -At -h "$1" -p "$2" -d "$3" -c "$principals_sql" | tr '\n' ' ')
	{
		check_script "$principals"
		echo "\\! psql -X -q -o /dev/null -h $1 -p $2 -d $3 -f $W/changes.sql"
		echo "SELECT '--- after the changes';"
		check_script "$principals"
	} >"$W/check_$4.sql"
	psql -X -q -h "$1" -p "$2" -d "$3" -f "$W/check_$4.sql" >"$W/$4.out" 2>&1
}

# the single node: the primary test cluster
dropdb --if-exists citus_single 2>/dev/null
createdb citus_single
psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d citus_single -f "$W/setup.sql" -c "SELECT lms.protect_table('app.scores', 'user_id', 'content_id')"

# the cluster
CPORT=$(free_port $((PGPORT + 40)))
citus_cluster "$W" "$CPORT" lms_citus >"$W/cluster.log" 2>&1 || { fail "start the Citus cluster: $(tail -3 "$W/cluster.log")"; finish; exit 1; }
pass "a coordinator and two workers with Citus $(psql -X -At -d lms_citus -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'")"
C=(psql -X -q -v ON_ERROR_STOP=1 -d lms_citus)
"${C[@]}" -o /dev/null -f "$W/setup.sql" -c "SELECT lms.protect_table('app.scores', 'user_id', 'content_id')" &&
	pass "the same platform loaded on the coordinator" || fail "load the platform on the coordinator"
same "lms.distribute() refuses a role that is not a superuser" \
	"$(psql -X -At -d lms_citus -U c_app -c "SELECT lms.distribute()" 2>&1 | grep -o 'permission denied[^:]*' | head -1)" \
	"permission denied for function distribute"
out=$("${C[@]}" -c "SET client_min_messages = warning" -c "SELECT lms.distribute(8)" \
	-c "SELECT create_distributed_table('app.scores', 'user_id', colocate_with => 'lms.progress')" 2>&1) &&
	pass "lms.distribute(8) and the application table distributed beside lms.progress" || fail "distribute: $out"
same "lms.progress is distributed by user_id, the relationship tables are reference tables" \
	"$(psql -X -At -d lms_citus -c "SELECT string_agg(DISTINCT partmethod::text, ',') FILTER (WHERE logicalrelid = 'lms.progress'::regclass)
		|| ' ' || count(*) FILTER (WHERE partmethod = 'n') FROM pg_dist_partition")" \
	"h $(psql -X -At -d lms_citus -c "SELECT count(*) - 2 FROM pg_class WHERE relnamespace = 'lms'::regnamespace AND relkind = 'r'")"
same "the shards of lms.progress are on the two workers" \
	"$(psql -X -At -d lms_citus -c "SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement WHERE shardid IN (SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'lms.progress'::regclass)")" 2
same "calling it again changes nothing" "$(psql -X -At -d lms_citus -c "SELECT lms.distribute()" 2>&1 | grep -c 'distributed already')" 1
digest="SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT * FROM lms.progress) t"
same "the cluster holds the single node's progress rows" "$(psql -X -At -d lms_citus -c "$digest")" \
	"$(psql -X -At -h "$SINGLE_HOST" -p "$SINGLE_PORT" -d citus_single -c "$digest")"

run_checks "$SINGLE_HOST" "$SINGLE_PORT" citus_single single
run_checks "$PGHOST" "$PGPORT" lms_citus cluster
lines=$(grep -c '|' "$W/single.out")
echo "# $lines answers of $(($(grep -c '^SET LOCAL lms.principal' "$W/check_single.sql") / 2)) principals through c_app and $(echo $BOUND | wc -w) bound roles, before and after the changes"
# One known difference (README, "Scaling out"): an instructor's learners,
# those who played the session, are known from lms.progress, so only on the
# node that holds their progress.  lms.users, a reference table, is answered
# on the coordinator, which holds none: there the instructors see fewer
# learners, never more.  Every other answer is the single node's.
instructors=$(psql -X -At -h "$SINGLE_HOST" -p "$SINGLE_PORT" -d citus_single -c "SELECT string_agg(DISTINCT user_id::text, ' ') FROM lms.session_instructors")
narrower=0 wider=0
while IFS='|' read -r label one many; do
	[ "$one" = - ] && one=""
	[ "$many" = - ] && many=""
	for u in $one; do [[ " $many " == *" $u "* ]] || narrower=1; done
	for u in $many; do [[ " $one " == *" $u "* ]] || wider=1; done
done < <(paste -d'|' <(grep ' users|' "$W/single.out") <(grep ' users|' "$W/cluster.out" | cut -d'|' -f2) |
	grep -E "^(c_instructor|principal ($(echo $instructors | tr ' ' '|'))) users\|")
grep -vE "^(c_instructor|principal ($(echo $instructors | tr ' ' '|'))) users\|" "$W/single.out" >"$W/single.rest"
grep -vE "^(c_instructor|principal ($(echo $instructors | tr ' ' '|'))) users\|" "$W/cluster.out" >"$W/cluster.rest"
if diff "$W/single.rest" "$W/cluster.rest" >"$W/diff.out"; then
	pass "every answer of the cluster is the single node's ($(wc -l <"$W/single.rest") answers)"
else
	fail "the cluster answered otherwise ($(grep -c '^>' "$W/diff.out") lines): $(head -6 "$W/diff.out" | cut -c1-200 | tr '\n' '|')"
fi
same "the instructors' lms.users on the coordinator: never a learner more" "$wider" 0
same "(and, as documented, fewer: the learners whose progress is on the workers)" "$narrower" 1
same "no answer was an error" "$(grep -c 'ERROR' "$W/cluster.out")" 0
before=$(sed -n '1,/--- after/p' "$W/single.out" | grep '^c_instructor progress')
after=$(sed -n '/--- after/,$p' "$W/single.out" | grep '^c_instructor progress')
[ "$before" != "$after" ] && [[ "$after" == *"125:"* ]] && pass "the instructor sees the learner who first played the session" ||
	fail "the instructor's rows did not change: $after"
[ "$(sed -n '1,/--- after/p' "$W/single.out" | grep '^c_gadmin progress')" != "$(sed -n '/--- after/,$p' "$W/single.out" | grep '^c_gadmin progress')" ] &&
	pass "the group admin's revoked role is honoured" || fail "the group admin's rows did not change"

# a worker answers queries itself, from its own shards
same "a worker answers the group admin as the coordinator does" \
	"$(psql -X -At -h "$W/n1" -p $((CPORT + 1)) -d lms_citus -U c_gadmin -c "SELECT count(*), sum(score) FROM lms.progress")" \
	"$(psql -X -At -d lms_citus -U c_gadmin -c "SELECT count(*), sum(score) FROM lms.progress")"

# the principal reaches the workers, or the statement is refused
same "a session-level lms.principal is refused, not widened" \
	"$(psql -X -At -d lms_citus -U c_app -c "SET lms.principal = 103" -c "SELECT count(*) FROM lms.progress" 2>&1 | grep -c 'ERROR')" 1
same "set_config(..., true) does not reach the workers: refused" \
	"$(psql -X -At -d lms_citus -U c_app_bound -c "BEGIN" -c "SELECT set_config('lms.principal', '110', true)" \
		-c "SELECT count(*) FROM lms.progress" 2>&1 | grep -o 'does not reach the nodes of a Citus cluster')" \
	"does not reach the nodes of a Citus cluster"
same "SET LOCAL without citus.propagate_set_commands = local: refused" \
	"$(psql -X -At -d lms_citus -U c_app_bound -c "BEGIN" -c "SET LOCAL citus.propagate_set_commands = none" \
		-c "SET LOCAL lms.principal = 110" -c "SELECT count(*) FROM lms.progress" 2>&1 | grep -o 'does not reach the nodes of a Citus cluster')" \
	"does not reach the nodes of a Citus cluster"
learner=(-c BEGIN -c "SET LOCAL lms.principal = 110" -c "SELECT count(*), sum(score) FROM lms.progress" -c COMMIT)
same "a trusted role bound to an administrator acting for a learner sees the learner's rows" \
	"$(psql -X -At -d lms_citus -U c_app_bound "${learner[@]}" 2>&1)" \
	"$(psql -X -At -h "$SINGLE_HOST" -p "$SINGLE_PORT" -d citus_single -U c_app_bound "${learner[@]}")"

# the workers never ran a distributed query from a query on a shard, nor
# failed a statement at all
nested=$(cat "$W"/n1/server.log "$W"/n2/server.log | grep -c 'distributed query from a query on a shard\|nested distributed' || true)
same "no worker ran a nested distributed query" "$nested" 0
same "no statement failed on a worker" "$(cat "$W"/n1/server.log "$W"/n2/server.log | grep -c 'ERROR' || true)" 0
same "nested distributed execution stays off" "$(psql -X -At -d lms_citus -c "SHOW citus.allow_nested_distributed_execution")" off

dropdb -h "$SINGLE_HOST" -p "$SINGLE_PORT" citus_single
finish
