# Readers and writers at once (doc/consistency.md): pgbench writers toggle
# memberships and roles for a bounded time while pgbench readers query as
# bound roles and two long-lived sessions keep warm caches.  No transaction
# fails, and the long-lived sessions' answers after the load equal the rules
# applied to the final data by the independent plain-SQL implementation
# (bench/plain_rules.sql).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('concurrency');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('postgres', slurp_file('sample/platform.sql'));
$node->safe_psql('postgres', slurp_file('bench/plain_rules.sql'));
$node->safe_psql('postgres',
	"CREATE ROLE s_coach LOGIN; SELECT lms.bind_role('s_coach', 104); "
	  . "CREATE ROLE s_gadmin LOGIN; SELECT lms.bind_role('s_gadmin', 103)");

my $dir = PostgreSQL::Test::Utils::tempdir;
append_to_file("$dir/writer.sql", <<'SQL');
\set g random(10, 13)
\set i random(1, 6)
\set op random(0, 3)
\if :op = 0
INSERT INTO lms.group_members SELECT :g, (ARRAY[110, 120, 121, 123, 125, 127])[:i] ON CONFLICT DO NOTHING;
\elif :op = 1
DELETE FROM lms.group_members WHERE group_id = :g AND user_id = (ARRAY[110, 120, 121, 123, 125, 127])[:i];
\elif :op = 2
INSERT INTO lms.group_roles SELECT :g, 104, 'coach' ON CONFLICT DO NOTHING;
\else
DELETE FROM lms.group_roles WHERE user_id = 104 AND group_id = :g;
\endif
SQL
append_to_file("$dir/reader.sql", <<'SQL');
\set r random(0, 1)
\if :r = 0
SET ROLE s_coach;
\else
SET ROLE s_gadmin;
\endif
SELECT count(*) FROM lms.progress;
SELECT count(*) FROM lms.users;
RESET ROLE;
SQL

# the long-lived sessions, their caches warm before the load begins
my %session;
for my $role ('s_coach', 's_gadmin')
{
	$session{$role} = $node->background_psql('postgres');
	$session{$role}->query_safe("SET ROLE $role");
	$session{$role}->query_safe('SELECT count(*) FROM lms.progress');
}

my @conn = ('-h', $node->host, '-p', $node->port);
my ($wout, $werr, $rout, $rerr) = ('', '', '', '');
my $writers = IPC::Run::start(
	[ 'pgbench', '-n', @conn, '-c', '3', '-j', '2', '-T', '6', '-f', "$dir/writer.sql", 'postgres' ],
	'>', \$wout, '2>', \$werr);
my $readers = IPC::Run::start(
	[ 'pgbench', '-n', @conn, '-c', '2', '-j', '2', '-T', '6', '-f', "$dir/reader.sql", 'postgres' ],
	'>', \$rout, '2>', \$rerr);
# the long-lived sessions read all along
my $reads = 0;
while ($writers->pumpable || $readers->pumpable)
{
	$writers->pump_nb if $writers->pumpable;
	$readers->pump_nb if $readers->pumpable;
	$session{$_}->query_safe('SELECT count(*) FROM lms.progress') for keys %session;
	$reads++;
}
ok($writers->finish, 'writers ran without an aborted client') or diag($werr);
ok($readers->finish, 'readers ran without an aborted client') or diag($rerr);
my ($wfailed) = $wout =~ /^number of failed transactions: (\d+)/m;
my ($rfailed) = $rout =~ /^number of failed transactions: (\d+)/m;
is($wfailed, 0, 'no writer transaction failed');
is($rfailed, 0, 'no reader transaction failed');
my ($changes) = $wout =~ /^number of transactions actually processed: (\d+)/m;
note("$changes changes; the long-lived sessions read $reads times during them");

for my $role ('s_coach', 's_gadmin')
{
	my $p = $node->safe_psql('postgres',
		"SELECT principal FROM lms.role_bindings WHERE role = '$role'::regrole");
	my $expected = $node->safe_psql('postgres', <<"SQL");
SELECT count(*) FROM lms.progress pr
WHERE pr.user_id IN (SELECT user_id FROM lms_plain.visible_users($p))
  AND EXISTS (SELECT 1 FROM lms_plain.content_grants($p) g WHERE g.content_id = pr.content_id
			  AND (g.ctx IS NULL OR g.ctx = pr.context_group_id))
SQL
	is($session{$role}->query_safe('SELECT count(*) FROM lms.progress'),
		$expected, "$role\'s long-lived session ends with the rules applied to the final data");
	$session{$role}->quit;
}

$node->stop;
done_testing();
