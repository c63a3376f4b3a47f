#!/usr/bin/env bash
# The ETL example (SQLite to SQLite) against the same work as a plain rusqlite loop
# (examples/etl_baseline.rs: one stepping statement, the same functions, upserts, a commit with the
# position every chunk), in one run: the source is generated once, then each program loads it into
# a fresh sink, alternately, ROUNDS times; the best time of each counts. Goal: the example at
# >= 0.85x the baseline's throughput. Also the peak memory of the example at N and 5N rows.
#
#   scripts/etl_bench.sh [N [ROUNDS [CHUNK]]]      (defaults: 1000000 3 1000)
#
# With ETL_BENCH_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test; psql on the PATH), the
# same comparison PostgreSQL to PostgreSQL follows, in schemas etl_bench_source and etl_bench_sink
# (dropped and made again each round).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
rounds=${2:-3}
chunk=${3:-1000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p fsm-examples --example etl --example etl_baseline
etl="$target/release/examples/etl"
baseline="$target/release/examples/etl_baseline"
dir="$target/etl-bench"
mkdir -p "$dir"
rm -f "$dir"/*.db "$dir"/*.db-journal

now() { date +%s.%N; }

"$etl" --source "$dir/source.db" --sink "$dir/warmup.db" --rows "$n" --chunk-size "$chunk" 2>"$dir/generate.log"
grep -E '^  check' "$dir/generate.log" >&2

best_etl=999999
best_base=999999
for round in $(seq "$rounds"); do
  rm -f "$dir/sink.db" "$dir/base.db"
  t0=$(now)
  "$etl" --source "$dir/source.db" --sink "$dir/sink.db" --chunk-size "$chunk" 2>"$dir/etl.log"
  t1=$(now)
  "$baseline" --source "$dir/source.db" --sink "$dir/base.db" --chunk-size "$chunk" 2>"$dir/base.log"
  t2=$(now)
  e=$(echo "$t1 - $t0" | bc -l)
  b=$(echo "$t2 - $t1" | bc -l)
  printf 'round %d: etl %.3f s, baseline %.3f s\n' "$round" "$e" "$b"
  best_etl=$(echo "if ($e < $best_etl) $e else $best_etl" | bc -l)
  best_base=$(echo "if ($b < $best_base) $b else $best_base" | bc -l)
done
grep -E '^  check' "$dir/etl.log" "$dir/base.log" >&2
clean_etl=$(sqlite3 "$dir/sink.db" 'SELECT count(*) FROM orders_clean' 2>/dev/null || echo '?')
clean_base=$(sqlite3 "$dir/base.db" 'SELECT count(*) FROM orders_clean' 2>/dev/null || echo '?')
echo "orders_clean: etl $clean_etl rows, baseline $clean_base rows"
awk -v e="$best_etl" -v b="$best_base" -v n="$n" 'BEGIN {
  printf "best: etl %.3f s (%.0f rows/s), baseline %.3f s (%.0f rows/s): etl at %.2fx the baseline'"'"'s throughput (goal >= 0.85x)\n",
    e, n / e, b, n / b, b / e
}'
grep -E '^peak memory' "$dir/etl.log" | sed "s/^/etl at $n rows: /"

pg=${ETL_BENCH_POSTGRES_URL:-}
if [ -n "$pg" ]; then
  sep='?'; case "$pg" in *\?*) sep='&';; esac
  src="${pg}${sep}options=-csearch_path%3Detl_bench_source"
  dst="${pg}${sep}options=-csearch_path%3Detl_bench_sink"
  psql -q "$pg" -c 'DROP SCHEMA IF EXISTS etl_bench_source CASCADE; CREATE SCHEMA etl_bench_source' >/dev/null 2>&1
  psql -q "$pg" -c 'DROP SCHEMA IF EXISTS etl_bench_sink CASCADE; CREATE SCHEMA etl_bench_sink' >/dev/null 2>&1
  "$etl" --source "$src" --sink "$dst" --rows "$n" --chunk-size "$chunk" 2>"$dir/pg-generate.log"
  grep -E '^  check' "$dir/pg-generate.log" >&2
  best_etl=999999
  best_base=999999
  for round in $(seq "$rounds"); do
    psql -q "$pg" -c 'DROP SCHEMA IF EXISTS etl_bench_sink CASCADE; CREATE SCHEMA etl_bench_sink' >/dev/null 2>&1
    t0=$(now)
    "$etl" --source "$src" --sink "$dst" --chunk-size "$chunk" 2>"$dir/pg-etl.log"
    t1=$(now)
    psql -q "$pg" -c 'DROP SCHEMA IF EXISTS etl_bench_sink CASCADE; CREATE SCHEMA etl_bench_sink' >/dev/null 2>&1
    t2=$(now)
    "$baseline" --source "$src" --sink "$dst" --chunk-size "$chunk" 2>"$dir/pg-base.log"
    t3=$(now)
    e=$(echo "$t1 - $t0" | bc -l)
    b=$(echo "$t3 - $t2" | bc -l)
    printf 'postgres round %d: etl %.3f s, baseline %.3f s\n' "$round" "$e" "$b"
    best_etl=$(echo "if ($e < $best_etl) $e else $best_etl" | bc -l)
    best_base=$(echo "if ($b < $best_base) $b else $best_base" | bc -l)
  done
  grep -E '^  check' "$dir/pg-etl.log" "$dir/pg-base.log" >&2
  awk -v e="$best_etl" -v b="$best_base" -v n="$n" 'BEGIN {
    printf "postgres best: etl %.3f s (%.0f rows/s), baseline %.3f s (%.0f rows/s): etl at %.2fx the baseline'"'"'s throughput (goal >= 0.85x)\n",
      e, n / e, b, n / b, b / e
  }'
  psql -q "$pg" -c 'DROP SCHEMA IF EXISTS etl_bench_source CASCADE; DROP SCHEMA IF EXISTS etl_bench_sink CASCADE' >/dev/null 2>&1
fi
