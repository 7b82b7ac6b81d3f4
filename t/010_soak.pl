# A soak test of consistency under load (t/LmsSoak.pm): while memberships
# and roles change and statistics are written,
#   - readers bound to principals (READ COMMITTED and REPEATABLE READ),
#   - a trusted application switching principals per transaction,
#   - the same readers on a hot standby, reading the replayed log,
# answer as the relationships committed before their transactions say.
# LMS_SOAK_PLANT=trigger disables the invalidation trigger of group_members
# (the bug the test must catch: readers keep stale entries);
# LMS_SOAK_TXNS sets the transactions of each reader (10,000).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LmsSoak;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $txns = $ENV{LMS_SOAK_TXNS} // 10000;
my $w    = PostgreSQL::Test::Utils::tempdir('soak');

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# the framework logs every statement: 140,000 reader transactions slow it down
$primary->append_conf('postgresql.conf', 'log_statement = none');
$primary->start;
LmsSoak::setup($primary);
if (($ENV{LMS_SOAK_PLANT} // '') eq 'trigger')
{
	$primary->safe_psql('soak_test', 'ALTER TABLE lms.group_members DISABLE TRIGGER invalidate_cache');
	note "planted: group_members' invalidation trigger disabled";
}
LmsSoak::write_inputs($primary, $w);

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby, 'replay');

my $load = LmsSoak::start_load($primary, $w, LmsSoak::changer_script(0));
my @readers;
for my $r (
	[ 'primary_bound1', 'bound', 11, $primary, 'soak_7001', 7001 ],
	[ 'primary_bound2', 'bound', 12, $primary, 'soak_7002', 7002 ],
	[ 'primary_rr',     'rr',    13, $primary, 'soak_7003', 7003 ],
	[ 'primary_app',    'app',   14, $primary, 'soak_app',  0 ],
	[ 'standby_bound',  'bound', 21, $standby, 'soak_7004', 7004 ],
	[ 'standby_rr',     'rr',    22, $standby, 'soak_7006', 7006 ],
	[ 'standby_app',    'app',   23, $standby, 'soak_app',  0 ])
{
	push @readers, LmsSoak::start_reader($r->[3], $w, @$r[ 0 .. 2 ], @$r[ 4, 5 ], $txns);
}
$_->finish for @readers;
LmsSoak::stop_load($w, $load);

my @outs = (glob("$w/primary_*.out"), glob("$w/standby_*.out"));
is(scalar @outs, 7, 'seven readers');
LmsSoak::check($primary, $w, @outs);

$standby->stop;
$primary->stop;
done_testing();
