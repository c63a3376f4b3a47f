// A file that does not exist.
fsm::fsm_file!("machines/ordr.yaml");

fn main() {}
