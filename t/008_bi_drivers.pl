# The drivers BI tools really use, as logins bound to principals: pgjdbc
# (Debian's libpostgresql-jdbc-java on Java 17, examples/BiJdbc.java) and
# psqlODBC under unixODBC (examples/bi_odbc.py).  Each introspects schema
# lms, reads every table and view it finds, and runs the two dashboard
# queries as prepared statements more often than pgjdbc's
# prepareThreshold.  Every line must equal what psql gives the same login,
# and psql's rows must be the principal's (the reference: the rule
# functions as the superuser); then the same through PgBouncer in
# transaction mode.
#
# Needs java, /usr/share/java/postgresql.jar, python3 with pyodbc, the
# psqlODBC driver and pgbouncer; without them the test is skipped, unless
# LMS_TEST_ALL is set (scripts/test.sh sets it), when it fails.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $jar = '/usr/share/java/postgresql.jar';
my $missing =
	system('sh -c "command -v java" >/dev/null') != 0 ? 'java'
  : !-f $jar ? $jar
  : system('/usr/bin/python3 -c "import pyodbc" 2>/dev/null') != 0 ? 'python3-pyodbc'
  : system('sh -c "odbcinst -q -d | grep -qi postgresql" 2>/dev/null') != 0 ? 'the psqlODBC driver'
  : system('sh -c "command -v pgbouncer" >/dev/null') != 0 ? 'pgbouncer'
  :                                                            '';
if ($missing)
{
	die "$missing not found\n" if $ENV{LMS_TEST_ALL};
	plan skip_all => "$missing not found";
}

my $since = '2026-09-03';
my %readers = (
	s_admin => 101,
	s_gadmin => 103,
	s_coach => 104,
	s_analyst => 105,
	s_manager => 108,
	s_trainer => 112,
	s_globex => 202);

my $node = PostgreSQL::Test::Cluster->new('bi_drivers');
$node->init;
# the drivers connect over TCP
$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE bi');
$node->safe_psql('bi', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('bi', slurp_file('sample/platform.sql'));
for my $r (sort keys %readers)
{
	$node->safe_psql('bi', "CREATE ROLE $r LOGIN; SELECT lms.bind_role('$r', $readers{$r})");
}
# bi_expected(since): what psql gives the calling role, in the clients' format
$node->safe_psql('bi', <<'SQL');
CREATE FUNCTION public.bi_expected(since timestamptz) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	t name;
	n bigint;
	r record;
BEGIN
	FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'lms'::regnamespace
			 AND c.relkind IN ('r', 'p', 'v') ORDER BY c.relname COLLATE "C" LOOP
		RETURN NEXT format('columns %s %s', t, (SELECT count(*) FROM pg_attribute a
			WHERE a.attrelid = format('lms.%I', t)::regclass AND a.attnum > 0 AND NOT a.attisdropped));
		BEGIN
			EXECUTE format('SELECT count(*) FROM lms.%I', t) INTO n;
			RETURN NEXT format('table %s rows %s', t, n);
		EXCEPTION WHEN OTHERS THEN
			RETURN NEXT format('table %s refused %s', t, SQLSTATE);
		END;
	END LOOP;
	FOR r IN SELECT c.title, count(*) AS learners, count(p.completed_at) AS completed
			 FROM lms.progress p JOIN lms.content c USING (content_id)
			 WHERE p.started_at >= since GROUP BY c.title ORDER BY c.title LOOP
		RETURN NEXT format('course %s|%s|%s', r.title, r.learners, r.completed);
	END LOOP;
	RETURN NEXT 'executions course 8 identical true';
	FOR r IN SELECT g.name, count(*) AS rows, count(p.completed_at) AS completed
			 FROM lms.progress p JOIN lms.group_members m USING (user_id) JOIN lms.groups g USING (group_id)
			 WHERE p.started_at >= since GROUP BY g.name ORDER BY g.name LOOP
		RETURN NEXT format('group %s|%s|%s', r.name, r.rows, r.completed);
	END LOOP;
	RETURN NEXT 'executions group 8 identical true';
END $$;
SQL

# reference(p): the rows the rules give principal p, as the superuser
sub reference
{
	my ($p) = @_;
	return $node->safe_psql('bi', <<"SQL");
SELECT format('progress %s users %s content %s groups %s',
	(SELECT count(*) FROM lms.progress WHERE lms.can_view_stats($p, user_id, content_id, context_group_id)),
	(SELECT count(*) FROM lms.visible_users($p)),
	(SELECT count(*) FROM lms.accessible_content($p)),
	(SELECT count(*) FROM lms.groups g WHERE EXISTS (SELECT 1 FROM lms.tenant_roles r JOIN lms.users u USING (user_id)
			WHERE r.user_id = $p AND u.tenant_id = g.tenant_id AND r.role IN ('platform_admin', 'learner_manager'))
		OR g.group_id IN (SELECT lms._subtree(gr.group_id) FROM lms.group_roles gr WHERE gr.user_id = $p
			AND gr.role IN ('group_admin', 'group_analyst', 'group_leader'))
		OR g.group_id IN (SELECT gr.group_id FROM lms.group_roles gr WHERE gr.user_id = $p AND gr.role IN ('coach', 'editor'))))
SQL
}

# rows_of(lines): table -> rows, from a client's output
sub rows_of
{
	my %n = map { /^table (\S+) rows (\d+)$/ ? ($1 => $2) : () } split /\n/, $_[0];
	return \%n;
}

# seen(lines): the four counts of reference(), from a client's output
sub seen
{
	my $n = rows_of($_[0]);
	return join ' ', map { "$_ " . ($n->{$_} // '') } qw(progress users content groups);
}

# closed(lines): the tables of the store that gave the login a row
# although readers get none of them
sub closed
{
	my $n = rows_of($_[0]);
	return join ' ', grep {
		$n->{$_} > 0
		  && !/^(progress|enrollments|users|content|groups|group_members|progress_report)$/
	} sort keys %$n;
}

# client(command...): its output and errors
sub client
{
	my ($out, $err) = ('', '');
	IPC::Run::run [@_], '>', \$out, '2>', \$err;
	return $out . $err;
}

my %jdbc;
# run_clients(label, port, jdbc options): every reader through both drivers
sub run_clients
{
	my ($label, $port, $opts) = @_;
	for my $r (sort keys %readers)
	{
		my $psql = client('psql', '-X', '-At', '-h', $node->host, '-p', $node->port, '-U', $r, '-d', 'bi',
			'-c', "SELECT * FROM public.bi_expected('$since')");
		my $jdbc = client('java', '-cp', $jar, 'examples/BiJdbc.java',
			"jdbc:postgresql://127.0.0.1:$port/bi$opts", $r, $since);
		my $odbc = client('/usr/bin/python3', 'examples/bi_odbc.py', '127.0.0.1', $port, 'bi', $r, $since);
		$jdbc{$r} = $jdbc;
		if ($label eq 'direct')
		{
			is(seen($psql), reference($readers{$r}), "$r: psql's rows are the principal's");
			is(closed($psql), '', "$r: and no row of a closed table");
			is(scalar(() = $jdbc =~ / server_prepared true$/mg),
				2, "$r: pgjdbc switched to server-side prepared statements");
		}
		is($jdbc =~ s/ server_prepared [a-z]*$//mgr,
			$psql, "$r ($label): pgjdbc introspects and reads exactly psql's rows");
		is($odbc, $psql, "$r ($label): psqlODBC introspects and reads exactly psql's rows");
	}
}

run_clients('direct', $node->port, '');
is(scalar(() = $jdbc{s_gadmin} =~ /^course /mg), 6, "the group admin's dashboard has rows");
is(scalar(() = $jdbc{s_globex} =~ /^course (Safety|Compliance|Negotiation)/mg),
	0, "the platform admin of tenant 2 sees none of tenant 1's courses");

# through PgBouncer in transaction mode: pgjdbc without server-side
# prepared statements (PgBouncer before 1.21 does not carry them across
# server connections), psqlODBC's unnamed ones as they are
my $dir = PostgreSQL::Test::Utils::tempdir;
my $bport = PostgreSQL::Test::Cluster::get_free_port();
append_to_file("$dir/users.txt", join '', map { qq{"$_" ""\n} } sort keys %readers);
my %fill = (
	DB => 'bi',
	HOST => $node->host,
	PORT => $node->port,
	DBNAME => 'bi',
	BPORT => $bport,
	DIR => $dir);
append_to_file("$dir/pgbouncer.ini", slurp_file('t/pgbouncer.ini.in') =~ s/@(\w+)@/$fill{$1}/gr);
is(system('pgbouncer', '-d', "$dir/pgbouncer.ini"), 0, 'pgbouncer started in transaction mode');
END { kill 'TERM', slurp_file("$dir/pgbouncer.pid") if defined $dir && -f "$dir/pgbouncer.pid"; }
my $up = 0;
for (1 .. 100)
{
	if (client('psql', '-X', '-At', '-h', '127.0.0.1', '-p', $bport, '-U', 's_admin', '-d', 'bi', '-c', 'SELECT 1')
		=~ /^1$/m)
	{
		$up = 1;
		last;
	}
	select(undef, undef, undef, 0.1);
}
ok($up, 'the pool answers');
run_clients('pgbouncer', $bport, '?prepareThreshold=0');

$node->stop;
done_testing();
