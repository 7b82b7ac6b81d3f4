# A binding never outlives its role (doc/accountability.md), tested by forcing a new
# role to receive the OID of a dropped bound role and of a dropped trusted
# role: pg_resetwal -o sets the next OID of this test's own cluster.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('oid_reuse');
$node->init;
$node->start;

sub sql
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# an error's text, or '' when the statements succeed
sub refusal
{
	my ($sql) = @_;
	my ($stdout, $stderr);
	$node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr);
	return $stderr;
}

sql('CREATE EXTENSION lms_visibility');
sql(slurp_file('sample/platform.sql'));
sql(  "CREATE ROLE victim LOGIN; SELECT lms.bind_role('victim', 101); "
	  . "CREATE ROLE victim_app LOGIN; SELECT lms.trust_role('victim_app'); "
	  . 'GRANT SELECT ON lms.progress TO victim_app');
my $bound_oid = sql("SELECT 'victim'::regrole::oid");
my $trusted_oid = sql("SELECT 'victim_app'::regrole::oid");

is(sql('SET ROLE victim; SELECT count(*) FROM lms.progress'),
	16, "the bound role sees the platform admin's rows");
is( sql(  'SET ROLE victim_app; BEGIN; SET LOCAL lms.principal = 101; '
		  . 'SELECT count(*) FROM lms.progress; COMMIT'),
	16, 'the trusted role acts for a principal');
like(refusal('DROP ROLE victim'), qr/cannot be dropped because some objects depend on it/,
	'DROP ROLE refuses a bound role');
like(refusal('DROP ROLE victim_app'), qr/cannot be dropped because some objects depend on it/,
	'and a trusted one');
sql('DROP OWNED BY victim, victim_app; DROP ROLE victim; DROP ROLE victim_app');
# a dead row still holds its OID until VACUUM removes it
sql('VACUUM pg_catalog.pg_authid');
is( sql(      "SELECT (SELECT count(*) FROM lms.role_bindings WHERE role::oid = $bound_oid)::text "
		  . "|| (SELECT count(*) FROM lms.trusted_roles WHERE role::oid = $trusted_oid)"),
	'11', 'DROP OWNED BY and DROP ROLE leave the rows of the bindings');

# reuse(oid, name): a new role with the OID of a dropped role.  The next OID
# is set a little below it (the server may take one at startup), and roles
# are created until one receives it.
sub reuse
{
	my ($oid, $name) = @_;
	my $i;

	$node->stop;
	system_or_bail('pg_resetwal', '-o', $oid - 3, $node->data_dir);
	$node->start;
	for $i (1 .. 10)
	{
		my $got = sql("CREATE ROLE probe_${name}_$i; SELECT 'probe_${name}_$i'::regrole::oid");
		if ($got >= $oid)
		{
			sql(      "ALTER ROLE probe_${name}_$i RENAME TO $name; ALTER ROLE $name LOGIN; "
				  . "GRANT SELECT ON lms.progress TO $name");
			last;
		}
	}
	is(sql("SELECT '$name'::regrole::oid"), $oid, "$name received OID $oid");
}

reuse($bound_oid, 'newcomer');
is(sql('SET ROLE newcomer; SELECT lms.current_principal() IS NULL'),
	't', "a role with the dropped bound role's OID acts for nobody");
is(sql('SET ROLE newcomer; SELECT count(*) FROM lms.progress'), 0, 'and sees no row');
reuse($trusted_oid, 'newcomer_app');
like(
	refusal(
		'SET ROLE newcomer_app; BEGIN; SET LOCAL lms.principal = 101; SELECT count(*) FROM lms.progress'),
	qr/is not allowed to set/,
	"a role with the dropped trusted role's OID may not act for anyone");
sql('CREATE ROLE victim LOGIN; GRANT SELECT ON lms.progress TO victim');
is(sql('SET ROLE victim; SELECT count(*) FROM lms.progress'),
	0, "a new role of the dropped role's name inherits nothing either");
sql("SELECT lms.bind_role('newcomer', 104)");
is(sql('SET ROLE newcomer; SELECT lms.current_principal()'),
	104, 'bound anew, the role acts for its new principal');

$node->stop;
done_testing();
