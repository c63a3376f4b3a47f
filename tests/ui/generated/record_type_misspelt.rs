// A misspelt record type is one error, at the `data:` value (the generated items name it through
// one alias, `OrderData`), not one per function signature and table.
fsm::fsm! {
    machine Order {
        data: crate::Purchse;
        start state new;
        state paid { transform: charge; }
        state shipped { transform: ship; }
        end state done;
        new -> paid;
        paid -> shipped if is_paid;
        shipped -> done;
    }
}

pub struct Purchase {
    pub total: u64,
}

fn main() {}
