#!/usr/bin/env bash
# Runs the machine-speed benchmarks (benches/benches/machines.rs, criterion) and prints each
# implementation's time per element and its ratio to the baseline measured in the same run:
#   cd_player/*            vs cd_player/handwritten   (per event)
#   processor/*            vs processor/plain         (per record)
#   processor/generated_copy vs processor/generated_direct
# Two statistics from criterion: the median, and the fastest sample (least disturbed by other
# processes on a busy machine). Criterion measures one benchmark after the other, so load that comes
# and goes skews its ratios; the bench also prints "paired" ratios (the implementations take turns,
# each keeps its fastest run), which this script repeats at the end: trust those on a shared machine.
# Extra arguments go to criterion, e.g. `scripts/bench.sh cd_player` runs one group;
# `scripts/bench.sh --report` only prints the criterion ratios of the last run. Needs jq.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v jq >/dev/null || { echo "bench.sh: jq is needed to read criterion's estimates" >&2; exit 1; }

if [[ "${1:-}" == "--report" ]]; then
    shift
else
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    cargo bench -p fsm-benches --bench machines -- "$@" 2>&1 | tee "$log"
    echo
    grep -A8 'paired:' "$log" | grep -E 'paired:|ns/elem' || true
fi

dir="${CARGO_TARGET_DIR:-target}/criterion"

# Prints "median best" in ns per element of benchmark $1 (group/function), or nothing if absent.
per_element() {
    local d="$dir/$1/new"
    [[ -f "$d/estimates.json" && -f "$d/sample.json" && -f "$d/benchmark.json" ]] || return 0
    local n median best
    n=$(jq '.throughput.Elements // 1' "$d/benchmark.json")
    median=$(jq '.median.point_estimate' "$d/estimates.json")
    best=$(jq '[.times, .iters] | transpose | map(.[0] / .[1]) | min' "$d/sample.json")
    jq -n --argjson m "$median" --argjson b "$best" --argjson n "$n" '"\($m / $n) \($b / $n)"' -r
}

# Prints one line: name, ns per element (median, best), ratios to the baseline.
row() {
    local name=$1 base=$2 mine theirs
    mine=$(per_element "$name")
    theirs=$(per_element "$base")
    [[ -n "$mine" && -n "$theirs" ]] || return 0
    read -r m b <<<"$mine"
    read -r bm bb <<<"$theirs"
    awk -v n="$name" -v m="$m" -v b="$b" -v bm="$bm" -v bb="$bb" -v base="$base" \
        'BEGIN { printf "%-28s %9.2f %9.2f %8.2fx %8.2fx   vs %s\n", n, m, b, m / bm, b / bb, base }'
}

printf '\n%-28s %9s %9s %9s %9s\n' "benchmark" "median" "best" "median" "best"
printf '%-28s %9s %9s %9s %9s\n' "" "ns/elem" "ns/elem" "ratio" "ratio"
for f in handwritten generated statig smlang rust_fsm; do
    row "cd_player/$f" cd_player/handwritten
done
for f in plain generated_copy generated_direct; do
    row "processor/$f" processor/plain
done
row processor/generated_copy processor/generated_direct
