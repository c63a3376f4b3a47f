// An attribute other than a doc comment.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        #[derive(Debug)]
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
    }
}

fn main() {}
