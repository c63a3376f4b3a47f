// A type handed to the machine that does not implement its functions trait: the error names the
// machine and the trait, and says what to write.
fsm::fsm! {
    machine Pipeline {
        data: u32;
        start state input;
        state enrich { transform: enrich; }
        end state output;
        input -> enrich;
        enrich -> output;
    }
}

struct Fns;

fn main() {
    let _ = Pipeline::new(Fns).run(1);
}
