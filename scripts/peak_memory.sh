#!/usr/bin/env bash
# Peak memory of the main job at two input sizes, in one run: the pipeline's memory is bounded by
# workers and chunk size, not by the input, so 1M and 5M records should peak alike (goal: within
# 20%, under 64 MB). Records are generated on the fly (no input file); the output goes to
# /dev/null through stdout, dead letters to target/.
#
#   scripts/peak_memory.sh [SMALL [LARGE]]      (defaults: 1000000 5000000)
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-1000000}
large=${2:-5000000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p fsm-examples --example streaming
bin="$target/release/examples/streaming"
mkdir -p "$target/streaming"

peak() { # records -> peak RSS in kB (VmHWM, printed by the example)
  "$bin" --generate "$1" --output - --errors "$target/streaming/peak-errors.jsonl" --quiet 2>"$target/streaming/peak.log" >/dev/null
  grep -E '^(read|  check)' "$target/streaming/peak.log" >&2
  awk '/^peak memory:/ { printf "%d\n", $3 * 1024 }' "$target/streaming/peak.log"
}

a=$(peak "$small")
b=$(peak "$large")
awk -v a="$a" -v b="$b" -v n1="$small" -v n2="$large" 'BEGIN {
  printf "peak memory: %d records %.1f MB, %d records %.1f MB, ratio %.2f (goal: within 20%%, under 64 MB)\n",
    n1, a / 1024, n2, b / 1024, b / a
  ok = (b / a <= 1.2 && b / a >= 1 / 1.2 && a < 65536 && b < 65536)
  exit ok ? 0 : 1
}'
