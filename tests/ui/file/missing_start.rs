// A network without a start state. The report points into the YAML file.
fsm::fsm_file!("machines/missing_start.yaml");

fn main() {}
