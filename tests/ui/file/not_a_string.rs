// A path that is not a string literal.
fsm::fsm_file!(machines/order.yaml);

fn main() {}
