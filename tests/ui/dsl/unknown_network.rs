// A push arc into a network that does not exist.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay;
        new -> push billing return paid;
        paid -> shipped on Ship;
    }
}

fn main() {}
