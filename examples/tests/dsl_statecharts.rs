//! The `fsm!` snippets of docs/dsl.md § Statecharts, as written there: each one compiles, and the
//! last one runs (rejections with their reason, the hooks, `start_in`).

#![deny(deprecated)] // fsm!'s warnings are deprecation warnings: none is expected but the shadowed arc's

mod superstates {
    fsm::fsm! {
        machine Player {
            events { power, play, pause, stop }
            /// The deck has power.
            superstate powered { on_entry: power_on; on_exit: power_off; }
            superstate spinning { parent: powered; on_entry: spin_up; on_exit: spin_down; }
            start state off;
            state idle { superstate: powered; }
            state playing { superstate: spinning; on_entry: show_playing; on_exit: hide_playing; }
            state paused { superstate: spinning; }
            off -> idle on power;
            idle -> playing on play;
            playing -> paused on pause;
            paused -> playing on play;
            paused -> idle on stop do rewind;
            spinning -> idle on stop;       // playing has it; paused has its own
            powered -> off on power;        // idle, playing and paused have it
        }
    }
}

mod history {
    fsm::fsm! {
        machine Washer {
            events { Next, Open, Close }
            superstate cycle { initial: washing; history: true; }
            start state idle;
            state washing { superstate: cycle; }
            state rinsing { superstate: cycle; }
            state door_open;
            end state done;
            idle -> cycle on Next;          // washing, the first time
            washing -> rinsing on Next;
            rinsing -> done on Next;
            cycle -> door_open on Open;
            door_open -> cycle on Close;    // back to whichever it was
        }
    }

    #[test]
    fn closing_the_door_resumes_where_the_cycle_was() {
        use fsm::runtime::Status;
        let machine = Washer::new(());
        let mut w = machine.start(());
        for (event, state) in [
            (WasherEvent::Next, WasherState::Washing),
            (WasherEvent::Next, WasherState::Rinsing),
            (WasherEvent::Open, WasherState::DoorOpen),
            (WasherEvent::Close, WasherState::Rinsing),
        ] {
            assert_eq!(w.handle(event).unwrap(), Status::Waiting(state));
        }
    }
}

mod internal {
    fsm::fsm! {
        machine Radio {
            data: u32;
            events { louder, retune }
            start state playing { on_entry: show_station; on_exit: hide_station; }
            playing -> playing on louder internal do turn_up;   // turn_up
            playing -> playing on retune do next_station;       // hide_station, next_station, show_station
        }
    }
}

mod wildcard {
    fsm::fsm! {
        machine Deck {
            events { power, fault, repair, scrap }
            start state off;
            state working;
            state broken { on_entry: show_broken; }
            end state scrapped;
            off -> working on power;
            working -> off on power;
            _ -> broken on fault;                   // from off, working and broken
            broken -> off on repair;
            [off, broken] -> scrapped on scrap;
        }
    }
}

#[allow(deprecated)] // the warning the snippet shows
mod shadowed {
    fsm::fsm! {
        machine Alarm {
            events { arm, reset }
            start state idle;
            state armed;
            end state off;
            idle -> armed on arm;
            _ -> off on reset;
            armed -> idle on reset;     // never taken: a warning
        }
    }
}

mod conditions {
    fsm::fsm! {
        machine Volume {
            data: u32;
            events { louder }
            start state playing;
            playing -> playing on louder internal if [below_max, rust!(*data % 2 == 0)] do turn_up;
        }
    }
}

/// The last snippet: its items, then its statements as a test.
mod lamp {
    use std::cell::RefCell;

    use fsm::runtime::{Context, FnError, HandleError, Reject};

    fsm::fsm! {
        machine Lamp {
            data: u32;
            events { toggle, smash }
            start state dark;
            state lit { on_entry: count; }
            end state broken;
            dark -> lit on toggle if has_power;
            lit -> dark on toggle;
            _ -> broken on smash;
        }
    }

    #[derive(Default)]
    struct Fns {
        power: bool,
        seen: RefCell<Vec<String>>,
    }

    impl LampFns for Fns {
        fn count(&self, data: &mut u32, _: &mut Context<'_>) -> Result<(), FnError> {
            *data += 1;
            Ok(())
        }
        fn has_power(&self, _: &u32) -> bool {
            self.power
        }
        fn on_transition(&self, from: LampState, to: LampState) {
            self.seen.borrow_mut().push(format!("{from} -> {to}"));
        }
        fn on_reject(&self, state: LampState, event: &LampEvent, reason: Reject) {
            self.seen
                .borrow_mut()
                .push(format!("{} in {state}: {reason:?}", event.name()));
        }
    }

    #[test]
    fn rejections_hooks_and_start_in() {
        let machine = Lamp::new(Fns::default());
        let mut lamp = machine.start(0);
        match lamp.handle(LampEvent::Toggle) {
            // no power: the condition says no
            Err(HandleError::Rejected { reason, .. }) => assert_eq!(reason, Reject::Guard),
            other => panic!("{other:?}"),
        }
        lamp.handle(LampEvent::Smash).unwrap(); // dark -> broken, an end state
        assert!(matches!(
            lamp.handle(LampEvent::Toggle),
            Err(HandleError::Rejected {
                reason: Reject::Finished,
                ..
            })
        ));
        let powered = Lamp::new(Fns {
            power: true,
            ..Fns::default()
        });
        let mut lamp = powered.start_in(0, LampState::Lit); // in `lit`; `count` has not run
        lamp.handle(LampEvent::Toggle).unwrap();
        lamp.handle(LampEvent::Toggle).unwrap(); // dark -> lit: `count` runs
        assert_eq!(*lamp.data(), 1);
        assert_eq!(
            machine.fns().seen.take(),
            ["toggle in dark: Guard", "dark -> broken", "toggle in broken: Finished"]
        );
        assert_eq!(powered.fns().seen.take(), ["lit -> dark", "dark -> lit"]);
    }
}

#[test]
fn the_other_snippets_generate_their_machines() {
    assert_eq!(superstates::PlayerState::ALL.len(), 4);
    assert_eq!(internal::RadioState::ALL.len(), 1);
    assert_eq!(wildcard::DeckState::ALL.len(), 4);
    assert_eq!(shadowed::AlarmState::ALL.len(), 3);
    assert_eq!(conditions::VolumeState::ALL.len(), 1);
}
