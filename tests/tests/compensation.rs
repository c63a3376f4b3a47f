//! Compensation (sagas): the states a run completed that declare `compensate` are undone in
//! reverse order, each once, when the run fails or finishes in an end state marked
//! `compensate: true`; pushed networks inside out; in history; a compensation that still fails
//! after its retries is reported with the failure that caused it.
#![deny(warnings)]

mod support;

use fsm_runtime::{FnError, RunError, RunOptions, Status};
use support::Doc;

mod trip {
    use fsm_runtime::FnError;

    fsm::fsm! {
        /// Reserve a flight and a hotel, charge, confirm; a declined charge cancels.
        machine Trip {
            data: crate::support::Doc;
            data_mode: direct;
            errors { declined }
            start state flight { transform: reserve_flight; compensate: release_flight; }
            state hotel {
                transform: reserve_hotel;
                compensate: release_hotel;
                retry: { attempts: 3, delay_seconds: 0 };
            }
            state payment { transform: charge; compensate: refund; on_error: [declined] -> cancelled; }
            end state confirmed;
            end state cancelled { compensate: true; }
            flight -> hotel;
            hotel -> payment;
            payment -> confirmed;
        }
    }

    /// `value` says what goes wrong: 1 the charge is declined, 2 the charge fails of no kind,
    /// 3 releasing the hotel fails twice (then works), 4 releasing the hotel always fails.
    pub struct Agent;

    fn log(data: &mut crate::support::Doc, what: &str) {
        data.log.push(what.to_owned());
    }

    impl TripFns for Agent {
        fn reserve_flight(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            log(d, "reserve_flight");
            Ok(())
        }
        fn release_flight(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            log(d, "release_flight");
            Ok(())
        }
        fn reserve_hotel(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            log(d, "reserve_hotel");
            Ok(())
        }
        fn release_hotel(
            &self,
            d: &mut crate::support::Doc,
            ctx: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), FnError> {
            assert_eq!(ctx.state(), "hotel", "a compensation runs as its state");
            log(d, "release_hotel");
            let tries = d.log.iter().filter(|l| *l == "release_hotel").count();
            match d.value {
                3 if tries < 3 => Err("the hotel's line is busy".into()),
                4 => Err("the hotel is unreachable".into()),
                _ => Ok(()),
            }
        }
        fn charge(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            log(d, "charge");
            match d.value {
                0 => Ok(()),
                2 => Err("the bank is down".into()),
                _ => Err(TripErrorKind::Declined.error("card refused")),
            }
        }
        fn refund(&self, d: &mut crate::support::Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            log(d, "refund");
            Ok(())
        }
    }
}

use trip::{Agent, Trip, TripEnd};

#[test]
fn a_saga_that_succeeds_compensates_nothing() {
    let out = Trip::new(Agent).run(Doc::new(0)).unwrap();
    assert_eq!(out.end, TripEnd::Confirmed);
    assert_eq!(out.data.log, ["reserve_flight", "reserve_hotel", "charge"]);
}

#[test]
fn an_end_state_marked_compensate_undoes_the_completed_states_in_reverse() {
    for history in [false, true] {
        let machine = Trip::new(Agent).with_options(RunOptions {
            history,
            ..RunOptions::default()
        });
        let out = machine.run(Doc::new(1)).unwrap();
        assert_eq!(out.end, TripEnd::Cancelled);
        // The charge failed: not completed, so no refund.
        assert_eq!(
            out.data.log,
            [
                "reserve_flight",
                "reserve_hotel",
                "charge",
                "release_hotel",
                "release_flight"
            ]
        );
        if history {
            let path: Vec<(&str, bool)> = out.history.iter().map(|h| (h.state, h.compensation)).collect();
            assert_eq!(
                path,
                [
                    ("flight", false),
                    ("hotel", false),
                    ("payment", false),
                    ("cancelled", false),
                    ("hotel", true),
                    ("flight", true)
                ]
            );
        }
    }
}

#[test]
fn a_failed_run_compensates_and_keeps_its_error() {
    let failure = Trip::new(Agent).run(Doc::new(2)).unwrap_err();
    assert!(
        matches!(&failure.error, RunError::Function(e) if e.state == "payment"),
        "{:?}",
        failure.error
    );
    assert_eq!(
        failure.data.log,
        [
            "reserve_flight",
            "reserve_hotel",
            "charge",
            "release_hotel",
            "release_flight"
        ]
    );
}

#[test]
fn a_failing_compensation_is_retried_then_reported_with_the_cause() {
    // Fails twice, the third run (retry: 3 attempts) works.
    let out = Trip::new(Agent).run(Doc::new(3)).unwrap();
    assert_eq!(out.end, TripEnd::Cancelled);
    assert_eq!(out.data.log.iter().filter(|l| *l == "release_hotel").count(), 3);
    // Always fails: the other compensations still run; the run ends with the compensation's
    // error (and, at an end state, no cause).
    let failure = Trip::new(Agent).run(Doc::new(4)).unwrap_err();
    let RunError::Compensation { cause, failed } = &failure.error else {
        panic!("{:?}", failure.error)
    };
    assert!(cause.is_none());
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].state, failed[0].function), ("hotel", "release_hotel"));
    assert_eq!(failure.data.log.last().map(String::as_str), Some("release_flight"));
    assert_eq!(
        failure.error.to_string(),
        "compensation failed: release_hotel failed in state `hotel`: failed 3 times: the hotel is unreachable (compensating at an end state)"
    );
}

#[test]
fn a_failure_and_a_failing_compensation_are_both_reported() {
    // Value 4 with a charge of no kind: the run fails, then so does a compensation.
    struct Broken;
    impl trip::TripFns for Broken {
        fn reserve_flight(&self, _: &mut Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            Ok(())
        }
        fn release_flight(&self, _: &mut Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            Err("cannot release the flight".into())
        }
        fn reserve_hotel(&self, _: &mut Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            Ok(())
        }
        fn release_hotel(&self, _: &mut Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            Ok(())
        }
        fn charge(&self, _: &mut Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            Err("the bank is down".into())
        }
        fn refund(&self, _: &mut Doc, _: &mut fsm_runtime::Context<'_>) -> Result<(), FnError> {
            Ok(())
        }
    }
    let machine = Trip::new(Broken);
    let mut run = machine.start(Doc::new(0));
    let error = loop {
        match run.step() {
            Ok(Status::Finished(end)) => panic!("finished in {end:?}"),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    let RunError::Compensation {
        cause: Some(cause),
        failed,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert!(matches!(&**cause, RunError::Function(e) if e.function == "charge"));
    assert_eq!(failed[0].function, "release_flight");
    assert!(run.pending_compensations().is_empty(), "each compensation runs once");
    assert!(
        matches!(run.step(), Err(RunError::Compensation { .. })),
        "reported again"
    );
}

mod nested {
    fsm::fsm! {
        machine Nested {
            data: crate::support::Doc;
            data_mode: direct;
            main_network: main;
            network main {
                start state book { transform: [note]; compensate: undo; }
                state finish { transform: note; }
                end state done;
                book -> push inner return finish;
                finish -> done;
            }
            network inner {
                start state a { transform: note; compensate: undo; }
                state b { transform: note; compensate: undo; }
                end state out;
                a -> b;
                b -> out;
            }
        }
    }

    pub struct F;

    impl NestedFns for F {
        fn note(
            &self,
            d: &mut crate::support::Doc,
            ctx: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), fsm_runtime::FnError> {
            if ctx.state() == "finish" {
                return Err("the last step failed".into());
            }
            d.log.push(format!("do {}", ctx.state()));
            Ok(())
        }
        fn undo(
            &self,
            d: &mut crate::support::Doc,
            ctx: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), fsm_runtime::FnError> {
            d.log.push(format!("undo {}", ctx.state()));
            Ok(())
        }
    }
}

#[test]
fn pushed_networks_compensate_inside_out() {
    let machine = nested::Nested::new(nested::F);
    let failure = machine.run(Doc::new(0)).unwrap_err();
    assert_eq!(
        failure.data.log,
        ["do book", "do a", "do b", "undo b", "undo a", "undo book"]
    );
}

mod by_event {
    fsm::fsm! {
        machine Order {
            data: crate::support::Doc;
            data_mode: direct;
            events { Pay, Cancel }
            start state reserved { transform: reserve; compensate: release; }
            state awaiting_payment;
            end state paid;
            end state cancelled { compensate: true; }
            reserved -> awaiting_payment;
            awaiting_payment -> paid on Pay;
            awaiting_payment -> cancelled on Cancel;
        }
    }

    pub struct F;

    impl OrderFns for F {
        fn reserve(
            &self,
            d: &mut crate::support::Doc,
            _: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), fsm_runtime::FnError> {
            d.log.push("reserve".into());
            Ok(())
        }
        fn release(
            &self,
            d: &mut crate::support::Doc,
            _: &mut fsm_runtime::Context<'_>,
        ) -> Result<(), fsm_runtime::FnError> {
            d.log.push("release".into());
            Ok(())
        }
    }
}

#[test]
fn an_event_into_a_compensating_end_state_compensates() {
    use by_event::{F, Order, OrderEnd, OrderEvent};
    let machine = Order::new(F);
    let mut run = machine.start(Doc::new(0));
    assert!(matches!(
        run.handle(OrderEvent::Cancel),
        Ok(Status::Finished(OrderEnd::Cancelled))
    ));
    assert_eq!(run.data().log, ["reserve", "release"]);
    let mut run = machine.start(Doc::new(0));
    assert!(matches!(
        run.handle(OrderEvent::Pay),
        Ok(Status::Finished(OrderEnd::Paid))
    ));
    assert_eq!(run.data().log, ["reserve"]);
}
