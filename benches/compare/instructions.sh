#!/usr/bin/env bash
# The whole comparison, one command: criterion wall time and callgrind
# instruction counts for every row of benches/compare, from the same build,
# in one table with the ratios both ways; wall-time ratios measured in
# pairs (each row and its baseline alternately); then every bulk cell once
# with its data checked (virtual-time throughput, timer stalls).
#
#   bash benches/compare/instructions.sh            # every row (~10 min on 2 cores)
#   bash benches/compare/instructions.sh lifecycle  # rows whose id contains "lifecycle"
#
# callgrind runs with glibc's vector memcpy: GLIBC_TUNABLES raises the
# `rep movsb` threshold out of reach, because callgrind counts one
# instruction per octet `rep movsb` moves. Wall time runs with glibc's
# defaults. The memcpy the counted runs used is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
filter="${1:-}"

if ! command -v valgrind >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind
fi

# Built alone, so that smoltcp gets only this crate's features (IPv4).
exe=$(cargo bench -p tcp-proto-compare --bench compare --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -x "$exe" ] || { echo "no bench binary" >&2; exit 1; }
out="target/compare-report"
rm -rf "$out"
mkdir -p "$out"

echo "## machine"
echo
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: /- CPU: /'
echo "- cores: $(nproc); $(ldd --version | head -1); $(valgrind --version); $(rustc --version)"
echo

echo "## criterion (wall)" >&2
CRITERION_HOME="$out/criterion" "$exe" --bench ${filter:+"$filter"} >"$out/criterion.txt" 2>&1 ||
    { cat "$out/criterion.txt"; exit 1; }

echo "## rows: criterion median beside callgrind instructions (same build)"
echo
GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=4294967295 \
    COMPARE_FILTER="$filter" COMPARE_REPORT="$out/criterion" "$exe"
echo

echo "## wall time in pairs: each row and its baseline timed alternately, ratio per sample"
echo
# Criterion's medians above are taken row after row; on a shared machine the
# speed can change between two rows. These ratios are taken within each
# sample (glibc's defaults, as criterion).
COMPARE_PAIRED="$filter" "$exe"
echo

if [ -z "$filter" ] || [[ "bulk" == *"$filter"* ]]; then
    echo "## bulk cells, data checked: virtual time and stalls"
    echo
    COMPARE_CHECK=1 "$exe"
    echo
fi

echo "## memcpy used in the counted runs"
echo
for f in "$out"/criterion/callgrind/*.out; do
    callgrind_annotate "$f" 2>/dev/null | grep -o '__mem[a-z_]*' || true
done | sort | uniq -c | sed 's/^/- /'
