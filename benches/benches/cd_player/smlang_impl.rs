//! The CD player with smlang 0.8: the transition table in its Boost.SML-like DSL, the actions on
//! the context.

use std::hint::black_box;

use smlang::statemachine;

use super::Player;

statemachine! {
    transitions: {
        *Empty + OpenClose / open_drawer = Open,
        Empty + CdDetected(u32) / store_cd_info = Stopped,
        Open + OpenClose / close_drawer = Empty,
        Stopped + Play / start_playback = Playing,
        Stopped + OpenClose / open_drawer = Open,
        Stopped + Stop / stopped_again = Stopped,
        Playing + Stop / stop_playback = Stopped,
        Playing + Pause / pause_playback = Paused,
        Playing + OpenClose / stop_and_open = Open,
        Paused + EndPause / resume_playback = Playing,
        Paused + Stop / stop_playback = Stopped,
        Paused + OpenClose / stop_and_open = Open,
    }
}

/// The context: the player's data.
#[derive(Default)]
pub struct Context {
    data: Player,
}

impl StateMachineContext for Context {
    fn open_drawer(&mut self) -> Result<(), ()> {
        self.data.open_drawer();
        Ok(())
    }

    fn store_cd_info(&mut self, tracks: u32) -> Result<(), ()> {
        self.data.store_cd_info(tracks);
        Ok(())
    }

    fn close_drawer(&mut self) -> Result<(), ()> {
        self.data.close_drawer();
        Ok(())
    }

    fn start_playback(&mut self) -> Result<(), ()> {
        self.data.start_playback();
        Ok(())
    }

    fn stopped_again(&mut self) -> Result<(), ()> {
        self.data.stopped_again();
        Ok(())
    }

    fn stop_playback(&mut self) -> Result<(), ()> {
        self.data.stop_playback();
        Ok(())
    }

    fn pause_playback(&mut self) -> Result<(), ()> {
        self.data.pause_playback();
        Ok(())
    }

    fn stop_and_open(&mut self) -> Result<(), ()> {
        self.data.stop_and_open();
        Ok(())
    }

    fn resume_playback(&mut self) -> Result<(), ()> {
        self.data.resume_playback();
        Ok(())
    }
}

/// A fresh machine and the events to feed it.
pub struct Prepared {
    machine: StateMachine<Context>,
    events: Vec<Events>,
}

/// Converts the sequence (outside the measurement).
pub fn prepare(events: &[super::Event]) -> Prepared {
    let events = events
        .iter()
        .map(|e| match *e {
            super::Event::Play => Events::Play,
            super::Event::OpenClose => Events::OpenClose,
            super::Event::Stop => Events::Stop,
            super::Event::CdDetected(t) => Events::CdDetected(t),
            super::Event::Pause => Events::Pause,
            super::Event::EndPause => Events::EndPause,
        })
        .collect();
    Prepared {
        machine: StateMachine::new(Context::default()),
        events,
    }
}

/// Feeds every event, each through `black_box`; returns how many were rejected.
pub fn feed(p: &mut Prepared) -> u32 {
    let mut rejected = 0;
    for event in p.events.drain(..) {
        if p.machine.process_event(black_box(event)).is_err() {
            rejected += 1;
        }
    }
    rejected
}

/// Feeds the events and returns the data.
pub fn run(mut p: Prepared) -> Player {
    assert_eq!(feed(&mut p), 0, "smlang: rejected events");
    p.machine.context().data.clone()
}
