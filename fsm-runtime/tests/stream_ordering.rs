//! Output order with several workers, and the unordered mode.

mod stream_support;

use fsm_runtime::stream::{IterSource, Pipeline, VecSink};
use stream_support::{Classify, Rec};

fn input(n: u64) -> impl Iterator<Item = Rec> + Send {
    (0..n).map(|i| Rec::new(i, (i % 50) as i64 + 100))
}

#[test]
fn input_order_is_kept_with_several_workers_and_uneven_chunks() {
    for (workers, chunk) in [(1, 1), (2, 7), (4, 3), (8, 64)] {
        let out = VecSink::new();
        let summary = Pipeline::new(Classify { spin: 200 })
            .route("output", out.clone())
            .workers(workers)
            .chunk_size(chunk)
            .run(IterSource::new(input(3000)))
            .unwrap();
        let ids: Vec<u64> = out.take().iter().map(|r| r.id).collect();
        assert_eq!(ids, (0..3000).collect::<Vec<_>>(), "workers {workers}, chunk {chunk}");
        assert_eq!(summary.read, 3000);
        assert!(summary.is_balanced());
    }
}

#[test]
fn unordered_mode_writes_every_record_once() {
    let out = VecSink::new();
    let summary = Pipeline::new(Classify { spin: 200 })
        .route("output", out.clone())
        .workers(4)
        .chunk_size(5)
        .unordered()
        .run(IterSource::new(input(3000)))
        .unwrap();
    let mut ids: Vec<u64> = out.take().iter().map(|r| r.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..3000).collect::<Vec<_>>());
    assert!(summary.is_balanced());
}

#[test]
fn progress_is_reported_and_ends_with_the_total() {
    use std::sync::{Arc, Mutex};
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let summary = Pipeline::new(Classify::default())
        .drop_state("output")
        .chunk_size(10)
        .on_progress(std::time::Duration::ZERO, move |p| sink.lock().unwrap().push(*p))
        .run(IterSource::new(input(95)))
        .unwrap();
    let reports = reports.lock().unwrap();
    // One report per chunk (interval zero), then the final one.
    assert_eq!(reports.len(), 11);
    let records: Vec<u64> = reports.iter().map(|p| p.records).collect();
    assert_eq!(records, vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 95]);
    assert!(reports.last().unwrap().done);
    assert!(!reports[0].done);
    assert_eq!(summary.dropped, 95);
}
