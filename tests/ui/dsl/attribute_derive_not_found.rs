// A derive that is not in scope: rustc's error, at the derive's token in the macro.
fsm::fsm! {
    machine Light {
        attributes { states: #[derive(Hash, Sparkle)]; }
        start state off;
        end state on;
        off -> on;
    }
}

fn main() {}
