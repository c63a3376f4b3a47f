//! The CD player with statig 0.4: one handler per state, the player as shared storage.

use std::hint::black_box;

use statig::prelude::*;

use super::Player;

/// statig's events are borrowed by the handlers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Play,
    OpenClose,
    Stop,
    CdDetected(u32),
    Pause,
    EndPause,
}

/// The shared storage of the machine.
#[derive(Default)]
pub struct CdPlayer {
    data: Player,
}

#[state_machine(initial = "State::empty()")]
impl CdPlayer {
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

    #[state]
    fn stopped(&mut self, event: &Event) -> Outcome<State> {
        match event {
            Event::Play => {
                self.data.start_playback();
                Transition(State::playing())
            }
            Event::OpenClose => {
                self.data.open_drawer();
                Transition(State::open())
            }
            Event::Stop => {
                self.data.stopped_again();
                Transition(State::stopped())
            }
            _ => Super,
        }
    }

    #[state]
    fn playing(&mut self, event: &Event) -> Outcome<State> {
        match event {
            Event::Stop => {
                self.data.stop_playback();
                Transition(State::stopped())
            }
            Event::Pause => {
                self.data.pause_playback();
                Transition(State::paused())
            }
            Event::OpenClose => {
                self.data.stop_and_open();
                Transition(State::open())
            }
            _ => Super,
        }
    }

    #[state]
    fn paused(&mut self, event: &Event) -> Outcome<State> {
        match event {
            Event::EndPause => {
                self.data.resume_playback();
                Transition(State::playing())
            }
            Event::Stop => {
                self.data.stop_playback();
                Transition(State::stopped())
            }
            Event::OpenClose => {
                self.data.stop_and_open();
                Transition(State::open())
            }
            _ => Super,
        }
    }
}

/// A fresh, initialised machine and the events to feed it.
pub struct Prepared {
    machine: InitializedStateMachine<CdPlayer>,
    events: Vec<Event>,
}

/// Converts the sequence (outside the measurement).
pub fn prepare(events: &[super::Event]) -> Prepared {
    let events = events
        .iter()
        .map(|e| match *e {
            super::Event::Play => Event::Play,
            super::Event::OpenClose => Event::OpenClose,
            super::Event::Stop => Event::Stop,
            super::Event::CdDetected(t) => Event::CdDetected(t),
            super::Event::Pause => Event::Pause,
            super::Event::EndPause => Event::EndPause,
        })
        .collect();
    Prepared {
        machine: CdPlayer::default().uninitialized_state_machine().init(),
        events,
    }
}

/// Feeds every event, each through `black_box`. statig does not report unhandled events (they
/// bubble up to the top state and are dropped), so this returns 0.
pub fn feed(p: &mut Prepared) -> u32 {
    for event in p.events.drain(..) {
        p.machine.handle(&black_box(event));
    }
    0
}

/// Feeds the events and returns the data.
pub fn run(mut p: Prepared) -> Player {
    feed(&mut p);
    p.machine.inner().data.clone()
}
