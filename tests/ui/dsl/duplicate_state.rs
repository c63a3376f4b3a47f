// Two states with the same name: the second is labelled, the first noted.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end state shipped;
        state paid;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
