// A YAML syntax error: a mapping value where none is allowed. The report points into the YAML file.
fsm::fsm_file!("machines/yaml_syntax.yaml");

fn main() {}
