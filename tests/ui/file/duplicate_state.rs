// Two states with the same name. The report points into the YAML file.
fsm::fsm_file!("machines/duplicate_state.yaml");

fn main() {}
