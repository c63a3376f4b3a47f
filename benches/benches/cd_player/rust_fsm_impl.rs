//! The CD player with rust-fsm 0.8: a Mealy machine whose outputs name the actions; the driver
//! runs the action an output names. rust-fsm inputs carry no data, so the track count of
//! `CdDetected` travels next to the input.

use std::hint::black_box;

use rust_fsm::state_machine;

use super::Player;

state_machine! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub cd_player(Empty)

    Empty => {
        OpenClose => Open [OpenDrawer],
        CdDetected => Stopped [StoreCdInfo]
    },
    Open(OpenClose) => Empty [CloseDrawer],
    Stopped => {
        Play => Playing [StartPlayback],
        OpenClose => Open [OpenDrawer],
        Stop => Stopped [StoppedAgain]
    },
    Playing => {
        Stop => Stopped [StopPlayback],
        Pause => Paused [PausePlayback],
        OpenClose => Open [StopAndOpen]
    },
    Paused => {
        EndPause => Playing [ResumePlayback],
        Stop => Stopped [StopPlayback],
        OpenClose => Open [StopAndOpen]
    }
}

use cd_player::{Input, Output};

/// A fresh machine, its data, and the events to feed it (input, track count).
pub struct Prepared {
    machine: cd_player::StateMachine,
    data: Player,
    events: Vec<(Input, u32)>,
}

/// Converts the sequence (outside the measurement).
pub fn prepare(events: &[super::Event]) -> Prepared {
    let events = events
        .iter()
        .map(|e| match *e {
            super::Event::Play => (Input::Play, 0),
            super::Event::OpenClose => (Input::OpenClose, 0),
            super::Event::Stop => (Input::Stop, 0),
            super::Event::CdDetected(t) => (Input::CdDetected, t),
            super::Event::Pause => (Input::Pause, 0),
            super::Event::EndPause => (Input::EndPause, 0),
        })
        .collect();
    Prepared {
        machine: cd_player::StateMachine::new(),
        data: Player::default(),
        events,
    }
}

/// Feeds every event, each through `black_box`, and runs the action of each output; returns how
/// many were rejected.
pub fn feed(p: &mut Prepared) -> u32 {
    let mut rejected = 0;
    let d = &mut p.data;
    for (input, tracks) in p.events.drain(..) {
        let (input, tracks) = black_box((input, tracks));
        match p.machine.consume(&input) {
            Ok(Some(output)) => match output {
                Output::OpenDrawer => d.open_drawer(),
                Output::StoreCdInfo => d.store_cd_info(tracks),
                Output::CloseDrawer => d.close_drawer(),
                Output::StartPlayback => d.start_playback(),
                Output::StoppedAgain => d.stopped_again(),
                Output::StopPlayback => d.stop_playback(),
                Output::PausePlayback => d.pause_playback(),
                Output::StopAndOpen => d.stop_and_open(),
                Output::ResumePlayback => d.resume_playback(),
            },
            Ok(None) => {}
            Err(_) => rejected += 1,
        }
    }
    rejected
}

/// Feeds the events and returns the data.
pub fn run(mut p: Prepared) -> Player {
    assert_eq!(feed(&mut p), 0, "rust-fsm: rejected events");
    p.data
}
