# Faults: a backend killed with kill -9 in the middle of a rebuild, and the
# leader of a parallel query killed while its workers use the entry it
# shares.  The server restarts, the answers afterwards are right, and no
# published file of a dead leader stays in pg_stat_tmp.  The same once the
# library is preloaded, where the entry is the server's shared cache's and
# the workers read it there.  Then a million-row
# lms.progress vacuumed, fully vacuumed and clustered, and every index of
# the store rebuilt with REINDEX CONCURRENTLY, while warm readers (one of
# them on the range scan) keep querying: every answer is right.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('faults');
$node->init;
# the framework turns restart_after_crash off: this test is about the
# restart; the per-backend cache first (whatever TEMP_CONFIG says)
$node->append_conf('postgresql.conf',
	"max_parallel_workers_per_gather = 2\nrestart_after_crash = on\nshared_preload_libraries = ''");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('postgres', slurp_file('sample/platform.sql'));

# a platform admin of 3,000 users: an entry large enough to be shared with workers
$node->safe_psql(
	'postgres', q{
INSERT INTO lms.tenants VALUES (5, 'faults', false);
INSERT INTO lms.users (user_id, tenant_id) SELECT 500000 + i, 5 FROM generate_series(1, 3000) i;
INSERT INTO lms.tenant_roles VALUES (500001, 'platform_admin');
INSERT INTO lms.content VALUES (500000, 5, 'course', 'c', NULL, NULL, NULL);
INSERT INTO lms.progress (user_id, content_id) SELECT 500000 + i, 500000 FROM generate_series(1, 3000) i;
CREATE ROLE f_admin LOGIN;
SELECT lms.bind_role('f_admin', 500001);
ANALYZE});

my @as_admin = ('psql', '-XAtq', '-d', $node->connstr('postgres') . ' user=f_admin');
my $par = 'SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;';
sub count_as_admin
{
	my ($setup) = @_;
	my $out = '';
	IPC::Run::run [ @as_admin, '-c', ($setup // '') . ' SELECT count(*) FROM lms.progress' ], '>', \$out,
	  '2>&1';
	chomp $out;
	return $out;
}

# wait_up(pid): the crash restart has ended backend pid (every backend
# goes), and the server accepts connections again.  Not poll_query_until:
# it writes its query to psql's standard input, and a psql refused while
# the server restarts may exit before reading it, which ends this script
# with "Broken pipe".  The query goes on the command line instead.
sub wait_up
{
	my ($pid) = @_;
	for (1 .. 100)
	{
		last unless kill 0, $pid;
		select(undef, undef, undef, 0.1);
	}
	for (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
	{
		my ($out, $err) = ('', '');
		IPC::Run::run [ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', 'SELECT true' ],
		  '<', '/dev/null', '>', \$out, '2>', \$err;
		return 1 if $out eq "t\n" && $err eq '';
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

# the first non-empty answer of a query within the default timeout
sub poll_value
{
	my ($sql) = @_;
	$node->poll_query_until('postgres', "SELECT EXISTS ($sql)") or return '';
	return $node->safe_psql('postgres', "$sql LIMIT 1");
}

is(count_as_admin(), '3000', 'before any fault the admin sees its tenant\'s rows');

# killed_mid_build(mode): the admin's build waits on a lock held elsewhere
# (its entry made stale first) and is killed there
sub killed_mid_build
{
	my ($mode) = @_;
	$node->safe_psql('postgres', 'DELETE FROM lms.tenant_roles WHERE user_id = 500001; '
		  . "INSERT INTO lms.tenant_roles VALUES (500001, 'platform_admin')");
	my ($hout, $herr) = ('', '');
	my $holder = IPC::Run::start(
		[
			'psql', '-XAtq', '-d', $node->connstr('postgres'),
			'-c', 'BEGIN', '-c', 'LOCK TABLE lms.slot_trainers IN ACCESS EXCLUSIVE MODE',
			'-c', 'SELECT pg_sleep(60)'
		],
		'>', \$hout, '2>', \$herr);
	my $holder_pid = poll_value("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%'");
	my ($vout, $verr) = ('', '');
	my $waiter =
	  IPC::Run::start([ @as_admin, '-c', 'SELECT count(*) FROM lms.progress' ], '>', \$vout, '2>', \$verr);
	my $victim =
	  poll_value("SELECT pid FROM pg_stat_activity WHERE usename = 'f_admin' AND wait_event_type = 'Lock'");
	ok($victim ne '', "$mode: the admin's rebuild waits inside the build");
	kill 'KILL', $victim if $victim ne '';
	ok(wait_up($holder_pid), "$mode: the server restarts after a backend is killed during a rebuild");
	$holder->kill_kill;
	$waiter->kill_kill;
	is(count_as_admin(), '3000', "$mode: then the admin sees its rows");
	return;
}

# 1. killed in the middle of a rebuild
killed_mid_build('per backend');

# 2. the leader of a parallel query killed while its workers read its shared entry
my ($rout, $rerr) = ('', '');
my $reader = IPC::Run::start(
	[ @as_admin, '-c', "$par SELECT count(*) FROM lms.progress p, generate_series(1, 20000) g WHERE p.user_id + g > 0" ],
	'>', \$rout, '2>', \$rerr);
my $leader = poll_value(
	"SELECT leader_pid FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND leader_pid IS NOT NULL");
ok($leader ne '', 'a parallel query of the admin runs with workers');
my $stat_tmp = $node->data_dir . '/pg_stat_tmp';
my $published = sub { scalar grep { /^lms_visibility\.$leader\./ } map { s{.*/}{}r } glob("$stat_tmp/*") };
my $before = $published->();
kill 'KILL', $leader if $leader ne '';
ok(wait_up($leader), 'the server restarts after the leader is killed');
$reader->kill_kill;
is($before, 1, 'the killed leader had published its entry');
is(count_as_admin($par), '3000', 'a parallel query afterwards answers right');
is($published->(), 0, 'and no file of the dead leader is left in pg_stat_tmp');

# the same, preloaded: the crash restart makes the shared cache anew, and
# the workers of a parallel query read the shared entry
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lms_visibility'");
$node->restart;
killed_mid_build('preloaded');
is($node->safe_psql('postgres', 'SELECT shared_entries FROM lms.cache_stats()'),
	'1', 'preloaded: the shared cache made anew holds the admin\'s entry');
($rout, $rerr) = ('', '');
$reader = IPC::Run::start(
	[ @as_admin, '-c', "$par SELECT count(*) FROM lms.progress p, generate_series(1, 20000) g WHERE p.user_id + g > 0" ],
	'>', \$rout, '2>', \$rerr);
$leader = poll_value(
	"SELECT leader_pid FROM pg_stat_activity WHERE backend_type = 'parallel worker' AND leader_pid IS NOT NULL");
ok($leader ne '', 'preloaded: a parallel query of the admin runs with workers');
kill 'KILL', $leader if $leader ne '';
ok(wait_up($leader), 'preloaded: the server restarts after the leader is killed');
$reader->kill_kill;
is(count_as_admin($par), '3000', 'preloaded: a parallel query afterwards answers right');
is($node->safe_psql('postgres', 'SELECT shared_hits > 0 FROM lms.cache_stats()'),
	't', 'preloaded: its workers read the shared entry');

# 3. maintenance of a million-row store under readers: 10,000 learners in
# 10 groups of consecutive ids, 100 courses, every learner on every course;
# a group admin of one group (100,000 rows) and a coach who sees 5 courses
# of another (5,000 rows, read by the range scan)
$node->safe_psql(
	'postgres', q{
INSERT INTO lms.tenants VALUES (6, 'maintenance', false);
INSERT INTO lms.users (user_id, tenant_id) SELECT i, 6 FROM generate_series(600001, 610002) i;
INSERT INTO lms.groups (group_id, tenant_id, name) SELECT g, 6, 'g' || g FROM generate_series(6001, 6010) g;
INSERT INTO lms.group_members SELECT 6001 + (i - 600001) / 1000, i FROM generate_series(600001, 610000) i;
INSERT INTO lms.content (content_id, tenant_id, kind, title, owner_group_id)
	SELECT c, 6, 'course', 'c', 6001 FROM generate_series(600001, 600100) c;
INSERT INTO lms.catalog_entries SELECT 6002, c FROM generate_series(600001, 600005) c;
INSERT INTO lms.group_roles VALUES (6001, 610001, 'group_admin'), (6002, 610002, 'coach');
INSERT INTO lms.progress (user_id, content_id, score)
	SELECT u, c, 50 FROM generate_series(600001, 610000) u, generate_series(600001, 600100) c;
CREATE ROLE f_gadmin LOGIN;
SELECT lms.bind_role('f_gadmin', 610001);
CREATE ROLE f_coach LOGIN;
SELECT lms.bind_role('f_coach', 610002)});
$node->safe_psql('postgres', 'VACUUM ANALYZE');
my %want;
$want{$_->[0]} = $node->safe_psql('postgres',
	"SELECT count(*) FROM lms.progress WHERE lms.can_view_stats($_->[1], user_id, content_id, context_group_id)")
  for ([ 'f_gadmin', 610001 ], [ 'f_coach', 610002 ]);
is($node->safe_psql('postgres', 'SELECT count(*) FROM lms.progress WHERE user_id > 600000'),
	'1000000', 'the store holds a million progress rows');

# two warm readers, each a session of its bound role
my %session;
for my $role ('f_gadmin', 'f_coach')
{
	$session{$role} = $node->background_psql('postgres', on_error_stop => 0);
	$session{$role}->query_safe("SET ROLE $role");
}
like($session{f_coach}->query_safe('EXPLAIN SELECT count(*) FROM lms.progress'),
	qr/LmsRangeScan/, 'the coach\'s query is a range scan');
my %answers = (f_gadmin => [], f_coach => []);
sub read_once
{
	for my $role ('f_gadmin', 'f_coach')
	{
		my ($out, $err) = $session{$role}->query('SELECT count(*) FROM lms.progress');
		push @{ $answers{$role} }, $err ? "error: $session{$role}{stderr}" : $out;
		$session{$role}{stderr} = '';
	}
}
read_once();

# the maintenance in a session of its own, the readers querying until it ends
my ($mout, $merr) = ('', '');
my $maintenance = IPC::Run::start(
	[
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		'-c', 'VACUUM lms.progress',
		'-c', 'UPDATE lms.progress SET score = 60 WHERE user_id % 7 = 0',
		'-c', 'VACUUM lms.progress',
		'-c', 'VACUUM FULL lms.progress',
		'-c', 'CLUSTER lms.progress USING progress_content_idx',
		'-c', 'ANALYZE lms.progress',
		'-c', 'REINDEX SCHEMA CONCURRENTLY lms'
	],
	'>', \$mout, '2>', \$merr);
while ($maintenance->pumpable)
{
	$maintenance->pump_nb;
	read_once();
}
$maintenance->finish;
is($?, 0, 'VACUUM, VACUUM FULL, CLUSTER and REINDEX SCHEMA CONCURRENTLY ran') or diag($merr);
read_once();

# a relationship change, and back, so that the readers rebuild over the new indexes
$node->safe_psql('postgres', 'DELETE FROM lms.group_members WHERE group_id = 6002 AND user_id = 601001');
read_once() for 1 .. 3;
$node->safe_psql('postgres', 'INSERT INTO lms.group_members VALUES (6002, 601001)');
read_once() for 1 .. 3;

note(scalar(@{ $answers{f_gadmin} }) . ' reads of each reader');
cmp_ok(scalar(@{ $answers{f_gadmin} }), '>', 8, 'the readers read during the maintenance');
is((grep { !/^\d+$/ } @{ $answers{f_gadmin} }), 0,
	'the group admin read through VACUUM FULL, CLUSTER and REINDEX CONCURRENTLY: no error');
is((grep { $_ ne $want{f_gadmin} } @{ $answers{f_gadmin} }), 0, 'and every answer was right');
is((grep { !/^\d+$/ } @{ $answers{f_coach} }), 0, 'the coach (range scan): no error');
my $without = $want{f_coach} - 5;
is((grep { $_ ne $want{f_coach} && $_ ne $without } @{ $answers{f_coach} }),
	0, 'and every answer was its 5,000 rows, or 4,995 while the learner was out');
is((grep { $_ eq $without } @{ $answers{f_coach} }), 3, 'the coach\'s reader saw the change at once');
is($answers{f_coach}[-1], $want{f_coach}, 'and the learner back');
$_->quit for values %session;
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
		  . "WHERE c.relnamespace = 'lms'::regnamespace AND NOT i.indisvalid"),
	'0', 'the store\'s indexes are all valid');

$node->stop;
done_testing();
