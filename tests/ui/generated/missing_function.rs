// A function the machine names but the implementation lacks: rustc names the trait method.
fsm::fsm! {
    machine Pipeline {
        data: u32;
        start state input;
        state enrich { transform: enrich; }
        end state output;
        input -> enrich;
        enrich -> output if is_ready;
    }
}

struct Fns;

impl PipelineFns for Fns {
    fn is_ready(&self, data: &u32) -> bool {
        *data > 0
    }
}

fn main() {
    let _ = Pipeline::new(Fns).run(1);
}
