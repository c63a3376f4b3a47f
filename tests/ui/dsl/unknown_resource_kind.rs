// A resource kind that does not exist.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        resources { db: sqlit { path: "orders.db" } }
        start state new;
        state paid;
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
