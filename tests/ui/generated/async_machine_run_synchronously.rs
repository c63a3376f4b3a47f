// A machine with an async function has no synchronous run: `finish` (and `step`, `handle`)
// refuse to compile for it, with the message of `MachineDef::ASYNC` at the call.
fsm::fsm! {
    machine Fetcher {
        data: u32;
        functions { fetch: async }
        start state input;
        state fetching { transform: fetch; }
        end state output;
        input -> fetching;
        fetching -> output;
    }
}

struct Fns;

impl FetcherFns for Fns {
    async fn fetch(&self, data: &mut u32, _: &mut fsm::runtime::Context<'_>) -> Result<(), fsm::runtime::FnError> {
        *data += 1;
        Ok(())
    }
}

fn main() {
    let machine = Fetcher::new(Fns);
    let _ = machine.start(1).finish();
}
