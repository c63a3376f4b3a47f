// A record type without `Clone` in `copy` mode, from a YAML file: the first error is at the path
// literal and names the machine, `data_mode: copy` and the fixes.
fsm::fsm_file!("machines/record_not_clone.yaml");

pub struct Purchase {
    pub total: u64,
}

fn main() {}
