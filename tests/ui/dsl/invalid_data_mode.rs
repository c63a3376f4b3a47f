// A data mode that does not exist.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        data_mode: fast;
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
