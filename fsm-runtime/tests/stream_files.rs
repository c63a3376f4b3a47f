//! JSON Lines and CSV files: malformed lines, the read = written + dead-lettered invariant, atomic
//! outputs, gzip.
#![cfg(feature = "jsonl")]

mod stream_support;

use std::fs;
use std::io::Write;

use fsm_runtime::stream::{FnSink, IterSource, JsonlSink, JsonlSource, Pipeline, StreamError, WriteError};
use serde_json::Value;
use stream_support::{Classify, Rec, read_jsonl, temp_dir};

#[test]
fn malformed_lines_are_dead_lettered_with_file_line_and_raw_text() {
    let dir = temp_dir("malformed");
    let input = dir.join("in.jsonl");
    fs::write(
        &input,
        concat!(
            "{\"id\": 1, \"value\": 5}\n",
            "{\"id\": 2, \"value\": \n",
            "\n",
            "not json at all\n",
            "{\"id\": 3, \"value\": \"five\"}\n",
            "{\"id\": 4, \"value\": -2}\n",
            "{\"id\": 5, \"value\": 6}", // no final newline
        ),
    )
    .unwrap();
    let (out, err) = (dir.join("out.jsonl"), dir.join("err.jsonl"));
    let summary = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&out).unwrap())
        .dead_letter_state("error")
        .dead_letter(JsonlSink::create(&err).unwrap())
        .run(JsonlSource::<Rec>::open(&input).unwrap())
        .unwrap();

    let written: Vec<Rec> = read_jsonl(&out);
    assert_eq!(
        written.iter().map(|r| (r.id, r.value)).collect::<Vec<_>>(),
        vec![(1, 10), (5, 12)]
    );
    let dead: Vec<Value> = read_jsonl(&err);
    let source = input.display().to_string();
    let lines: Vec<(&str, u64)> = dead
        .iter()
        .map(|d| (d["reason"].as_str().unwrap(), d["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        lines,
        vec![("malformed", 2), ("malformed", 4), ("malformed", 5), ("error_state", 6)]
    );
    assert!(dead.iter().all(|d| d["source"] == source.as_str()));
    assert_eq!(dead[0]["raw"], "{\"id\": 2, \"value\":");
    assert_eq!(dead[1]["raw"], "not json at all");
    assert!(
        dead[2]["message"]
            .as_str()
            .unwrap()
            .contains("invalid type: string \"five\""),
        "{}",
        dead[2]
    );
    assert!(dead[0].get("record").is_none());
    assert_eq!(dead[3]["record"]["id"], 4);
    assert_eq!(dead[3]["state"], "error");
    assert_eq!(
        dead[3]["message"],
        "validate failed in state `validate`: negative value"
    );

    assert_eq!(summary.read, 6);
    assert_eq!(summary.written_total(), 2);
    assert_eq!(summary.dead_lettered_total(), 4);
    assert!(summary.is_balanced(), "{summary}");
}

/// A deterministic mix of good records, garbage, truncated JSON, wrong types, records that fail in
/// the machine and records that panic: every line read is written or dead-lettered, exactly once.
#[test]
fn read_equals_written_plus_dead_lettered_under_malformed_input() {
    let dir = temp_dir("invariant");
    let input = dir.join("in.jsonl");
    let mut f = fs::File::create(&input).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut expected_good = 0u64;
    let n = 5_000u64;
    for id in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let line = match state % 10 {
            0 => "garbage ][".to_string(),
            1 => format!("{{\"id\": {id}, \"value\": "),
            2 => format!("{{\"id\": {id}, \"value\": [1, 2]}}"),
            3 => format!("{{\"id\": {id}, \"value\": 13}}"),
            4 => format!("{{\"id\": {id}, \"value\": -4}}"),
            5 if id % 3 == 0 => format!("{{\"id\": {id}, \"value\": 666}}"),
            6 => "\u{fffd}\u{0}binary".to_string(),
            _ => {
                expected_good += 1;
                format!("{{\"id\": {id}, \"value\": {}}}", state % 1000 + 20)
            }
        };
        writeln!(f, "{line}").unwrap();
    }
    drop(f);
    for workers in [1, 3] {
        let (out, err) = (dir.join("out.jsonl"), dir.join("err.jsonl"));
        let summary = Pipeline::new(Classify::default())
            .route("output", JsonlSink::create(&out).unwrap())
            .dead_letter_state("error")
            .dead_letter(JsonlSink::create(&err).unwrap())
            .workers(workers)
            .chunk_size(64)
            .run(JsonlSource::<Rec>::open(&input).unwrap())
            .unwrap();
        let written = read_jsonl::<Rec>(&out).len() as u64;
        let dead = read_jsonl::<Value>(&err).len() as u64;
        assert_eq!(summary.read, n);
        assert_eq!(written, expected_good);
        assert_eq!(summary.written_total(), written);
        assert_eq!(summary.dead_lettered_total(), dead);
        assert_eq!(summary.read, written + dead, "{summary}");
        assert!(summary.is_balanced());
    }
}

#[test]
fn a_failed_run_leaves_no_file_under_the_final_name() {
    let dir = temp_dir("atomic");
    let out = dir.join("out.jsonl");
    let err = dir.join("err.jsonl");
    let mut n = 0;
    let breaks = FnSink::new(move |_: &Rec| {
        n += 1;
        if n == 500 {
            Err(WriteError::Io(std::io::Error::other("boom")))
        } else {
            Ok(())
        }
    });
    let result = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&out).unwrap())
        .route("skip", breaks)
        .dead_letter(JsonlSink::create(&err).unwrap())
        .chunk_size(16)
        .run(IterSource::new(
            (0..100_000).map(|i| Rec::new(i, if i % 2 == 0 { 7 } else { 1 })),
        ));
    assert!(matches!(result, Err(StreamError::Sink { .. })));
    // Thousands of records had been written to out.jsonl's temporary file; none of it is visible
    // under the final name, and the temporary files are gone.
    let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");

    // The same pipeline, successful: the files appear.
    let summary = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&out).unwrap())
        .dead_letter(JsonlSink::create(&err).unwrap())
        .run(IterSource::new((0..10).map(|i| Rec::new(i, 1))))
        .unwrap();
    assert_eq!(read_jsonl::<Rec>(&out).len(), 10);
    assert_eq!(fs::read_to_string(&err).unwrap(), "");
    assert!(summary.is_balanced());
    let mut left: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, vec!["err.jsonl", "out.jsonl"]);
}

#[test]
fn a_source_error_fails_the_run_without_finishing_outputs() {
    use fsm_runtime::stream::InputFile;
    struct Broken(u8);
    impl std::io::Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("cable cut"));
            }
            self.0 -= 1;
            let line = b"{\"id\": 1, \"value\": 2}\n";
            buf[..line.len()].copy_from_slice(line);
            Ok(line.len())
        }
    }
    let dir = temp_dir("source-error");
    let out = dir.join("out.jsonl");
    let input = InputFile::reader("net", Box::new(std::io::BufReader::new(Broken(3))));
    let err = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&out).unwrap())
        .run(JsonlSource::<Rec>::from_input(input))
        .unwrap_err();
    assert_eq!(err.to_string(), "reading `net` failed: cable cut");
    assert!(!out.exists());
}

/// Lines read by the workers themselves: a source that fails or panics part way stops the run with
/// an error, whatever the number of workers, and nothing hangs or reaches the final name.
#[test]
fn a_source_failing_or_panicking_under_several_workers_stops_the_run() {
    use fsm_runtime::stream::InputFile;
    struct Lines {
        left: u32,
        panic: bool,
    }
    impl std::io::Read for Lines {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                if self.panic {
                    panic!("the driver fell over");
                }
                return Err(std::io::Error::other("cable cut"));
            }
            self.left -= 1;
            let line = b"{\"id\": 1, \"value\": 2}\n";
            let n = line.len().min(buf.len());
            buf[..n].copy_from_slice(&line[..n]);
            Ok(n)
        }
    }
    for workers in [1, 3] {
        for panic in [false, true] {
            let dir = temp_dir(&format!("source-fails-{workers}-{panic}"));
            let out = dir.join("out.jsonl");
            let lines = Lines { left: 500, panic };
            let input = InputFile::reader("net", Box::new(std::io::BufReader::with_capacity(64, lines)));
            let err = Pipeline::new(Classify::default())
                .route("output", JsonlSink::create(&out).unwrap())
                .workers(workers)
                .chunk_size(7)
                .run(JsonlSource::<Rec>::from_input(input))
                .unwrap_err();
            if panic {
                assert!(matches!(err, StreamError::Panicked(_)), "{err}");
            } else {
                assert_eq!(err.to_string(), "reading `net` failed: cable cut");
            }
            assert!(!out.exists());
        }
    }
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_in_and_out() {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    let dir = temp_dir("gzip");
    let input = dir.join("in.jsonl.gz");
    let mut gz = GzEncoder::new(fs::File::create(&input).unwrap(), Compression::default());
    for i in 0..100 {
        writeln!(gz, "{{\"id\": {i}, \"value\": {i}}}").unwrap();
    }
    gz.finish().unwrap();
    let out = dir.join("out.jsonl.gz");
    let summary = Pipeline::new(Classify::default())
        .route("output", JsonlSink::create(&out).unwrap())
        .drop_state("skip")
        .dead_letter_state("error")
        .run(JsonlSource::<Rec>::open(&input).unwrap())
        .unwrap();
    assert_eq!(summary.written.get("output"), Some(&98)); // 7 is skipped, 13 fails
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(fs::File::open(&out).unwrap()),
        &mut text,
    )
    .unwrap();
    assert_eq!(text.lines().count(), 98);
    assert!(text.starts_with("{\"id\":0,\"value\":0,\"tag\":\"done\"}\n"));
}

#[cfg(feature = "csv")]
#[test]
fn csv_in_and_out_with_malformed_rows() {
    use fsm_runtime::stream::{CsvSink, CsvSource};
    let dir = temp_dir("csv");
    let input = dir.join("in.csv");
    fs::write(&input, "id,value,tag\n1,5,a\n2,oops,b\n3,-1,c\n4,8,d\n").unwrap();
    let (out, err) = (dir.join("out.csv"), dir.join("err.jsonl"));
    let summary = Pipeline::new(Classify::default())
        .route("output", CsvSink::create(&out).unwrap())
        .dead_letter_state("error")
        .dead_letter(JsonlSink::create(&err).unwrap())
        .run(CsvSource::<Rec>::open(&input).unwrap())
        .unwrap();
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        "id,value,tag\n1,10,done\n4,16,done\n"
    );
    let dead: Vec<Value> = read_jsonl(&err);
    assert_eq!(dead[0]["reason"], "malformed");
    assert_eq!(dead[0]["line"], 3);
    assert_eq!(dead[0]["raw"], "2,oops,b");
    assert_eq!(dead[1]["reason"], "error_state");
    assert!(summary.is_balanced());
}

/// A record that cannot be encoded is dead-lettered (reason `rejected`) even when the workers
/// encode it, and leaves nothing half-written in the output; an encoder that panics too.
#[test]
fn a_record_the_sink_cannot_encode_is_dead_lettered() {
    use fsm_runtime::{EndState, Failure, Machine, Outcome, StateName};

    #[derive(Clone, Debug, serde::Deserialize)]
    struct Picky {
        id: u64,
    }
    impl serde::Serialize for Picky {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.id == 3 {
                return Err(serde::ser::Error::custom("three is not allowed"));
            }
            if self.id == 4 {
                panic!("four makes the encoder panic");
            }
            s.serialize_u64(self.id)
        }
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Done;
    impl StateName for Done {
        fn name(&self) -> &'static str {
            "done"
        }
    }
    impl EndState for Done {
        const ALL: &'static [Self] = &[Done];
    }
    struct Identity;
    impl Machine for Identity {
        type Data = Picky;
        type End = Done;
        fn run(&self, data: Picky) -> Result<Outcome<Done, Picky>, Failure<Picky>> {
            Ok(Outcome {
                end: Done,
                data,
                error: None,
                transitions: 0,
                history: Vec::new(),
            })
        }
    }

    let dir = temp_dir("rejected");
    let input = dir.join("in.jsonl");
    fs::write(&input, "{\"id\": 1}\n{\"id\": 3}\n{\"id\": 4}\n{\"id\": 5}\n").unwrap();
    let (out, err) = (dir.join("out.jsonl"), dir.join("err.jsonl"));
    let summary = Pipeline::new(Identity)
        .route("done", JsonlSink::create(&out).unwrap())
        .dead_letter(JsonlSink::create(&err).unwrap())
        .run(JsonlSource::<Picky>::open(&input).unwrap())
        .unwrap();
    assert_eq!(fs::read_to_string(&out).unwrap(), "1\n5\n");
    let dead: Vec<Value> = read_jsonl(&err);
    assert_eq!(dead.len(), 2);
    // A panicking encoder runs in a worker: the record is dead-lettered, the stream goes on.
    assert_eq!(dead[1]["reason"], "panicked");
    assert_eq!(dead[1]["line"], 3);
    assert!(
        dead[1]["message"]
            .as_str()
            .unwrap()
            .contains("four makes the encoder panic")
    );
    assert_eq!(dead[0]["reason"], "rejected");
    assert_eq!(dead[0]["line"], 2);
    // The dead-letter sink cannot encode the record either: the letter keeps reason and line.
    assert!(dead[0].get("record").is_none());
    assert!(
        dead[0]["message"].as_str().unwrap().contains("three is not allowed"),
        "{}",
        dead[0]
    );
    assert!(summary.is_balanced());
}
