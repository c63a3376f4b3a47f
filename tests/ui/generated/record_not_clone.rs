// A record type without `Clone` in `copy` mode (the default): the first error names the machine,
// `data_mode: copy` and the fixes, at the `data:` value, not `Clone::clone` in generated code.
fsm::fsm! {
    machine Order {
        data: crate::Purchase;
        start state new;
        state paid { transform: charge; }
        end state done;
        new -> paid;
        paid -> done;
    }
}

pub struct Purchase {
    pub total: u64,
}

struct Fns;

impl OrderFns for Fns {
    fn charge(&self, data: &mut Purchase, _: &mut fsm::runtime::Context<'_>) -> Result<(), fsm::runtime::FnError> {
        data.total += 1;
        Ok(())
    }
}

fn main() {
    let _ = Order::new(Fns).run(Purchase { total: 1 });
}
