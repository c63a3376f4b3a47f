//! Attributes passed through to the generated enums (`attributes:`, docs/format.md § Attributes):
//! a `repr` the states can be cast with, serde derives that replace the runtime's implementations
//! by name (fsm-runtime's `serde` feature is on in this crate: the two must not conflict), derives
//! the enums have anyway dropped, and an event enum whose `Debug` needs no `Debug` of a payload.
#![deny(warnings)]

mod support;

use fsm_runtime::Status;
use support::Ticket;
use support::machines::attributes::{Vending, VendingEnd, VendingEvent, VendingState};

#[test]
fn repr_u8_states_cast_as_u8() {
    let cast: Vec<u8> = VendingState::ALL.iter().map(|s| *s as u8).collect();
    assert_eq!(cast, [0, 1, 2]);
    assert_eq!(std::mem::size_of::<VendingState>(), 1);
}

#[test]
fn a_serde_derive_replaces_the_runtime_s_impl_by_name() {
    // Both serde traits derived, with the user's `rename_all`.
    let json = serde_json::to_string(&VendingState::ALL).unwrap();
    assert_eq!(json, r#"["IDLE","PAID","VENDED"]"#);
    let back: Vec<VendingState> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, VendingState::ALL);
    assert!(serde_json::from_str::<VendingState>(r#""idle""#).is_err());
    // The end enum derives `Serialize` only: `Deserialize` is still the runtime's, by name.
    assert_eq!(serde_json::to_string(&VendingEnd::Vended).unwrap(), r#""Vended""#);
    assert_eq!(
        serde_json::from_str::<VendingEnd>(r#""vended""#).unwrap(),
        VendingEnd::Vended
    );
}

#[test]
fn events_show_payloads_without_debug_as_dots() {
    assert_eq!(format!("{:?}", VendingEvent::Coin(50)), "Coin(50)");
    assert_eq!(format!("{:?}", VendingEvent::Vend(Ticket(7))), "Vend(..)");
    assert_eq!(format!("{:?}", VendingEvent::Refund), "Refund");
    assert_eq!(format!("{:#?}", VendingEvent::Coin(5)), "Coin(\n    5,\n)");
    // `#[derive(Clone)]` from `attributes`: the payload types are `Clone`.
    let e = VendingEvent::Vend(Ticket(1));
    assert!(matches!(e.clone(), VendingEvent::Vend(Ticket(1))));
}

#[test]
fn a_machine_with_attributes_runs() {
    let machine = Vending::new(());
    let mut run = machine.start(());
    assert_eq!(
        run.handle(VendingEvent::Coin(1)).unwrap(),
        Status::Waiting(VendingState::Paid)
    );
    let finished = run.handle(VendingEvent::Vend(Ticket(2)));
    assert_eq!(finished.unwrap(), Status::Finished(VendingEnd::Vended));
    let after = run.handle(VendingEvent::Vend(Ticket(3))).unwrap_err();
    // `HandleError`'s `Debug` needs the event's: the payload shows as `..`.
    assert!(format!("{after:?}").contains("Vend(.."), "{after:?}");
}

mod dsl {
    fsm::fsm! {
        machine Lamp {
            attributes {
                states: #[derive(serde::Serialize)] #[serde(rename_all = "lowercase")] #[repr(u8)];
                events: #[derive(PartialOrd, Ord, Hash)];
            }
            events { Toggle, Break }
            start state off;
            state on;
            end state broken;
            off -> on on Toggle;
            on -> off on Toggle;
            on -> broken on Break;
        }
    }

    #[test]
    fn the_dsl_s_attributes_reach_the_enums() {
        assert_eq!(LampState::On as u8, 1);
        assert_eq!(serde_json::to_string(&LampState::On).unwrap(), r#""on""#);
        // Deserialize is the runtime's, by the names of the definition.
        assert_eq!(
            serde_json::from_str::<LampState>(r#""broken""#).unwrap(),
            LampState::Broken
        );
        assert!(LampEvent::Toggle < LampEvent::Break);
    }
}

/// The example of docs/format.md § Attributes is this fixture (without its first comment line).
#[test]
fn the_format_reference_shows_this_fixture() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = std::fs::read_to_string(root.join("fixtures/attributes.yaml")).unwrap();
    let body: String = fixture
        .lines()
        .filter(|l| !l.starts_with("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    let docs = std::fs::read_to_string(root.join("../docs/format.md")).unwrap();
    let section = docs.split("## Attributes").nth(1).unwrap();
    let example = section.split("```yaml\n").nth(1).unwrap().split("```").next().unwrap();
    assert_eq!(example, body);
}

/// The snippet of docs/dsl.md § Attributes of the generated enums is the `fsm!` of `mod dsl`
/// above, token for token.
#[test]
fn the_dsl_reference_shows_the_machine_of_this_file() {
    let invocation = |text: &str| -> String {
        let start = text.find("fsm::fsm! {").unwrap();
        let rest = &text[start..];
        // The invocation ends at the first line that closes its brace at its own indentation.
        let indent = text[..start].rsplit('\n').next().unwrap();
        let end = rest.find(&format!("\n{indent}}}")).unwrap() + indent.len() + 2;
        rest[..end].parse::<proc_macro2::TokenStream>().unwrap().to_string()
    };
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dsl.md")).unwrap();
    let section = docs.split("## Attributes of the generated enums").nth(1).unwrap();
    assert_eq!(invocation(section), invocation(include_str!("attributes.rs")));
}
