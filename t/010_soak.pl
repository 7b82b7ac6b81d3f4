# A soak test of consistency under load.  One tenant, 40 learners in a tree
# of groups, 6 principals (group admins and coaches).  While one session
# grants and revokes memberships and roles, committing three of four
# changes and rolling back the others, and logs each committed change in
# soak_log in the same transaction (one changer, so the log's order is the
# commit order), and another writes statistics:
#   - readers bound to principals (READ COMMITTED and REPEATABLE READ),
#   - a trusted application switching principals per transaction,
#   - the same readers on a hot standby, reading the replayed log,
# each read max(seq) before a transaction and after it and, in it, what the
# principal sees of one learner (lms.users and lms.progress).  The checker
# (t/soak_check.py) replays the log and requires every answer to match the
# relationships committed before the reader's transaction began, wherever
# no change committed during it alters the answer.
# LMS_SOAK_PLANT=trigger disables the invalidation trigger of group_members
# (the bug the test must catch: readers keep stale entries);
# LMS_SOAK_TXNS sets the transactions of each reader (10,000).
use strict;
use warnings;

use IPC::Run;
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
$primary->safe_psql('postgres', 'CREATE DATABASE soak_test');
$primary->safe_psql(
	'soak_test', q{
CREATE EXTENSION lms_visibility;
INSERT INTO lms.tenants VALUES (71, 'soak', false);
INSERT INTO lms.users (user_id, tenant_id) SELECT u, 71 FROM generate_series(7001, 7006) u;
INSERT INTO lms.users (user_id, tenant_id) SELECT u, 71 FROM generate_series(7101, 7140) u;
-- 7110 > (7111 > 7113, 7112); 7120 > 7121; 7190 owns the content
INSERT INTO lms.groups (group_id, tenant_id, name, parent_group_id) VALUES
	(7110, 71, 'a', NULL), (7111, 71, 'a1', 7110), (7112, 71, 'a2', 7110), (7113, 71, 'a11', 7111),
	(7120, 71, 'b', NULL), (7121, 71, 'b1', 7120), (7190, 71, 'content', NULL);
INSERT INTO lms.content (content_id, tenant_id, kind, title, owner_group_id)
	SELECT c, 71, 'course', 'c' || c, 7190 FROM generate_series(7150, 7154) c;
INSERT INTO lms.group_roles SELECT 7190, p, 'group_admin' FROM generate_series(7001, 7006) p;
INSERT INTO lms.progress (user_id, content_id, score)
	SELECT u, c, 50 FROM generate_series(7101, 7140) u, generate_series(7150, 7154) c WHERE (u + c) % 3 <> 0;

CREATE TABLE soak_log (seq bigserial PRIMARY KEY, kind text, g bigint, x bigint, present boolean);
GRANT SELECT ON soak_log TO PUBLIC;
-- soak_toggle(kind, g, x): adds the membership of user x in g, or the role
-- kind of principal x on g, if it is not there, else removes it; logs it
CREATE FUNCTION soak_toggle(k text, grp bigint, x bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	n int;
BEGIN
	IF k = 'member' THEN
		DELETE FROM lms.group_members WHERE group_id = grp AND user_id = x;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n = 0 THEN INSERT INTO lms.group_members VALUES (grp, x); END IF;
	ELSE
		DELETE FROM lms.group_roles WHERE group_id = grp AND user_id = x AND role = k;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF n = 0 THEN INSERT INTO lms.group_roles VALUES (grp, x, k); END IF;
	END IF;
	INSERT INTO soak_log (kind, g, x, present) VALUES (k, grp, x, n = 0);
END $$;
-- the starting relationships, logged as the first changes
SELECT soak_toggle('member', (ARRAY[7110, 7111, 7112, 7113, 7120, 7121])[1 + u % 6], u) FROM generate_series(7101, 7140) u;
SELECT soak_toggle(r.kind, r.g, r.p) FROM (VALUES ('group_admin', 7110, 7001), ('group_admin', 7111, 7002),
	('coach', 7112, 7003), ('group_admin', 7120, 7004), ('coach', 7121, 7005), ('coach', 7113, 7006)) r(kind, g, p);
CREATE ROLE soak_app LOGIN;
SELECT lms.trust_role('soak_app');
});
for my $p (7001 .. 7006)
{
	$primary->safe_psql('soak_test', "CREATE ROLE soak_$p LOGIN; SELECT lms.bind_role('soak_$p', $p)");
}
if (($ENV{LMS_SOAK_PLANT} // '') eq 'trigger')
{
	$primary->safe_psql('soak_test', 'ALTER TABLE lms.group_members DISABLE TRIGGER invalidate_cache');
	note "planted: group_members' invalidation trigger disabled";
}

# write_file(name, text): a file of the scratch directory
sub write_file
{
	my ($name, $text) = @_;
	open(my $fh, '>', "$w/$name") or die "cannot write $w/$name: $!";
	print $fh $text;
	close $fh;
	return "$w/$name";
}
write_file('tree',
	$primary->safe_psql('soak_test',
		"SELECT group_id || ' ' || coalesce(parent_group_id::text, '-') FROM lms.groups WHERE tenant_id = 71") . "\n");
write_file('rows',
	$primary->safe_psql('soak_test',
		"SELECT user_id || ' ' || count(*) FROM lms.progress WHERE user_id > 7100 AND user_id < 7200 GROUP BY user_id") . "\n");

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby, 'replay');

# reader_script(mode, seed, principal): $txns reader transactions; mode
# bound (the role's principal), rr (bound, REPEATABLE READ) or app (SET
# LOCAL, a random principal each time)
sub reader_script
{
	my ($mode, $seed, $fixed) = @_;
	srand($seed);
	my $sql = '';
	for (1 .. $txns)
	{
		my $u = 7101 + int(rand(40));
		my $p = $mode eq 'app' ? 7001 + int(rand(6)) : $fixed;
		$sql .= "SELECT coalesce(max(seq), 0) AS b FROM soak_log \\gset\n";
		$sql .= $mode eq 'rr' ? "BEGIN ISOLATION LEVEL REPEATABLE READ;\n" : "BEGIN;\n";
		$sql .= "SET LOCAL lms.principal = $p;\n" if $mode eq 'app';
		$sql .= "SELECT count(*) AS su FROM lms.users WHERE user_id = $u \\gset\n";
		$sql .= "SELECT count(*) AS sr FROM lms.progress WHERE user_id = $u \\gset\n";
		$sql .= "COMMIT;\nSELECT max(seq) AS a FROM soak_log \\gset\n";
		$sql .= "\\echo obs $p $u :b :a :su :sr\n";
	}
	return $sql;
}

# the changer: memberships mostly, roles now and then; a quarter rolled back
srand(7);
my @groups  = (7110, 7111, 7112, 7113, 7120, 7121);
my $changes = '';
for (1 .. 4000)
{
	my $g = $groups[ int(rand(6)) ];
	$changes .= "BEGIN;\n";
	if (rand() < 0.8)
	{
		$changes .= "SELECT soak_toggle('member', $g, " . (7101 + int(rand(40))) . ");\n";
	}
	else
	{
		my $kind = rand() < 0.5 ? 'group_admin' : 'coach';
		$changes .= "SELECT soak_toggle('$kind', $g, " . (7001 + int(rand(6))) . ");\n";
	}
	$changes .= rand() < 0.25 ? "ROLLBACK;\n" : "COMMIT;\n";
}
my $changer_sql = write_file('changer.sql', $changes);
my $stats_sql   = write_file('stats.sql', <<'SQL');
\set u random(7101, 7140)
UPDATE lms.progress SET score = floor(random() * 101), last_activity_at = now() WHERE user_id = :u;
SQL

my $db    = $primary->connstr('soak_test');
my $stats = IPC::Run::start([ 'pgbench', '-n', '-c', '1', '-R', '50', '-T', '600', '-f', $stats_sql, $db ],
	'>', '/dev/null', '2>', '/dev/null');
# the changer runs its script again and again until the readers are done
$ENV{SOAK_DB}   = $db;
$ENV{SOAK_DONE} = "$w/done";
my $changer = IPC::Run::start(
	[
		'sh', '-c',
		"while [ ! -f \"\$SOAK_DONE\" ]; do psql -X -q -o /dev/null -d \"\$SOAK_DB\" -f '$changer_sql'; done"
	],
	'>', '/dev/null', '2>', "$w/changer.err");

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
	my ($name, $mode, $seed, $node, $role, $p) = @$r;
	my $script = write_file("$name.sql", reader_script($mode, $seed, $p));
	push @readers,
	  IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-d', $node->connstr('soak_test') . " user=$role", '-f', $script ],
		'>', "$w/$name.out", '2>', "$w/$name.err");
}
$_->finish for @readers;
write_file('done', '');
$changer->finish;
$stats->kill_kill;

my $errors = join '', map { slurp_file($_) } glob("$w/*.err");
is($errors, '', 'the readers and the changer ran without errors');
write_file('log',
	$primary->safe_psql('soak_test', "SELECT concat_ws(' ', seq, kind, g, x, present) FROM soak_log") . "\n");
note(($primary->safe_psql('soak_test', 'SELECT count(*) FROM soak_log')) . ' committed changes, '
	  . $primary->safe_psql('soak_test', 'SELECT last_value FROM soak_log_seq_seq') . ' attempted');
my @outs = (glob("$w/primary_*.out"), glob("$w/standby_*.out"));
is(scalar @outs, 7, 'seven readers');
my ($out, $err) = ('', '');
my $ok = IPC::Run::run([ 'python3', 't/soak_check.py', map({"$w/$_"} qw(tree log rows)), @outs ],
	'>', \$out, '2>', \$err);
note $out . $err;
ok($ok, 'every reader answered by the relationships committed before its transaction');
my $checked = () = $out =~ /: [1-9]\d* answers checked/g;
is($checked, 7, 'the checker checked answers of every reader');

$standby->stop;
$primary->stop;
done_testing();
