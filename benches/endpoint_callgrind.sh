#!/bin/sh
# Instructions per segment at 1 and at N connections (callgrind counts only
# inside measured_segments / measured_timers: setup is excluded). Usage:
#   benches/endpoint_callgrind.sh [N] [SEGMENTS]
# The setup runs with callgrind's instrumentation off (--instr-atstart=no;
# fully instrumented, 1M handshakes take tens of minutes); once the bench
# says its setup is done, `callgrind_control -i on` switches it on and the
# bench, waiting on ENDPOINT_GO_FILE, starts measuring.
# Installs valgrind with apt-get when missing.
set -eu
N=${1:-1000000}
M=${2:-20000}
command -v valgrind >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind; }
cargo bench --bench endpoint --no-run >/dev/null 2>&1
BIN=${ENDPOINT_BIN:-$(ls -t target/release/deps/endpoint-* | grep -v '\.d$' | head -1)}
for what in segment timer; do
    for n in 1 "$N"; do
        out=$(mktemp)
        log=$(mktemp)
        go=$(mktemp -u)
        ENDPOINT_ONLY=${what}s ENDPOINT_CONNS=$n ENDPOINT_SEGMENTS=$M ENDPOINT_GO_FILE=$go \
            valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
            --toggle-collect="*measured_${what}s*" "$BIN" >"$log" 2>&1 &
        pid=$!
        until grep -q -e 'idle connections' -e 'set up' "$log"; do
            kill -0 "$pid" 2>/dev/null || { cat "$log"; exit 1; }
            sleep 1
        done
        callgrind_control -i on "$pid" >/dev/null
        touch "$go"
        wait "$pid"
        ir=$(grep -E '^summary:|^totals:' "$out" | head -1 | awk '{print $2}')
        echo "$what: connections=$n operations=$M instructions=$ir per_operation=$((ir / M))"
        grep 'idle connections' "$log" || true
        rm -f "$out" "$log" "$go"
    done
done
