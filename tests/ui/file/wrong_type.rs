// A priority that is not an integer. The report points into the YAML file.
fsm::fsm_file!("machines/wrong_type.yaml");

fn main() {}
