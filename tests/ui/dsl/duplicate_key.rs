// The same setting twice in one state.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid { transform: charge; transform: notify; }
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
