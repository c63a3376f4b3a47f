//! A slow sink slows the source down: the records in flight never exceed the pipeline's bound.

mod stream_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fsm_runtime::stream::{FnSink, IterSource, Pipeline};
use stream_support::{Classify, Rec};

#[test]
fn a_slow_sink_keeps_the_records_in_flight_bounded() {
    for (workers, chunk) in [(1, 4), (3, 8)] {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (produced, max) = (in_flight.clone(), peak.clone());
        // Counts a record as in flight from the moment the source creates it.
        let source = IterSource::new((0..2_000u64).map(move |i| {
            let now = produced.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            Rec::new(i, 1)
        }));
        let written = in_flight.clone();
        let slow = FnSink::new(move |_: &Rec| {
            std::thread::sleep(std::time::Duration::from_micros(50));
            written.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
        let pipeline = Pipeline::new(Classify::default())
            .route("output", slow)
            .workers(workers)
            .chunk_size(chunk);
        let bound = pipeline.max_in_flight_records();
        assert_eq!(bound, (2 * workers + 2) * chunk);
        let summary = pipeline.run(source).unwrap();
        assert_eq!(summary.written.get("output"), Some(&2_000));
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= bound, "peak {peak} records in flight, bound {bound}");
        // The bound is small compared to the input: the source really was held back.
        assert!(bound < 2_000 / 10);
        assert_eq!(in_flight.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn the_in_flight_bound_is_configurable() {
    let pipeline = Pipeline::new(Classify::default()).chunk_size(100).in_flight_chunks(3);
    assert_eq!(pipeline.max_in_flight_records(), 300);
}
