#!/usr/bin/env bash
# The project's test command: the one README.md gives and .ci/run calls. Formatting, lints, the whole test
# suite (unit, integration, snapshot, trybuild UI), doctests; and, cheaply, that fsm-runtime builds with
# each feature alone and that the docs build without warnings.
set -euo pipefail
cd "$(dirname "$0")/.."

# The test runner, checked first: a machine without it gets it installed before anything runs.
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "== cargo-nextest is missing: installing it (cargo install cargo-nextest --locked)"
  cargo install cargo-nextest --locked
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== fsm-runtime feature by feature (cargo check)"
# Each feature must build on its own: none, each alone (read from Cargo.toml, so a new feature is
# checked too), and all. `cargo check` of the library only: the tests enable every feature anyway.
features=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "fsm-runtime":
        print(" ".join(sorted(f for f in p["features"] if f != "default")))')
cargo check -q -p fsm-runtime --no-default-features
for feature in $features; do
  echo "   --features $feature"
  cargo check -q -p fsm-runtime --no-default-features --features "$feature"
done
cargo check -q -p fsm-runtime --all-features

echo "== cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps --workspace

echo "== tests (cargo nextest)"
# Snapshots are never accepted silently in a test run: a changed snapshot fails.
export INSTA_UPDATE=no
cargo nextest run --workspace --no-fail-fast

echo "== doctests"
cargo test --workspace --doc
