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

/// What the source has read and the sink has written, and the most read ahead of the sink at any
/// read; the sink waits on it until the test's condition holds.
#[derive(Default)]
struct Counts {
    read: usize,
    written: usize,
    most_ahead: usize,
}

#[test]
fn with_n_chunks_in_flight_the_source_never_reads_more_than_n_chunks_ahead_of_a_blocked_sink() {
    use std::sync::{Condvar, Mutex};
    for (n, chunk, workers, ordered) in [(1, 5, 1, true), (2, 4, 3, true), (3, 7, 2, false), (6, 3, 2, true)] {
        let bound = n * chunk;
        let total = 10 * bound + chunk / 2 + 1; // a last chunk that is not full
        let counts = Mutex::new(Counts::default());
        let changed = Condvar::new();
        // Counted at each read: how far the source is ahead of what has been written.
        let source = IterSource::new((0..total as u64).map(|i| {
            let mut c = counts.lock().unwrap();
            c.read += 1;
            c.most_ahead = c.most_ahead.max(c.read - c.written);
            changed.notify_all();
            Rec::new(i, 1)
        }));
        // The sink holds the first record until the source has read `bound` records: every chunk
        // the pipeline may hold is then read, and the rest of the input waits for the sink. (The
        // guard of a minute only keeps a broken pipeline from hanging the suite.)
        let mut held_back = None;
        let sink = FnSink::new(|_: &Rec| {
            let mut c = counts.lock().unwrap();
            if c.written == 0 {
                let (guard, waited) = changed
                    .wait_timeout_while(c, std::time::Duration::from_secs(60), |c| c.read < bound)
                    .unwrap();
                c = guard;
                held_back = Some((c.read, waited.timed_out()));
            }
            c.written += 1;
            Ok(())
        });
        let mut pipeline = Pipeline::new(Classify::default())
            .route("output", sink)
            .workers(workers)
            .chunk_size(chunk)
            .in_flight_chunks(n);
        if !ordered {
            pipeline = pipeline.unordered();
        }
        assert_eq!(pipeline.max_in_flight_records(), bound);
        let summary = pipeline.run(source).unwrap();
        assert_eq!(summary.written.get("output"), Some(&(total as u64)));
        let c = counts.into_inner().unwrap();
        assert_eq!((c.read, c.written), (total, total));
        let case = format!("{n} chunks of {chunk}, {workers} workers, ordered: {ordered}");
        let (read_while_held, timed_out) = held_back.unwrap();
        assert!(
            !timed_out,
            "{case}: the source stopped at {read_while_held} of {bound} records"
        );
        assert_eq!(c.most_ahead, bound, "{case}: records read ahead of the sink");
    }
}
