//! The baseline: the CD player as a hand-written `match` on (state, event).

use std::hint::black_box;

use super::{Event, Player};

/// The player's states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Empty,
    Open,
    Stopped,
    Playing,
    Paused,
}

/// The machine: its state and its data.
pub struct CdPlayer {
    state: State,
    data: Player,
}

impl CdPlayer {
    /// A player with an empty drawer.
    pub fn new(data: Player) -> Self {
        CdPlayer {
            state: State::Empty,
            data,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The data.
    pub fn data(&self) -> &Player {
        &self.data
    }

    /// Takes the transition `event` triggers, running its action; hands the event back if the
    /// current state does not accept it.
    #[inline]
    pub fn handle(&mut self, event: Event) -> Result<State, Event> {
        let d = &mut self.data;
        self.state = match (self.state, event) {
            (State::Stopped, Event::Play) => {
                d.start_playback();
                State::Playing
            }
            (State::Stopped, Event::OpenClose) | (State::Empty, Event::OpenClose) => {
                d.open_drawer();
                State::Open
            }
            (State::Stopped, Event::Stop) => {
                d.stopped_again();
                State::Stopped
            }
            (State::Open, Event::OpenClose) => {
                d.close_drawer();
                State::Empty
            }
            (State::Empty, Event::CdDetected(tracks)) => {
                d.store_cd_info(tracks);
                State::Stopped
            }
            (State::Playing, Event::Stop) | (State::Paused, Event::Stop) => {
                d.stop_playback();
                State::Stopped
            }
            (State::Playing, Event::Pause) => {
                d.pause_playback();
                State::Paused
            }
            (State::Playing, Event::OpenClose) | (State::Paused, Event::OpenClose) => {
                d.stop_and_open();
                State::Open
            }
            (State::Paused, Event::EndPause) => {
                d.resume_playback();
                State::Playing
            }
            (_, event) => return Err(event),
        };
        Ok(self.state)
    }
}

/// A fresh machine and the events to feed it.
pub struct Prepared {
    machine: CdPlayer,
    events: Vec<Event>,
}

/// Converts the sequence (outside the measurement).
pub fn prepare(events: &[Event]) -> Prepared {
    Prepared {
        machine: CdPlayer::new(Player::default()),
        events: events.to_vec(),
    }
}

/// Feeds every event, each through `black_box`; returns how many were rejected.
pub fn feed(p: &mut Prepared) -> u32 {
    let mut rejected = 0;
    for event in p.events.drain(..) {
        if p.machine.handle(black_box(event)).is_err() {
            rejected += 1;
        }
    }
    rejected
}

/// Feeds the events and returns the data.
pub fn run(mut p: Prepared) -> Player {
    assert_eq!(feed(&mut p), 0, "hand-written: rejected events");
    p.machine.data().clone()
}
