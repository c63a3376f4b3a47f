//! Routing by end state, dead letters for every kind of failure, configuration errors.

mod stream_support;

use fsm_runtime::stream::{DeadLetterReason, IterSource, Pipeline, StreamError, VecSink};
use stream_support::{Classify, Rec};

fn input() -> Vec<Rec> {
    [5, -1, 13, 7, 666, 20, 7, 3]
        .iter()
        .enumerate()
        .map(|(i, v)| Rec::new(i as u64, *v))
        .collect()
}

#[test]
fn each_end_state_goes_to_its_route_and_failures_to_the_dead_letter_sink() {
    let output = VecSink::new();
    let skipped = VecSink::new();
    let dead = VecSink::new();
    let summary = Pipeline::new(Classify::default())
        .route("output", output.clone())
        .route("skip", skipped.clone())
        .dead_letter_state("error")
        .dead_letter(dead.clone())
        .chunk_size(3)
        .workers(2)
        .run(IterSource::new(input()).named("test-input"))
        .unwrap();

    let out = output.take();
    assert_eq!(
        out.iter().map(|r| (r.id, r.value)).collect::<Vec<_>>(),
        vec![(0, 10), (5, 40), (7, 6)]
    );
    assert!(out.iter().all(|r| r.tag == "done"));
    assert_eq!(skipped.take().iter().map(|r| r.id).collect::<Vec<_>>(), vec![3, 6]);

    let dead = dead.take();
    let seen: Vec<_> = dead.iter().map(|d| (d.line, d.reason, d.state)).collect();
    assert_eq!(
        seen,
        vec![
            (2, DeadLetterReason::ErrorState, Some("error")),
            (3, DeadLetterReason::Failed, Some("enrich")),
            (5, DeadLetterReason::Panicked, None),
        ]
    );
    assert_eq!(dead[0].message, "validate failed in state `validate`: negative value");
    assert_eq!(dead[0].record.as_ref().map(|r| r.value), Some(-1));
    assert_eq!(dead[1].message, "enrich failed in state `enrich`: unlucky");
    assert_eq!(dead[1].record.as_ref().map(|r| r.id), Some(2));
    assert!(dead[2].message.contains("the beast"), "{}", dead[2].message);
    assert!(dead[2].record.is_none());
    assert!(dead.iter().all(|d| &*d.source == "test-input"));

    assert_eq!(summary.read, 8);
    assert_eq!(summary.written.get("output"), Some(&3));
    assert_eq!(summary.written.get("skip"), Some(&2));
    assert_eq!(summary.dead_lettered.get(&DeadLetterReason::ErrorState), Some(&1));
    assert_eq!(summary.dead_lettered.get(&DeadLetterReason::Failed), Some(&1));
    assert_eq!(summary.dead_lettered.get(&DeadLetterReason::Panicked), Some(&1));
    assert!(summary.is_balanced(), "{summary}");
}

#[test]
fn unrouted_end_states_go_to_the_default_sink_or_the_dead_letter_sink() {
    let output = VecSink::new();
    let dead = VecSink::new();
    let summary = Pipeline::new(Classify::default())
        .route("output", output.clone())
        .dead_letter(dead.clone())
        .run(IterSource::new(vec![Rec::new(1, 7), Rec::new(2, -3)]))
        .unwrap();
    let dead = dead.take();
    assert_eq!(
        dead.iter().map(|d| d.reason).collect::<Vec<_>>(),
        vec![DeadLetterReason::Unrouted; 2]
    );
    assert_eq!(dead[0].state, Some("skip"));
    assert!(summary.is_balanced());

    let rest = VecSink::new();
    let summary = Pipeline::new(Classify::default())
        .route("output", output.clone())
        .default_sink(rest.clone())
        .run(IterSource::new(vec![Rec::new(1, 7), Rec::new(2, -3), Rec::new(3, 1)]))
        .unwrap();
    assert_eq!(rest.take().iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(summary.written.get("skip"), Some(&1));
    assert_eq!(summary.written.get("error"), Some(&1));
    assert!(summary.is_balanced());
}

#[test]
fn dropped_states_are_counted() {
    let summary = Pipeline::new(Classify::default())
        .drop_state("skip")
        .drop_state("output")
        .dead_letter_state("error")
        .run(IterSource::new((0..10).map(|i| Rec::new(i, i as i64 - 2))))
        .unwrap();
    assert_eq!(summary.dropped, 8);
    assert_eq!(summary.dead_lettered_total(), 2);
    assert!(summary.is_balanced());
}

#[test]
fn a_route_to_an_unknown_end_state_is_a_configuration_error() {
    let err = Pipeline::new(Classify::default())
        .route("ouptut", VecSink::new())
        .run(IterSource::new(Vec::<Rec>::new()))
        .unwrap_err();
    assert!(matches!(err, StreamError::Config(_)));
    assert_eq!(
        err.to_string(),
        "pipeline configuration: `ouptut` is not an end state of the machine (end states: output, error, skip)"
    );
    let err = Pipeline::new(Classify::default())
        .drop_state("skip")
        .dead_letter_state("skip")
        .run(IterSource::new(Vec::<Rec>::new()))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "pipeline configuration: end state `skip` is routed twice"
    );
}

#[test]
fn a_failing_sink_stops_the_run_with_its_error() {
    use fsm_runtime::stream::{FnSink, WriteError};
    let mut n = 0;
    let failing = FnSink::new(move |_: &Rec| {
        n += 1;
        if n > 5 {
            Err(WriteError::Io(std::io::Error::other("disk full")))
        } else {
            Ok(())
        }
    });
    let err = Pipeline::new(Classify::default())
        .route("output", failing)
        .chunk_size(2)
        .workers(2)
        .run(IterSource::new((0..1000).map(|i| Rec::new(i, 1))))
        .unwrap_err();
    assert_eq!(err.to_string(), "the sink of `output` failed: disk full");
}

#[test]
fn a_rejected_record_is_dead_lettered() {
    use fsm_runtime::stream::{FnSink, WriteError};
    let dead = VecSink::new();
    let picky = FnSink::new(|r: &Rec| {
        if r.id == 1 {
            Err(WriteError::Rejected("no ones".into()))
        } else {
            Ok(())
        }
    });
    let summary = Pipeline::new(Classify::default())
        .route("output", picky)
        .dead_letter(dead.clone())
        .run(IterSource::new((0..3).map(|i| Rec::new(i, 1))))
        .unwrap();
    let dead = dead.take();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, DeadLetterReason::Rejected);
    assert_eq!(dead[0].message, "the sink of `output` rejected the record: no ones");
    assert_eq!(summary.written.get("output"), Some(&2));
    assert!(summary.is_balanced());
}

#[test]
fn routes_named_by_the_end_enum_route_as_their_names_do() {
    // The same routing as by name, written with the machine's end enum (a typo would not
    // compile), mixed with a name read from configuration.
    let by_enum = (VecSink::new(), VecSink::new(), VecSink::new());
    let from_config = String::from("skip");
    let summary = Pipeline::new(Classify::default())
        .route(stream_support::End::Output, by_enum.0.clone())
        .route(&from_config, by_enum.1.clone())
        .dead_letter_state(stream_support::End::Error)
        .dead_letter(by_enum.2.clone())
        .run(IterSource::new(input()))
        .unwrap();
    let by_name = (VecSink::new(), VecSink::new(), VecSink::new());
    let named = Pipeline::new(Classify::default())
        .route("output", by_name.0.clone())
        .route("skip", by_name.1.clone())
        .dead_letter_state("error")
        .dead_letter(by_name.2.clone())
        .run(IterSource::new(input()))
        .unwrap();
    let ids = |s: &VecSink<Rec>| s.take().iter().map(|r| r.id).collect::<Vec<_>>();
    // (`take` empties a sink: each is read once.)
    let outputs = (ids(&by_enum.0), ids(&by_name.0));
    assert_eq!(outputs.0, vec![0, 5, 7]);
    assert_eq!(outputs.0, outputs.1);
    assert_eq!(ids(&by_enum.1), vec![3, 6]);
    assert_eq!(ids(&by_name.1), vec![3, 6]);
    let dead = |s: &VecSink<fsm_runtime::stream::DeadLetter<Rec>>| {
        s.take().iter().map(|d| (d.line, d.reason)).collect::<Vec<_>>()
    };
    assert_eq!(dead(&by_enum.2), dead(&by_name.2));
    assert_eq!(summary.written, named.written);
    assert_eq!(summary.written.get("output"), Some(&3));
    // The drop route takes the enum too.
    let kept = VecSink::new();
    let dropped = Pipeline::new(Classify::default())
        .route(stream_support::End::Output, kept.clone())
        .drop_state(stream_support::End::Skip)
        .dead_letter_state(stream_support::End::Error)
        .run(IterSource::new(input()))
        .unwrap();
    assert_eq!(dropped.dropped, 2);
}
