#!/usr/bin/env bash
# The LLM workflow (examples/llm_workflow.rs) against its own local model server, in one run:
#  1. throughput with `--concurrency C` against `--concurrency 1` (records per second as the
#     example's summary prints them; each round runs both, each keeps its best), at a server
#     latency of L ms per answer: the ratio is what keeping C tickets in flight buys.
#  2. the async LLM client's cost per call (`AsyncLlm::complete`) against a raw reqwest loop
#     reading the same streamed answers from the same server (examples/llm_client_baseline.rs).
#
#   scripts/llm_bench.sh [N [C [L [ROUNDS]]]]      (defaults: 400 32 20 3)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-400}
c=${2:-32}
latency=${3:-20}
rounds=${4:-3}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p fsm-examples --example llm_workflow --example llm_client_baseline
example="$target/release/examples/llm_workflow"
baseline="$target/release/examples/llm_client_baseline"

# One run's records per second, from the summary's first line (`read N records in 1.24s (...)`).
rate() {
  "$example" --records "$1" --concurrency "$2" --latency-ms "$latency" | awk '/^read [0-9]+ records in / {
    t = $5; s = t + 0; if (t ~ /ms$/) s /= 1000; else if (t ~ /µs$/) s /= 1000000
    printf "%.2f\n", $2 / s }'
}

best_c=0
best_1=0
# At concurrency 1 a record takes three answers of L ms each: fewer records keep the round short.
n1=$(( n / c > 20 ? n / c : 20 ))
for round in $(seq "$rounds"); do
  rc=$(rate "$n" "$c")
  r1=$(rate "$n1" 1)
  printf 'round %d: concurrency %d %s records/s, concurrency 1 %s records/s\n' "$round" "$c" "$rc" "$r1"
  best_c=$(awk -v a="$rc" -v b="$best_c" 'BEGIN { print (a > b) ? a : b }')
  best_1=$(awk -v a="$r1" -v b="$best_1" 'BEGIN { print (a > b) ? a : b }')
done
awk -v a="$best_c" -v b="$best_1" -v c="$c" -v l="$latency" 'BEGIN {
  printf "llm_workflow, latency %d ms: concurrency %d vs 1: %.1fx the records per second (%.0f vs %.1f)\n", l, c, a / b, a, b
}'
"$baseline"
