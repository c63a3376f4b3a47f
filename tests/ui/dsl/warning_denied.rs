// A warning (an unreachable state) reaches the user on stable Rust, as a deprecation warning
// at the state's name; `#![deny(warnings)]` makes it an error, as for any warning.
#![deny(warnings)]

fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid;
        state lost;
        end state shipped;
        new -> paid on Pay;
        paid -> shipped on Ship;
        lost -> shipped;
    }
}

fn main() {}
