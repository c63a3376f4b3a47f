// An absolute path: refused, it only works on one machine.
fsm::fsm_file!("/etc/machines/order.yaml");

fn main() {}
