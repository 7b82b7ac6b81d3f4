#!/usr/bin/python3
"""t/soak_check.py: the checker of t/010_soak.pl.

Replays the committed changes of soak_log in their commit order (one
changer session, so seq order is commit order) and, for every reader
observation (principal p, user u, seq b read in a transaction that ended
before the reader's began, seq a read after it ended, whether p saw u in
lms.users and how many of u's progress rows it saw), checks the answer
against the relationships whose COMMIT had returned before the reader's
transaction began (doc/consistency.md): where no committed change after
them and up to a alters whether p sees u, the reader must have seen
exactly that.  The change b itself may still have been committing when
b was read (visible, its COMMIT not yet returned), so it counts as one
committed while the reader ran; no earlier one can have been, since the
changer is one session.  Changes committed while the reader ran may or
may not show; nothing else may differ.

  soak_check.py TREE LOG ROWS OBSERVATIONS...
TREE: "group parent" lines; LOG: "seq kind group x present" lines; ROWS:
"user progress_rows" lines; each OBSERVATIONS file: "obs p u b a su sr"
lines.  Prints one summary line per file and exits 1 on any wrong answer,
or when the answers checked were all visible or all hidden.
"""
import bisect
import collections
import sys


def read(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def main():
    tree_path, log_path, rows_path = sys.argv[1:4]
    parent = {int(g): (int(p) if p != "-" else None) for g, p in read(tree_path)}
    rows = {int(u): int(n) for u, n in read(rows_path)}
    log = sorted((int(s), k, int(g), int(x), p == "t") for s, k, g, x, p in read(log_path))

    def ancestors(g):
        while g is not None:
            yield g
            g = parent.get(g)

    members = collections.defaultdict(set)  # user -> groups
    roles = set()  # (kind, group, principal)
    principals = set()
    users = set(rows)

    def sees(p, u):
        for g in members[u]:
            if ("coach", g, p) in roles:
                return True
            if any(("group_admin", a, p) in roles for a in ancestors(g)):
                return True
        return False

    # the timeline of each pair: the seqs where its answer changed, and the answers
    for _, kind, g, x, _ in log:
        if kind != "member":
            principals.add(x)
    timeline = {}
    state = {}
    for seq, kind, g, x, present in log:
        if kind == "member":
            (members[x].add if present else members[x].discard)(g)
            touched = [(p, x) for p in principals]
        else:
            (roles.add if present else roles.discard)((kind, g, x))
            touched = [(x, u) for u in users]
        for pair in touched:
            v = sees(*pair)
            if state.get(pair) != v:
                state[pair] = v
                timeline.setdefault(pair, ([], []))
                timeline[pair][0].append(seq)
                timeline[pair][1].append(v)

    def answer(p, u, k):
        seqs, values = timeline.get((p, u), ([], []))
        i = bisect.bisect_right(seqs, k)
        return values[i - 1] if i > 0 else False

    # the change before each logged one: b's COMMIT may not have returned
    seqs_logged = [entry[0] for entry in log]

    def returned(b):
        i = bisect.bisect_left(seqs_logged, b)
        return seqs_logged[i - 1] if i > 0 else 0

    def changed(p, u, b, a):
        seqs = timeline.get((p, u), ([], []))[0]
        return bisect.bisect_right(seqs, a) > bisect.bisect_right(seqs, b)

    failed = False
    all_checked = all_visible = 0
    for path in sys.argv[4:]:
        checked = skipped = wrong = visible = 0
        examples = []
        for obs in read(path):
            if obs[0] != "obs":
                continue
            p, u, b, a, su, sr = (int(v) for v in obs[1:7])
            b = returned(b)
            if changed(p, u, b, a):
                skipped += 1
                continue
            want = answer(p, u, b)
            checked += 1
            visible += want
            if (su == 1) != want or sr != (rows.get(u, 0) if want else 0):
                wrong += 1
                if len(examples) < 3:
                    examples.append("p=%d u=%d b=%d a=%d saw user=%d rows=%d, committed: %s"
                                    % (p, u, b, a, su, sr, want))
        print("%s: %d answers checked (%d visible, %d hidden), %d wrong, %d during a change"
              % (path, checked, visible, checked - visible, wrong, skipped))
        for e in examples:
            print("  wrong: " + e)
        failed |= wrong > 0
        all_checked += checked
        all_visible += visible
    # answers of both kinds, or the check proves little
    if all_visible == 0 or all_visible == all_checked:
        print("every answer checked was %s" % ("hidden" if all_visible == 0 else "visible"))
        failed = True
    sys.exit(1 if failed else 0)


main()
