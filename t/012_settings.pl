# No superuser-only setting of the extension can be changed by a role that
# is not a superuser, by any route: the connection's startup options
# (libpq's options= and PGOPTIONS), SET before or after the library is
# loaded in the session, ALTER ROLE/DATABASE ... SET by the role itself.  A
# value such a role tried to set is never in force: the configured one is
# (postgresql.conf, ALTER SYSTEM, ALTER ROLE/DATABASE ... SET by a
# superuser), and for lms.audit the session's reads are logged as
# configured.  A superuser, and a role granted SET on the setting, may.
# Then the same with the library in shared_preload_libraries, where the
# startup option is refused at connection, and ALTER SYSTEM SET lms.audit
# works in a fresh session as the README writes it.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('settings');
$node->init;
# not preloaded (whatever TEMP_CONFIG says), the configured values (none of
# them the built-in default) and a log line prefix that names the session
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = ''
lms.audit = 'statements'
lms.cache_memory = '32MB'
lms.cache_principals = 100
log_line_prefix = '%a '
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE s');
$node->safe_psql('s', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('s', slurp_file('sample/platform.sql'));
$node->safe_psql('s', "CREATE ROLE ana LOGIN; SELECT lms.bind_role('ana', 105)");
$node->safe_psql('postgres', 'CREATE DATABASE anas OWNER ana');

# session(user, sql, options => '-c ...', pgoptions => '-c ...', app => name):
# one psql session of user in database s; its output and errors
my $sessions = 0;
sub session
{
	my ($user, $sql, %p) = @_;
	my $app = $p{app} // 'settings_' . ++$sessions;
	my $connstr = $node->connstr('s') . " user=$user application_name=$app";
	$connstr .= " options='$p{options}'" if defined $p{options};
	local $ENV{PGOPTIONS} = $p{pgoptions} if defined $p{pgoptions};
	my ($out, $err) = ('', '');
	IPC::Run::run [ 'psql', '-X', '-q', '-At', '-d', $connstr, '-c', $sql ], '>', \$out, '2>', \$err;
	chomp $out;
	return ($out, $err);
}

# audited(app, offset): whether the log has an audit line of session app
sub audited
{
	my ($app, $offset) = @_;
	my $log = slurp_file($node->logfile, $offset);
	return $log =~ /^\Q$app\E LOG:  lms_audit,105,"ana"/m ? 1 : 0;
}

my $read = 'SELECT count(*) > 0 FROM lms.progress';
my %configured = (
	'lms.audit' => 'statements',
	'lms.cache_memory' => '32MB',
	'lms.cache_principals' => '100',
	'lms.row_shortcut' => 'on',
	'lms.allow_session_principal' => 'off',
	'lms.history' => 'on',
);
my %tried = (
	'lms.audit' => 'off',
	'lms.cache_memory' => '1GB',
	'lms.cache_principals' => '5',
	'lms.row_shortcut' => 'off',
	'lms.allow_session_principal' => 'on',
	'lms.history' => 'off',
);
my $show_all = join(' || \',\' || ', map { "current_setting('$_')" } sort keys %configured);
my $want_all = join(',', map { $configured{$_} } sort keys %configured);
my $tried_all = join(' ', map { "-c $_=$tried{$_}" } sort keys %tried);

# 1. the startup options, both ways a client gives them
for my $route ('options', 'pgoptions')
{
	my $offset = -s $node->logfile;
	my ($out, $err) = session('ana', "$read; SELECT $show_all", $route => $tried_all, app => "route_$route");
	is($out, "t\n$want_all", "$route: every superuser-only setting keeps its configured value");
	like($err, qr/permission denied to set parameter "lms.audit"/, "$route: and the refusal is said");
	ok(audited("route_$route", $offset), "$route: the reader's statement is audited as configured");
}

# a writer of the store cannot keep its change out of the history by a
# startup option, nor by a SET before the library loads
$node->safe_psql('s', 'CREATE ROLE wr LOGIN IN ROLE lms_writer');
for my $route ('options', 'pgoptions', 'set')
{
	my $user = 100 + length $route;
	my $sql = ($route eq 'set' ? "SET lms.history = off; " : '')
	  . "INSERT INTO lms.group_members VALUES (11, $user); DELETE FROM lms.group_members WHERE group_id = 11 AND user_id = $user";
	session('wr', $sql, ($route eq 'set' ? () : ($route => '-c lms.history=off')));
	is($node->safe_psql('s', "SELECT string_agg(change || ' ' || by_role, ', ' ORDER BY id) FROM lms.history "
		  . "WHERE relation = 'group_members' AND coalesce(new_row, old_row)->>'user_id' = '$user'"),
		'insert wr, delete wr', "$route: the writer's change and its revert are in the history");
}

# 2. SET before the library is loaded, and after
{
	my $offset = -s $node->logfile;
	my ($out, $err) = session('ana',
		join('; ', map { "SET $_ = '$tried{$_}'" } sort keys %tried) . "; $read; SELECT $show_all",
		app => 'set_before');
	is($out, "t\n$want_all", 'SET before the library loads: the configured values stay');
	ok(audited('set_before', $offset), 'SET before the library loads: the reader is audited');
	for my $name (sort keys %tried)
	{
		(undef, $err) = session('ana', "$read; SET $name = '$tried{$name}'");
		like($err, qr/permission denied to set parameter "\Q$name\E"/, "SET $name after the library loads is refused");
	}
}

# 3. ALTER ROLE by the role itself, ALTER DATABASE by the database's owner
for my $name (sort keys %tried)
{
	my (undef, $err) = session('ana', "ALTER ROLE ana SET $name = '$tried{$name}'");
	like($err, qr/permission denied to set parameter "\Q$name\E"/, "ALTER ROLE ana SET $name by ana is refused");
	(undef, $err) = session('ana', "ALTER DATABASE anas SET $name = '$tried{$name}'");
	like($err, qr/permission denied to set parameter "\Q$name\E"/, "ALTER DATABASE SET $name by its owner is refused");
}

# 4. the configured value from ALTER ROLE / ALTER DATABASE ... SET, under a
# startup option that would replace it.  ALTER SYSTEM as the README writes
# it without preloading (PostgreSQL 15 and 16 refuse ALTER SYSTEM of a
# setting no loaded library defines)
$node->safe_psql('postgres', "LOAD 'lms_visibility';\nALTER SYSTEM SET lms.audit = 'off'");
$node->reload;
$node->poll_query_until('s', "SELECT current_setting('lms.audit', true) IS DISTINCT FROM 'statements'");
for my $level ('ALTER ROLE ana', 'ALTER DATABASE s', 'ALTER ROLE ana IN DATABASE s')
{
	$node->safe_psql('postgres', "$level SET lms.audit = 'statements'");
	my $offset = -s $node->logfile;
	my ($out) = session('ana', "$read; SHOW lms.audit", options => '-c lms.audit=off', app => 'level');
	is($out, "t\nstatements", "$level SET lms.audit: a startup option of the reader does not replace it");
	ok(audited('level', $offset), "$level SET lms.audit: the reader is audited");
	$node->safe_psql('postgres', "$level RESET lms.audit");
}
my ($out) = session('ana', "$read; SHOW lms.audit", options => '-c lms.audit=statements');
is($out, "t\noff", 'the configured value is restored, not a stricter one (ALTER SYSTEM says off)');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET lms.audit');
$node->reload;

# 5. who may: a superuser, and a role granted SET on the setting
($out) = session('postgres', "$read; SHOW lms.audit", options => '-c lms.audit=off');
is($out, "t\noff", 'a superuser may set lms.audit in the startup options');
$node->safe_psql('postgres', 'GRANT SET ON PARAMETER lms.audit TO ana');
($out) = session('ana', "$read; SHOW lms.audit", options => '-c lms.audit=off');
is($out, "t\noff", 'so may a role granted SET on it');
$node->safe_psql('postgres', 'REVOKE SET ON PARAMETER lms.audit FROM ana');
($out) = session('ana', "$read; SHOW lms.audit", options => '-c lms.audit=off');
is($out, "t\nstatements", 'and not once the grant is revoked');

# 6. preloaded (the recommended production set-up): the startup option is
# refused at connection, and ALTER SYSTEM SET lms.audit works in a fresh
# session, as the README writes it
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'lms_visibility'");
$node->restart;
my $err;
($out, $err) = session('ana', $read, options => '-c lms.audit=off');
like($err, qr/permission denied to set parameter "lms.audit"/, 'preloaded: the reader\'s startup option refuses the connection');
is($out, '', 'preloaded: and nothing is read');
($out, $err) = session('postgres', "ALTER SYSTEM SET lms.audit = 'off'");
is($err, '', 'preloaded: ALTER SYSTEM SET lms.audit in a fresh session');
$node->reload;
$node->poll_query_until('s', "SELECT current_setting('lms.audit') = 'off'");
($out) = session('ana', "$read; SHOW lms.audit");
is($out, "t\noff", 'preloaded: and it is in force after a reload');

$node->stop;
done_testing();
