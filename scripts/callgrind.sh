#!/usr/bin/env bash
# Instructions per element of each machine-speed contender (benches/benches/machines.rs), counted
# by valgrind's callgrind: repeatable whatever else the machine is doing, unlike wall-clock time.
# Prints instructions per event (CD player) or per record (processor), and the ratio to the
# baseline counted in the same script run (hand-written match; plain function; direct mode).
# Only the feeding is counted (callgrind --toggle-collect on the bench's `measured`), not preparing inputs.
# Usage: scripts/callgrind.sh [rounds]   (default 20; needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is needed" >&2; exit 1; }
rounds=${1:-20}
cargo bench -p fsm-benches --bench machines --no-run 2>/dev/null
bin=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/machines-* | grep -v '\.d$' | head -1)
count() {
    local out
    out=$(FSM_BENCH_COUNT=$1 FSM_BENCH_ROUNDS=$rounds valgrind --tool=callgrind --toggle-collect=*measured* --callgrind-out-file=/dev/null "$bin" 2>&1)
    grep -oE 'Collected : [0-9]+' <<<"$out" | grep -oE '[0-9]+'
}
declare -A per
for c in cd_player/handwritten cd_player/generated cd_player/statig cd_player/smlang cd_player/rust_fsm \
    cd_deck/handwritten cd_deck/generated cd_deck/statig \
    processor/plain processor/generated_copy processor/generated_direct; do
    n=$(count "$c")
    case $c in cd_player/* | cd_deck/*) elems=$((10000 * rounds)) ;; *) elems=$((1000 * rounds)) ;; esac
    per[$c]=$(awk -v n="$n" -v e="$elems" 'BEGIN { printf "%.2f", n / e }')
done
printf '%-28s %12s %8s\n' contender "instr/elem" ratio
for c in cd_player/handwritten cd_player/generated cd_player/statig cd_player/smlang cd_player/rust_fsm; do
    awk -v c="$c" -v x="${per[$c]}" -v b="${per[cd_player/handwritten]}" 'BEGIN { printf "%-28s %12.2f %7.2fx  vs cd_player/handwritten\n", c, x, x / b }'
done
for c in cd_deck/handwritten cd_deck/generated cd_deck/statig; do
    awk -v c="$c" -v x="${per[$c]}" -v b="${per[cd_deck/handwritten]}" 'BEGIN { printf "%-28s %12.2f %7.2fx  vs cd_deck/handwritten\n", c, x, x / b }'
done
for c in processor/plain processor/generated_direct processor/generated_copy; do
    awk -v c="$c" -v x="${per[$c]}" -v b="${per[processor/plain]}" 'BEGIN { printf "%-28s %12.2f %7.2fx  vs processor/plain\n", c, x, x / b }'
done
awk -v x="${per[processor/generated_copy]}" -v b="${per[processor/generated_direct]}" 'BEGIN { printf "%-28s %12s %7.2fx  vs processor/generated_direct\n", "processor/generated_copy", "", x / b }'
