// A warning of the YAML file (an unreachable state) reaches the user on stable Rust as a
// deprecation warning on the path, with the rendered report; `#![deny(warnings)]` makes it an
// error, as for any warning.
#![deny(warnings)]

fsm::fsm_file!("machines/unreachable.yaml");

fn main() {}
