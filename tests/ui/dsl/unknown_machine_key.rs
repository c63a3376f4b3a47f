// A machine setting the format does not know.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        data_mod: copy;
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
