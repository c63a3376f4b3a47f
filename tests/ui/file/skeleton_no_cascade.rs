// One mistake in the YAML, one error: the types are still generated (without the broken arc),
// so the code using them compiles and only the report of the mistake is shown.
mod order {
    fsm::fsm_file!("machines/unknown_state.yaml");
}

fn main() {
    let _ = order::OrderState::Shipped;
    let _ = order::OrderEvent::Pay(3);
}
