//! With fsm-runtime's `tracing` feature, every transition runs in a `fsm.transition` span, but
//! only while a subscriber listens: runs nobody traces keep the fast path.
#![deny(warnings)]

mod support;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use support::machines::flat::Flat;
use support::{Doc, Fns};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records the `state` field of every `fsm.transition` span.
#[derive(Default)]
struct Spans {
    next: AtomicU64,
    states: Mutex<Vec<String>>,
}

struct StateField<'a>(&'a mut Option<String>);

impl tracing::field::Visit for StateField<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "state" {
            *self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "state" {
            *self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for &'static Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if span.metadata().name() == "fsm.transition" {
            let mut state = None;
            span.record(&mut StateField(&mut state));
            self.states.lock().unwrap().extend(state);
        }
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn every_transition_gets_a_span_while_a_subscriber_listens() {
    let spans: &'static Spans = Box::leak(Box::default());
    let machine = Flat::new(Fns);
    tracing::subscriber::with_default(spans, || {
        let out = machine.run(Doc::new(1)).unwrap();
        assert!(out.history.is_empty(), "spans do not turn history on");
    });
    assert_eq!(*spans.states.lock().unwrap(), ["input", "validate", "enrich", "output"]);

    // Without a subscriber: no span, same result.
    let out = machine.run(Doc::new(1)).unwrap();
    assert_eq!(out.data.value, 2);
    assert_eq!(spans.states.lock().unwrap().len(), 4);
}
