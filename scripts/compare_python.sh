#!/usr/bin/env bash
# The main job against the Python reference framework, on the same input, in one run:
# installs dataknobs-fsm (PyPI) in a virtualenv under target/, runs seed 001's pipeline
# (scripts/seed001_python.py: the seed's config verbatim, AsyncSimpleFSM.process_stream file to
# file) and the Rust main job on the same generated JSONL, RUNS times each (default 3), prints the
# median throughput of each and the ratio (goal: over 200x), and compares the outputs of the two
# record by record (scripts/compare_outputs.py: same end, same record, for every input line); it
# fails when they differ.
#
#   scripts/compare_python.sh [RECORDS]      (default 20000; the Python side dominates the time)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-20000}
target=${CARGO_TARGET_DIR:-target}
work="$target/compare-python"
venv="$target/py-venv"
mkdir -p "$work"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import dataknobs_fsm' 2>/dev/null; then
  echo "installing dataknobs-fsm into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check dataknobs-fsm
fi
echo "dataknobs-fsm $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("dataknobs-fsm"))')" >&2

cargo build --release --quiet -p fsm-examples --example streaming
bin="$target/release/examples/streaming"
"$bin" --generate "$records" --save "$work/input.jsonl" 2>/dev/null

runs=${RUNS:-3}
# The median of a list of rates, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The same number of runs each; each side's rate excludes its process start-up (Python: the
# script's own timer around process_stream; Rust: the summary's rate).
py_rates=""
rust_rates=""
for _ in $(seq "$runs"); do
  py_line=$("$venv/bin/python" scripts/seed001_python.py "$work/input.jsonl" "$work/python-output.jsonl" 100 | grep '^python:')
  echo "$py_line"
  py_rates+="$(echo "$py_line" | sed -E 's/.*\(([0-9.]+) records\/s\).*/\1/')"$'\n'
  rate=$("$bin" --input "$work/input.jsonl" --output "$work/rust-output.jsonl" --errors "$work/rust-errors.jsonl" --quiet 2>&1 \
    | sed -nE 's/^read [0-9]+ records in .* \(([0-9.]+) records\/s\)$/\1/p')
  echo "rust:   $records records ($rate records/s)"
  rust_rates+="$rate"$'\n'
done
py_rate=$(printf '%s' "$py_rates" | median)
rust_rate=$(printf '%s' "$rust_rates" | median)
echo "median of $runs runs each: python $py_rate records/s, rust $rust_rate records/s"
awk -v r="$rust_rate" -v p="$py_rate" 'BEGIN { printf "ratio: %.0fx (goal: over 200x)\n", r / p }'

# Both sides must have computed the same thing.
python3 scripts/compare_outputs.py "$work/input.jsonl" "$work/python-output.jsonl" \
  "$work/rust-output.jsonl" "$work/rust-errors.jsonl"
