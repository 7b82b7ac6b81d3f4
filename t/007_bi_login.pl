# The BI path, end to end as the outside analyst's login (the recipe of the
# README's quick start): create a login, bind it, connect with psql and
# with Node's pg driver (examples/bi_query.js), export the group progress
# report as CSV.
#
# Needs node and examples/node_modules/pg (npm install in examples/);
# without them the test is skipped, unless LMS_TEST_ALL is set
# (scripts/test.sh sets it), when it fails.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $missing =
	system('sh -c "command -v node" >/dev/null') != 0 ? 'node'
  : !-d 'examples/node_modules/pg' ? 'examples/node_modules/pg (run npm install in examples/)'
  :                                  '';
if ($missing)
{
	die "$missing not found\n" if $ENV{LMS_TEST_ALL};
	plan skip_all => "$missing not found";
}

my $node = PostgreSQL::Test::Cluster->new('bi_login');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE bi');
$node->safe_psql('bi', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('bi', slurp_file('sample/platform.sql'));
$node->safe_psql('bi', "CREATE ROLE ana_bi LOGIN; SELECT lms.bind_role('ana_bi', 105)");

# as_analyst(sql): psql as the analyst's login; output and errors
sub as_analyst
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'psql', '-X', '-At', '-d', $node->connstr('bi') . ' user=ana_bi', '-c', $sql ],
	  '>', \$out, '2>', \$err;
	chomp $out;
	return $out . $err;
}

my $expected = $node->safe_psql('bi',
	"SELECT count(*) FROM lms.progress p "
	  . "WHERE lms.can_view_stats(105, p.user_id, p.content_id, p.context_group_id) "
	  . "AND p.user_id IN (SELECT m.user_id FROM lms.group_members m WHERE m.group_id IN (SELECT lms._subtree(10)))");
cmp_ok($expected, '>', 0, 'the analyst may see rows of the group tree');
my @csv = split /\n/,
  as_analyst('COPY (SELECT * FROM lms.group_progress_report(10)) TO STDOUT WITH CSV HEADER');
is($csv[0],
	'first_name,last_name,email,company,completed_at,started_at,activated_at,expires_at,course_name,'
	  . 'last_sign_in_at,viewed_pct,completed_pct,custom_fields,learner_key',
	'the CSV export starts with the export columns');
is(scalar(@csv) - 1, $expected, 'and has one line per row the analyst may see');
is(as_analyst('SELECT lms.current_principal()'), '105', 'psql as the analyst: the principal is its binding');
like(as_analyst('SELECT count(*) FROM lms.group_roles'), qr/permission denied/,
	'the analyst cannot read the relationship tables');

my ($out, $err) = ('', '');
IPC::Run::run [ 'node', 'examples/bi_query.js', 'ana_bi', 'bi' ], '>', \$out, '2>', \$err,
  init => sub { $ENV{PGHOST} = $node->host; $ENV{PGPORT} = $node->port; };
chomp $out;
my $all = $node->safe_psql('bi',
	"SELECT count(*) FROM lms.progress p WHERE lms.can_view_stats(105, p.user_id, p.content_id, p.context_group_id)");
my $users = $node->safe_psql('bi', 'SELECT count(*) FROM lms.visible_users(105)');
is($out . $err, "principal=105 report_rows=$all users=$users", "Node's pg driver as the analyst sees the same");

$node->stop;
done_testing();
