#!/usr/bin/env bash
# Where the time goes that instruction counts do not show: callgrind's cache
# and branch simulation for the bulk rows, counted under `measured_call` like
# instructions.sh, per data segment; then (hotpath.py, needs python3 and
# objdump) what the per-segment code is made of: loop and straight-line
# instructions, loads and stores, atomics, and the hot code's size in cache
# lines. Deterministic (the same on a loaded machine), so it can be compared
# run to run where wall time cannot; the cache figures move a little with
# the link layout, i.e. with any change to the binary.
#
#   bash benches/compare/cachesim.sh                       # MSS 536 and 1460
#   bash benches/compare/cachesim.sh 'mss 9000 .*zero-copy' # rows matching an ERE
#
# Simulated: the host's L1i and L1d (valgrind reads them from cpuid) and,
# as the last level, the host's L2 (a miss there leaves the core). Branch
# prediction is valgrind's simple model, not the CPU's. Same memcpy as the
# counted runs (GLIBC_TUNABLES), so Ir matches instructions.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
filter="${1:-^bulk-64MiB/mss (536|1460) (tcp-proto .*(copy|zero-copy)|smoltcp CUBIC)$}"

exe=$(cargo bench -p tcp-proto-compare --bench compare --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$exe" ] || { echo "no bench binary" >&2; exit 1; }
out="target/compare-report/cachesim"
rm -rf "$out"
mkdir -p "$out"

l2=/sys/devices/system/cpu/cpu0/cache/index2
if [ -r "$l2/size" ]; then
    ll="$(($(sed 's/K$//' "$l2/size") * 1024)),$(cat "$l2/ways_of_associativity"),$(cat "$l2/coherency_line_size")"
else
    ll="524288,8,64"
fi

echo "Per data segment, callgrind --cache-sim=yes --branch-sim=yes --LL=$ll (L2 as the last level)"
echo
echo "| row | data segments | Ir | I1 misses | D1 misses | L2 misses (I+D) | mispredicted branches (cond+ind) |"
echo "|---|---|---|---|---|---|---|"
COMPARE_LIST=1 "$exe" | grep -E "$filter" | while IFS= read -r id; do
    f="$out/$(echo "$id" | tr -c 'A-Za-z0-9\n' '_').out"
    units=$(GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=4294967295 \
        COMPARE_ROW="$id" COMPARE_PRINT_UNITS=1 \
        valgrind --tool=callgrind --toggle-collect='*measured_call*' \
        --cache-sim=yes --branch-sim=yes --LL="$ll" --dump-instr=yes \
        --callgrind-out-file="$f" "$exe" 2>&1 |
        sed -n 's/^measured units returned: //p')
    echo "$id" >"$f.id"
    echo "$units" >"$f.units"
    # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim
    sed -n 's/^\(summary\|totals\): //p' "$f" | head -1 | awk -v id="$id" -v n="$units" '{
        printf "| %s | %d | %.0f | %.1f | %.1f | %.1f | %.1f |\n", id, n, $1 / n, $4 / n,
            ($5 + $6) / n, ($7 + $8 + $9) / n, ($11 + $13) / n }'
done

if command -v python3 >/dev/null 2>&1 && command -v objdump >/dev/null 2>&1; then
    for f in "$out"/*.out; do
        echo
        echo "### $(cat "$f.id")"
        echo
        python3 benches/compare/hotpath.py "$exe" "$f" "$(cat "$f.units")" | sed 's/^/    /'
    done
fi
