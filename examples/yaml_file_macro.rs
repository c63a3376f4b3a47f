//! `fsm_file!`: a YAML machine (`machines/ticket.yaml`) compiled when this example compiles,
//! with no build script. The path is relative to the crate root; editing the YAML rebuilds the
//! example on the next `cargo build` (the expansion includes the file's bytes, so cargo tracks
//! it). A mistake in the YAML is a compile error showing the file, line, column and snippet.
//!
//! Run: `cargo run -p fsm-examples --example yaml_file_macro`

use fsm::runtime::{Context, FnError};

/// The record the machine carries (the default data mode, `copy`, needs `Clone`: a state's
/// functions work on a copy, committed only when they all succeed).
#[derive(Clone, Debug, Default)]
pub struct Ticket {
    /// What the customer wrote.
    pub subject: String,
    /// Set by `classify`.
    pub urgent: bool,
    /// Who handles it.
    pub assignee: Option<&'static str>,
}

mod machine {
    fsm::fsm_file!("machines/ticket.yaml");
}

use machine::{Ticket as TicketMachine, TicketEnd, TicketFns};

struct Desk;

impl TicketFns for Desk {
    fn classify(&self, data: &mut Ticket, _ctx: &mut Context<'_>) -> Result<(), FnError> {
        data.urgent = data.subject.to_lowercase().contains("down");
        Ok(())
    }

    fn is_urgent(&self, data: &Ticket) -> bool {
        data.urgent
    }

    fn assign(&self, data: &mut Ticket, _ctx: &mut Context<'_>) -> Result<(), FnError> {
        data.assignee = Some("first-line support");
        Ok(())
    }

    fn page_on_call(&self, data: &mut Ticket, _ctx: &mut Context<'_>) -> Result<(), FnError> {
        data.assignee = Some("on-call engineer");
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let desk = TicketMachine::new(Desk);
    for subject in ["Typo on the pricing page", "Checkout is down"] {
        let ticket = Ticket {
            subject: subject.to_owned(),
            ..Ticket::default()
        };
        let outcome = desk.run(ticket).map_err(|f| f.error)?;
        assert_eq!(outcome.end, TicketEnd::Closed);
        println!(
            "{:<26} -> {:<20} ({} transitions)",
            outcome.data.subject,
            outcome.data.assignee.unwrap_or("nobody"),
            outcome.transitions
        );
    }
    Ok(())
}
