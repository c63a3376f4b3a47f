// Inline Rust with statements where a condition (an expression) is expected.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay if rust!(let ok = *data > 0; ok);
        paid -> shipped on Ship;
    }
}

fn main() {}
