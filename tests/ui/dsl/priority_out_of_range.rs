// A priority that does not fit in an i64.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay priority 99999999999999999999;
        paid -> shipped on Ship;
    }
}

fn main() {}
