#!/usr/bin/env bash
# What depending on fsm costs a user, in crates (`cargo tree -e normal,build`, each crate once),
# for the dependency lines a user writes, in a scratch crate outside this workspace; and the main
# job's package with its dev-dependencies. Usage: scripts/crates.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

count() { sort -u | sed 's/ (\*)//' | sort -u | wc -l; }

printf '%-70s %s\n' "dependency" "crates"
for line in \
  'fsm = { path = "ROOT", default-features = false }' \
  'fsm = { path = "ROOT" }' \
  'fsm = { path = "ROOT", features = ["fancy"] }' \
  'fsm = { path = "ROOT", features = ["sqlite"] }'; do
  dep=${line//ROOT/$root}
  mkdir -p "$work/user/src"
  printf '[package]\nname = "user"\nversion = "0.1.0"\nedition = "2024"\n[dependencies]\n%s\n[workspace]\n' "$dep" >"$work/user/Cargo.toml"
  echo 'fn main() {}' >"$work/user/src/main.rs"
  n=$(cd "$work/user" && cargo tree -q -e normal,build --prefix none | count)
  shown=${line//path = \"ROOT\", /}
  printf '%-70s %s\n' "${shown//\{ path = \"ROOT\" \}/\"0.1\"}" "$n"
done
n=$(cargo tree -q -p fsm-examples -e normal,build,dev --prefix none | count)
printf '%-70s %s\n' "the main job's package (fsm-examples, with dev-dependencies)" "$n"
n=$(cargo tree -q -p fsm-cli -e normal,build --prefix none | count)
printf '%-70s %s\n' "the CLI (fsm-cli)" "$n"
