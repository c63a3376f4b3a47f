#!/usr/bin/env bash
# The project's test command: the one README.md gives and .ci/run calls. Formatting, lints, the whole test
# suite (unit, integration, snapshot, trybuild UI), doctests; and, cheaply, that fsm-runtime and
# fsm-codegen build with each feature alone and that the docs build without warnings.
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

echo "== fsm-runtime and fsm-codegen feature by feature (cargo clippy, -D warnings)"
# Each feature must build cleanly on its own: none, each alone (read from Cargo.toml, so a new
# feature is checked too), and all. The library only: the tests enable every feature anyway.
for package in fsm-runtime fsm-codegen; do
  features=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == sys.argv[1]:
        print(" ".join(sorted(f for f in p["features"] if f != "default")))' "$package")
  echo "   $package --no-default-features"
  cargo clippy -q -p "$package" --no-default-features -- -D warnings
  for feature in $features; do
    echo "   $package --features $feature"
    cargo clippy -q -p "$package" --no-default-features --features "$feature" -- -D warnings
  done
  cargo clippy -q -p "$package" --all-features -- -D warnings
done
# What a proc-macro user with `default-features = false` gets: the compiler without its optional
# parts (plain reports), tested as such; and the facade without features.
cargo test -q -p fsm-codegen --no-default-features --lib
cargo clippy -q -p fsm --no-default-features -- -D warnings

echo "== cargo doc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps --workspace

echo "== tests (cargo nextest)"
# Snapshots are never accepted silently in a test run: a changed snapshot fails.
export INSTA_UPDATE=no
cargo nextest run --workspace --no-fail-fast

echo "== doctests"
cargo test --workspace --doc
