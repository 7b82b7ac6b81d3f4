# LmsSoak: the consistency soak of t/010_soak.pl and t/013_shared_cache.pl.
#
# One tenant, 40 learners in a tree of groups, 6 principals (group admins
# and coaches).  A changer session grants and revokes memberships and
# roles, committing three of four changes and rolling back the others, and
# logs each committed change in soak_log in the same transaction (one
# changer, so the log's order is the commit order); another session writes
# statistics.  Readers, each on a connection of its own, read max(seq)
# before a transaction and after it and, in it, what the principal sees of
# one learner (lms.users and lms.progress).  The checker (t/soak_check.py)
# replays the log and requires every answer to match the relationships
# committed (their COMMIT returned) before the reader's transaction began,
# wherever no change committed during it alters the answer.
package LmsSoak;

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

# setup(node): the soak database, its store, its log and its roles:
# soak_7001 .. soak_7006 bound to the principals, soak_app trusted
sub setup
{
	my ($node) = @_;
	$node->safe_psql('postgres', 'CREATE DATABASE soak_test');
	$node->safe_psql(
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
		$node->safe_psql('soak_test', "CREATE ROLE soak_$p LOGIN; SELECT lms.bind_role('soak_$p', $p)");
	}
	return;
}

# write_file(dir, name, text): a file of the scratch directory
sub write_file
{
	my ($dir, $name, $text) = @_;
	open(my $fh, '>', "$dir/$name") or die "cannot write $dir/$name: $!";
	print $fh $text;
	close $fh;
	return "$dir/$name";
}

# write_inputs(node, dir): the tree and the learners' progress rows, for the checker
sub write_inputs
{
	my ($node, $dir) = @_;
	write_file($dir, 'tree',
		$node->safe_psql('soak_test',
			"SELECT group_id || ' ' || coalesce(parent_group_id::text, '-') FROM lms.groups WHERE tenant_id = 71")
		  . "\n");
	write_file($dir, 'rows',
		$node->safe_psql('soak_test',
			"SELECT user_id || ' ' || count(*) FROM lms.progress WHERE user_id > 7100 AND user_id < 7200 GROUP BY user_id"
		) . "\n");
	return;
}

# reader_script(mode, seed, principal, txns): txns reader transactions;
# mode bound (the role's principal), rr (bound, REPEATABLE READ) or app
# (SET LOCAL, a random principal each time)
sub reader_script
{
	my ($mode, $seed, $fixed, $txns) = @_;
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

# changer_script(two_phase): 4,000 changes, memberships mostly, roles now
# and then; a quarter rolled back.  With two_phase, every other change goes
# through PREPARE TRANSACTION and COMMIT (or ROLLBACK) PREPARED.
sub changer_script
{
	my ($two_phase) = @_;
	srand(7);
	my @groups  = (7110, 7111, 7112, 7113, 7120, 7121);
	my $changes = '';
	for my $i (1 .. 4000)
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
		my $commit = rand() >= 0.25;
		if ($two_phase && $i % 2 == 0)
		{
			$changes .= "PREPARE TRANSACTION 'soak';\n";
			$changes .= $commit ? "COMMIT PREPARED 'soak';\n" : "ROLLBACK PREPARED 'soak';\n";
		}
		else
		{
			$changes .= $commit ? "COMMIT;\n" : "ROLLBACK;\n";
		}
	}
	return $changes;
}

# start_load(node, dir, changes): the statistics writer and the changer,
# which runs its script again and again until stop_load
sub start_load
{
	my ($node, $dir, $changes) = @_;
	my $changer_sql = write_file($dir, 'changer.sql', $changes);
	my $stats_sql   = write_file($dir, 'stats.sql', <<'SQL');
\set u random(7101, 7140)
UPDATE lms.progress SET score = floor(random() * 101), last_activity_at = now() WHERE user_id = :u;
SQL
	my $db = $node->connstr('soak_test');
	unlink("$dir/done");
	my $stats =
	  IPC::Run::start([ 'pgbench', '-n', '-c', '1', '-R', '50', '-T', '600', '-f', $stats_sql, $db ],
		'>', '/dev/null', '2>', '/dev/null');
	$ENV{SOAK_DB}   = $db;
	$ENV{SOAK_DONE} = "$dir/done";
	my $changer = IPC::Run::start(
		[
			'sh', '-c',
			"while [ ! -f \"\$SOAK_DONE\" ]; do psql -X -q -o /dev/null -d \"\$SOAK_DB\" -f '$changer_sql'; done"
		],
		'>', '/dev/null', '2>', "$dir/changer.err");
	return [ $stats, $changer ];
}

# stop_load(dir, load): the changer finishes its round, the writer stops
sub stop_load
{
	my ($dir, $load) = @_;
	write_file($dir, 'done', '');
	$load->[1]->finish;
	$load->[0]->kill_kill;
	return;
}

# start_reader(node, dir, name, mode, seed, role, principal, txns): a reader
# session running its script, its answers in dir/name.out
sub start_reader
{
	my ($node, $dir, $name, $mode, $seed, $role, $p, $txns) = @_;
	my $script = write_file($dir, "$name.sql", reader_script($mode, $seed, $p, $txns));
	return IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-d', $node->connstr('soak_test') . " user=$role", '-f', $script ],
		'>', "$dir/$name.out", '2>', "$dir/$name.err");
}

# check(node, dir, outs...): no errors, and every answer of the readers
# whose outputs are given checked against the log
sub check
{
	my ($node, $dir, @outs) = @_;
	my $errors = join '', map { slurp_file($_) } glob("$dir/*.err");
	is($errors, '', 'the readers and the changer ran without errors');
	write_file($dir, 'log',
		$node->safe_psql('soak_test', "SELECT concat_ws(' ', seq, kind, g, x, present) FROM soak_log") . "\n");
	note(($node->safe_psql('soak_test', 'SELECT count(*) FROM soak_log')) . ' committed changes, '
		  . $node->safe_psql('soak_test', 'SELECT last_value FROM soak_log_seq_seq') . ' attempted');
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'python3', 't/soak_check.py', map({"$dir/$_"} qw(tree log rows)), @outs ],
		'>', \$out, '2>', \$err);
	note $out . $err;
	ok($ok, 'every reader answered by the relationships committed before its transaction');
	my $checked = () = $out =~ /: [1-9]\d* answers checked/g;
	is($checked, scalar @outs, 'the checker checked answers of every reader');
	return;
}

1;
