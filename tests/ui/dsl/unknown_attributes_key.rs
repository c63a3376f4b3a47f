// A key of `attributes` that does not exist: did-you-mean among `states`, `events`, `ends`.
fsm::fsm! {
    machine Light {
        attributes { state: #[derive(Hash)]; }
        start state off;
        end state on;
        off -> on;
    }
}

fn main() {}
