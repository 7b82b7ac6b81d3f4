# The application path behind a real pool: PgBouncer in transaction-pooling
# mode with 2 server connections, and examples/check.js (Node's pg driver)
# sending 600 concurrent requests for 6 principals through it.  Every
# request sees exactly its principal's rows; a session-level principal is
# refused; requests without a principal never see a row, so no principal
# outlives the transaction that set it on a pooled server connection; and
# a learner manager's team write with SET LOCAL, then none without it.
#
# Needs pgbouncer, node and examples/node_modules/pg (npm install in
# examples/); without them the test is skipped, unless LMS_TEST_ALL is set
# (scripts/test.sh sets it), when it fails.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $missing =
	system('sh -c "command -v pgbouncer" >/dev/null') != 0 ? 'pgbouncer'
  : system('sh -c "command -v node" >/dev/null') != 0 ? 'node'
  : !-d 'examples/node_modules/pg' ? 'examples/node_modules/pg (run npm install in examples/)'
  :                                  '';
if ($missing)
{
	die "$missing not found\n" if $ENV{LMS_TEST_ALL};
	plan skip_all => "$missing not found";
}

my $node = PostgreSQL::Test::Cluster->new('pgbouncer');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('postgres', slurp_file('sample/platform.sql'));
$node->safe_psql('postgres', "CREATE ROLE app_server LOGIN; SELECT lms.trust_role('app_server')");

# PgBouncer (t/pgbouncer.ini.in) for app_server
my $dir = PostgreSQL::Test::Utils::tempdir;
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my $host = $node->host;
my $port = $node->port;
append_to_file("$dir/users.txt", qq{"app_server" ""\n});
my %fill = (
	DB => 'pool_test',
	HOST => $host,
	PORT => $port,
	DBNAME => 'postgres',
	BPORT => $bport,
	DIR => $dir);
append_to_file("$dir/pgbouncer.ini", slurp_file('t/pgbouncer.ini.in') =~ s/@(\w+)@/$fill{$1}/gr);
is(system('pgbouncer', '-d', "$dir/pgbouncer.ini"), 0, 'pgbouncer started in transaction mode');
END { kill 'TERM', slurp_file("$dir/pgbouncer.pid") if defined $dir && -f "$dir/pgbouncer.pid"; }

# bouncer(sql...): psql through the pool as app_server, one -c per
# command; output and errors
sub bouncer
{
	my $out = '';
	IPC::Run::run [
		'psql', '-X', '-q', '-At', '-h', '127.0.0.1', '-p', $bport,
		'-U', 'app_server', '-d', 'pool_test', map { ('-c', $_) } @_
	  ],
	  '>', \$out, '2>&1';
	return $out;
}
my $up = 0;
for (1 .. 100)
{
	if (bouncer('SELECT 1') =~ /^1$/m) { $up = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($up, 'the pool answers');

# what each principal must see, from the rules, computed directly
my @expected;
for my $p (101, 103, 104, 106, 108, 112)
{
	my $rows = $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(user_id || ':' || content_id, ' ' ORDER BY user_id, content_id), '-') "
		  . "FROM lms.progress WHERE lms.can_view_stats($p, user_id, content_id, context_group_id)");
	push @expected, qq{"$p": "$rows"};
}
append_to_file("$dir/expected.json", '{' . join(', ', @expected) . "}\n");

my $log = '';
{
	local $ENV{APP_HOST} = '127.0.0.1';
	local $ENV{APP_PORT} = $bport;
	local $ENV{APP_DB} = 'pool_test';
	IPC::Run::run [ 'node', 'examples/check.js', "$dir/expected.json", '600' ], '>', \$log, '2>&1';
}
my $rc = $?;
note($log);
like($log, qr/concurrent requests: 600 right, 0 wrong, 0 failed/,
	'600 concurrent requests for 6 principals: each saw exactly its rows');
like($log, qr/session-level principal refused: true/, 'a session-level principal is refused (42501)');
like($log, qr/ 0 saw rows/, 'requests without a principal never saw a row');
is($rc, 0, 'examples/check.js passed');
is( $node->safe_psql('postgres', "SELECT count(*) <= 2 FROM pg_stat_activity WHERE usename = 'app_server'"),
	't', 'the pool had at most 2 server connections');

# team writes behind the pool (doc/team-management.md): the learner manager's principal
# set with SET LOCAL builds a team; the next transaction on the same pooled
# server connection has no principal and may write nothing
bouncer("BEGIN; SET LOCAL lms.principal = 102; "
	  . "INSERT INTO lms.groups (group_id, tenant_id, name) VALUES (60, 1, 'Pooled Team'); "
	  . "INSERT INTO lms.group_members VALUES (60, 120); COMMIT;");
is( $node->safe_psql('postgres',
		"SELECT g.created_by || ':' || count(m.user_id) FROM lms.groups g "
		  . "LEFT JOIN lms.group_members m USING (group_id) WHERE g.group_id = 60 GROUP BY g.created_by"),
	'102:1',
	'behind PgBouncer, SET LOCAL lets the learner manager build a team');
# (the server connection may still hold the session-level principal
# examples/check.js set to see it refused: refused all the same)
like(bouncer('\\set VERBOSITY sqlstate', 'INSERT INTO lms.group_members VALUES (60, 121)'),
	qr/^ERROR:  42501/m, 'the next pooled transaction has no principal: its write is refused (42501)');
is($node->safe_psql('postgres', 'SELECT count(*) FROM lms.group_members WHERE group_id = 60'),
	'1', 'and nothing was written');
like(
	bouncer('SET lms.principal = 102', 'INSERT INTO lms.group_members VALUES (60, 121)'),
	qr/SET LOCAL/,
	'and a session-level principal cannot be set for a write either');

$node->stop;
done_testing();
