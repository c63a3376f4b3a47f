#!/usr/bin/env bash
# The API orchestration example (issue 12) at a service latency of L ms: records per second with
# C records in flight against the same program with one in flight, in one run, ROUNDS times
# alternately; the best of each counts. Goal: concurrency 100 at >= 30x concurrency 1.
# Both runs start the example's own local API (127.0.0.1) with the same latency and failure rate.
#
#   scripts/api_orchestration_bench.sh [L [C [ROUNDS]]]      (defaults: 10 100 3)
#
# With one in flight a record takes three service round trips (customer; orders and credit at
# once; the decision), so about 3 L; with C in flight C of them overlap.
set -euo pipefail
cd "$(dirname "$0")/.."
latency=${1:-10}
concurrency=${2:-100}
rounds=${3:-3}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p fsm-examples --example api_orchestration
example="$target/release/examples/api_orchestration"
dir="$target/api-orchestration-bench"
mkdir -p "$dir"

# Enough records for about two seconds each way.
serial_records=$(( 2000 / (3 * latency + 1) + 20 ))
parallel_records=$(( serial_records * concurrency ))
[ "$parallel_records" -gt 20000 ] && parallel_records=20000

rate() { grep -E '^records/s: ' "$1" | sed 's/^records\/s: //'; }

best_one=0
best_many=0
for round in $(seq "$rounds"); do
  "$example" --records "$serial_records" --concurrency 1 --latency-ms "$latency" >"$dir/one.out" 2>"$dir/one.log"
  "$example" --records "$parallel_records" --concurrency "$concurrency" --latency-ms "$latency" >"$dir/many.out" 2>"$dir/many.log"
  one=$(rate "$dir/one.out")
  many=$(rate "$dir/many.out")
  printf 'round %d: concurrency 1 %.1f records/s, concurrency %d %.1f records/s\n' "$round" "$one" "$concurrency" "$many"
  best_one=$(echo "if ($one > $best_one) $one else $best_one" | bc -l)
  best_many=$(echo "if ($many > $best_many) $many else $best_many" | bc -l)
done
grep -E '^  check' "$dir/one.log" "$dir/many.log" >&2
awk -v one="$best_one" -v many="$best_many" -v c="$concurrency" -v l="$latency" 'BEGIN {
  printf "best at L = %d ms: concurrency %d %.1f records/s, concurrency 1 %.1f records/s: %.1fx (goal >= 30x)\n",
    l, c, many, one, many / one
}'
