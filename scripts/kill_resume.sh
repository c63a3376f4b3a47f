#!/usr/bin/env bash
# Checkpoint and resume against a real crash: the main job is killed (SIGKILL) mid-run, started
# again with the same arguments, and its outputs are compared byte for byte with those of an
# uninterrupted run. (The Rust test fsm-runtime/tests/stream_checkpoint.rs covers the same with
# failing sinks, in-process.)
#
#   scripts/kill_resume.sh [RECORDS [KILL_AFTER_SECONDS]]     (defaults: 2000000 0.5)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-2000000}
kill_after=${2:-0.5}
target=${CARGO_TARGET_DIR:-target}
work="$target/kill-resume"
rm -rf "$work" && mkdir -p "$work"
cargo build --release --quiet -p fsm-examples --example streaming
bin="$target/release/examples/streaming"
"$bin" --generate "$records" --save "$work/in.jsonl" 2>/dev/null

"$bin" --input "$work/in.jsonl" --output "$work/ref-out.jsonl" --errors "$work/ref-err.jsonl" --quiet 2>/dev/null

args=(--input "$work/in.jsonl" --output "$work/out.jsonl" --errors "$work/err.jsonl" --quiet
      --checkpoint "$work/run.checkpoint" --checkpoint-every 50000 --workers 2)
kills=0
for _ in 1 2 3; do
  "$bin" "${args[@]}" 2>/dev/null &
  pid=$!
  sleep "$kill_after"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
done
echo "killed $kills time(s); final name present after the kills: $([ -e "$work/out.jsonl" ] && echo yes || echo no)"
[ -e "$work/run.checkpoint" ] && echo "checkpoint: $(tr '\t\n' ' ;' < "$work/run.checkpoint" | cut -c1-160)"
"$bin" "${args[@]}" 2>&1 | grep -E '^(read|  check)'
# Dead letters name their source file, the same path in both runs.
sed "s#$work/in.jsonl#IN#" "$work/ref-err.jsonl" > "$work/ref-err.norm"
sed "s#$work/in.jsonl#IN#" "$work/err.jsonl" > "$work/err.norm"
if cmp -s "$work/ref-out.jsonl" "$work/out.jsonl" && cmp -s "$work/ref-err.norm" "$work/err.norm"; then
  echo "resume: outputs identical to the uninterrupted run ($(wc -l < "$work/out.jsonl") records, $(wc -l < "$work/err.jsonl") dead letters)"
else
  echo "resume: OUTPUTS DIFFER" && exit 1
fi
