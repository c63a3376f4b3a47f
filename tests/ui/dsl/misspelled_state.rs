// `stat` instead of `state`.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        end stat shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
