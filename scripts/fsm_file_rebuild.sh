#!/usr/bin/env bash
# Shows that `fsm_file!` tracks its YAML file: a crate compiled from a YAML machine is rebuilt by
# the next `cargo build` after the YAML changes, without a build script.
#
# It makes a throwaway crate that depends on this repository's `fsm`, builds and runs it (it prints
# the machine's states), adds a state to the YAML, builds and runs again, and checks that the new
# state is there. Exit status 0 when the edit was picked up.
#
#   scripts/fsm_file_rebuild.sh            # uses a temporary directory, removed at the end
#   CARGO_TARGET_DIR=... scripts/...       # reuse a target directory (faster on repeated runs)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$work/target}"

mkdir -p "$work/demo/src" "$work/demo/machines"
cat > "$work/demo/Cargo.toml" <<TOML
[package]
name = "fsm-file-rebuild-demo"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
fsm = { path = "$repo", default-features = false }

[workspace]
TOML
cp "$repo/Cargo.lock" "$work/demo/Cargo.lock"
cat > "$work/demo/machines/door.yaml" <<'YAML'
name: Door
events: [open, close]
states:
  - { name: closed, is_start: true }
  - { name: opened }
arcs:
  - { from: closed, to: opened, on: open }
  - { from: opened, to: closed, on: close }
YAML
cat > "$work/demo/src/main.rs" <<'RUST'
fsm::fsm_file!("machines/door.yaml");

fn main() {
    let names: Vec<&str> = DoorState::ALL.iter().map(|s| s.name()).collect();
    println!("{}", names.join(" "));
}
RUST

run() { (cd "$work/demo" && cargo run --quiet --offline 2>&1); }

echo "== first build"
before="$(run)"
echo "states: $before"

echo "== edit machines/door.yaml: add state \`locked\`"
cat >> "$work/demo/machines/door.yaml" <<'YAML'
  - { from: closed, to: locked, on: close }
  - { from: locked, to: closed, on: open }
YAML
sed -i 's/  - { name: opened }/  - { name: opened }\n  - { name: locked }/' "$work/demo/machines/door.yaml"

echo "== second build (no other change)"
after="$(run)"
echo "states: $after"

if [[ "$after" == *locked* && "$before" != *locked* ]]; then
  echo "ok: the YAML edit was picked up by the next build"
else
  echo "FAILED: the second build did not see the edited YAML" >&2
  exit 1
fi
