// An event payload that is not a Rust type.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64 u32), Ship }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
