// An arc to a state that does not exist. The report points into the YAML file.
fsm::fsm_file!("machines/unknown_state.yaml");

fn main() {}
