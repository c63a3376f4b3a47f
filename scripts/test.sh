#!/usr/bin/env bash
# The project's test command: the one README.md gives and .ci/run calls. Formatting, lints, the whole test
# suite (unit, integration, snapshot, trybuild UI), and doctests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets -- -D warnings

echo "== tests (cargo nextest)"
# Snapshots are never accepted silently in a test run: a changed snapshot fails.
export INSTA_UPDATE=no
cargo nextest run --workspace --no-fail-fast

echo "== doctests"
cargo test --workspace --doc
