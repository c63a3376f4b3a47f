//! Multi-stage pipelines in memory, and the async front door.

mod stream_support;

use fsm_runtime::stream::{IterSource, MapSink, Pipeline, VecSink, channel};
use stream_support::{Classify, Rec};

#[test]
fn one_machines_output_streams_into_another_without_touching_disk() {
    let (into_stage2, from_stage1) = channel::<Rec>(16);
    let result = VecSink::new();
    let stage2_result = result.clone();
    let stage2 = std::thread::spawn(move || {
        Pipeline::new(Classify::default())
            .route("output", stage2_result)
            .chunk_size(8)
            .run(from_stage1)
    });
    // Stage 1 doubles the values; between the stages a map turns 100-valued records into skips.
    let stage1 = Pipeline::new(Classify::default())
        .route(
            "output",
            MapSink::new(into_stage2, |r: &Rec| Rec {
                value: if r.value == 100 { 7 } else { r.value },
                ..r.clone()
            }),
        )
        .drop_state("skip")
        .chunk_size(5)
        .workers(2)
        .run(IterSource::new((0..1000).map(|i| Rec::new(i, i as i64 % 60))))
        .unwrap();
    let stage2 = stage2.join().unwrap().unwrap();
    // Values 7 (skip) and 13 (failure) do not reach stage 1's output.
    let passed = (0..1000).filter(|i| ![7, 13].contains(&(i % 60))).count() as u64;
    assert_eq!(stage1.written.get("output"), Some(&passed));
    assert_eq!(stage2.read, passed);
    assert!(stage1.is_balanced() && stage2.is_balanced());
    let out = result.take();
    // Quadrupled, in order; the record whose doubled value was 100 (50) was turned into a skip.
    assert!(out.iter().all(|r| r.value % 4 == 0 && r.value != 200));
    assert!(out.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(out.len() as u64 + stage2.dead_lettered_total(), passed);
    assert_eq!(
        stage2.dead_lettered_total(),
        (0..1000).filter(|i| i % 60 == 50).count() as u64
    );
}

#[test]
fn a_failed_first_stage_fails_the_second() {
    use fsm_runtime::stream::{FnSink, WriteError};
    let (into_stage2, from_stage1) = channel::<Rec>(4);
    let stage2 = std::thread::spawn(move || Pipeline::new(Classify::default()).drop_state("output").run(from_stage1));
    let mut n = 0;
    let err = Pipeline::new(Classify::default())
        .route("output", into_stage2)
        .route(
            "skip",
            FnSink::new(move |_: &Rec| {
                n += 1;
                if n > 3 {
                    Err(WriteError::Io(std::io::Error::other("down")))
                } else {
                    Ok(())
                }
            }),
        )
        .run(IterSource::new(
            (0..1000).map(|i| Rec::new(i, if i % 10 == 0 { 7 } else { 1 })),
        ));
    assert!(err.is_err());
    let stage2 = stage2.join().unwrap();
    assert!(
        stage2.is_err(),
        "the second stage must not finish as if its input were complete"
    );
}

#[cfg(feature = "tokio")]
mod async_front_door {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use fsm_runtime::stream::{IterSource, Pipeline, VecSink, tokio_channel};

    use super::stream_support::{Classify, Rec};

    /// An async stream that yields every record after a tokio yield point.
    struct Ticking {
        next: u64,
        end: u64,
        ready: bool,
    }

    impl futures_core::Stream for Ticking {
        type Item = Rec;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Rec>> {
            if self.next == self.end {
                return Poll::Ready(None);
            }
            if !self.ready {
                self.ready = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.ready = false;
            self.next += 1;
            Poll::Ready(Some(Rec::new(self.next - 1, 3)))
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_async_stream_is_processed_off_the_executor() {
        // On a current-thread runtime, any blocking on the executor would deadlock this test.
        let out = VecSink::new();
        let summary = Pipeline::new(Arc::new(Classify::default()))
            .route("output", out.clone())
            .chunk_size(7)
            .workers(2)
            .run_stream(Ticking {
                next: 0,
                end: 500,
                ready: false,
            })
            .await
            .unwrap();
        assert_eq!(summary.read, 500);
        assert_eq!(
            out.take().iter().map(|r| r.id).collect::<Vec<_>>(),
            (0..500).collect::<Vec<_>>()
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn results_can_be_consumed_asynchronously() {
        let (sink, mut rx) = tokio_channel::<Rec>(4);
        let run = tokio::spawn(
            Pipeline::new(Arc::new(Classify::default()))
                .route("output", sink)
                .drop_state("skip")
                .run_async(IterSource::new((0..300).map(|i| Rec::new(i, 1)))),
        );
        let mut ids = Vec::new();
        while let Some(r) = rx.recv().await {
            ids.push(r.id);
        }
        let summary = run.await.unwrap().unwrap();
        assert_eq!(ids, (0..300).collect::<Vec<_>>());
        assert_eq!(summary.written.get("output"), Some(&300));
    }
}
