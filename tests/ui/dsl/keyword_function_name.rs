// A state named with a Rust keyword: it cannot become an identifier.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state type;
        end state shipped;
        new -> type on Pay;
        type -> shipped on Ship;
    }
}

fn main() {}
