//! The benchmarks' contenders do the same work: the cross-checks of `benches/machines.rs` and a
//! record-by-record comparison of the streaming benchmark's runs, in the test suite (benchmarks
//! with `harness = false` are not built by it). The contenders are the benchmarks' own modules,
//! included here, not copies.

// The record type as the machine definitions name it (`data: crate::Record`).
use fsm_examples::Record;

#[allow(dead_code)]
#[path = "../benches/cd_player/mod.rs"]
mod cd_player;
#[allow(dead_code)]
#[path = "../benches/main_job/mod.rs"]
mod main_job;
#[allow(dead_code)]
#[path = "../benches/processor/mod.rs"]
mod processor;

#[test]
fn the_cd_players_end_with_the_same_data_on_the_benchmarks_events() {
    // The benchmark's 10 000 events; `check` runs the very `run(prepare(..))` the benchmark times.
    let events = cd_player::events(10_000);
    cd_player::check(&events);
}

#[test]
fn the_cd_decks_end_with_the_same_data_on_the_benchmarks_events() {
    // The statechart deck (superstate, entry and exit actions, an internal arc): generated,
    // hand-written and statig, over the same events as the flat players.
    let events = cd_player::events(10_000);
    cd_player::deck::check(&events);
}

#[test]
fn the_processors_agree_on_every_record_and_count_the_same_outputs() {
    let records = processor::records(1_000);
    assert!(records.len() > 900, "{} records decoded", records.len());
    processor::check(&records);
    // What the benchmark times: each feed's count of records that reached `output`.
    let expected = processor::expected_output(&records);
    assert!(expected > 0 && (expected as usize) < records.len(), "{expected}");
    let (copy, direct) = (processor::copy_machine(), processor::direct_machine());
    assert_eq!(processor::feed_copy(&copy, &mut records.clone()), expected);
    assert_eq!(processor::feed_direct(&direct, &mut records.clone()), expected);
}

/// The lines of a JSON Lines file, each parsed.
fn records_of(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}: {line}", path.display())))
        .collect()
}

#[test]
fn the_streaming_benchmarks_runs_write_the_same_records_as_the_plain_loop() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench_contenders");
    let _ = std::fs::remove_dir_all(&dir);
    let files = main_job::files_in(&dir, 3_000);
    let read = main_job::plain(&files);
    let (out, err) = (records_of(&files.out), records_of(&files.err));
    // The input has records of each kind: processed, invalid, undecodable.
    assert_eq!(read, 3_000);
    assert!(!out.is_empty() && !err.is_empty());
    assert_eq!(out.len() + err.len(), 3_000);
    let reasons =
        |letters: &[serde_json::Value], reason: &str| letters.iter().filter(|l| l["reason"] == reason).count();
    assert!(reasons(&err, "malformed") > 0 && reasons(&err, "error_state") > 0);
    let direct = processor::direct_machine();
    let runs: [(&str, &dyn Fn() -> u64); 4] = [
        ("main job, 1 worker", &|| main_job::main_job(&files, 1)),
        ("main job, 2 workers", &|| main_job::main_job(&files, 2)),
        ("hand-written machine", &|| {
            main_job::pipeline(&files, 1, &main_job::HandWritten)
        }),
        ("direct mode", &|| main_job::pipeline(&files, 1, &direct)),
    ];
    for (name, run) in runs {
        assert_eq!(run(), read, "{name}: records read");
        for (file, expected) in [(&files.out, &out), (&files.err, &err)] {
            let got = records_of(file);
            assert_eq!(got.len(), expected.len(), "{name}: {}", file.display());
            for (i, (g, e)) in got.iter().zip(expected).enumerate() {
                assert_eq!(g, e, "{name}: {} line {}", file.display(), i + 1);
            }
        }
    }
}
