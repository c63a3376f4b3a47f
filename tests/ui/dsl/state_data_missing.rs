// An arc into a state with data that does not make it: reported at the arc's target.
fsm::fsm! {
    machine Light {
        events { tick }
        start state green;
        state red(u32);
        end state off;
        green -> red on tick;
        red -> off on tick;
    }
}

fn main() {}
