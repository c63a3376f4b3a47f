//! The facade crate `fsm` forwards every feature of `fsm-runtime` under the same name, so that a
//! user needs one dependency (issue: a new user's first hour, item 4). Read from the two manifests,
//! so that a feature added to the runtime and not to the facade fails here.

use std::collections::BTreeSet;

/// The names in the `[features]` table of a manifest, with the text of each entry.
fn features(manifest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[features]";
            continue;
        }
        if !inside || line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            out.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

#[test]
fn the_facade_forwards_every_runtime_feature() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let runtime = std::fs::read_to_string(format!("{root}/fsm-runtime/Cargo.toml")).unwrap();
    let facade = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    let runtime: BTreeSet<String> = features(&runtime)
        .into_iter()
        .map(|(name, _)| name)
        // `test-clock` is for the runtime's own tests (a clock they control), not for users.
        .filter(|name| name != "default" && name != "test-clock")
        .collect();
    assert!(runtime.len() >= 10, "the runtime's features were not read: {runtime:?}");
    let facade = features(&facade);
    let missing: Vec<&String> = runtime
        .iter()
        .filter(|f| {
            !facade
                .iter()
                .any(|(name, value)| name == *f && value.contains(&format!("\"fsm-runtime/{f}\"")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "features of fsm-runtime the facade does not forward: {missing:?}"
    );
}
