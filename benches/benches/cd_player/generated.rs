//! The CD player generated from `machines/cd_player.yaml`: the actions are the methods of
//! `CdPlayerFns`, implemented on [`Actions`] by calling the same [`Player`] methods as the others.

use std::hint::black_box;

use fsm_runtime::{Context, FnError};

use super::Player;

fsm::include_machine!("cd_player");

/// The implementation of the machine's functions.
pub struct Actions;

impl CdPlayerFns for Actions {
    fn start_playback(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
        data.start_playback();
        Ok(())
    }

    fn open_drawer(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
        data.open_drawer();
        Ok(())
    }

    fn stopped_again(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
        data.stopped_again();
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

    fn stop_playback(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
        data.stop_playback();
        Ok(())
    }

    fn pause_playback(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
        data.pause_playback();
        Ok(())
    }

    fn stop_and_open(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
        data.stop_and_open();
        Ok(())
    }

    fn resume_playback(&self, data: &mut Player, _: &mut Context<'_>) -> Result<(), FnError> {
        data.resume_playback();
        Ok(())
    }
}

/// A fresh run and the events to feed it.
pub struct Prepared {
    run: CdPlayerRun<Actions>,
    events: Vec<CdPlayerEvent>,
}

/// Converts the sequence (outside the measurement), and starts the run: the start state is
/// entered before the first event, as the other implementations are already in it.
pub fn prepare(events: &[super::Event]) -> Prepared {
    let events = events
        .iter()
        .map(|e| match *e {
            super::Event::Play => CdPlayerEvent::Play,
            super::Event::OpenClose => CdPlayerEvent::OpenClose,
            super::Event::Stop => CdPlayerEvent::Stop,
            super::Event::CdDetected(t) => CdPlayerEvent::CdDetected(t),
            super::Event::Pause => CdPlayerEvent::Pause,
            super::Event::EndPause => CdPlayerEvent::EndPause,
        })
        .collect();
    let mut run = CdPlayer::new(Actions).into_run(Player::default());
    assert!(run.step().is_ok(), "generated: the start state failed");
    Prepared { run, events }
}

/// Feeds every event, each through `black_box`; returns how many were rejected.
pub fn feed(p: &mut Prepared) -> u32 {
    let mut rejected = 0;
    for event in p.events.drain(..) {
        if p.run.handle(black_box(event)).is_err() {
            rejected += 1;
        }
    }
    rejected
}

/// Feeds the events and returns the data.
pub fn run(mut p: Prepared) -> Player {
    assert_eq!(feed(&mut p), 0, "generated: rejected events");
    p.run.into_data()
}
