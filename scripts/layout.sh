#!/usr/bin/env bash
# scripts/layout.sh: the C files' dependencies, from the built objects (the
# symbols each src/*.o takes from another), and whether any of them form a
# circle.  Prints one line "FILE -> FILE: symbols" an edge, then the
# circles; exits 1 when there is one.  Run after the build (make).
#   bash scripts/layout.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ls src/*.o >/dev/null
for o in src/*.o; do
	nm --defined-only "$o" | awk -v f="$(basename "$o" .o)" '$2 ~ /^[TDBRC]$/ {print $3, f}'
done | sort >"${TMPDIR:-/tmp}/lms_layout_defs.$$"
rc=0
for o in src/*.o; do
	nm -u "$o" | awk -v f="$(basename "$o" .o)" '{print $2, f}'
done | sort | join - "${TMPDIR:-/tmp}/lms_layout_defs.$$" |
	awk '$2 != $3 {print $2, $3, $1}' | sort -u |
	python3 -c '
import collections, sys
edges = collections.defaultdict(lambda: collections.defaultdict(list))
for line in sys.stdin:
    a, b, sym = line.split()
    edges[a][b].append(sym)
for a in sorted(edges):
    for b in sorted(edges[a]):
        print("%s -> %s: %s" % (a, b, " ".join(edges[a][b])))
# Tarjan: the strongly connected components of more than one file
index, low, stack, on, found = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in edges.get(v, {}):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            found.append(sorted(comp))
for v in sorted(edges):
    if v not in index:
        visit(v)
for comp in found:
    print("circle: " + ", ".join(comp))
print("%d circle(s) among %d files" % (len(found), len(set(edges) | {b for a in edges for b in edges[a]})))
sys.exit(1 if found else 0)
' || rc=$?
rm -f "${TMPDIR:-/tmp}/lms_layout_defs.$$"
exit $rc
