// Two independent mistakes: both are reported, each at its token.
fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid { on_eror: new; }
        end state shipped;
        new -> paid on Pay priority "2";
        paid -> shipped on Ship;
    }
}

fn main() {}
