// `repr(u8)` on an event enum whose events carry payloads: reported at the `repr`'s argument.
fsm::fsm! {
    machine Dimmer {
        attributes {
            states: #[repr(u8)];
            events: #[derive(PartialEq)] #[repr(u8)];
        }
        events { Set(u8), Off }
        start state dark;
        state lit;
        end state gone;
        dark -> lit on Set;
        lit -> dark on Off;
        lit -> gone;
    }
}

fn main() {}
