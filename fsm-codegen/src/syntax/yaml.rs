//! The YAML front end: text -> [`crate::ast::Machine`], reporting every problem of the document at once.
//!
//! Reading happens in two steps. `tree` turns the text into spanned nodes (syntax errors are
//! fatal for the file and reported with a span on the offending character). The `mapper` then
//! walks the nodes with the format's rules, and for each mapping reports duplicate keys (with the
//! first one labelled), unknown keys (with did-you-mean), keys of the reference framework that
//! are not supported (with what to use instead), wrong value types and missing keys, and keeps
//! going. Scalars follow the YAML 1.2 core schema with strict booleans: `yes` is a string.
//!
//! The format itself is described in `docs/format.md`.

mod mapper;
mod scalar;
mod tree;

use crate::ast::Machine;
use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::span::{Source, Span};
use mapper::Mapper;

/// Parses a YAML machine. Returns the machine when the document could be read as one (possibly
/// with problems, all of which are in the diagnostics) and `None` when the text does not parse
/// or is not a mapping.
pub fn parse(source: &Source) -> (Option<Machine>, Diagnostics) {
    let mut diags = Diagnostics::new();
    let document = tree::parse(&source.text, &mut diags);
    let machine = match document.root {
        Some(root) => Mapper {
            text: &source.text,
            diags: &mut diags,
        }
        .machine(&root)
        .map(|mut m| {
            m.expand_arcs();
            m
        }),
        None if !diags.has_errors() => {
            let end = u32::try_from(source.text.len()).unwrap_or(u32::MAX);
            diags.push(
                Diagnostic::error(
                    codes::MISSING_KEY,
                    "the file holds no machine",
                    Span::new(0, end),
                    "empty document",
                )
                .with_help("a machine needs at least `name` and `states` (or `networks`)"),
            );
            None
        }
        None => None,
    };
    (machine, diags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::FunctionRef;
    use crate::span::Source;

    #[test]
    fn reads_the_streaming_processor() {
        let text = include_str!("../../../examples/machines/streaming_processor.yaml");
        let (machine, diags) = parse(&Source::new("sp.yaml", text));
        assert!(diags.is_empty(), "{diags:?}");
        let machine = machine.expect("a machine");
        assert_eq!(machine.name.value, "StreamingProcessor");
        assert_eq!(machine.networks[0].states.len(), 6);
        assert_eq!(machine.networks[0].arcs.len(), 5);
        assert_eq!(&text[machine.networks[0].arcs[1].from.span.range()], "validate");
    }

    #[test]
    fn rust_code_span_is_the_content() {
        let text = "name: m\nstates:\n  - {name: a, is_start: true, is_end: true, transform: {rust: \"x + 1\"}}\n";
        let (machine, diags) = parse(&Source::new("m.yaml", text));
        assert!(diags.is_empty(), "{diags:?}");
        let machine = machine.expect("a machine");
        let FunctionRef::Rust { code, .. } = &machine.networks[0].states[0].transform[0] else {
            panic!("not rust")
        };
        assert_eq!(&text[code.span.range()], "x + 1");
    }
}
