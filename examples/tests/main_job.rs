//! The built main job (`examples/streaming.rs`, built as the `streaming` binary) against what a
//! user does to it: SIGKILL at several points then resume, SIGTERM and SIGINT without a
//! checkpoint, one file in two roles, a checkpoint left by a run over another input, paths that do
//! not exist. Progress is observed in the files the job writes (the checkpoint, the temporary
//! output), never by sleeping for a time.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use fsm_examples::record::Generated;

const BIN: &str = env!("CARGO_BIN_EXE_streaming");

/// Records in the input: about a second and a half of work for a debug build.
const N: u64 = 40_000;

struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new(n: u64) -> Job {
        let job = Job {
            dir: tempfile::tempdir().unwrap(),
        };
        let out = Command::new(BIN)
            .args(["--generate", &n.to_string(), "--save"])
            .arg(job.path("in.jsonl"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        job
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path()).arg("--quiet").args(args);
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The checkpoint's numbers: `read`, and the byte length of each sink (`output`, `*dead-letter*`).
fn checkpoint(path: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(path).ok()?;
    let mut read = None;
    let mut output = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["read", n] => read = n.parse().ok(),
            ["sink", "output", n] => output = n.parse().ok(),
            _ => {}
        }
    }
    Some((read?, output?))
}

/// Polls (every millisecond) until `ready` holds, then kills the job with `signal`. Fails if the job
/// ends first: a kill that did not happen proves nothing. The deadline only guards against a hang.
fn kill_when(child: &mut Child, signal: &str, mut ready: impl FnMut() -> bool) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the job ended ({status}) before it could be killed");
        }
        assert!(Instant::now() < deadline, "the job made no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap()
}

fn size(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

/// Every input line exactly once, across the output (by record id: line = id + 1) and the dead
/// letters (by line), in input order in each file.
fn assert_every_record_once(job: &Job, out: &str, err: &str, n: u64) {
    let ids: Vec<u64> = fs::read_to_string(job.path(out))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let lines: Vec<u64> = fs::read_to_string(job.path(err))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "output ids increase: none twice");
    assert!(
        lines.windows(2).all(|w| w[0] < w[1]),
        "dead-letter lines increase: none twice"
    );
    let (ok, invalid, malformed) = Generated::expected(n);
    assert_eq!(ids.len() as u64, ok);
    assert_eq!(lines.len() as u64, invalid + malformed);
    let mut all: BTreeSet<u64> = ids.iter().map(|id| id + 1).collect();
    for line in &lines {
        assert!(all.insert(*line), "line {line} both written and dead-lettered");
    }
    assert_eq!(all, (1..=n).collect::<BTreeSet<u64>>(), "every line once");
}

// ---- issue 18, item 1: real kills ---------------------------------------------------------------

#[test]
fn a_job_killed_at_several_points_resumes_to_every_record_exactly_once() {
    let job = Job::new(N);
    let cp = job.path("run.checkpoint");
    let partial = job.path(".out.jsonl.partial");
    let args = [
        "--input",
        "in.jsonl",
        "--output",
        "out.jsonl",
        "--errors",
        "err.jsonl",
        "--checkpoint",
        "run.checkpoint",
        "--checkpoint-every",
        "2000",
        "--chunk-size",
        "250",
        "--workers",
        "2",
    ];
    let mut last_read = 0;
    // 1: as soon as the first checkpoint exists (nothing processed yet); 2: after a fifth of
    // the input, while the output has grown past the checkpoint (records written since must be
    // dropped on resume); 3: after two thirds.
    let points: [&dyn Fn(u64, u64) -> bool; 3] = [
        &|_, _| true,
        &|read, len| read >= N / 5 && size(&partial) > len,
        &|read, _| read >= 2 * N / 3,
    ];
    for (i, point) in points.iter().enumerate() {
        let mut child = job.spawn(&args);
        let status = kill_when(&mut child, "-KILL", || {
            checkpoint(&cp).is_some_and(|(read, len)| read >= last_read && point(read, len))
        });
        assert_eq!(status.signal(), Some(9), "kill {i}: killed by SIGKILL");
        let (read, _) = checkpoint(&cp).unwrap();
        assert!(read >= last_read, "kill {i}: the checkpoint never goes back");
        last_read = read;
        assert!(
            !job.path("out.jsonl").exists() && !job.path("err.jsonl").exists(),
            "kill {i}: nothing under a final name"
        );
    }
    assert!(last_read >= 2 * N / 3);

    let out = job.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("check: read {N} = written ")),
        "{}",
        stderr(&out)
    );
    assert!(!cp.exists() && !partial.exists() && !job.path(".err.jsonl.partial").exists());
    assert_every_record_once(&job, "out.jsonl", "err.jsonl", N);
}

// ---- issue 15, item 10: interrupted without a checkpoint --------------------------------------

#[test]
fn sigterm_or_sigint_without_a_checkpoint_removes_the_temporary_files() {
    let job = Job::new(N);
    let partial = job.path(".out.jsonl.partial");
    for (signal, code) in [("-TERM", 143), ("-INT", 130)] {
        let mut child = job.spawn(&["--input", "in.jsonl", "--output", "out.jsonl", "--errors", "err.jsonl"]);
        let status = kill_when(&mut child, signal, || size(&partial) > 0);
        assert_eq!(status.code(), Some(code), "{signal}: exits as a shell reports it");
        assert!(!partial.exists(), "{signal}: the temporary output is removed");
        assert!(!job.path(".err.jsonl.partial").exists());
        assert!(!job.path("out.jsonl").exists() && !job.path("err.jsonl").exists());
    }
}

#[test]
fn a_temporary_file_left_by_a_sigkill_goes_at_the_next_start() {
    let job = Job::new(N);
    let partial = job.path(".out.jsonl.partial");
    let args = ["--input", "in.jsonl", "--output", "out.jsonl", "--errors", "err.jsonl"];
    let mut child = job.spawn(&args);
    kill_when(&mut child, "-KILL", || size(&partial) > 0);
    assert!(partial.exists(), "SIGKILL cannot be caught: the file stays");

    // A next start that fails (here: refused, the dead letters would overwrite the input) removes it.
    let out = job.run(&["--input", "in.jsonl", "--output", "out.jsonl", "--errors", "in.jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!partial.exists(), "the stale temporary file is gone");

    // One that succeeds writes the output whole, none of the killed run's left in it.
    kill_when(&mut job.spawn(&args), "-KILL", || size(&partial) > 0);
    let out = job.run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!partial.exists());
    assert_every_record_once(&job, "out.jsonl", "err.jsonl", N);
}

// ---- issue 15, item 2: one file, two roles ------------------------------------------------------

#[test]
fn one_file_in_two_roles_is_refused_before_anything_is_read() {
    let job = Job::new(1_000);
    let input = fs::read(job.path("in.jsonl")).unwrap();
    fs::write(job.path("out.jsonl"), "yesterday\n").unwrap();
    let cases: [(&[&str], &str); 5] = [
        // Not refused, the run succeeded and then removed "its checkpoint": the output.
        (
            &[
                "--output",
                "new.jsonl",
                "--errors",
                "err.jsonl",
                "--checkpoint",
                "new.jsonl",
            ],
            "`new.jsonl` is both the output of `output` and the checkpoint",
        ),
        (
            &[
                "--output",
                "out.jsonl",
                "--errors",
                "err.jsonl",
                "--checkpoint",
                "out.jsonl",
            ],
            "`out.jsonl` is both the output of `output` and the checkpoint",
        ),
        (
            &["--output", "in.jsonl", "--errors", "err.jsonl"],
            "`in.jsonl` is both the input and the output of `output`",
        ),
        (
            &["--output", "other.jsonl", "--errors", "./in.jsonl"],
            "`./in.jsonl` is both the input (given as `in.jsonl`) and the dead letters",
        ),
        (
            &["--output", "out.jsonl", "--errors", "out.jsonl"],
            "`out.jsonl` is both the output of `output` and the dead letters",
        ),
    ];
    for (args, expected) in cases {
        let out = job.run(&[&["--input", "in.jsonl"], args].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&out),
            format!("error: pipeline configuration: {expected}: give each its own file\n"),
            "{args:?}"
        );
        assert_eq!(
            fs::read(job.path("in.jsonl")).unwrap(),
            input,
            "{args:?}: the input is untouched"
        );
        assert_eq!(fs::read_to_string(job.path("out.jsonl")).unwrap(), "yesterday\n");
        for name in [
            "err.jsonl",
            "other.jsonl",
            "new.jsonl",
            ".out.jsonl.partial",
            ".new.jsonl.partial",
        ] {
            assert!(!job.path(name).exists(), "{args:?}: no {name}");
        }
    }
}

// ---- issue 15, item 3: a checkpoint belongs to its input ----------------------------------------

#[test]
fn a_checkpoint_from_a_killed_run_on_another_input_is_refused() {
    let job = Job::new(N);
    // day2: the same records in reverse order, the same size.
    let text = fs::read_to_string(job.path("in.jsonl")).unwrap();
    fs::rename(job.path("in.jsonl"), job.path("day1.jsonl")).unwrap();
    let day2: String = text.lines().rev().map(|l| format!("{l}\n")).collect();
    fs::write(job.path("day2.jsonl"), day2).unwrap();
    let cp = job.path("run.checkpoint");
    let args = |day: &'static str| {
        [
            "--input",
            day,
            "--output",
            "out.jsonl",
            "--errors",
            "err.jsonl",
            "--checkpoint",
            "run.checkpoint",
            "--checkpoint-every",
            "2000",
        ]
    };
    let mut child = job.spawn(&args("day1.jsonl"));
    let status = kill_when(&mut child, "-KILL", || {
        checkpoint(&cp).is_some_and(|(read, _)| read >= N / 5)
    });
    assert_eq!(status.signal(), Some(9));

    let out = job.run(&args("day2.jsonl"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let dir = fs::canonicalize(job.dir.path()).unwrap();
    assert_eq!(
        stderr(&out),
        format!(
            "error: checkpoint `run.checkpoint`: it was taken reading `{d}/day1.jsonl`, this run reads `{d}/day2.jsonl`; to start over, delete `run.checkpoint` (or run with the input and settings it was taken with)\n",
            d = dir.display()
        )
    );
    assert!(!job.path("out.jsonl").exists());

    // As the message says: delete the checkpoint, and day2 runs from its start, alone.
    fs::remove_file(&cp).unwrap();
    let out = job.run(&args("day2.jsonl"));
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<u64> = fs::read_to_string(job.path("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "day2's order only: nothing of day1 mixed in"
    );
    assert_eq!(ids.len() as u64, Generated::expected(N).0);
}

// ---- issue 15, items 1 and 10: paths ------------------------------------------------------------

#[test]
fn errors_name_the_file_and_its_role() {
    let job = Job::new(10);
    let out = job.run(&["--input", "missing.jsonl"]);
    assert_eq!(
        stderr(&out),
        "error: cannot open input `missing.jsonl`: No such file or directory (os error 2)\n"
    );
    let out = job.run(&["--input", "in.jsonl", "--output", "in.jsonl/out.jsonl"]);
    assert!(
        stderr(&out).starts_with("error: --output: cannot create the directory `in.jsonl`: "),
        "{}",
        stderr(&out)
    );
    let out = job.run(&["--input", "in.jsonl", "--output", "o.jsonl", "--errors", "."]);
    assert_eq!(stderr(&out), "error: --errors: `.` is a directory\n");
    let out = job.run(&[
        "--input",
        "in.jsonl",
        "--output",
        "o.jsonl",
        "--errors",
        "e.jsonl",
        "--checkpoint",
        "nowhere/run.checkpoint",
    ]);
    assert_eq!(
        stderr(&out),
        "error: checkpoint `nowhere/run.checkpoint`: cannot create `nowhere/run.checkpoint.tmp`: No such file or directory (os error 2)\n"
    );
}

/// The dead letters go to a null device: one of our own when we may make one (root), else
/// /dev/null itself (which a user who cannot make devices cannot replace either).
#[test]
fn outputs_through_a_symlink_and_to_a_null_device() {
    use std::os::unix::fs::FileTypeExt;
    let job = Job::new(1_000);
    fs::write(job.path("target.jsonl"), "old\n").unwrap();
    std::os::unix::fs::symlink("target.jsonl", job.path("link.jsonl")).unwrap();
    let own = job.path("null");
    let made = Command::new("mknod")
        .arg(&own)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    let probe = Path::new("/dev/.fsm-main-job-probe");
    if !made && fs::File::create(probe).is_ok() {
        let _ = fs::remove_file(probe);
        panic!("mknod failed but /dev is writable: refusing to risk the machine's /dev/null");
    }
    let null = if made { own } else { PathBuf::from("/dev/null") };
    let out = job.run(&[
        "--input",
        "in.jsonl",
        "--output",
        "link.jsonl",
        "--errors",
        null.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        fs::symlink_metadata(job.path("link.jsonl"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let written = fs::read_to_string(job.path("target.jsonl")).unwrap();
    assert_eq!(written.lines().count() as u64, Generated::expected(1_000).0);
    assert!(fs::symlink_metadata(&null).unwrap().file_type().is_char_device());
}
