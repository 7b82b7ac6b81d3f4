# The server's shared cache (src/vis_shcache.c, doc/how-it-works.md), with
# the library preloaded:
#   1. one copy: what one backend built, the others read (hits, no builds,
#      their sets in place: under 1 kB of their own for each entry), and it
#      answers as the rules written in plain SQL
#      (bench/plain_rules.sql); a change committed elsewhere is seen by the
#      next transaction, and a database of its own has entries of its own;
#   2. a build cancelled, or whose backend is terminated, while it waits for
#      a lock mid-build publishes nothing, and the next build publishes;
#   3. an entry in use survives its eviction until its transaction ends;
#   4. a two-phase commit's change is seen once COMMIT PREPARED is done, and
#      not used before by a build that raced it; a change lms.preview() ran
#      is seen by nobody, the previewing session included;
#   5. 50 connections churning principals while memberships and roles
#      change (half of the changes through two-phase commit) and statistics
#      are written, every answer checked against the log (t/LmsSoak.pm),
#      with the default bound and then with one so small that entries are
#      evicted all the time.
# LMS_SHARED_TXNS sets the transactions of each of the 50 readers (150).
use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LmsSoak;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $txns = $ENV{LMS_SHARED_TXNS} // 150;
my $w    = PostgreSQL::Test::Utils::tempdir('shared');

my $node = PostgreSQL::Test::Cluster->new('shared');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'lms_visibility'
lms.shared_cache_min_ids = 0
max_connections = 80
max_prepared_transactions = 4
log_statement = none
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION lms_visibility');
$node->safe_psql('postgres', slurp_file('sample/platform.sql'));
$node->safe_psql('postgres', slurp_file('bench/plain_rules.sql'));

# stats(): the shared cache's figures, as "entries builds hits"
sub stats
{
	return $node->safe_psql('postgres',
		'SELECT shared_entries || \' \' || shared_builds || \' \' || shared_hits FROM lms.cache_stats()');
}

# plain(p): p's visible users by the rules in plain SQL, sorted
sub plain
{
	my ($p) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(user_id::text, ',' ORDER BY user_id) FROM lms_plain.visible_users($p)");
}
my $engine = "SELECT string_agg(u::text, ',' ORDER BY u) FROM lms.visible_users(%d) u";

# 1. one copy
my @principals = map { $_->[0] } map { [ split /\|/ ] } split /\n/,
  $node->safe_psql('postgres', 'SELECT user_id FROM lms.users ORDER BY user_id LIMIT 12');
my ($e0, $b0, $h0) = split / /, stats();
is($e0, 0, 'a fresh server has no shared entry');
for my $p (@principals)
{
	is($node->safe_psql('postgres', sprintf($engine, $p)), plain($p), "principal $p: the rules' answer");
}
my ($e1, $b1, $h1) = split / /, stats();
is($e1, scalar @principals, 'an entry per principal');
is($b1, scalar @principals, 'each built once');
my @again = map { $node->safe_psql('postgres', sprintf($engine, $_)) } @principals;
my ($e2, $b2, $h2) = split / /, stats();
is($b2, $b1, 'new backends build nothing');
cmp_ok($h2 - $h1, '>=', scalar @principals, 'they read the shared entries');
is_deeply(\@again, [ map { plain($_) } @principals ], 'and answer the same');
is( $node->safe_psql('postgres',
		"BEGIN;\nSELECT count(*) FROM lms.visible_users($principals[-1]) \\g /dev/null\n"
		  . "SELECT principals_cached || ' ' || (tenants_cached = 0) FROM lms.cache_stats();\nCOMMIT;"),
	'1 true', 'a backend that reads a shared entry loads no tenant of its own');
my $reads = join('', map { "SELECT count(*) FROM lms.visible_users($_) \\g /dev/null\n" } @principals);
my $held = "SELECT (SELECT principals_cached FROM lms.cache_stats()) || ' ' || used_bytes "
  . "FROM pg_backend_memory_contexts WHERE name = 'lms_visibility shared entries'";
my ($in_use, $used) = split / /,
  $node->safe_psql('postgres', "BEGIN;\n$reads$held;\nCOMMIT;");
is($in_use, scalar @principals, 'in its transaction it holds an entry of each it reads');
cmp_ok($used, '<', 1024 * $in_use, 'and under 1 kB of each: the sets are read in place, not copied');
my $between = "SELECT (SELECT principals_cached FROM lms.cache_stats()) || ' ' || (used_bytes < 1024) "
  . "FROM pg_backend_memory_contexts WHERE name = 'lms_visibility shared entries'";
is( $node->safe_psql('postgres', "$reads$between;\n$reads$between;"),
	"0 true\n0 true",
	'and nothing of them between transactions, however often it reads them again');

# a change committed in another backend: the next transaction sees it
my $ga = $node->safe_psql('postgres',
	"SELECT user_id FROM lms.group_roles WHERE role = 'group_admin' ORDER BY user_id, group_id LIMIT 1");
my $gg = $node->safe_psql('postgres',
	"SELECT group_id FROM lms.group_roles WHERE role = 'group_admin' AND user_id = $ga ORDER BY group_id LIMIT 1");
my $outsider = $node->safe_psql('postgres',
	"SELECT u.user_id FROM lms.users u WHERE u.tenant_id = (SELECT tenant_id FROM lms.users WHERE user_id = $ga) "
	  . "AND u.user_id NOT IN (SELECT lms.visible_users($ga)) ORDER BY 1 LIMIT 1");
my $reader = $node->background_psql('postgres');
is($reader->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"), 'f', 'before: hidden');
$node->safe_psql('postgres', "INSERT INTO lms.group_members VALUES ($gg, $outsider)");
is($reader->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"),
	't', 'a membership committed in another backend: seen by the next transaction');
is($node->safe_psql('postgres', sprintf($engine, $ga)), plain($ga), 'and by a new backend, as the rules say');
$node->safe_psql('postgres', "DELETE FROM lms.group_members WHERE group_id = $gg AND user_id = $outsider");
is($reader->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"), 'f', 'removed: hidden again');

# a wrapper that holds what a statement derived from the entry (here the
# id array of visible_user_ids) stays between transactions, and is checked
# again when next used: a change committed meanwhile is seen
my $arrays = $node->background_psql('postgres');
my $has = "SELECT $outsider = ANY (lms.visible_user_ids($ga))";
is($arrays->query_safe($has), 'f', 'the id array: hidden');
is($arrays->query_safe('SELECT principals_cached FROM lms.cache_stats()'), '1',
	'its wrapper stays between transactions');
$node->safe_psql('postgres', "INSERT INTO lms.group_members VALUES ($gg, $outsider)");
is($arrays->query_safe($has), 't', 'a membership committed meanwhile: seen by its next transaction');
$node->safe_psql('postgres', "DELETE FROM lms.group_members WHERE group_id = $gg AND user_id = $outsider");
is($arrays->query_safe($has), 'f', 'removed: hidden again');
$arrays->quit;

# the changing transaction sees its change from its next statement, and
# what it read before commits nothing to the others
$reader->query_safe('BEGIN');
$reader->query_safe("INSERT INTO lms.group_members VALUES ($gg, $outsider)");
is($reader->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"), 't',
	'the changing transaction sees its own change');
is($node->safe_psql('postgres', "SELECT $outsider IN (SELECT lms.visible_users($ga))"),
	'f', 'the others do not, before it commits');
$reader->query_safe('ROLLBACK');
is($node->safe_psql('postgres', "SELECT $outsider IN (SELECT lms.visible_users($ga))"),
	'f', 'nor after it rolls back');

# under the default lms.shared_cache_min_ids (64), a small entry (a
# learner's, one user and a few courses) stays in its backend
$node->safe_psql('postgres', "ALTER SYSTEM SET lms.shared_cache_min_ids = 64; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('lms.shared_cache_min_ids') = '64'");
my $learner = $node->safe_psql('postgres',
	"SELECT user_id FROM lms.users WHERE user_id NOT IN (SELECT user_id FROM lms.group_roles "
	  . "UNION SELECT user_id FROM lms.tenant_roles UNION SELECT manager_id FROM lms.managers) ORDER BY 1 DESC LIMIT 1");
my ($el, $bl) = split / /, stats();
is($node->safe_psql('postgres', sprintf($engine, $learner)), plain($learner), 'a learner, under the default threshold');
my ($el2, $bl2) = split / /, stats();
is("$el2 $bl2", "$el $bl", 'is not published');
$node->safe_psql('postgres', "ALTER SYSTEM RESET lms.shared_cache_min_ids; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('lms.shared_cache_min_ids') = '0'");

# another database: entries of its own
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION lms_visibility');
is($node->safe_psql('other', "SELECT count(*) FROM lms.visible_users($ga)"),
	'0', 'another database does not read this one\'s entries');

# 2. a build held mid-way on a lock, then cancelled or terminated
for my $how ('pg_cancel_backend', 'pg_terminate_backend')
{
	$node->safe_psql('postgres', "INSERT INTO lms.group_members VALUES ($gg, $outsider)");
	my $locker = $node->background_psql('postgres');
	$locker->query_safe('BEGIN; LOCK TABLE lms.group_roles IN ACCESS EXCLUSIVE MODE');
	my ($eb, $bb) = split / /, stats();
	my $builder = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $builder->query_safe('SELECT pg_backend_pid()');
	$builder->query_until(qr/start/, "\\echo start\nSELECT count(*) FROM lms.visible_users($ga);\n");
	my $waits = $node->poll_query_until('postgres',
		"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $pid");
	ok($waits, "$how mid-build: the build waits for the lock");
	if (!$waits)
	{
		$locker->query_safe('COMMIT');
		$node->safe_psql('postgres', "DELETE FROM lms.group_members WHERE group_id = $gg AND user_id = $outsider");
		next;
	}
	$node->safe_psql('postgres', "SELECT $how($pid)");
	$node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $pid AND state = 'active')");
	$locker->query_safe('COMMIT');
	$locker->quit;
	eval { $builder->quit };
	my ($ea, $ba) = split / /, stats();
	is($ba, $bb, "$how mid-build: nothing was published");
	is($node->safe_psql('postgres', sprintf($engine, $ga)), plain($ga), "$how mid-build: the next build answers");
	my ($ec, $bc) = split / /, stats();
	is($bc, $bb + 1, "$how mid-build: and publishes");
	$node->safe_psql('postgres', "DELETE FROM lms.group_members WHERE group_id = $gg AND user_id = $outsider");
}

# 3. an entry in use survives its eviction until its transaction ends
my $user = $node->background_psql('postgres');
$user->query_safe('BEGIN');
my $before = $user->query_safe(sprintf($engine, $ga));
$node->safe_psql('postgres', "ALTER SYSTEM SET lms.shared_cache_memory = '1kB'; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('lms.shared_cache_memory') = '1kB'");
# other principals' builds evict it
$node->safe_psql('postgres', sprintf($engine, $_)) for @principals;
my $evicted = $node->safe_psql('postgres', 'SELECT shared_evictions > 0 FROM lms.cache_stats()');
is($evicted, 't', 'a small bound evicts');
is($user->query_safe(sprintf($engine, $ga)), $before, 'the transaction that uses an evicted entry reads it still');
$user->query_safe('COMMIT');
is($user->query_safe(sprintf($engine, $ga)), plain($ga), 'and after it, reads a new one');
$user->quit;
is($node->safe_psql('postgres', 'SELECT shared_bytes <= 1024 FROM lms.cache_stats()'),
	't', 'once unpinned, the evicted entries are freed: the bound holds');
$node->safe_psql('postgres', "ALTER SYSTEM RESET lms.shared_cache_memory; SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('lms.shared_cache_memory') = '256MB'");

# 4. two-phase commit: prepared, the change is not seen and builds are not
# kept; committed, it is seen
$reader->query_safe(sprintf($engine, $ga));
$node->safe_psql('postgres',
	"BEGIN; INSERT INTO lms.group_members VALUES ($gg, $outsider); PREPARE TRANSACTION 'shared_test'");
is($reader->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"), 'f', 'prepared: not seen');
is($node->safe_psql('postgres', "SELECT $outsider IN (SELECT lms.visible_users($ga))"),
	'f', 'prepared: not seen by a new backend');
$node->safe_psql('postgres', "COMMIT PREPARED 'shared_test'");
is($reader->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"), 't', 'committed: seen');
is($node->safe_psql('postgres', sprintf($engine, $ga)), plain($ga), 'committed: a new backend answers as the rules');
$node->safe_psql('postgres', "DELETE FROM lms.group_members WHERE group_id = $gg AND user_id = $outsider");

# lms.preview() of the same membership leaves nothing of it in any cache:
# not in the previewing session, not in the reader's, not in the server's
my $previewer = $node->background_psql('postgres');
is($previewer->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"), 'f', 'preview: before, hidden');
is( $previewer->query_safe(
		"SELECT gained_users FROM lms.preview('INSERT INTO lms.group_members VALUES ($gg, $outsider)') "
		  . "WHERE principal = $ga"),
	"{$outsider}",
	'preview: the group admin would gain the outsider');
is($previewer->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"),
	'f', 'preview: after it, the previewing session does not see the outsider');
is($reader->query_safe("SELECT $outsider IN (SELECT lms.visible_users($ga))"), 'f', 'preview: nor the reader');
is($node->safe_psql('postgres', sprintf($engine, $ga)), plain($ga), 'preview: a new backend answers as the rules');
$previewer->quit;
$reader->quit;

# 5. 50 connections churning principals under changes, twice
LmsSoak::setup($node);
LmsSoak::write_inputs($node, $w);
for my $phase ('default', 'small')
{
	if ($phase eq 'small')
	{
		# room for about two of the six principals' entries
		$node->safe_psql('postgres', "ALTER SYSTEM SET lms.shared_cache_memory = '1kB'; SELECT pg_reload_conf()");
		$node->poll_query_until('postgres', "SELECT current_setting('lms.shared_cache_memory') = '1kB'");
	}
	my $stats0 = $node->safe_psql('soak_test',
		'SELECT shared_builds || \' \' || shared_hits || \' \' || shared_evictions FROM lms.cache_stats()');
	my $load = LmsSoak::start_load($node, $w, LmsSoak::changer_script(1));
	my @readers;
	for my $i (1 .. 50)
	{
		# 30 applications switching principals, 15 bound readers, 5 REPEATABLE READ
		my $p = 7001 + $i % 6;
		my ($mode, $role) = $i <= 30 ? ('app', 'soak_app') : $i <= 45 ? ('bound', "soak_$p") : ('rr', "soak_$p");
		push @readers,
		  LmsSoak::start_reader($node, $w, "${phase}_$i", $mode, 100 * $i, $role, $mode eq 'app' ? 0 : $p, $txns);
	}
	$_->finish for @readers;
	LmsSoak::stop_load($w, $load);
	my ($builds, $hits, $evictions) = split / /,
	  $node->safe_psql('soak_test',
		'SELECT shared_builds || \' \' || shared_hits || \' \' || shared_evictions FROM lms.cache_stats()');
	my ($builds0, $hits0, $evictions0) = split / /, $stats0;
	note "$phase bound: " . ($builds - $builds0) . ' shared builds, ' . ($hits - $hits0) . ' hits, '
	  . ($evictions - $evictions0) . ' evictions';
	cmp_ok($hits - $hits0, '>', 0, "$phase bound: the readers read entries other backends built");
	cmp_ok($evictions - $evictions0, '>', 0, "$phase bound: entries were evicted") if $phase eq 'small';
	LmsSoak::check($node, $w, glob("$w/${phase}_*.out"));
	unlink glob("$w/*.err");
}

$node->stop;
done_testing();
