# Hot standby: a streaming replica answers every reader exactly as the
# primary does, and follows a revocation once replayed, in a session whose
# cache was warm; its audit lines go to its own server log; a consistency
# token makes a read wait for a revocation's replay.
#
# With LMS_MEMCHECK=1 both servers run under valgrind memcheck, which
# writes one log per process into LMS_MEMCHECK_DIR (scripts/test.sh reads
# them): the standby's startup process replays the invalidations from WAL,
# a path no other test takes.
use strict;
use warnings;

use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $memcheck = ($ENV{LMS_MEMCHECK} // '') eq '1';

# valgrind_install(): a directory that PostgreSQL::Test::Cluster takes for
# an installation, whose postgres runs the real one under valgrind.  pg_ctl
# looks for postgres beside its own resolved path, so it is a copy; the
# other programs are links, and initdb (resolving its link) bootstraps with
# the real server.
sub valgrind_install
{
	my $real = `pg_config --bindir`;
	chomp $real;
	my $logs = $ENV{LMS_MEMCHECK_DIR} // PostgreSQL::Test::Utils::tempdir('valgrind');
	my $dir  = PostgreSQL::Test::Utils::tempdir('install');
	make_path("$dir/bin");
	opendir(my $dh, $real) or die "cannot read $real: $!";
	for my $prog (grep { !/^\./ } readdir $dh)
	{
		next if $prog eq 'postgres' || $prog eq 'pg_ctl';
		symlink("$real/$prog", "$dir/bin/$prog") or die "symlink $prog: $!";
	}
	closedir $dh;
	system('cp', "$real/pg_ctl", "$dir/bin/pg_ctl") == 0 or die 'cannot copy pg_ctl';
	open(my $fh, '>', "$dir/bin/postgres") or die $!;
	print $fh <<"SH";
#!/bin/sh
# pg_ctl asks for the version before it starts the server
case "\$1" in -V|--version) exec '$real/postgres' "\$@";; esac
exec valgrind --quiet --leak-check=no --num-callers=40 --log-file='$logs/valgrind.%p.log' '$real/postgres' "\$@"
SH
	close $fh;
	chmod 0755, "$dir/bin/postgres";
	return $dir;
}

my @install = $memcheck ? (install_path => valgrind_install()) : ();
# a server under valgrind takes seconds to start a session
$ENV{PGCTLTIMEOUT} = $PostgreSQL::Test::Utils::timeout_default if $memcheck;

my $primary = PostgreSQL::Test::Cluster->new('primary', @install);
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', 'jit = off') if $memcheck;
$primary->start;
$primary->safe_psql('postgres', 'CREATE DATABASE standby_test');
$primary->safe_psql('standby_test', 'CREATE EXTENSION lms_visibility');
$primary->safe_psql('standby_test', slurp_file('sample/platform.sql'));
my %readers = (
	s_admin   => 101, s_gadmin  => 103, s_coach   => 104, s_analyst => 105,
	s_manager => 108, s_trainer => 112, s_globex  => 202);
for my $r (sort keys %readers)
{
	$primary->safe_psql('standby_test', "CREATE ROLE $r LOGIN; SELECT lms.bind_role('$r', $readers{$r})");
}

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby', @install);
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby, 'replay');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

# rows_seen(node, role): what role sees of lms.progress, as one line
sub rows_seen
{
	my ($node, $role) = @_;
	return $node->safe_psql('standby_test',
		"SET ROLE $role; SELECT coalesce(string_agg(user_id || ':' || content_id, ' ' "
		  . "ORDER BY user_id, content_id), '-') FROM lms.progress");
}

for my $r (sort keys %readers)
{
	is(rows_seen($standby, $r), rows_seen($primary, $r), "$r sees the same rows on the standby");
}
is( $standby->safe_psql('standby_test',
		'SELECT string_agg(granted::text, \',\') FROM lms.explain_visibility(104, 120, 508, 11)'),
	'true,true,true,true',
	'explain_visibility works on the standby');

# a warm session on the standby, then a revocation on the primary: the
# same session's next statement reads it once replayed
my $coach = $standby->background_psql('standby_test');
$coach->query_safe('SET ROLE s_coach');
is($coach->query_safe('SELECT count(*) FROM lms.progress'), '3', 'a standby session sees the coach\'s 3 rows');
$primary->safe_psql('standby_test', 'DELETE FROM lms.group_roles WHERE user_id = 104');
$primary->wait_for_catchup($standby, 'replay');
is($coach->query_safe('SELECT count(*) FROM lms.progress'),
	'0', 'after replay the same standby session sees the revocation');
$coach->quit;
is(rows_seen($standby, 's_coach'), '-', 'a new standby session too');
# the history of the revocation, read on the standby
is($standby->safe_psql('standby_test',
	"SELECT change || ' ' || (old_row->>'user_id') || ' ' || by_role FROM lms.history "
	  . "WHERE relation = 'group_roles' ORDER BY id DESC LIMIT 1"),
	'delete 104 postgres', 'the standby reads the history of the revocation');
my ($r_ret, $r_out, $r_err) = $standby->psql('standby_test', 'SELECT count(*) FROM lms.visible_users(103, now())');
like($r_err, qr/does not run on a hot standby.*HINT:  Ask the primary/s, 'the rules at a past time say to ask the primary');

my ($ret, $out, $err) = $standby->psql('standby_test',
	'SET lms.audit = statements; SET client_min_messages = log; SET ROLE s_gadmin; '
	  . 'SELECT count(*) FROM lms.progress');
like($err, qr/LOG:  lms_audit,103,"s_gadmin","lms.progress",1$/m, 'the audit trail works on the standby');
like(slurp_file($standby->logfile), qr/lms_audit,103,"s_gadmin"/, 'into the standby\'s server log');

# read your revocation on a replica: the standby's replay paused, a
# revocation on the primary and its consistency token; awaiting it fails
# after the timeout, then succeeds once replay resumes, and the same
# transaction then reads the revocation
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
my $gadmin_rows = () = rows_seen($standby, 's_gadmin') =~ /\S+/g;
is($gadmin_rows, 11, 'before: the group admin sees its rows on the standby');
my $token = $primary->safe_psql('standby_test',
	'DELETE FROM lms.group_roles WHERE user_id = 103; SELECT lms.consistency_token()');
like($token, qr/^[0-9A-F]+\/[0-9A-F]+$/, 'the primary gives a token');
($ret, $out, $err) = $standby->psql('standby_test', "SELECT lms.await_token('$token', 300)");
like(
	$err,
	qr/has not replayed the change of consistency token \Q$token\E within 300 ms/,
	'awaiting it on the paused standby fails after the timeout');
is($standby->psql('standby_test', "SELECT lms.await_token('$token', 300)"),
	3, 'with an error, not a notice');
$gadmin_rows = () = rows_seen($standby, 's_gadmin') =~ /\S+/g;
is($gadmin_rows, 11, 'and a read without the token is answered from the old relationships');
($ret, $out, $err) = $standby->psql('standby_test', 'SELECT lms.consistency_token()');
like($err, qr/comes from the primary/, 'the token is refused on the standby');

# the transaction reads, then waits for the token; replay resumes only once
# the wait has begun
my $reader = $standby->background_psql('standby_test');
$reader->query_safe('BEGIN');
$reader->query_safe('SET LOCAL ROLE s_gadmin');
is($reader->query_safe('SELECT count(*) FROM lms.progress'), '11', 'a transaction reads the old relationships');
$reader->query_until(qr/waiting\n/, "\\echo waiting\nSELECT lms.await_token('$token', 600000);\n");
ok( $standby->poll_query_until(
		'postgres',
		"SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'SELECT lms.await_token(%600000)%' "
		  . "AND wait_event_type = 'Extension')"),
	'it waits for the token');
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
# the output of await_token (void) comes first
is((split /\n/, $reader->query_safe('SELECT count(*) FROM lms.progress'))[-1],
	'0', 'once replay resumes, the transaction that awaited the token reads the revocation');
$reader->query_safe('COMMIT');
$reader->quit;
($ret, $out, $err) = $standby->psql('standby_test',
	"BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM lms.progress; SELECT lms.await_token('$token')");
like($err, qr/must run before/, 'REPEATABLE READ must await before it begins');

$standby->stop;
$primary->stop;
# no backend crashed (under valgrind, its reports go to LMS_MEMCHECK_DIR)
for my $node ($primary, $standby)
{
	unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated by exception/,
		'no process of the ' . $node->name . ' crashed');
}
done_testing();
