# The store on a Citus cluster (a coordinator and two workers) answers
# every principal exactly as one node does: the sample platform and a
# generated one are loaded into both, lms.distribute() sets the cluster's
# copy out (reference tables, lms.progress by user_id), and a protected
# application table is distributed beside it.  For each principal (bound
# roles, and a trusted application role with SET LOCAL), plain SELECTs,
# router queries, a scan over every shard at once, the reports and the
# application table give the single node's rows, before and after
# revocations written through the coordinator, the instructors' answers
# included; no worker ever runs a distributed query from a query on a shard;
# a principal that would not reach the workers is refused rather than
# widened.
#
# Needs Citus installed (scripts/test.sh builds it from the vendored
# source, once per machine); without it the test is skipped, and fails
# when LMS_TEST_ALL is set unless LMS_CITUS_MISSING says why it is not
# there.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pkglib = `pg_config --pkglibdir`;
chomp $pkglib;
unless (-f "$pkglib/citus.so")
{
	plan skip_all => $ENV{LMS_CITUS_MISSING} if $ENV{LMS_CITUS_MISSING};
	die "citus.so not found in $pkglib\n" if $ENV{LMS_TEST_ALL};
	plan skip_all => "citus.so not found in $pkglib";
}

my $w = PostgreSQL::Test::Utils::tempdir('citus');

# the platform, an application table and the logins, the same on both
my $setup = <<'SQL';
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
		('c_app_bound', 101), ('c_app', NULL), ('c_lm', 102)) v(r, p) LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = b.r) THEN
			EXECUTE format('CREATE ROLE %I LOGIN', b.r);
		END IF;
		IF b.p IS NOT NULL THEN
			PERFORM lms.bind_role(b.r::regrole, b.p);
		END IF;
	END LOOP;
END $$;
SELECT lms.trust_role('c_app'), lms.trust_role('c_app_bound');
SELECT lms.protect_table('app.scores', 'user_id', 'content_id');
SQL
my @bound = qw(c_admin c_gadmin c_coach c_analyst c_manager c_trainer c_instructor c_globex c_gen);

# psql_ok(node, db, sql): runs sql (psql meta-commands allowed) from the
# tree's root, stopping at the first error; returns its output
sub psql_ok
{
	my ($node, $db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, on_error_stop => 1);
	die "psql failed: $err" if $ret != 0;
	return $out;
}

# the single node
my $single = PostgreSQL::Test::Cluster->new('single');
$single->init;
$single->start;
$single->safe_psql('postgres', 'CREATE DATABASE citus_single');
psql_ok($single, 'citus_single', $setup);

# the cluster: each node also listens on 127.0.0.1, where the others reach it
my @nodes;
for my $name (qw(coordinator worker1 worker2))
{
	my $n = PostgreSQL::Test::Cluster->new($name);
	$n->init;
	$n->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'citus,lms_visibility'
lms.shared_cache_min_ids = 0
listen_addresses = '127.0.0.1'
max_worker_processes = 16
log_min_messages = warning
log_min_error_statement = error
log_statement = none});
	$n->start;
	$n->safe_psql('postgres', 'CREATE DATABASE lms_citus');
	$n->safe_psql('lms_citus', 'CREATE EXTENSION citus');
	push @nodes, $n;
}
my $c = $nodes[0];
$c->safe_psql('lms_citus',
	"SELECT citus_set_coordinator_host('127.0.0.1', " . $c->port . ')'
	  . join('', map { "; SELECT citus_add_node('127.0.0.1', " . $_->port . ')' } @nodes[ 1, 2 ]));
is($c->safe_psql('lms_citus', 'SELECT count(*) FROM citus_get_active_worker_nodes()'), '2',
	'a coordinator and two workers with Citus '
	  . $c->safe_psql('lms_citus', "SELECT extversion FROM pg_extension WHERE extname = 'citus'"));
psql_ok($c, 'lms_citus', $setup);
is($c->safe_psql('lms_citus', 'SELECT count(*) FROM lms.users') . ' '
	  . $c->safe_psql('lms_citus', 'SELECT count(*) FROM lms.progress'),
	$single->safe_psql('citus_single', 'SELECT count(*) FROM lms.users') . ' '
	  . $single->safe_psql('citus_single', 'SELECT count(*) FROM lms.progress'),
	'the same platform loaded on the coordinator (its users and progress rows)');

my ($ret, $out, $err) = $c->psql('lms_citus', 'SELECT lms.distribute()', extra_params => [ '-U', 'c_app' ]);
like($err, qr/permission denied for function distribute/, 'lms.distribute() refuses a role that is not a superuser');
($ret, $out, $err) = $c->psql('lms_citus',
	"SET client_min_messages = warning; SELECT lms.distribute(8); "
	  . "SELECT create_distributed_table('app.scores', 'user_id', colocate_with => 'lms.progress')");
is($ret, 0, 'lms.distribute(8) and the application table distributed beside lms.progress') or diag $err;
is( $c->safe_psql(
		'lms_citus',
		"SELECT string_agg(DISTINCT partmethod::text, ',') FILTER (WHERE logicalrelid = 'lms.progress'::regclass) "
		  . "|| ' ' || count(*) FILTER (WHERE partmethod = 'n') FROM pg_dist_partition"),
	'h '
	  . $c->safe_psql('lms_citus',
		"SELECT count(*) FROM pg_class WHERE relnamespace = 'lms'::regnamespace AND relkind = 'r' "
		  . "AND relname NOT IN ('progress', 'cache_proxy', 'history', 'history_horizon')"),
	'lms.progress is distributed by user_id, the relationship tables are reference tables, the history each node\'s');
is( $c->safe_psql(
		'lms_citus',
		'SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement WHERE shardid IN '
		  . "(SELECT shardid FROM pg_dist_shard WHERE logicalrelid = 'lms.progress'::regclass)"),
	'2',
	'the shards of lms.progress are on the two workers');
($ret, $out, $err) = $c->psql('lms_citus', 'SELECT lms.distribute()');
like($err, qr/distributed already/, 'calling it again changes nothing');
my $digest = "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT * FROM lms.progress) t";
is($c->safe_psql('lms_citus', $digest),
	$single->safe_psql('citus_single', $digest),
	'the cluster holds the single node\'s progress rows');

# what each principal sees, one line per question
sub queries
{
	my ($label) = @_;
	return <<SQL;
SELECT '$label progress', coalesce(string_agg(user_id || ':' || content_id, ' ' ORDER BY user_id, content_id), '-') FROM lms.progress;
SELECT '$label users', coalesce(string_agg(user_id::text, ' ' ORDER BY user_id), '-') FROM lms.users;
SELECT '$label app', coalesce(string_agg(user_id || ':' || content_id || ':' || points, ' ' ORDER BY user_id, content_id), '-') FROM app.scores;
SELECT '$label router', count(*), sum(viewed_pct) FROM lms.progress WHERE user_id = 120;
SELECT '$label router app', count(*) FROM app.scores WHERE user_id = 9007;
SELECT '$label report', count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM lms.progress_report r;
SELECT '$label group report', count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM lms.group_progress_report(10) r;
SELECT '$label group report gen', count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM lms.group_progress_report(901) r;
SQL
}
my $principals_sql =
  'SELECT user_id FROM lms.users WHERE user_id < 9000 OR user_id <= 9130 OR user_id % 10 = 0 ORDER BY 1';
sub check_script
{
	my @principals = @_;
	my $sql = '';
	for my $r (@bound)
	{
		$sql .= "SET ROLE $r;\n" . queries($r)
		  . "BEGIN;\nSET LOCAL citus.force_max_query_parallelization = on;\n"
		  . "SELECT '$r every shard at once', count(*), sum(score) FROM lms.progress;\nCOMMIT;\nRESET ROLE;\n";
	}
	$sql .= "SET ROLE c_app;\n";
	for my $p (@principals)
	{
		$sql .= "BEGIN;\nSET LOCAL lms.principal = $p;\n" . queries("principal $p")
		  . "SET LOCAL citus.force_max_query_parallelization = on;\n"
		  . "SELECT 'principal $p every shard at once', count(*), sum(score) FROM lms.progress;\nCOMMIT;\n";
	}
	return $sql . "RESET ROLE;\n";
}

# the changes, written through the coordinator: a group role revoked, a
# membership removed, a binding dropped, a learner's first row in a path
# session (its instructor now sees the learner), a user's progress deleted
my $changes = <<'SQL';
DELETE FROM lms.group_roles WHERE user_id = 103 AND group_id = 10;
DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = 120;
SELECT lms.unbind_role('c_coach');
INSERT INTO lms.progress (user_id, content_id, session_id, viewed_pct) VALUES (125, 502, 502, 10);
DELETE FROM lms.group_members WHERE user_id IN (SELECT user_id FROM lms.group_members WHERE group_id = 901 ORDER BY user_id LIMIT 3);
SQL
open(my $fh, '>', "$w/changes.sql") or die $!;
print $fh $changes;
close $fh;

# one session per node answers before and after the changes (its caches,
# and those of the worker backends it uses, are warm when they come);
# returns the answers, before and after, as lists of lines
sub run_checks
{
	my ($node, $db) = @_;
	my @principals = split /\n/, $node->safe_psql($db, $principals_sql);
	my $conn = 'host=' . $node->host . ' port=' . $node->port . " dbname=$db";
	my $out = psql_ok($node, $db,
		check_script(@principals)
		  . "\\! psql -X -q -o /dev/null -d '$conn' -f '$w/changes.sql'\n"
		  . "SELECT '--- after the changes';\n"
		  . check_script(@principals));
	my @lines = split /\n/, $out;
	my ($cut) = grep { $lines[$_] eq '--- after the changes' } 0 .. $#lines;
	die "no marker in the output" unless defined $cut;
	return ([ @lines[ 0 .. $cut - 1 ] ], [ @lines[ $cut + 1 .. $#lines ] ], scalar @principals);
}
my ($single_before, $single_after, $np) = run_checks($single, 'citus_single');
my ($cluster_before, $cluster_after) = run_checks($c, 'lms_citus');
my @single  = (@$single_before,  @$single_after);
my @cluster = (@$cluster_before, @$cluster_after);
note scalar(@single) . " answers of $np principals through c_app and " . scalar(@bound)
  . ' bound roles, before and after the changes';
cmp_ok(scalar @single, '>', 1000, 'the checks give answers');
is(scalar @cluster, scalar @single, 'the cluster gives as many');

# Every answer is the single node's, the instructors' too: who played a
# session is known from lms.progress, whose rows are on the workers, and
# the coordinator asks them (doc/citus.md, "Instructors").
my @differ;
for my $i (0 .. $#single)
{
	push @differ, "$single[$i] <> " . ($cluster[$i] // '(none)') if $single[$i] ne ($cluster[$i] // '');
}
is(scalar @differ, 0, 'every answer of the cluster is the single node\'s, the instructors\' included')
  or diag join("\n", map { substr($_, 0, 200) } @differ[ 0 .. ($#differ < 5 ? $#differ : 5) ]);
my ($instr_users) = grep { /^c_instructor users\|/ } @$cluster_after;
like($instr_users, qr/\b125\b/, 'on the coordinator the instructor sees in lms.users the learner who played its session');
is(scalar(grep { /ERROR/ } @cluster), 0, 'no answer was an error');
my ($instr_before) = grep { /^c_instructor progress\|/ } @$single_before;
my ($instr_after)  = grep { /^c_instructor progress\|/ } @$single_after;
ok($instr_before ne $instr_after && $instr_after =~ /\b125:/,
	'the instructor sees the learner who first played the session');
my ($gadmin_before) = grep { /^c_gadmin progress\|/ } @$single_before;
my ($gadmin_after)  = grep { /^c_gadmin progress\|/ } @$single_after;
isnt($gadmin_after, $gadmin_before, 'the group admin\'s revoked role is honoured');

# the engine's functions, explain_visibility and who_can_see on the
# coordinator, for every instructor and a learner who played its session
my $instructor_sql = <<'SQL';
SELECT si.user_id, string_agg(u::text, ' ' ORDER BY u) FROM lms.session_instructors si,
	LATERAL lms.visible_users(si.user_id) u GROUP BY si.user_id ORDER BY 1;
SELECT si.user_id, p.user_id, e.part, e.granted, e.reason
FROM lms.session_instructors si
JOIN lms.progress p ON p.content_id = si.session_id OR p.session_id = si.session_id,
	LATERAL lms.explain_visibility(si.user_id, p.user_id, p.content_id, p.context_group_id) e
ORDER BY 1, 2, 3, 5;
SQL
# who_can_see reads lms.progress in SQL: called at the top level, once per learner
$instructor_sql .= join('', map { "SELECT $_, * FROM lms.who_can_see($_);\n" } split /\n/,
	$single->safe_psql('citus_single', 'SELECT DISTINCT p.user_id FROM lms.session_instructors si '
	  . 'JOIN lms.progress p ON p.content_id = si.session_id OR p.session_id = si.session_id ORDER BY 1'));
my $instr_single = $single->safe_psql('citus_single', $instructor_sql);
cmp_ok(scalar(split /\n/, $instr_single), '>', 5, 'the instructors\' checks give answers');
is($c->safe_psql('lms_citus', $instructor_sql), $instr_single,
	'visible_users, explain_visibility and who_can_see of the instructors on the coordinator: the single node\'s');

# the coordinator asks the workers as the owner of lms.progress: an
# operator of the caller's search_path is not what that query runs
$c->safe_psql('lms_citus', q{
SET citus.enable_ddl_propagation = off;
CREATE SCHEMA trap;
GRANT USAGE ON SCHEMA trap TO PUBLIC;
CREATE FUNCTION trap.eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END $$;
CREATE FUNCTION trap.eq(bigint, integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'trap ran as %', current_user; END $$;
CREATE OPERATOR trap.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = trap.eq);
CREATE OPERATOR trap.= (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = trap.eq);
});
($ret, $out, $err) = $c->psql('lms_citus',
	"SET ROLE c_instructor; SET search_path = trap, pg_catalog, lms; "
	  . "SELECT string_agg(user_id::text, ' ' ORDER BY user_id) FROM lms.users");
is($err, '', 'an instructor with an operator of its own first in its search_path: no trap runs');
my ($instr_users_line) = grep { /^c_instructor users\|/ } @$single_after;
is('c_instructor users|' . $out, $instr_users_line, 'and it sees what one node shows');
$c->safe_psql('lms_citus', 'SET citus.enable_ddl_propagation = off; DROP SCHEMA trap CASCADE');

# lms.preview() would read the change's tenants from triggers that run on
# the workers: refused on the coordinator and on a worker
for my $node ($c, $nodes[1])
{
	($ret, $out, $err) = $node->psql('lms_citus',
		q{SELECT * FROM lms.preview('INSERT INTO lms.group_members VALUES (11, 115)')});
	like($err, qr/lms\.preview\(\) does not run on a Citus cluster/,
		'lms.preview() is refused on the ' . ($node == $c ? 'coordinator' : 'worker') . ', not answered empty');
}

# team writes (doc/team-management.md) through the coordinator, as on one
# node: a learner_manager creates a team, a subteam and members, and is
# refused a group it did not create and a subteam below one, with the same
# errors; each node checks the write against its own copy of the store
my @team = (
	"INSERT INTO lms.groups (group_id, tenant_id, name) VALUES (99001, 1, 'lm team')",
	'INSERT INTO lms.group_members VALUES (99001, 120), (99001, 125)',
	"INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (99002, 1, 'lm subteam', 99001)",
	'INSERT INTO lms.group_members VALUES (11, 125)',
	"INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES (99003, 1, 'below Sales', 10)",
	'UPDATE lms.groups SET parent_group_id = 99001 WHERE group_id = 12',
	'DELETE FROM lms.group_members WHERE group_id = 99001 AND user_id = 125',
	'DELETE FROM lms.groups WHERE group_id = 99002',
	"SELECT group_id || ':' || created_by FROM lms.groups WHERE group_id > 99000 ORDER BY 1",
	"SELECT string_agg(group_id || ':' || user_id, ' ' ORDER BY 1) FROM lms.group_members WHERE group_id > 99000");
my (@team_single, @team_cluster);
for my $sql (@team)
{
	for my $side ([ $single, 'citus_single', \@team_single ], [ $c, 'lms_citus', \@team_cluster ])
	{
		my ($r, $o, $e) = $side->[0]->psql($side->[1], $sql, extra_params => [ '-U', 'c_lm' ]);
		$e =~ s/\n.*//s;
		push @{ $side->[2] }, "$o|$e";
	}
}
is_deeply(\@team_cluster, \@team_single, 'team writes through the coordinator: the same outcomes and errors as on one node')
  or diag explain [ \@team_single, \@team_cluster ];
like($team_cluster[3], qr/permission denied to change the members of group 11/, 'a group it did not create: refused');
is($team_cluster[8], "99001:102|", 'the team it created is its own');
for my $i (1 .. 2)
{
	is($nodes[$i]->safe_psql('lms_citus', "SELECT string_agg(group_id || ':' || user_id, ' ' ORDER BY 1) FROM lms.group_members WHERE group_id > 99000"),
		'99001:120', 'node ' . $nodes[$i]->name . ' holds the team\'s members');
}

# the rules at a past time undo the later history, which would write every
# node's copy: refused
($ret, $out, $err) = $c->psql('lms_citus', 'SELECT count(*) FROM lms.visible_users(103, now())');
like($err, qr/does not run on a Citus cluster/, 'the rules at a past time are refused on a cluster, not answered');

# the history: each node's triggers write the changes of its copy of the
# store to its own lms.history, under the store table's name (not the
# shard's), with the role that made them
my $revoked = "SELECT string_agg(change || ' ' || by_role, ', ') FROM lms.history "
  . "WHERE relation = 'group_roles' AND old_row->>'user_id' = '103' AND old_row->>'group_id' = '10'";
for my $i (0 .. 2)
{
	is($nodes[$i]->safe_psql('lms_citus', $revoked), 'delete postgres',
		'node ' . $nodes[$i]->name . ' keeps the revocation written through the coordinator in its history');
}
is($c->safe_psql('lms_citus', "SELECT count(*) FROM lms.history WHERE relation ~ '_[0-9]+\$'"), '0',
	'no history names a shard');

# a worker answers queries itself, from its own shards
my $gadmin_sum = 'SELECT count(*), sum(score) FROM lms.progress';
is( $nodes[1]->safe_psql('lms_citus', $gadmin_sum, extra_params => [ '-U', 'c_gadmin' ]),
	$c->safe_psql('lms_citus', $gadmin_sum, extra_params => [ '-U', 'c_gadmin' ]),
	'a worker answers the group admin as the coordinator does');

# each node's shared cache serves its worker backends: Citus opens new
# connections to the workers, whose backends read the entries earlier ones
# built rather than building them again
my $shared = 'SELECT shared_builds || \' \' || shared_hits FROM lms.cache_stats()';
my ($builds_before, $hits_before) = split / /, $nodes[1]->safe_psql('lms_citus', $shared);
$c->safe_psql('lms_citus', 'SELECT count(*) FROM lms.progress', extra_params => [ '-U', 'c_gadmin' ]) for 1 .. 3;
my ($builds_after, $hits_after) = split / /, $nodes[1]->safe_psql('lms_citus', $shared);
cmp_ok($hits_after, '>', $hits_before, 'a worker\'s new backends read its shared cache');
is($builds_after, $builds_before, 'and build nothing the worker had built');

# the principal reaches the workers, or the statement is refused
($ret, $out, $err) = $c->psql('lms_citus', 'SET lms.principal = 103; SELECT count(*) FROM lms.progress',
	extra_params => [ '-U', 'c_app' ]);
like($err, qr/ERROR/, 'a session-level lms.principal is refused, not widened');
($ret, $out, $err) = $c->psql('lms_citus',
	"BEGIN; SELECT set_config('lms.principal', '110', true); SELECT count(*) FROM lms.progress",
	extra_params => [ '-U', 'c_app_bound' ]);
like($err, qr/does not reach the nodes of a Citus cluster/, 'set_config(..., true) does not reach the workers: refused');
($ret, $out, $err) = $c->psql('lms_citus',
	'BEGIN; SET LOCAL citus.propagate_set_commands = none; SET LOCAL lms.principal = 110; '
	  . 'SELECT count(*) FROM lms.progress',
	extra_params => [ '-U', 'c_app_bound' ]);
like($err, qr/does not reach the nodes of a Citus cluster/,
	'SET LOCAL without citus.propagate_set_commands = local: refused');
my $learner = 'BEGIN; SET LOCAL lms.principal = 110; SELECT count(*), sum(score) FROM lms.progress; COMMIT';
is( $c->safe_psql('lms_citus', $learner, extra_params => [ '-U', 'c_app_bound' ]),
	$single->safe_psql('citus_single', $learner, extra_params => [ '-U', 'c_app_bound' ]),
	'a trusted role bound to an administrator acting for a learner sees the learner\'s rows');

# roles through Citus: Citus connects to the workers as the current role,
# so a bound or trusted role that cannot log in (used through SET ROLE) is
# refused before the statement leaves the coordinator, with the remedy; on
# one node it works, and with LOGIN it works on the cluster too
for my $n ([ $c, 'lms_citus' ], [ $single, 'citus_single' ])
{
	$n->[0]->safe_psql($n->[1],
		"CREATE ROLE c_bi_group NOLOGIN; SELECT lms.bind_role('c_bi_group', 104); "
		  . "CREATE ROLE c_app_group NOLOGIN; SELECT lms.trust_role('c_app_group')");
}
my $coach = 'SELECT count(*), sum(score) FROM lms.progress';
my $as_app = "BEGIN; SET ROLE c_app_group; SET LOCAL lms.principal = 104; $coach; COMMIT";
($ret, $out, $err) = $c->psql('lms_citus', "SET ROLE c_bi_group; $coach");
like($err, qr/role "c_bi_group" cannot log in to the nodes of a Citus cluster.*HINT:  Give the bound or trusted role LOGIN/s,
	'a bound NOLOGIN role through SET ROLE: refused on the cluster, with the remedy');
($ret, $out, $err) = $c->psql('lms_citus', $as_app);
like($err, qr/role "c_app_group" cannot log in to the nodes of a Citus cluster/,
	'a trusted NOLOGIN role acting for a principal: refused too');
my $coach_single = $single->safe_psql('citus_single', "SET ROLE c_bi_group; $coach");
like($coach_single, qr/^[1-9]/, 'on one node the NOLOGIN role answers');
is($single->safe_psql('citus_single', $as_app), $coach_single, 'and so does the trusted one, as the coach');
$c->safe_psql('lms_citus', 'ALTER ROLE c_bi_group LOGIN; ALTER ROLE c_app_group LOGIN');
is($c->safe_psql('lms_citus', "SET ROLE c_bi_group; $coach"), $coach_single,
	'with LOGIN, the bound role through SET ROLE answers on the cluster as on one node');
is($c->safe_psql('lms_citus', $as_app), $coach_single, 'and so does the trusted one');

# the workers never ran a distributed query from a query on a shard, nor
# failed a statement other than the refused preview
my $worker_logs = join '', map { slurp_file($_->logfile) } @nodes[ 1, 2 ];
unlike($worker_logs, qr/distributed query from a query on a shard|nested distributed/,
	'no worker ran a nested distributed query');
# (but the refusals said on every node: the preview, the team writes, and
# the statements Citus cancelled on the other nodes when one refused)
my $refused = qr/ERROR:  (lms\.preview\(\) does not run on a Citus cluster|permission denied to [a-z ]+ group \d+|canceling statement due to user request)/;
unlike(join('', grep { !/$refused/ } split /^/m, $worker_logs),
	qr/ERROR/, 'no statement failed on a worker (but the refusals)');
is($c->safe_psql('lms_citus', 'SHOW citus.allow_nested_distributed_execution'),
	'off', 'nested distributed execution stays off');

$_->stop for (@nodes, $single);
done_testing();
