#!/usr/bin/env bash
# Workers on a NATS JetStream stream, whole processes, in one run (docs/scale-out.md):
#
#   1. the broker's cost per record: the main job (1 worker) reading the records from the stream
#      (`--input nats://... --until-drained`) vs the same job reading the same records from a file;
#   2. scale-out: 2 worker processes sharing the stream vs 1, on records that are CPU-heavy for the
#      machine (each record carries PAD bytes of text the machine decodes, validates and writes
#      back, so the job's work per message outweighs the broker's, as in a real CPU-bound job).
#
# Every run checkpoints its files every 1,000 records (a stream's messages are acknowledged at
# checkpoints, so a worker writing files needs them; the file run does the same for a fair
# comparison). Each run loads the stream afresh (`streaming publish`, not timed) and drains it; runs take turns
# for ROUNDS rounds and the medians are compared. CPU is the job's own (user + system of the
# worker processes) and, separately, the NATS server's, read from /proc when the server is a
# local process. On a 2-core machine the server shares the cores with the workers.
#
#   scripts/nats_bench.sh [RECORDS [ROUNDS [PAD]]]   (defaults: 100000 3 4000)
#   FSM_TEST_NATS_URL (default nats://127.0.0.1:4222) names the server.
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-100000}
rounds=${2:-3}
pad=${3:-4000}
nats=${FSM_TEST_NATS_URL:-nats://127.0.0.1:4222}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p fsm-examples --example streaming
job="$target/release/examples/streaming"
base=$([ -d /dev/shm ] && echo /dev/shm || echo "$target")
work=$(mktemp -d "$base/fsm-nats-bench.XXXXXX")
stream="fsm_bench_$$"
trap 'delete_stream >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$job" --generate "$records" --save "$work/in.jsonl" >/dev/null 2>&1
# The heavy records: the same, each `category` PAD bytes longer (decoded, kept and written back).
python3 - "$work/in.jsonl" "$work/heavy.jsonl" "$pad" <<'EOF'
import json, sys
src, dst, pad = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = ("lorem ipsum dolor sit amet " * (pad // 27 + 1))[:pad]
with open(src) as f, open(dst, "w") as out:
    for line in f:
        try:
            rec = json.loads(line)
        except ValueError:
            out.write(line)
            continue
        if isinstance(rec, dict) and isinstance(rec.get("category"), str):
            rec["category"] = rec["category"] + " " + text
        out.write(json.dumps(rec, separators=(",", ":")) + "\n")
EOF

server_pid=$(pgrep -x nats-server | head -1 || true)
# CPU seconds the NATS server has used so far (0 when it is not a local process).
server_cpu() {
  if [ -n "$server_pid" ] && [ -r "/proc/$server_pid/stat" ]; then
    python3 -c '
import os, sys
f = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
print((int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"))' "$server_pid"
  else
    echo 0
  fi
}

# Deletes the stream (a JetStream API request over the plain NATS protocol; no client needed).
delete_stream() {
  python3 - "$nats" "$stream" <<'EOF'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=10)
f = s.makefile("rb")
f.readline()  # INFO
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.fsmbench 1\r\n')
s.sendall(f"PUB $JS.API.STREAM.DELETE.{sys.argv[2]} _INBOX.fsmbench 0\r\n\r\n".encode())
while True:  # the API's answer (or a PING to answer) ends the wait
    line = f.readline()
    if not line or line.startswith(b"MSG"):
        break
    if line.startswith(b"PING"):
        s.sendall(b"PONG\r\n")
EOF
}

load() { # load FILE: the stream afresh with FILE's lines (and no outputs or checkpoints left)
  rm -f "$work"/out* "$work"/err* "$work"/ckpt*
  delete_stream
  "$job" publish --input "$1" --to "$nats/$stream" >/dev/null
}

# measure WORKERS ARGS...: WORKERS processes of `$job ARGS...` at once (each with its own output
# files); prints "wall_s job_cpu_s server_cpu_s".
measure() {
  local n=$1
  shift
  local s0
  s0=$(server_cpu)
  python3 - "$n" "$work" "$@" <<'EOF'
import resource, subprocess, sys, time
n, work, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
t = time.perf_counter()
procs = [subprocess.Popen([a.replace("{i}", str(i)) for a in cmd], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) for i in range(n)]
codes = [p.wait() for p in procs]
wall = time.perf_counter() - t
if any(codes):
    sys.exit(f"a worker failed: {codes}")
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.6f} {r.ru_utime + r.ru_stime:.6f}", end=" ")
EOF
  local s1
  s1=$(server_cpu)
  python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.6f}")' "$s0" "$s1"
}

nats_in="$nats/$stream"
worker=(--quiet --until-drained --input "$nats_in" --output "$work/out{i}.jsonl" --errors "$work/err{i}.jsonl" --checkpoint "$work/ckpt{i}" --checkpoint-every 1000)
: >"$work/file" >"$work/broker" >"$work/heavy1" >"$work/heavy2"
for round in $(seq "$rounds"); do
  rm -f "$work"/file-*
  measure 1 "$job" --quiet --input "$work/in.jsonl" --output "$work/file-out.jsonl" --errors "$work/file-err.jsonl" --checkpoint "$work/file-ckpt" --checkpoint-every 1000 >>"$work/file"
  load "$work/in.jsonl"
  measure 1 "$job" "${worker[@]}" >>"$work/broker"
  load "$work/heavy.jsonl"
  measure 1 "$job" "${worker[@]}" >>"$work/heavy1"
  load "$work/heavy.jsonl"
  measure 2 "$job" "${worker[@]}" >>"$work/heavy2"
  echo "round $round of $rounds done" >&2
done

python3 - "$work" "$records" "$pad" <<'EOF'
import statistics, sys
work, records, pad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    rows = [list(map(float, l.split())) for l in open(f"{work}/{name}") if l.strip()]
    return [statistics.median(col) for col in zip(*rows)]
runs = {
    "file, 1 worker": load("file"),
    "stream, 1 worker": load("broker"),
    f"stream +{pad} B, 1 worker": load("heavy1"),
    f"stream +{pad} B, 2 workers": load("heavy2"),
}
print(f"{records} records, median of each (wall s, worker CPU s, NATS server CPU s):")
for name, (wall, cpu, server) in runs.items():
    print(f"  {name:26} {wall:8.3f} s {records / wall:10.0f} records/s  workers {cpu:7.3f} s  server {server:7.3f} s")
f, b = runs["file, 1 worker"], runs["stream, 1 worker"]
h1, h2 = runs[f"stream +{pad} B, 1 worker"], runs[f"stream +{pad} B, 2 workers"]
print(f"throughput, stream / file (1 worker):               {f[0] / b[0]:.2f}x")
print(f"broker cost per record, worker CPU:                 {(b[1] - f[1]) / records * 1e6:.2f} us (+ server {b[2] / records * 1e6:.2f} us)")
print(f"throughput, 2 worker processes / 1 (heavy records): {h1[0] / h2[0]:.2f}x (goal >= 1.7)")
EOF
