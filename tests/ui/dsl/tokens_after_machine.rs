// Two machines in one invocation.
fsm::fsm! {
    machine A {
        start state new;
        end state done;
        new -> done;
    }
    machine B {
        start state new;
        end state done;
        new -> done;
    }
}

fn main() {}
