#![cfg(unix)]
//! Compile-fail UI tests of `fsm!` and `fsm_file!` (trybuild): one mistake per case, the
//! compiler's whole output pinned in the `.stderr` next to it. Regenerate with
//! `TRYBUILD=overwrite cargo test -p fsm-tests --test ui`, then read every changed `.stderr`.
//!
//! trybuild builds the cases in its own crate, `<target>/tests/trybuild/fsm-tests/`, which is
//! therefore the `CARGO_MANIFEST_DIR` that `fsm_file!` resolves paths against: the YAML files of
//! the cases are copied there, into `machines/`, before the run. (Copied, not linked: `fsm_file!`
//! refuses a path that leaves the crate through a symbolic link.)

use std::path::{Path, PathBuf};

/// `<target>/tests/trybuild/fsm-tests`, as trybuild computes it (the test binary lives in
/// `<target>/<profile>/deps/`).
fn trybuild_project_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    target.join("tests").join("trybuild").join("fsm-tests")
}

fn copy_machines() {
    let project = trybuild_project_dir();
    std::fs::create_dir_all(&project).unwrap();
    let into = project.join("machines");
    // A link left by earlier versions of this test, or stale copies.
    let _ = std::fs::remove_file(&into);
    let _ = std::fs::remove_dir_all(&into);
    std::fs::create_dir_all(&into).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("ui")
        .join("file")
        .join("machines");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, into.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn ui() {
    copy_machines();
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/dsl/*.rs");
    t.compile_fail("ui/file/*.rs");
    // Generated code: a function named in the machine but not implemented is rustc's E0046
    // naming the trait method. (One trybuild run for every case: each run builds the whole
    // dependency graph once more.)
    t.compile_fail("ui/generated/*.rs");
    t.pass("ui/pass/*.rs");
}
