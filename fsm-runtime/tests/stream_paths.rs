//! What a user can point a run at: outputs that are symbolic links, devices or FIFOs; one file in
//! two roles; a checkpoint left by a run over another input; I/O errors that name their file.
#![cfg(all(feature = "jsonl", unix))]

mod stream_support;

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use fsm_runtime::stream::{JsonlSink, JsonlSource, Pipeline, Sink, StreamError, Summary, WriteError, distinct_files};
use stream_support::{Classify, Rec, read_jsonl, temp_dir};

fn write_input(path: &Path, ids: std::ops::Range<u64>) {
    let mut f = io::BufWriter::new(fs::File::create(path).unwrap());
    for i in ids {
        // value 20..519: every record ends in `output` with its value doubled.
        writeln!(f, "{{\"id\": {i}, \"value\": {}}}", i % 500 + 20).unwrap();
    }
}

fn run(input: &Path, out: &Path, err: &Path) -> Result<Summary, StreamError> {
    Pipeline::new(Classify::default())
        .route(
            "output",
            JsonlSink::create(out).map_err(|e| StreamError::Config(e.to_string()))?,
        )
        .dead_letter_state("error")
        .dead_letter(JsonlSink::create(err).map_err(|e| StreamError::Config(e.to_string()))?)
        .run(JsonlSource::<Rec>::open(input).unwrap())
}

fn ids(path: &Path) -> Vec<u64> {
    read_jsonl::<Rec>(path).iter().map(|r| r.id).collect()
}

// ---- 1. outputs that are not regular files -------------------------------------------------

#[test]
fn an_output_symlink_is_followed_its_target_replaced_and_the_link_kept() {
    let dir = temp_dir("paths-symlink");
    let (input, target, link, err) = (
        dir.join("in.jsonl"),
        dir.join("target.jsonl"),
        dir.join("link.jsonl"),
        dir.join("err.jsonl"),
    );
    write_input(&input, 0..50);
    fs::write(&target, "old content\n").unwrap();
    std::os::unix::fs::symlink("target.jsonl", &link).unwrap();

    let summary = run(&input, &link, &err).unwrap();
    assert_eq!(summary.written_total(), 50);
    assert!(
        fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
        "the link is still a link"
    );
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("target.jsonl"));
    assert_eq!(ids(&target), (0..50).collect::<Vec<_>>(), "the target holds the output");
    assert!(!dir.join(".target.jsonl.partial").exists() && !dir.join(".link.jsonl.partial").exists());
}

#[test]
fn a_dangling_output_symlink_creates_its_target() {
    let dir = temp_dir("paths-dangling");
    let (input, link, err) = (dir.join("in.jsonl"), dir.join("link.jsonl"), dir.join("err.jsonl"));
    write_input(&input, 0..5);
    fs::create_dir(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink("sub/new.jsonl", &link).unwrap();
    run(&input, &link, &err).unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(ids(&dir.join("sub/new.jsonl")), (0..5).collect::<Vec<_>>());
}

/// A null device of our own when we may make one (root, with mknod), else /dev/null itself, which
/// a user who cannot make devices cannot replace either. Never /dev/null as root: code that
/// replaces its output (the bug these tests catch) would replace the machine's /dev/null.
fn null_device(dir: &Path) -> PathBuf {
    let own = dir.join("null");
    let made = Command::new("mknod")
        .arg(&own)
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    if made {
        return own;
    }
    let probe = Path::new("/dev/.fsm-stream-paths-probe");
    if fs::File::create(probe).is_ok() {
        let _ = fs::remove_file(probe);
        panic!("mknod failed but /dev is writable: refusing to risk the machine's /dev/null");
    }
    PathBuf::from("/dev/null")
}

/// The run writes into a device and leaves it a device.
#[test]
fn an_output_device_is_written_in_place_not_replaced() {
    let dir = temp_dir("paths-device");
    let device = null_device(&dir);
    let (input, err) = (dir.join("in.jsonl"), dir.join("err.jsonl"));
    write_input(&input, 0..100);

    let summary = run(&input, &device, &err).unwrap();
    assert_eq!(summary.written_total(), 100);
    let kind = fs::symlink_metadata(&device).unwrap().file_type();
    assert!(
        kind.is_char_device(),
        "`{}` is still a device: {kind:?}",
        device.display()
    );
    assert_eq!(fs::read(&device).unwrap(), b"", "a null device reads empty");
    // The same device may be the output and the dead letters.
    run(&input, &device, &device).unwrap();
    assert!(fs::symlink_metadata(&device).unwrap().file_type().is_char_device());
}

#[test]
fn an_output_fifo_is_written_in_place_and_its_reader_gets_every_record() {
    let dir = temp_dir("paths-fifo");
    let fifo = dir.join("out.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let (input, err) = (dir.join("in.jsonl"), dir.join("err.jsonl"));
    write_input(&input, 0..300);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
    };

    let summary = run(&input, &fifo, &err).unwrap();
    assert_eq!(summary.written_total(), 300);
    // Checked before joining the reader: were the FIFO replaced, the reader would wait forever.
    assert!(
        fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
        "still a FIFO"
    );
    let got: Vec<u64> = reader
        .join()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Rec>(l).unwrap().id)
        .collect();
    assert_eq!(got, (0..300).collect::<Vec<_>>());
}

/// A FIFO as input (what `--input <(zcat IN.gz)` passes): read without seeking, plain or gzip.
#[test]
fn a_fifo_input_is_read_without_seeking() {
    let dir = temp_dir("paths-fifo-in");
    let (out, err) = (dir.join("out.jsonl"), dir.join("err.jsonl"));
    let plain = dir.join("plain.jsonl");
    write_input(&plain, 0..200);
    let text = fs::read(&plain).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    for (i, bytes) in [text.clone(), gz.finish().unwrap()].into_iter().enumerate() {
        let fifo = dir.join(format!("in{i}.fifo"));
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::write(fifo, bytes).unwrap())
        };
        let summary = run(&fifo, &out, &err).unwrap();
        writer.join().unwrap();
        assert_eq!(summary.written_total(), 200, "fifo {i}");
        assert_eq!(ids(&out), (0..200).collect::<Vec<_>>());
    }
}

#[test]
fn a_device_output_cannot_checkpoint_and_says_why() {
    let dir = temp_dir("paths-device-cp");
    let input = dir.join("in.jsonl");
    write_input(&input, 0..10);
    let device = null_device(&dir);
    let err = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&device).unwrap())
        .checkpoint(dir.join("run.checkpoint"), 5)
        .run(JsonlSource::<Rec>::open(&input).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "the sink of `output` failed: `{}` is not a regular file: it cannot checkpoint",
            device.display()
        )
    );
    assert!(fs::symlink_metadata(&device).unwrap().file_type().is_char_device());
}

#[test]
fn a_directory_as_output_is_refused_by_name() {
    let dir = temp_dir("paths-dir");
    let err = JsonlSink::create(&dir).err().unwrap();
    assert_eq!(err.to_string(), format!("`{}` is a directory", dir.display()));
}

// ---- 2. one file, two roles ---------------------------------------------------------------

#[test]
fn the_input_as_output_or_dead_letters_is_refused_and_the_input_kept() {
    let dir = temp_dir("paths-roles-input");
    let input = dir.join("in.jsonl");
    write_input(&input, 0..20);
    let before = fs::read(&input).unwrap();
    let other = dir.join("other.jsonl");
    std::os::unix::fs::symlink("in.jsonl", dir.join("alias.jsonl")).unwrap();
    fs::hard_link(&input, dir.join("hard.jsonl")).unwrap();
    let roundabout = dir.join("sub/../in.jsonl");
    fs::create_dir(dir.join("sub")).unwrap();

    let cases: [(&Path, &Path, &str); 5] = [
        (&input, &other, "`{in}` is both the input and the output of `output`"),
        (&other, &input, "`{in}` is both the input and the dead letters"),
        // The link is followed: the output is its target.
        (
            &dir.join("alias.jsonl"),
            &other,
            "`{in}` is both the input and the output of `output`",
        ),
        (
            &dir.join("hard.jsonl"),
            &other,
            "`{dir}/hard.jsonl` is both the input (given as `{in}`) and the output of `output`",
        ),
        (
            &roundabout,
            &other,
            "`{dir}/sub/../in.jsonl` is both the input (given as `{in}`) and the output of `output`",
        ),
    ];
    for (out, err, expected) in cases {
        let e = run(&input, out, err).unwrap_err();
        let expected = expected
            .replace("{in}", &input.display().to_string())
            .replace("{dir}", &dir.display().to_string());
        assert_eq!(
            e.to_string(),
            format!("pipeline configuration: {expected}: give each its own file")
        );
        assert_eq!(fs::read(&input).unwrap(), before, "the input is untouched");
        assert!(!other.exists(), "nothing written under a final name");
    }
}

#[test]
fn the_output_as_dead_letters_or_checkpoint_is_refused() {
    let dir = temp_dir("paths-roles-output");
    let (input, out) = (dir.join("in.jsonl"), dir.join("out.jsonl"));
    write_input(&input, 0..20);
    fs::write(&out, "yesterday's output\n").unwrap();

    let e = run(&input, &out, &out).unwrap_err();
    let o = out.display();
    assert_eq!(
        e.to_string(),
        format!(
            "pipeline configuration: `{o}` is both the output of `output` and the dead letters: give each its own file"
        )
    );
    let e = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&out).unwrap())
        .checkpoint(&out, 5)
        .run(JsonlSource::<Rec>::open(&input).unwrap())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "pipeline configuration: `{o}` is both the output of `output` and the checkpoint: give each its own file"
        )
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), "yesterday's output\n");
    assert!(
        !dir.join(".out.jsonl.partial").exists(),
        "a refused run leaves no temporary file"
    );
}

#[test]
fn distinct_files_lets_devices_serve_several_roles() {
    let dir = temp_dir("paths-distinct");
    let a = dir.join("a");
    distinct_files(&[
        ("the output", Path::new("/dev/null")),
        ("the dead letters", Path::new("/dev/null")),
        ("the input", Path::new("-")),
        ("the checkpoint", &a),
    ])
    .unwrap();
    let e = distinct_files(&[("the output", &a), ("the checkpoint", &dir.join("./a"))]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
}

// ---- 3. a checkpoint identifies its input ---------------------------------------------------

/// Fails after `fail_after` writes: a crash mid-run.
struct Crashing<S> {
    inner: S,
    fail_after: u64,
}

impl<T, S: Sink<T>> Sink<T> for Crashing<S> {
    fn write(&mut self, record: &T) -> Result<(), WriteError> {
        if self.fail_after == 0 {
            return Err(WriteError::Io(io::Error::other("power cut")));
        }
        self.fail_after -= 1;
        self.inner.write(record)
    }
    fn path(&self) -> Option<&Path> {
        self.inner.path()
    }
    fn checkpoint(&mut self) -> io::Result<u64> {
        self.inner.checkpoint()
    }
    fn restore(&mut self, token: u64) -> io::Result<()> {
        self.inner.restore(token)
    }
    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}

fn checkpointed(input: &Path, out: &Path, cp: &Path, crash_after: Option<u64>) -> Result<Summary, StreamError> {
    Pipeline::new(Classify::default())
        .route(
            "output",
            Crashing {
                inner: JsonlSink::create(out).unwrap(),
                fail_after: crash_after.unwrap_or(u64::MAX),
            },
        )
        .dead_letter_state("error")
        .chunk_size(50)
        .checkpoint(cp, 100)
        .run(JsonlSource::<Rec>::open(input).unwrap())
}

#[test]
fn a_checkpoint_taken_on_another_input_is_refused_and_says_how_to_start_over() {
    let dir = temp_dir("paths-cp-other-input");
    let (day1, day2, out, cp) = (
        dir.join("day1.jsonl"),
        dir.join("day2.jsonl"),
        dir.join("out.jsonl"),
        dir.join("run.checkpoint"),
    );
    write_input(&day1, 0..3_000);
    write_input(&day2, 10_000..13_000);
    checkpointed(&day1, &out, &cp, Some(1_500)).unwrap_err();
    assert!(cp.exists());

    let e = checkpointed(&day2, &out, &cp, None).unwrap_err();
    assert!(matches!(e, StreamError::Checkpoint { .. }), "{e}");
    let canon = |p: &Path| fs::canonicalize(p).unwrap().display().to_string();
    assert_eq!(
        e.to_string(),
        format!(
            "checkpoint `{cp}`: it was taken reading `{d1}`, this run reads `{d2}`; to start over, delete `{cp}` (or run with the input and settings it was taken with)",
            cp = cp.display(),
            d1 = canon(&day1),
            d2 = canon(&day2)
        )
    );
    assert!(!out.exists());

    // The refused run kept what the interrupted one would resume: with day1 it completes exactly.
    let summary = checkpointed(&day1, &out, &cp, None).unwrap();
    assert_eq!(summary.read, 3_000);
    assert!(summary.read_this_run < 3_000, "it resumed");
    assert_eq!(ids(&out), (0..3_000).collect::<Vec<_>>());

    // Starting over as told: delete the checkpoint, run day2.
    checkpointed(&day1, &out, &cp, Some(700)).unwrap_err();
    fs::remove_file(&cp).unwrap();
    checkpointed(&day2, &out, &cp, None).unwrap();
    assert_eq!(ids(&out), (10_000..13_000).collect::<Vec<_>>());
}

#[test]
fn a_checkpoint_refuses_its_input_rewritten_in_place_but_accepts_it_appended_to() {
    let dir = temp_dir("paths-cp-same-path");
    let (input, out, cp) = (dir.join("in.jsonl"), dir.join("out.jsonl"), dir.join("run.checkpoint"));

    // Rewritten under the same name, same length, other records: refused.
    write_input(&input, 0..3_000);
    checkpointed(&input, &out, &cp, Some(1_000)).unwrap_err();
    write_input(&input, 5_000..8_000);
    let e = checkpointed(&input, &out, &cp, None).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("changed: its content differs from the file the checkpoint was taken with")
            && msg.contains(&format!("to start over, delete `{}`", cp.display())),
        "{msg}"
    );
    // Truncated: refused.
    write_input(&input, 0..2_000);
    let msg = checkpointed(&input, &out, &cp, None).unwrap_err().to_string();
    assert!(msg.contains("bytes, fewer than the"), "{msg}");

    // Appended to (a growing log): resumed, nothing lost or doubled.
    write_input(&input, 0..3_000);
    fs::remove_file(&cp).unwrap();
    checkpointed(&input, &out, &cp, Some(1_000)).unwrap_err();
    let mut f = fs::OpenOptions::new().append(true).open(&input).unwrap();
    for i in 3_000..4_000u64 {
        writeln!(f, "{{\"id\": {i}, \"value\": {}}}", i % 500 + 20).unwrap();
    }
    drop(f);
    let summary = checkpointed(&input, &out, &cp, None).unwrap();
    assert!(summary.read_this_run < 4_000, "it resumed");
    assert_eq!(ids(&out), (0..4_000).collect::<Vec<_>>());
}

#[test]
fn a_checkpoint_refuses_other_outputs_and_routes() {
    let dir = temp_dir("paths-cp-settings");
    let (input, out, cp) = (dir.join("in.jsonl"), dir.join("out.jsonl"), dir.join("run.checkpoint"));
    write_input(&input, 0..1_000);
    checkpointed(&input, &out, &cp, Some(300)).unwrap_err();
    let elsewhere = dir.join("elsewhere.jsonl");
    let msg = checkpointed(&input, &elsewhere, &cp, None).unwrap_err().to_string();
    assert!(
        msg.contains(&format!(
            "the sink of `output` wrote `{}`, this run writes `{}`",
            fs::canonicalize(&dir).unwrap().join("out.jsonl").display(),
            fs::canonicalize(&dir).unwrap().join("elsewhere.jsonl").display()
        )),
        "{msg}"
    );
    let msg = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&out).unwrap())
        .drop_state("error")
        .checkpoint(&cp, 100)
        .run(JsonlSource::<Rec>::open(&input).unwrap())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("it was taken with routes"), "{msg}");
}

// ---- 10. errors name their file ------------------------------------------------------------

#[test]
fn io_errors_name_the_file_and_its_role() {
    let dir = temp_dir("paths-errors");
    let missing = dir.join("missing.jsonl");
    let e = JsonlSource::<Rec>::open(&missing).err().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot open input `{}`: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    let e = JsonlSource::<Rec>::open(&dir).err().unwrap();
    assert_eq!(e.to_string(), format!("input `{}` is a directory", dir.display()));

    let nowhere = dir.join("no-such-dir/out.jsonl");
    let e = JsonlSink::create(&nowhere).err().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "cannot create `{}`: No such file or directory (os error 2)",
            dir.join("no-such-dir/.out.jsonl.partial").display()
        )
    );

    // The dead-letter sink is named as such, not by an internal key.
    let bad = dir.join("bad.jsonl");
    fs::write(&bad, "not json\n").unwrap();
    let e = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(dir.join("out.jsonl")).unwrap())
        .dead_letter(Crashing {
            inner: JsonlSink::create(dir.join("err.jsonl")).unwrap(),
            fail_after: 0,
        })
        .run(JsonlSource::<Rec>::open(&bad).unwrap())
        .unwrap_err();
    assert_eq!(e.to_string(), "the dead-letter sink failed: power cut");
}
