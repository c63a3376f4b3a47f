// An arc triggered by an event that is not declared.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pai;
        paid -> shipped on Ship;
    }
}

fn main() {}
