// The invocation does not start with `machine Name { .. }`.
fsm::fsm! {
    machin Order {
        start state new;
        end state done;
        new -> done;
    }
}

fn main() {}
