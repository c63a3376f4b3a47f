// The same machine inline and from its YAML file (the machine of tests/dsl_equivalence.rs), in
// one crate: both compile, and their types are used the same way.
mod inline {
    fsm::fsm! {
        /// An order, from payment to shipping.
        machine Order {
            version: "2";
            data: u64;
            data_mode: direct;
            main_network: main;
            max_transitions: 50;
            events {
                /// The customer paid.
                Pay(u64),
                Ship,
                Cancel,
            }
            resources { db: sqlite { path: "orders.db", timeout_seconds: 2.5, retry_attempts: 2 } }
            functions {
                /// Notes the cancellation.
                log_cancel: infallible,
                charge,
            }
            /// The order's life.
            network main {
                /// Just received.
                start state new;
                state paid {
                    validate: check_amount;
                    transform: [charge, rust!(*data += 1)];
                    on_error: failed;
                    data_mode: copy;
                    resources: [db];
                }
                end state shipped;
                end state failed;
                /// Pay it.
                new -> paid on Pay if is_valid priority 2;
                new -> failed on Pay priority 1;
                new -> failed on Cancel do log_cancel;
                paid -> shipped on Ship if rust!(*data > 0) priority 1;
                paid -> push audit return shipped on Ship;
                paid -> failed on Cancel;
            }
            network audit {
                start state check;
                end state done;
                check -> done do audit;
            }
        }
    }
}

mod file {
    fsm::fsm_file!("machines/equivalence.yaml");
}

fn main() {
    let _ = inline::OrderState::New;
    let _ = file::OrderState::New;
    let _ = inline::OrderEvent::Pay(3);
    let _ = file::OrderEvent::Pay(3);
}
