//! The CD player as a statechart (`machines/cd_deck.yaml`): `stopped`, `playing` and `paused` in
//! the superstate `loaded` (motor spun up on entry, down on exit, arcs `stop` and `open_close`
//! shared by the three), `playing` with entry and exit actions, `stop` while stopped internal.
//! Three times: generated, a hand-written `match` that inlines every exit and entry action, and
//! statig, whose superstates and entry/exit actions are the model of this feature. It accepts the
//! same events in the same states as the flat player, so they are fed the same sequence.
//!
//! Instructions per event (`scripts/callgrind.sh`, one run): hand-written 18.91, generated 20.33
//! (1.07×; the goal of issue 19 is 1.05×).

use std::hint::black_box;

use super::{Event, Player};

/// The hand-written baseline: one `match` on (state, event) that runs, in order, the exit actions,
/// the arc's action and the entry actions of each transition.
pub mod handwritten {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum State {
        Empty,
        Open,
        Stopped,
        Playing,
        Paused,
    }

    pub struct Prepared {
        state: State,
        data: Player,
        events: Vec<Event>,
    }

    pub fn prepare(events: &[Event]) -> Prepared {
        Prepared {
            state: State::Empty,
            data: Player::default(),
            events: events.to_vec(),
        }
    }

    #[inline]
    fn handle(state: State, d: &mut Player, event: Event) -> Result<State, Event> {
        Ok(match (state, event) {
            (State::Empty, Event::OpenClose) => {
                d.open_drawer();
                State::Open
            }
            (State::Empty, Event::CdDetected(tracks)) => {
                d.store_cd_info(tracks);
                d.spin_up();
                State::Stopped
            }
            (State::Open, Event::OpenClose) => {
                d.close_drawer();
                State::Empty
            }
            (State::Stopped, Event::Play) | (State::Paused, Event::EndPause) => {
                d.start_playback();
                State::Playing
            }
            (State::Playing, Event::Pause) => {
                d.stop_playback();
                d.pause_playback();
                State::Paused
            }
            (State::Stopped, Event::Stop) => {
                d.stopped_again();
                State::Stopped
            }
            (State::Playing, Event::Stop) => {
                d.stop_playback();
                State::Stopped
            }
            (State::Paused, Event::Stop) => State::Stopped,
            (State::Playing, Event::OpenClose) => {
                d.stop_playback();
                d.spin_down();
                d.open_drawer();
                State::Open
            }
            (State::Stopped | State::Paused, Event::OpenClose) => {
                d.spin_down();
                d.open_drawer();
                State::Open
            }
            (_, event) => return Err(event),
        })
    }

    pub fn feed(p: &mut Prepared) -> u32 {
        let mut rejected = 0;
        for event in p.events.drain(..) {
            match handle(p.state, &mut p.data, black_box(event)) {
                Ok(next) => p.state = next,
                Err(_) => rejected += 1,
            }
        }
        rejected
    }

    pub fn run(mut p: Prepared) -> Player {
        assert_eq!(feed(&mut p), 0, "hand-written deck: rejected events");
        p.data
    }
}

/// The deck generated from `machines/cd_deck.yaml`.
pub mod generated {
    use super::*;
    use fsm_runtime::{Context, FnError};

    fsm::include_machine!("cd_deck");

    pub struct Actions;

    impl CdDeckFns for Actions {
        fn spin_up(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
            data.spin_up();
            Ok(())
        }
        fn spin_down(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
            data.spin_down();
            Ok(())
        }
        fn start_playback(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
            data.start_playback();
            Ok(())
        }
        fn stop_playback(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
            data.stop_playback();
            Ok(())
        }
        fn open_drawer(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
            data.open_drawer();
            Ok(())
        }
        fn close_drawer(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
            data.close_drawer();
            Ok(())
        }
        fn store_cd_info(&self, data: &mut Player, tracks: &u32, _: &mut Context<'_>) -> Result<(), FnError> {
            data.store_cd_info(*tracks);
            Ok(())
        }
        fn pause_playback(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
            data.pause_playback();
            Ok(())
        }
        fn stopped_again(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
            data.stopped_again();
            Ok(())
        }
    }

    pub struct Prepared {
        run: CdDeckRun<Actions>,
        events: Vec<CdDeckEvent>,
    }

    pub fn prepare(events: &[Event]) -> Prepared {
        let events = events
            .iter()
            .map(|e| match *e {
                Event::Play => CdDeckEvent::Play,
                Event::OpenClose => CdDeckEvent::OpenClose,
                Event::Stop => CdDeckEvent::Stop,
                Event::CdDetected(t) => CdDeckEvent::CdDetected(t),
                Event::Pause => CdDeckEvent::Pause,
                Event::EndPause => CdDeckEvent::EndPause,
            })
            .collect();
        let mut run = CdDeck::new(Actions).into_run(Player::default());
        assert!(run.step().is_ok(), "generated deck: the start state failed");
        Prepared { run, events }
    }

    pub fn feed(p: &mut Prepared) -> u32 {
        let mut rejected = 0;
        for event in p.events.drain(..) {
            if p.run.handle(black_box(event)).is_err() {
                rejected += 1;
            }
        }
        rejected
    }

    pub fn run(mut p: Prepared) -> Player {
        assert_eq!(feed(&mut p), 0, "generated deck: rejected events");
        p.run.into_data()
    }
}

/// statig 0.4: a superstate with entry and exit actions, states that defer to it (`Super`).
pub mod statig_impl {
    use super::*;
    use statig::prelude::*;

    #[derive(Default)]
    pub struct Deck {
        data: Player,
    }

    #[state_machine(initial = "State::empty()")]
    impl Deck {
        #[state]
        fn empty(&mut self, event: &Event) -> Outcome<State> {
            match event {
                Event::OpenClose => {
                    self.data.open_drawer();
                    Transition(State::open())
                }
                Event::CdDetected(tracks) => {
                    self.data.store_cd_info(*tracks);
                    Transition(State::stopped())
                }
                _ => Super,
            }
        }

        #[state]
        fn open(&mut self, event: &Event) -> Outcome<State> {
            match event {
                Event::OpenClose => {
                    self.data.close_drawer();
                    Transition(State::empty())
                }
                _ => Super,
            }
        }

        #[state(superstate = "loaded")]
        fn stopped(&mut self, event: &Event) -> Outcome<State> {
            match event {
                Event::Play => Transition(State::playing()),
                Event::Stop => {
                    self.data.stopped_again();
                    Handled
                }
                _ => Super,
            }
        }

        #[state(superstate = "loaded", entry_action = "enter_playing", exit_action = "exit_playing")]
        fn playing(&mut self, event: &Event) -> Outcome<State> {
            match event {
                Event::Pause => {
                    self.data.pause_playback();
                    Transition(State::paused())
                }
                _ => Super,
            }
        }

        #[state(superstate = "loaded")]
        fn paused(&mut self, event: &Event) -> Outcome<State> {
            match event {
                Event::EndPause => Transition(State::playing()),
                _ => Super,
            }
        }

        #[superstate(entry_action = "spin_up", exit_action = "spin_down")]
        fn loaded(&mut self, event: &Event) -> Outcome<State> {
            match event {
                Event::Stop => Transition(State::stopped()),
                Event::OpenClose => {
                    self.data.open_drawer();
                    Transition(State::open())
                }
                _ => Super,
            }
        }

        #[action]
        fn enter_playing(&mut self) {
            self.data.start_playback();
        }

        #[action]
        fn exit_playing(&mut self) {
            self.data.stop_playback();
        }

        #[action]
        fn spin_up(&mut self) {
            self.data.spin_up();
        }

        #[action]
        fn spin_down(&mut self) {
            self.data.spin_down();
        }
    }

    pub struct Prepared {
        machine: InitializedStateMachine<Deck>,
        events: Vec<Event>,
    }

    pub fn prepare(events: &[Event]) -> Prepared {
        Prepared {
            machine: Deck::default().uninitialized_state_machine().init(),
            events: events.to_vec(),
        }
    }

    /// statig drops unhandled events silently: returns 0.
    pub fn feed(p: &mut Prepared) -> u32 {
        for event in p.events.drain(..) {
            p.machine.handle(&black_box(event));
        }
        0
    }

    pub fn run(mut p: Prepared) -> Player {
        feed(&mut p);
        p.machine.inner().data.clone()
    }
}

/// Runs the three over `events` and checks that they end with the same data.
pub fn check(events: &[Event]) {
    let expected = handwritten::run(handwritten::prepare(events));
    assert!(expected.spins > 0 && expected.plays > 0 && expected.stops > 0);
    assert_eq!(generated::run(generated::prepare(events)), expected, "generated deck");
    assert_eq!(statig_impl::run(statig_impl::prepare(events)), expected, "statig deck");
}
