//! What the example tests share: finding (or building) an example's binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Example `name`'s binary, next to this test's (`<target>/<profile>/examples/<name>`). A full
/// `cargo test`/`nextest` run builds examples; a run filtered to this test builds it here.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let target = profile_dir.parent().unwrap();
        let mut build = Command::new(env!("CARGO"));
        build
            .args(["build", "-p", "fsm-examples", "--example", name])
            .env("CARGO_TARGET_DIR", target);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "building the {name} example failed");
    }
    binary
}
