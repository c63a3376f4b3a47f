//! Unit tests of the run loop against hand-written machines: the loop is tested here once, not
//! through every generated machine.

use super::*;
use crate::core::{FnError, HandleError, Reject, RunError, RunOptions, StateName, Status};

/// Positions of a small two-network machine: `count` adds one until `limit` (a self-loop), then
/// pushes network `sub` (`sub_in` -> `sub_out`) and returns to `done`; `count` fails when the
/// record says so, and its `on_error` arc leads to `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum P {
    Start,
    Count,
    Done,
    Failed,
    SubIn,
    SubOut,
}

impl StateName for P {
    fn name(&self) -> &'static str {
        match self {
            P::Start => "start",
            P::Count => "count",
            P::Done => "done",
            P::Failed => "failed",
            P::SubIn => "sub_in",
            P::SubOut => "sub_out",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Done,
    Failed,
}

impl StateName for End {
    fn name(&self) -> &'static str {
        match self {
            End::Done => "done",
            End::Failed => "failed",
        }
    }
}

impl EndState for End {
    const ALL: &'static [Self] = &[End::Done, End::Failed];
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Rec {
    n: u32,
    limit: u32,
    /// `count` fails when `n` reaches this.
    fail_at: Option<u32>,
    /// States whose functions ran, in order.
    entered: Vec<&'static str>,
}

/// The functions' implementation (the hand-written tables call no trait): the transitions the
/// `on_transition` hook saw.
#[derive(Default)]
struct Fns(std::rc::Rc<std::cell::RefCell<Vec<(&'static str, &'static str)>>>);

enum Counter {}

impl MachineDef<Fns, ()> for Counter {
    type Pos = P;
    type End = End;
    type Data = Rec;
    type Event = core::convert::Infallible;
    type Frames = ReturnStack<P, 1>;
    const NAME: &'static str = "Counter";
    const START: P = P::Start;

    fn network(pos: P) -> &'static str {
        match pos {
            P::SubIn | P::SubOut => "sub",
            _ => "main",
        }
    }
    fn is_end(pos: P) -> bool {
        matches!(pos, P::Done | P::Failed | P::SubOut)
    }
    fn end_of(pos: P) -> Option<End> {
        match pos {
            P::Done => Some(End::Done),
            P::Failed => Some(End::Failed),
            _ => None,
        }
    }
    fn on_error(pos: P) -> Option<P> {
        (pos == P::Count).then_some(P::Failed)
    }
    fn on_transition(fns: &Fns, from: P, to: P) {
        fns.0.borrow_mut().push((from.name(), to.name()));
    }
    fn visit<const ENTER: bool, const PICK: bool>(_: &mut Cx<Rec, Fns>, data: &mut Rec, at: P) -> Choice<P> {
        if ENTER {
            data.entered.push(at.name());
            if at == P::Count {
                if Some(data.n + 1) == data.fail_at {
                    return Err(("add_one", FnError::new("too many")));
                }
                data.n += 1;
            }
        }
        if !PICK {
            return Ok(None);
        }
        Ok(match at {
            P::Start => Some(Next::To(P::Count)),
            P::Count if data.n < data.limit => Some(Next::To(P::Count)),
            P::Count => Some(Next::Push {
                start: P::SubIn,
                ret: Some(P::Done),
            }),
            P::SubIn => Some(Next::To(P::SubOut)),
            _ => None,
        })
    }
}

fn counter(limit: u32, fail_at: Option<u32>, options: RunOptions) -> Run<Counter, Fns> {
    let rec = Rec {
        limit,
        fail_at,
        ..Rec::default()
    };
    Run::new(Fns::default(), rec, options)
}

const ALL_THE_WAY: [&str; 7] = ["start", "count", "count", "count", "sub_in", "sub_out", "done"];

#[test]
fn on_transition_sees_each_move_the_same_on_every_path() {
    let expected = [
        ("start", "count"),
        ("count", "count"),
        ("count", "count"),
        ("count", "sub_in"),
        ("sub_in", "sub_out"),
        ("sub_out", "done"),
    ];
    for history in [false, true] {
        let options = RunOptions {
            history,
            ..RunOptions::default()
        };
        let run = counter(3, None, options);
        let seen = run.cx.fns.0.clone();
        run.finish().unwrap();
        assert_eq!(*seen.borrow(), expected, "finish, history: {history}");
        let mut run = counter(3, None, options);
        let seen = run.cx.fns.0.clone();
        while !matches!(run.step().unwrap(), Status::Finished(_)) {}
        assert_eq!(*seen.borrow(), expected, "step, history: {history}");
    }
    // An `on_error` arc is a transition too.
    let run = counter(3, Some(2), RunOptions::default());
    let seen = run.cx.fns.0.clone();
    run.finish().unwrap();
    assert_eq!(
        *seen.borrow(),
        [("start", "count"), ("count", "count"), ("count", "failed")]
    );
}

#[test]
fn finish_runs_through_a_self_loop_and_a_pushed_network() {
    let out = counter(3, None, RunOptions::default()).finish().unwrap();
    assert_eq!(out.end, End::Done);
    assert_eq!(out.data.n, 3);
    assert_eq!(out.data.entered, ALL_THE_WAY);
    // start->count, count->count twice, the push, sub_in->sub_out, the return to done.
    assert_eq!(out.transitions, 6);
    assert!(out.error.is_none());
    assert!(out.history.is_empty());
}

#[test]
fn the_observed_path_takes_the_same_moves_and_keeps_history() {
    let options = RunOptions {
        history: true,
        ..RunOptions::default()
    };
    let out = counter(3, None, options).finish().unwrap();
    assert_eq!(out.data.entered, ALL_THE_WAY);
    assert_eq!(out.transitions, 6);
    let path: Vec<(&str, &str)> = out.history.iter().map(|h| (h.network, h.state)).collect();
    assert_eq!(
        path,
        [
            ("main", "start"),
            ("main", "count"),
            ("main", "count"),
            ("main", "count"),
            ("sub", "sub_in"),
            ("sub", "sub_out"),
            ("main", "done")
        ]
    );
    // Entries are in time order.
    assert!(out.history.windows(2).all(|w| w[0].at <= w[1].at));
}

#[test]
fn step_moves_one_transition_at_a_time_and_repeats_the_end() {
    let mut run = counter(2, None, RunOptions::default());
    assert_eq!(run.state(), P::Start);
    let mut seen = Vec::new();
    loop {
        let status = run.step().unwrap();
        seen.push(status);
        if let Status::Finished(_) = status {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            Status::Running(P::Start),
            Status::Running(P::Count),
            Status::Running(P::Count),
            Status::Running(P::SubIn),
            Status::Running(P::SubOut),
            Status::Finished(End::Done)
        ]
    );
    assert_eq!(run.step().unwrap(), Status::Finished(End::Done));
    assert_eq!(run.end(), Some(End::Done));
    // `finish` after the end gives the outcome without moving.
    let out = run.finish().unwrap();
    assert_eq!(out.transitions, 5);
}

#[test]
fn a_failing_function_follows_on_error_with_the_error_kept() {
    for history in [false, true] {
        let options = RunOptions {
            history,
            ..RunOptions::default()
        };
        let out = counter(5, Some(3), options).finish().unwrap();
        assert_eq!(out.end, End::Failed);
        assert_eq!(out.data.n, 2);
        let error = out.error.expect("the error that led to `failed`");
        assert_eq!(
            (error.network, error.state, error.function),
            ("main", "count", "add_one")
        );
        assert_eq!(error.error.message(), "too many");
        // start->count, count->count, count->count (fails), the on_error arc.
        assert_eq!(out.transitions, 4);
    }
}

#[test]
fn the_step_limit_stops_a_loop_in_the_state_it_was_in() {
    for history in [false, true] {
        let options = RunOptions {
            max_transitions: 4,
            history,
        };
        let failure = counter(100, None, options).finish().unwrap_err();
        match failure.error {
            RunError::StepLimit { limit, state } => assert_eq!((limit, state), (4, "count")),
            other => panic!("expected the step limit, got {other:?}"),
        }
        // The record as it was when the run stopped: four moves, four counts.
        assert_eq!(failure.data.n, 4);
    }
}

#[test]
fn an_error_is_reported_again_by_later_steps() {
    let mut run = counter(
        100,
        None,
        RunOptions {
            max_transitions: 2,
            history: false,
        },
    );
    let first = loop {
        match run.step() {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(matches!(first, RunError::StepLimit { .. }));
    assert!(matches!(run.step(), Err(RunError::StepLimit { .. })));
}

/// An event-driven machine: a door. `open` from `closed`, `close` from `open`; `lock(code)` from
/// `closed` into `locked` when the code is non-zero (a state with a function that records 0, and
/// fails after code 13, its `on_error` arc leading to `broken`), `smash` into `broken` (an end state); `knock` in `locked` is an internal transition
/// (records 1, stays without entering again); `jam` in `open` fails (no `on_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum D {
    Closed,
    Open,
    Locked,
    Broken,
}

impl StateName for D {
    fn name(&self) -> &'static str {
        match self {
            D::Closed => "closed",
            D::Open => "open",
            D::Locked => "locked",
            D::Broken => "broken",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoorEnd {
    Broken,
}

impl StateName for DoorEnd {
    fn name(&self) -> &'static str {
        "broken"
    }
}

impl EndState for DoorEnd {
    const ALL: &'static [Self] = &[DoorEnd::Broken];
}

#[derive(Debug, PartialEq)]
enum Ev {
    Open,
    Close,
    Lock(u32),
    Smash,
    Knock,
    Jam,
}

/// The door's functions: they record what the hooks saw.
#[derive(Debug, Default)]
struct Log(std::cell::RefCell<Vec<String>>);

impl Log {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

enum Door {}

impl MachineDef<Log, ()> for Door {
    type Pos = D;
    type End = DoorEnd;
    type Data = Vec<u32>;
    type Event = Ev;
    type Frames = NoFrames;
    const NAME: &'static str = "Door";
    const START: D = D::Closed;

    fn network(_: D) -> &'static str {
        "main"
    }
    fn is_end(pos: D) -> bool {
        pos == D::Broken
    }
    fn end_of(pos: D) -> Option<DoorEnd> {
        (pos == D::Broken).then_some(DoorEnd::Broken)
    }
    fn waits(pos: D) -> bool {
        pos != D::Broken
    }
    fn settles(pos: D) -> bool {
        pos != D::Broken
    }
    fn bare(pos: D) -> bool {
        pos != D::Locked
    }
    fn on_error(pos: D) -> Option<D> {
        (pos == D::Locked).then_some(D::Broken)
    }
    fn visit<const ENTER: bool, const PICK: bool>(_: &mut Cx<Vec<u32>, Log>, data: &mut Vec<u32>, at: D) -> Choice<D> {
        if ENTER && at == D::Locked {
            if data.last() == Some(&13) {
                return Err(("lock", FnError::new("unlucky code")));
            }
            data.push(0);
        }
        Ok(None)
    }
    fn dispatch(_: &mut Cx<Vec<u32>, Log>, data: &mut Vec<u32>, from: D, event: &Ev) -> Choice<D> {
        Ok(match (from, event) {
            (D::Closed, Ev::Open) => Some(Next::To(D::Open)),
            (D::Open, Ev::Close) => Some(Next::To(D::Closed)),
            (D::Closed, Ev::Lock(code)) if *code != 0 => {
                if *code == 13 {
                    data.push(13);
                }
                Some(Next::To(D::Locked))
            }
            (D::Closed | D::Open | D::Locked, Ev::Smash) => Some(Next::To(D::Broken)),
            (D::Locked, Ev::Knock) => {
                data.push(1);
                Some(Next::Stay)
            }
            (D::Open, Ev::Jam) => return Err(("jam", FnError::new("stuck"))),
            _ => None,
        })
    }
    fn accepts(from: D, event: &Ev) -> bool {
        matches!(
            (from, event),
            (D::Closed, Ev::Open | Ev::Lock(_) | Ev::Smash)
                | (D::Open, Ev::Close | Ev::Smash | Ev::Jam)
                | (D::Locked, Ev::Smash | Ev::Knock)
        )
    }
    fn on_transition(fns: &Log, from: D, to: D) {
        fns.0.borrow_mut().push(format!("{} -> {}", from.name(), to.name()));
    }
    fn on_dispatch(fns: &Log, at: D, event: &Ev) {
        fns.0.borrow_mut().push(format!("{event:?} in {}", at.name()));
    }
    fn on_reject(fns: &Log, at: D, event: &Ev, reason: Reject) {
        fns.0
            .borrow_mut()
            .push(format!("{event:?} rejected in {}: {reason:?}", at.name()));
    }
}

fn door(history: bool) -> Run<Door, Log> {
    Run::new(
        Log::default(),
        Vec::new(),
        RunOptions {
            history,
            ..RunOptions::default()
        },
    )
}

fn rejected(result: Handled<Door, Log, ()>) -> (D, Ev, Reject) {
    match result {
        Err(HandleError::Rejected { state, event, reason }) => (state, event, reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn handle_moves_counts_rejects_and_finishes_the_same_observed_or_not() {
    for history in [false, true] {
        let mut run = door(history);
        assert_eq!(run.handle(Ev::Open).unwrap(), Status::Waiting(D::Open));
        assert_eq!(run.state(), D::Open);
        // Rejected: the event comes back, the run is unchanged, and the reason says why.
        assert_eq!(rejected(run.handle(Ev::Open)), (D::Open, Ev::Open, Reject::NoArc));
        assert_eq!(run.handle(Ev::Close).unwrap(), Status::Waiting(D::Closed));
        // A false condition: the state has an arc for the event, its guard said no.
        assert_eq!(
            rejected(run.handle(Ev::Lock(0))),
            (D::Closed, Ev::Lock(0), Reject::Guard)
        );
        assert_eq!(run.handle(Ev::Lock(7)).unwrap(), Status::Waiting(D::Locked));
        assert_eq!(run.data(), &[0]);
        // An internal transition: its transform runs, the state is not entered again.
        assert_eq!(run.handle(Ev::Knock).unwrap(), Status::Waiting(D::Locked));
        assert_eq!(run.data(), &[0, 1]);
        assert_eq!(run.state(), D::Locked);
        assert_eq!(run.handle(Ev::Smash).unwrap(), Status::Finished(DoorEnd::Broken));
        assert_eq!(run.end(), Some(DoorEnd::Broken));
        assert_eq!(run.transitions(), 5);
        // A finished run hands every event back.
        assert_eq!(rejected(run.handle(Ev::Open)), (D::Broken, Ev::Open, Reject::Finished));
        // The observed run recorded each state entered, the start state included (not the
        // internal transition: nothing was entered).
        let states: Vec<&str> = run.history().iter().map(|h| h.state).collect();
        if history {
            assert_eq!(states, ["closed", "open", "closed", "locked", "broken"]);
        } else {
            assert!(states.is_empty());
        }
    }
}

#[test]
fn hooks_see_every_event_transition_and_rejection_in_order() {
    for history in [false, true] {
        let mut run = door(history);
        run.handle(Ev::Open).unwrap();
        let _ = run.handle(Ev::Open);
        run.handle(Ev::Close).unwrap();
        let _ = run.handle(Ev::Lock(0));
        run.handle(Ev::Lock(3)).unwrap();
        run.handle(Ev::Knock).unwrap();
        run.handle(Ev::Smash).unwrap();
        let _ = run.handle(Ev::Close);
        assert_eq!(
            run.cx.fns.take(),
            [
                "Open in closed",
                "closed -> open",
                "Open in open",
                "Open rejected in open: NoArc",
                "Close in open",
                "open -> closed",
                "Lock(0) in closed",
                "Lock(0) rejected in closed: Guard",
                "Lock(3) in closed",
                "closed -> locked",
                "Knock in locked",
                "locked -> locked",
                "Smash in locked",
                "locked -> broken",
                "Close rejected in broken: Finished",
            ],
            "history: {history}"
        );
    }
}

#[test]
fn a_failed_run_hands_later_events_back_and_keeps_its_failure() {
    for history in [false, true] {
        let mut run = door(history);
        run.handle(Ev::Open).unwrap();
        match run.handle(Ev::Jam) {
            Err(HandleError::Failed(e)) => assert!(matches!(*e, RunError::Function(ref f) if f.function == "jam")),
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(matches!(run.failure(), Some(RunError::Function(_))));
        // The next event comes back with its payload, not dropped.
        assert_eq!(
            rejected(run.handle(Ev::Lock(9))),
            (D::Open, Ev::Lock(9), Reject::Failed)
        );
        assert!(matches!(run.step(), Err(RunError::Function(_))));
    }
}

#[test]
fn start_in_puts_a_run_in_a_state_without_running_its_functions() {
    let mut run: Run<Door, Log> = Run::start_in(Log::default(), (), Vec::new(), RunOptions::default(), D::Locked);
    assert_eq!(run.state(), D::Locked);
    // `locked` records 0 when entered: it was not entered.
    assert!(run.data().is_empty());
    assert_eq!(run.handle(Ev::Knock).unwrap(), Status::Waiting(D::Locked));
    assert_eq!(run.data(), &[1]);
    let end: Run<Door, Log> = Run::start_in(Log::default(), (), Vec::new(), RunOptions::default(), D::Broken);
    assert_eq!(end.end(), Some(DoorEnd::Broken));
}

#[test]
fn step_after_the_fast_path_sees_where_the_run_is() {
    let mut run = door(false);
    run.handle(Ev::Open).unwrap();
    run.handle(Ev::Close).unwrap();
    run.handle(Ev::Open).unwrap();
    // `step` finds no eventless arc: the run waits where the fast path left it.
    assert_eq!(run.step().unwrap(), Status::Waiting(D::Open));
    assert_eq!(run.handle(Ev::Close).unwrap(), Status::Waiting(D::Closed));
    assert_eq!(run.transitions(), 4);
    // `finish` on a waiting run: no arc to take.
    let failure = run.finish().unwrap_err();
    assert!(matches!(failure.error, RunError::NoTransition { state: "closed", .. }));
}

#[test]
fn a_state_failing_on_entry_follows_its_error_arc_however_many_events_came_before() {
    for history in [false, true] {
        let mut run = door(history);
        // More events than the step limit (1,000 by default) on the fast path: the limit is per
        // `handle`, so the error arc below is still within it.
        for _ in 0..600 {
            run.handle(Ev::Open).unwrap();
            run.handle(Ev::Close).unwrap();
        }
        // Entering `locked` fails: its error arc leads to `broken`, an end state, and `handle`
        // says so (not "waiting in locked").
        assert_eq!(
            run.handle(Ev::Lock(13)).unwrap(),
            Status::Finished(DoorEnd::Broken),
            "history: {history}"
        );
        assert_eq!(run.state(), D::Broken);
        assert_eq!(run.transitions(), 1202);
        let log = run.cx.fns.take();
        assert_eq!(log[log.len() - 2..], ["closed -> locked", "locked -> broken"]);
        assert!(run.cx.error.as_ref().is_some_and(|e| e.function == "lock"));
    }
}

/// A chain without loops, `a -> b -> c` (an end state), that says so: `LONGEST` is 2.
enum Chain {}

impl MachineDef<(), ()> for Chain {
    type Pos = P;
    type End = End;
    type Data = Vec<&'static str>;
    type Event = core::convert::Infallible;
    type Frames = NoFrames;
    const NAME: &'static str = "Chain";
    const START: P = P::Start;
    const LONGEST: Option<u32> = Some(2);

    fn network(_: P) -> &'static str {
        "main"
    }
    fn is_end(pos: P) -> bool {
        pos == P::Done
    }
    fn end_of(pos: P) -> Option<End> {
        (pos == P::Done).then_some(End::Done)
    }
    fn visit<const ENTER: bool, const PICK: bool>(
        _: &mut Cx<Vec<&'static str>, ()>,
        data: &mut Vec<&'static str>,
        at: P,
    ) -> Choice<P> {
        if ENTER {
            data.push(at.name());
        }
        if !PICK {
            return Ok(None);
        }
        Ok(match at {
            P::Start => Some(Next::To(P::Count)),
            P::Count => Some(Next::To(P::Done)),
            _ => None,
        })
    }
}

#[test]
#[allow(clippy::result_large_err)] // the runtime's own Result, as callers get it
fn a_machine_without_loops_keeps_its_step_limit_when_the_limit_is_below_its_longest_run() {
    let run = |max_transitions| {
        let options = RunOptions {
            max_transitions,
            history: false,
        };
        Run::<Chain, ()>::complete((), (), Vec::new(), options)
    };
    // At or above the longest run: unchecked, the same outcome.
    for max in [2, 3, 1000] {
        let out = run(max).unwrap();
        assert_eq!(
            (out.end, out.transitions, out.data),
            (End::Done, 2, vec!["start", "count", "done"])
        );
    }
    // Below it: the limit stops the run where it was, as for any machine.
    let failure = run(1).unwrap_err();
    match failure.error {
        RunError::StepLimit { limit, state } => assert_eq!((limit, state), (1, "count")),
        other => panic!("expected the step limit, got {other:?}"),
    }
    assert_eq!(failure.data, vec!["start", "count"]);
}
