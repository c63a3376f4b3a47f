// A key the format does not know. The report points into the YAML file.
fsm::fsm_file!("machines/unknown_key.yaml");

fn main() {}
