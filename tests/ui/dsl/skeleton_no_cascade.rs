// One mistake, one error: the machine's types are still generated (without the broken arc), so
// the code that implements and drives the machine compiles and only the mistake is reported.
use fsm::runtime::{Context, FnError};

fsm::fsm! {
    machine Order {
        data: u64;
        events { Pay(u64), Ship }
        start state new;
        state paid { transform: charge; }
        end state shipped;
        new -> paid on Pay;
        paid -> shiped on Ship;
    }
}

struct Fns;

impl OrderFns for Fns {
    fn charge(&self, data: &mut u64, _ctx: &mut Context<'_>) -> Result<(), FnError> {
        *data += 1;
        Ok(())
    }
}

fn main() {
    let machine = Order::new(Fns);
    let mut run = machine.start(0);
    let _ = run.handle(OrderEvent::Pay(1));
    let _ = OrderState::Shipped;
}
