#!/bin/sh
# Instructions per segment at 1 and at N connections (callgrind counts only
# inside measured_segments: setup is excluded). Usage:
#   benches/endpoint_callgrind.sh [N] [SEGMENTS]
# Installs valgrind with apt-get when missing.
set -eu
N=${1:-1000000}
M=${2:-20000}
command -v valgrind >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind; }
cargo bench --bench endpoint --no-run >/dev/null 2>&1
BIN=$(ls -t target/release/deps/endpoint-* | grep -v '\.d$' | head -1)
for what in segment timer; do
    for n in 1 "$N"; do
        out=$(mktemp)
        ENDPOINT_ONLY=${what}s ENDPOINT_CONNS=$n ENDPOINT_SEGMENTS=$M \
            valgrind --tool=callgrind --callgrind-out-file="$out" \
            --toggle-collect="*measured_${what}s*" "$BIN" >/dev/null 2>&1
        ir=$(grep -E '^summary:|^totals:' "$out" | head -1 | awk '{print $2}')
        echo "$what: connections=$n operations=$M instructions=$ir per_operation=$((ir / M))"
        rm -f "$out"
    done
done
