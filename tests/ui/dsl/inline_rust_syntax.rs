// Inline Rust that is not an expression.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay if rust!(*data >);
        paid -> shipped on Ship;
    }
}

fn main() {}
