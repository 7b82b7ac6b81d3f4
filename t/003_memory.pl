# Memory: a backend running 10,000 statements with changing principals
# (more principals than the cache keeps, and store changes in between)
# does not grow: its memory after 10,000 statements is within 10% of after
# 1,000, and the cache stays within its bound of lms.cache_principals.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('memory');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('postgres', slurp_file('sample/platform.sql'));
$node->safe_psql('postgres',
	"INSERT INTO lms.users (user_id, tenant_id) SELECT 300000 + i, 1 FROM generate_series(1, 200) i; "
	  . "INSERT INTO lms.group_roles SELECT 10 + i % 4, 300000 + i, "
	  . "(ARRAY['coach', 'group_admin', 'group_analyst'])[1 + i % 3] FROM generate_series(1, 200) i");

# one session: 200 principals through a cache of 16, the tenant's setting
# flipped every 500 statements; the backend's memory after 1,000 and 10,000
my $script = "SET lms.cache_principals = 16;\nCREATE TEMP TABLE mem (at int, bytes bigint);\n";
for my $i (1 .. 10000)
{
	$script .=
	  "UPDATE lms.tenants SET extended_visibility = NOT extended_visibility WHERE tenant_id = 1;\n"
	  if $i % 500 == 0;
	$script .= 'SELECT count(*) FROM lms.visible_users(' . (300001 + $i % 200) . ");\n";
	$script .= "INSERT INTO mem SELECT $i, sum(total_bytes) FROM pg_backend_memory_contexts;\n"
	  if $i == 1000 || $i == 10000;
}
$script .= "SELECT (SELECT bytes FROM mem WHERE at = 1000) || ' ' || (SELECT bytes FROM mem WHERE at = 10000) "
  . "|| ' ' || (SELECT principals_cached <= 16 FROM lms.cache_stats());\n";
my @out = split /\n/, $node->safe_psql('postgres', $script);
my ($m1, $m2, $bounded) = split / /, $out[-1];
note("backend memory after 1,000 statements: $m1 bytes; after 10,000: $m2 bytes");
cmp_ok($m2, '<=', $m1 * 1.10, 'no growth across 10,000 statements (within 10%)');
is($bounded, 'true', 'the cache keeps at most lms.cache_principals principals');

$node->stop;
done_testing();
