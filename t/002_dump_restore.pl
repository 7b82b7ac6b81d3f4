# pg_dump and pg_restore into a fresh database keep every row of the store
# (each table is registered with pg_extension_config_dump), the bindings
# and trusts with their anchors, the pseudonyms' secret and the
# relationship history, so every login sees the same rows and the same
# pseudonyms afterwards, and the history goes on.  The restore runs with
# lms.history off, as doc/accountability.md says: its rows are history
# already.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('src', slurp_file('sample/platform.sql'));
my %readers = (r_admin => 101, r_gadmin => 103, r_coach => 104, r_manager => 108, r_globex => 202);
for my $r (sort keys %readers)
{
	$node->safe_psql('src', "CREATE ROLE $r LOGIN; SELECT lms.bind_role('$r', $readers{$r})");
}
$node->safe_psql('src',
	"CREATE ROLE r_vendor LOGIN; SELECT lms.bind_role('r_vendor', 103, personal_data => false); "
	  . "SELECT lms.trust_role('r_admin')");
$node->safe_psql('src', 'UPDATE lms.groups SET parent_group_id = 10 WHERE group_id = 30; '
	  . 'UPDATE lms.groups SET parent_group_id = NULL WHERE group_id = 30');

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
{
	local $ENV{PGOPTIONS} = '-c lms.history=off';
	$node->command_ok([ 'pg_restore', '-d', $node->connstr('dst'), $dump ], 'pg_restore');
}

# every table of the store, from the catalog: the same rows
my @tables = split /\n/, $node->safe_psql('src',
	"SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'lms'::regnamespace "
	  . "AND c.relkind = 'r' AND c.relname <> 'secret' ORDER BY 1");
cmp_ok(scalar @tables, '>=', 20, 'the store has its tables');
for my $t (@tables)
{
	# the history's horizon: the restore's install adds its own, later row;
	# the earliest counts
	my $q = $t eq 'history_horizon'
	  ? 'SELECT min(since) FROM lms.history_horizon'
	  : "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM lms.$t t";
	is($node->safe_psql('dst', $q), $node->safe_psql('src', $q), "lms.$t survives dump and restore");
}

# every login, the same rows, and the pseudonymous one the same keys
my $rows =
  "SELECT coalesce(string_agg(user_id || ':' || content_id, ' ' ORDER BY user_id, content_id), '-') FROM lms.progress";
for my $r (sort keys %readers)
{
	is($node->safe_psql('dst', "SET ROLE $r; $rows"),
		$node->safe_psql('src', "SET ROLE $r; $rows"), "$r sees the same rows after restore");
}
my $keys = "SELECT string_agg(learner_key, ' ' ORDER BY user_id) FROM lms.group_learners(10)";
my $before = $node->safe_psql('src', "SET ROLE r_vendor; $keys");
like($before, qr/^[0-9a-f]{64}/, 'the pseudonymous login gets learner keys');
is($node->safe_psql('dst', "SET ROLE r_vendor; $keys"), $before, 'the same pseudonyms after restore');
is($node->safe_psql('dst', "SET ROLE r_admin; BEGIN; SET LOCAL lms.principal = 104; $rows; COMMIT"),
	$node->safe_psql('src', "SET ROLE r_coach; $rows"), 'and the trusted role acts for a principal again');

# the history goes on after the restore, after what it restored
my $last = "SELECT relation || ' ' || change || ' ' || coalesce(new_row, old_row)::text FROM lms.history ORDER BY id DESC LIMIT 1";
like($node->safe_psql('src', $last), qr/^groups update .*"parent_group_id": null/, 'the history has the changes');
$node->safe_psql('dst', 'INSERT INTO lms.group_members VALUES (11, 129)');
like($node->safe_psql('dst', $last), qr/^group_members insert .*"user_id": 129/,
	'a change after the restore is kept after the restored history');

$node->stop;
done_testing();
