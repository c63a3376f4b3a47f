//! Compensation: a state that is not an end state names the function that undoes it
//! (`compensate: undo_fn`); an end state says whether a run finishing there compensates
//! (`compensate: true`). An end state completes nothing to undo, and `true` means nothing on
//! another state.

use super::Context;
use crate::ast::Compensate;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    for (_, network) in cx.networks() {
        for state in &network.states {
            let is_end = state.is_end.as_ref().is_some_and(|e| e.value);
            match (&state.compensate, is_end) {
                (Some(Compensate::End(flag)), false) => diags.push(
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!(
                            "`compensate: {}` on state `{}`, which is not an end state",
                            flag.value, state.name.value
                        ),
                        flag.span,
                        "not an end state",
                    )
                    .with_help(
                        "name the function that undoes the state (`compensate: release_seat`); `compensate: true` goes on an end state where runs compensate",
                    ),
                ),
                (Some(Compensate::Function(f)), true) => diags.push(
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!(
                            "end state `{}` has a compensation function",
                            state.name.value
                        ),
                        f.span(),
                        "an end state completes nothing to undo",
                    )
                    .with_help(
                        "write `compensate: true` for runs that finish here to compensate, or move the function to the state it undoes",
                    ),
                ),
                _ => {}
            }
        }
    }
}
