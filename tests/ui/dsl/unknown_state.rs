// An arc to a state that does not exist: did-you-mean.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay;
        paid -> shiped on Ship;
    }
}

fn main() {}
