//! The record store of a `reference` machine (`store: { resource, table }`): a declared `sqlite` or
//! `postgres` resource, a table name the generated SQL can use, and some state that uses it.

use super::Context;
use crate::ast::{DataMode, ResourceKind};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};

pub(super) fn check(cx: &Context<'_>, diags: &mut Diagnostics) {
    let machine = cx.machine;
    let Some(store) = &machine.store else { return };
    let resource = &store.resource;
    match cx.resources.get(resource.value.as_str()) {
        None => diags.push(super::refs::unknown_resource(cx, resource)),
        Some(&i) => {
            let declared = &machine.resources[i];
            if !matches!(declared.kind.value, ResourceKind::Sqlite | ResourceKind::Postgres) {
                diags.push(
                    Diagnostic::error(
                        codes::STORE,
                        format!(
                            "records cannot be stored in `{}`, a `{}` resource",
                            resource.value,
                            declared.kind.value.as_str()
                        ),
                        resource.span,
                        "not a database",
                    )
                    .with_label(declared.kind.span, "declared here")
                    .with_help("name a `sqlite` or `postgres` resource; for another store, implement `fsm_runtime::store::RecordStore` and pass it to `run_stored`"),
                );
            }
        }
    }
    let table = &store.table;
    let t = table.value.as_str();
    let is_name = t.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && t.len() <= 63;
    if !is_name {
        diags.push(
            Diagnostic::error(
                codes::STORE,
                format!("`{t}` is not a table name"),
                table.span,
                "not a table name",
            )
            .with_help("use letters, digits and `_` (not starting with a digit), at most 63 characters: the name goes into SQL as it is"),
        );
    }
    let mode_is = |m: &Option<crate::span::Spanned<DataMode>>, default: bool| {
        m.as_ref().map_or(default, |m| m.value == DataMode::Reference)
    };
    let machine_reference = mode_is(&machine.data_mode, false);
    let any_reference = machine
        .networks
        .iter()
        .flat_map(|n| &n.states)
        .any(|s| mode_is(&s.data_mode, machine_reference));
    if !any_reference {
        diags.push(
            Diagnostic::warning(
                codes::STORE,
                "the store is never used: no state is in `reference` mode",
                store.span,
                "records are not kept here",
            )
            .with_help("set `data_mode: reference` on the machine (or on the states whose changes must be saved)"),
        );
    }
}
