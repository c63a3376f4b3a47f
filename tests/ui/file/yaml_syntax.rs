// A YAML syntax error: an unclosed flow mapping. The report points into the YAML file.
fsm::fsm_file!("machines/yaml_syntax.yaml");

fn main() {}
