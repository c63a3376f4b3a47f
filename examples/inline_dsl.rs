//! `fsm!`: a machine declared inline, in the Rust-flavoured DSL of `docs/dsl.md`. A door with a
//! keypad: events drive it, a condition checks the code the event carries, inline Rust counts
//! the openings, and a named function (a method of the generated `DoorFns` trait) logs.
//!
//! Run: `cargo run -p fsm-examples --example inline_dsl`

use fsm::runtime::{Context, FnError, Status};

/// The record the machine carries.
#[derive(Debug, Default)]
pub struct DoorLog {
    /// The code that unlocks the door.
    pub code: u32,
    /// How many times the door was opened.
    pub openings: u32,
    /// What happened, in order.
    pub events: Vec<String>,
}

fsm::fsm! {
    /// A door with a keypad lock.
    machine Door {
        data: crate::DoorLog;
        data_mode: direct;          // functions change the record in place (no copy, no Clone)
        events {
            Open,
            Close,
            /// Lock with the code typed on the keypad.
            Lock(u32),
            /// Unlock with the code typed on the keypad.
            Unlock(u32),
        }
        /// Closed, not locked.
        start state closed;
        state opened { transform: rust!(data.openings += 1); }
        state locked;

        closed -> opened on Open;
        opened -> closed on Close;
        closed -> locked on Lock do remember_code;
        /// The right code unlocks; any other is refused (the event is handed back).
        locked -> closed on Unlock if code_matches;
    }
}

/// The functions the machine names.
struct Keypad;

impl DoorFns for Keypad {
    fn remember_code(&self, data: &mut DoorLog, payload: &u32, _ctx: &mut Context<'_>) -> Result<(), FnError> {
        data.code = *payload;
        data.events.push(format!("locked with {payload}"));
        Ok(())
    }

    fn code_matches(&self, data: &DoorLog, payload: &u32) -> bool {
        data.code == *payload
    }
}

fn main() {
    let door = Door::new(Keypad);
    let mut run = door.start(DoorLog::default());
    for event in [
        DoorEvent::Open,
        DoorEvent::Close,
        DoorEvent::Lock(1234),
        DoorEvent::Open,
        DoorEvent::Unlock(1111),
        DoorEvent::Unlock(1234),
        DoorEvent::Open,
    ] {
        let shown = format!("{event:?}");
        match run.handle(event) {
            Ok(Status::Waiting(state)) => println!("{shown:<14} -> {state}"),
            Ok(status) => println!("{shown:<14} -> {status:?}"),
            Err(refused) => println!("{shown:<14} refused: {refused}"),
        }
    }
    println!("opened {} times; log: {:?}", run.data().openings, run.data().events);
}
