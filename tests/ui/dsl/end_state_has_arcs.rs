// An end state with an outgoing arc.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
        shipped -> new;
    }
}

fn main() {}
