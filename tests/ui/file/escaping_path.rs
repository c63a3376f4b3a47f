// A path that leaves the crate: refused.
fsm::fsm_file!("machines/../../order.yaml");

fn main() {}
