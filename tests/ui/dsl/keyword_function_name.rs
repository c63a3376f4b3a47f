// A function named with a Rust keyword: it cannot become a method.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid { transform: match; }
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
