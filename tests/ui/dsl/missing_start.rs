// A network without a start state.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        state new;
        state paid;
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
