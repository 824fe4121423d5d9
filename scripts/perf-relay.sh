#!/usr/bin/env bash
# Where the relay's CPU goes under the county-shaped load (issue 13, docs/BENCHMARKS.md):
# runs `bench relay-load --county` against RELAY (a release relay built with
# CARGO_PROFILE_RELEASE_STRIP=false), records the relay process with perf during the
# measured syncs only, and prints the flat profile grouped by library.
#
#   scripts/perf-relay.sh RELAY BENCH [OUT_PREFIX]    e.g. /tmp/relay-after target/release/bench
set -euo pipefail
relay=$1 bench=$2 out=${3:-/tmp/perf-relay}
CUNWU_RELAY_BIN="$relay" "$bench" relay-load --county --json >"$out.json" 2>"$out.err" &
bp=$!
until grep -q primed "$out.err" 2>/dev/null; do sleep 0.2; done
pid=$(pgrep -f "^$relay" | head -1)
perf record -F 1999 -p "$pid" -o "$out.data" 2>/dev/null &
pp=$!
wait "$bp"
kill -INT "$pp"; wait "$pp" || true
cat "$out.json"
perf report -i "$out.data" --no-children --sort dso,symbol --stdio 2>/dev/null | python3 -c '
import re, sys, collections
groups = [
    ("kernel (syscalls, fsync, network, scheduling)", None),
    ("zstd", r"ZSTD|zstd|HUF_|FSE_"),
    ("SQLite", r"sqlite|^yy|^pcache|Vdbe|Btree|Pager|wal"),
    ("Ed25519 and SHA-2", r"curve25519|ed25519|sha2|Sha512|Sha256|scalar|edwards|FieldElement"),
    ("allocator and memcpy", r"malloc|free|memmove|memcpy|memset|realloc|_int_|unlink_chunk|alloc::|tcache|^_?mi_"),
    ("automerge", r"automerge"),
    ("JSON and postcard", r"serde|postcard|json"),
    ("tokio / hyper / axum", r"tokio|hyper|axum|mio"),
]
share = collections.Counter()
for line in sys.stdin:
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    p, dso, kind, sym = float(m[1]), m[2], m[3], m[4]
    name = "other"
    if kind == "k" or "kernel" in dso:
        name = groups[0][0]
    else:
        for g, rx in groups[1:]:
            if re.search(rx, sym, re.I if g == "zstd" else 0):
                name = g
                break
    share[name] += p
for g, p in share.most_common():
    print(f"{p:5.1f}%  {g}")
'
