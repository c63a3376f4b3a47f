#!/usr/bin/env bash
# The main job against its baseline, whole processes, in one run: the main job
# (`--example streaming`, 1 and 2 workers) and the same work as a plain single-threaded serde_json
# loop (`--example streaming_baseline`), on the same generated seed-001 input (1% invalid, 0.1%
# not JSON) in a directory on tmpfs when there is one. The three take turns for ROUNDS rounds;
# for each the median wall time, CPU time (user + system, all threads), page faults and context
# switches are printed, then the ratios:
#   throughput of the main job (1 worker) / the plain loop    goal >= 1.0
#   CPU of the main job (1 worker) / the plain loop           goal <= 1.10
#   throughput with 2 workers / with 1 worker                 goal >= 1.6 on 2 free cores
# and whether the outputs are byte for byte the plain loop's.
#
# With CODEC=sonic (a codec of the main job's --codec), a fourth contender takes its turn in each
# round: the main job, 1 worker, with that codec; its ratios to the main job on serde_json follow.
#
# CPU ratios hold on a loaded machine (each side is charged only its own work); wall-time ratios,
# and the 2-worker scaling most of all, need the cores free.
#
#   scripts/main_job_bench.sh [RECORDS [ROUNDS]]      (defaults: 1000000 5)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
rounds=${2:-5}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet -p fsm-examples --example streaming --example streaming_baseline
job="$target/release/examples/streaming"
plain="$target/release/examples/streaming_baseline"
base=$([ -d /dev/shm ] && echo /dev/shm || echo "$target")
work=$(mktemp -d "$base/fsm-main-job-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$job" --generate "$records" --save "$work/in.jsonl" >/dev/null 2>&1

# One run of a command: "wall_s cpu_s page_faults context_switches", from getrusage of the child.
measure() {
  python3 - "$@" <<'EOF'
import os, resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{wall:.6f} {r.ru_utime + r.ru_stime:.6f} {r.ru_minflt + r.ru_majflt} {r.ru_nvcsw + r.ru_nivcsw}")
EOF
}

: >"$work/job1" >"$work/job2" >"$work/plain" >"$work/codec"
for round in $(seq "$rounds"); do
  measure "$plain" --input "$work/in.jsonl" --output "$work/plain-out.jsonl" --errors "$work/plain-err.jsonl" >>"$work/plain"
  measure "$job" --input "$work/in.jsonl" --output "$work/job-out.jsonl" --errors "$work/job-err.jsonl" --quiet --workers 1 >>"$work/job1"
  measure "$job" --input "$work/in.jsonl" --output "$work/job2-out.jsonl" --errors "$work/job2-err.jsonl" --quiet --workers 2 >>"$work/job2"
  if [ -n "${CODEC:-}" ]; then
    measure "$job" --input "$work/in.jsonl" --output "$work/codec-out.jsonl" --errors "$work/codec-err.jsonl" --quiet --workers 1 --codec "$CODEC" >>"$work/codec"
  fi
  echo "round $round of $rounds done" >&2
done

python3 - "$work" "$records" "${CODEC:-}" <<'EOF'
import statistics, sys
work, records, codec = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(name):
    rows = [list(map(float, l.split())) for l in open(f"{work}/{name}") if l.strip()]
    return [statistics.median(col) for col in zip(*rows)]
runs = {"plain loop": load("plain"), "main job, 1 worker": load("job1"), "main job, 2 workers": load("job2")}
if codec:
    runs[f"main job, 1w, {codec}"] = load("codec")
print(f"{records} records, median of each (wall s, CPU s, page faults, context switches):")
for name, (wall, cpu, faults, switches) in runs.items():
    print(f"  {name:20} {wall:8.3f} s  {records / wall:10.0f} records/s  CPU {cpu:7.3f} s  {faults:8.0f} faults  {switches:7.0f} switches")
p, j1, j2 = runs["plain loop"], runs["main job, 1 worker"], runs["main job, 2 workers"]
print(f"throughput, main job (1 worker) / plain loop: {p[0] / j1[0]:.2f}x (goal >= 1.0)")
print(f"CPU, main job (1 worker) / plain loop:        {j1[1] / p[1]:.2f}x (goal <= 1.10)")
print(f"throughput, 2 workers / 1 worker:             {j1[0] / j2[0]:.2f}x (goal >= 1.6 on 2 free cores)")
if codec:
    c = runs[f"main job, 1w, {codec}"]
    print(f"throughput, main job on {codec} / on serde_json: {j1[0] / c[0]:.2f}x; CPU {c[1] / j1[1]:.2f}x")
EOF
# Outputs: byte for byte the plain loop's; dead letters the same JSON values line by line (the
# plain loop writes their keys in another order).
python3 - "$work" "${CODEC:-}" <<'EOF'
import json, sys
work = sys.argv[1]
def same(a, b, exact):
    with open(f"{work}/{a}.jsonl", "rb") as x, open(f"{work}/{b}.jsonl", "rb") as y:
        if exact:
            return x.read() == y.read()
        xs, ys = x.read().splitlines(), y.read().splitlines()
        return len(xs) == len(ys) and all(json.loads(p) == json.loads(q) for p, q in zip(xs, ys))
ok = True
for run in ["job", "job2"] + (["codec"] if len(sys.argv) > 2 and sys.argv[2] else []):
    for kind, exact in [("out", True), ("err", False)]:
        good = same(f"{run}-{kind}", f"plain-{kind}", exact)
        ok &= good
        what = "byte for byte" if exact else "record for record"
        print(f"{run}-{kind}.jsonl: {'the same as' if good else 'DIFFERENT from'} the plain loop's, {what}")
sys.exit(0 if ok else 1)
EOF
