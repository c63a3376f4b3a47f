//! Whatever it is given, the loader never panics: it returns a machine without errors, or
//! diagnostics whose spans all lie inside the text (so they render). And whatever `check`
//! accepts compiles: the generated code has no `compile_error!` and parses as a Rust file, for
//! every machine file of the repository and every generated or mutated document `check` accepts.

use fsm_codegen::{Source, check};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// Runs the whole front of the pipeline on `text` and checks the contract.
fn load(text: &str) {
    let source = Source::new("fuzz.yaml", text);
    let (machine, diagnostics) = check(&source);
    for d in &diagnostics {
        for label in &d.labels {
            let range = label.span.range();
            assert!(
                range.start <= range.end && range.end <= text.len(),
                "{d:?} outside {text:?}"
            );
            assert!(
                text.is_char_boundary(range.start) && text.is_char_boundary(range.end),
                "{d:?} splits a character of {text:?}"
            );
        }
    }
    let _ = diagnostics.render(&source);
    match machine {
        Some(_) if !diagnostics.has_errors() => compiles(&source),
        _ => assert!(diagnostics.has_errors(), "no machine and no error for {text:?}"),
    }
}

/// A machine `check` accepted: the pipeline generates code for it, without `compile_error!`,
/// that parses as a Rust file.
fn compiles(source: &Source) {
    let text = &source.text;
    let compiled = match fsm_codegen::compile(source) {
        Ok(compiled) => compiled,
        Err(d) => panic!("check accepts but compile refuses {text:?}:\n{}", d.render(source)),
    };
    assert!(
        !compiled.tokens.to_string().contains("compile_error"),
        "check accepts {text:?}, but its code is a compile_error!:\n{}",
        compiled.code
    );
    if let Err(e) = syn::parse_file(&compiled.code) {
        panic!(
            "check accepts {text:?}, but its code does not parse ({e}):\n{}",
            compiled.code
        );
    }
}

/// A generated YAML document.
#[derive(Clone, Debug)]
enum Yaml {
    Scalar(String),
    Seq(Vec<Yaml>),
    Map(Vec<(String, Yaml)>),
}

impl Yaml {
    /// Flow style: `{a: [b, c]}`.
    fn flow(&self, out: &mut String) {
        match self {
            Yaml::Scalar(s) => out.push_str(s),
            Yaml::Seq(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.flow(out);
                }
                out.push(']');
            }
            Yaml::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push_str(": ");
                    v.flow(out);
                }
                out.push('}');
            }
        }
    }

    /// Block style, indented by `indent` spaces.
    fn block(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Yaml::Seq(items) if !items.is_empty() => {
                for item in items {
                    out.push_str(&pad);
                    out.push_str("- ");
                    let mut inner = String::new();
                    item.flow(&mut inner);
                    out.push_str(&inner);
                    out.push('\n');
                }
            }
            Yaml::Map(entries) if !entries.is_empty() => {
                for (k, v) in entries {
                    out.push_str(&pad);
                    out.push_str(k);
                    out.push(':');
                    match v {
                        Yaml::Scalar(_) => {
                            out.push(' ');
                            v.flow(out);
                            out.push('\n');
                        }
                        _ => {
                            out.push('\n');
                            v.block(indent + 2, out);
                        }
                    }
                }
            }
            _ => {
                out.push_str(&pad);
                self.flow(out);
                out.push('\n');
            }
        }
    }
}

const KEYS: &[&str] = &[
    "name",
    "description",
    "data",
    "data_mode",
    "main_network",
    "networks",
    "states",
    "arcs",
    "events",
    "resources",
    "is_start",
    "is_end",
    "transform",
    "validate",
    "on_error",
    "from",
    "to",
    "on",
    "condition",
    "priority",
    "target_network",
    "return_state",
    "payload",
    "kind",
    "config",
    "rust",
    "builtin",
    "params",
    "deny_warnings",
    "max_transitions",
    "metadata",
    "version",
    "functions",
    "data_mapping",
    "<<",
    "nme",
    "x",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("c".to_owned()),
        Just("main".to_owned()),
        Just("my-state".to_owned()),
        Just("my_state".to_owned()),
        Just("Self".to_owned()),
        Just("1st".to_owned()),
        "[a-z]{1,4}",
    ]
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("yes".to_owned()),
        Just("~".to_owned()),
        Just("12".to_owned()),
        Just("-3".to_owned()),
        Just("1.5".to_owned()),
        Just("copy".to_owned()),
        Just("sqlite".to_owned()),
        Just("crate::Record".to_owned()),
        Just("\"Vec<u8\"".to_owned()),
        Just("\"data.x >\"".to_owned()),
        Just("''".to_owned()),
        Just("required_fields".to_owned()),
        Just("&anchor x".to_owned()),
        Just("*anchor".to_owned()),
        Just("!tag x".to_owned()),
        "[ -~]{0,8}",
    ]
}

/// Any document: mappings with known and unknown keys, lists, scalars.
fn document() -> impl Strategy<Value = Yaml> {
    let leaf = scalar().prop_map(Yaml::Scalar);
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Yaml::Seq),
            prop::collection::vec((prop::sample::select(KEYS).prop_map(str::to_owned), inner), 0..6)
                .prop_map(Yaml::Map),
        ]
    })
}

fn function() -> impl Strategy<Value = Yaml> {
    prop_oneof![
        name().prop_map(Yaml::Scalar),
        scalar().prop_map(|code| Yaml::Map(vec![("rust".to_owned(), Yaml::Scalar(code))])),
        (name(), document()).prop_map(|(n, params)| Yaml::Map(vec![
            ("builtin".to_owned(), Yaml::Scalar(n)),
            ("params".to_owned(), params)
        ])),
    ]
}

fn entry(key: &str, value: impl Strategy<Value = Yaml>) -> impl Strategy<Value = Option<(String, Yaml)>> {
    let key = key.to_owned();
    prop::option::of(value.prop_map(move |v| (key.clone(), v)))
}

fn map(entries: Vec<Option<(String, Yaml)>>) -> Yaml {
    Yaml::Map(entries.into_iter().flatten().collect())
}

fn boolean() -> impl Strategy<Value = Yaml> {
    prop_oneof![Just("true"), Just("false"), Just("yes")].prop_map(|b| Yaml::Scalar(b.to_owned()))
}

fn state() -> impl Strategy<Value = Yaml> {
    (
        entry("name", name().prop_map(Yaml::Scalar)),
        entry("is_start", boolean()),
        entry("is_end", boolean()),
        entry("transform", function()),
        entry("on_error", name().prop_map(Yaml::Scalar)),
        entry("x", document()),
    )
        .prop_map(|(a, b, c, d, e, f)| map(vec![a, b, c, d, e, f]))
}

fn arc() -> impl Strategy<Value = Yaml> {
    (
        entry("from", name().prop_map(Yaml::Scalar)),
        entry("to", name().prop_map(Yaml::Scalar)),
        entry("on", name().prop_map(Yaml::Scalar)),
        entry("condition", function()),
        entry("priority", scalar().prop_map(Yaml::Scalar)),
        entry("target_network", name().prop_map(Yaml::Scalar)),
        entry("return_state", name().prop_map(Yaml::Scalar)),
    )
        .prop_map(|(a, b, c, d, e, f, g)| map(vec![a, b, c, d, e, f, g]))
}

fn network() -> impl Strategy<Value = Yaml> {
    (
        entry("name", name().prop_map(Yaml::Scalar)),
        entry("states", prop::collection::vec(state(), 0..6).prop_map(Yaml::Seq)),
        entry("arcs", prop::collection::vec(arc(), 0..8).prop_map(Yaml::Seq)),
    )
        .prop_map(|(a, b, c)| map(vec![a, b, c]))
}

/// A document shaped like a machine, so that the checks past the reader run too.
fn machine() -> impl Strategy<Value = Yaml> {
    (
        entry("name", name().prop_map(Yaml::Scalar)),
        entry("data", scalar().prop_map(Yaml::Scalar)),
        entry("main_network", name().prop_map(Yaml::Scalar)),
        entry("states", prop::collection::vec(state(), 0..6).prop_map(Yaml::Seq)),
        entry("arcs", prop::collection::vec(arc(), 0..8).prop_map(Yaml::Seq)),
        entry("networks", prop::collection::vec(network(), 0..3).prop_map(Yaml::Seq)),
        entry(
            "events",
            prop::collection::vec(name().prop_map(Yaml::Scalar), 0..3).prop_map(Yaml::Seq),
        ),
        entry("deny_warnings", boolean()),
    )
        .prop_map(|(a, b, c, d, e, f, g, h)| map(vec![a, b, c, d, e, f, g, h]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        load(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_yaml_characters(text in "[ -~\t\n\u{e9}\u{1f600}]{0,200}") {
        load(&text);
    }

    #[test]
    fn arbitrary_documents(doc in document(), block in any::<bool>()) {
        let mut text = String::new();
        if block { doc.block(0, &mut text) } else { doc.flow(&mut text) }
        load(&text);
    }

    #[test]
    fn machine_shaped_documents(doc in machine(), block in any::<bool>()) {
        let mut text = String::new();
        if block { doc.block(0, &mut text) } else { doc.flow(&mut text) }
        load(&text);
    }
}

/// Valid machines with a few bytes changed: near-valid input reaches every check and, when the
/// edit is harmless, the lowering.
const VALID: &[&str] = &[
    include_str!("../../examples/machines/streaming_processor.yaml"),
    include_str!("../../tests/machines/valid/push_networks.yaml"),
    include_str!("../../tests/machines/valid/builtins_and_inline_rust.yaml"),
    include_str!("../../tests/machines/valid/anchors_and_resources.yaml"),
    include_str!("../../tests/machines/valid/traffic_light.yaml"),
];

/// One edit: delete, insert or replace a byte at a position.
fn edit(text: &mut Vec<u8>, at: prop::sample::Index, byte: u8, op: u8) {
    if text.is_empty() {
        return;
    }
    let i = at.index(text.len());
    match op % 3 {
        0 => {
            text.remove(i);
        }
        1 => text.insert(i, byte),
        _ => text[i] = byte,
    }
}

/// Bytes that matter to YAML and to the checks.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b" \t\n:-{}[],#&*!|>'\"_0123456789abcdefghijklmnopqrstuvwxyz".to_vec()),
        any::<u8>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutated_valid_machines(
        which in 0..VALID.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), interesting_byte(), any::<u8>()), 1..4),
    ) {
        let mut text = VALID[which].as_bytes().to_vec();
        for (at, byte, op) in edits {
            edit(&mut text, at, byte, op);
        }
        load(&String::from_utf8_lossy(&text));
    }
}

#[test]
fn the_valid_machines_lower() {
    for text in VALID {
        let (machine, diagnostics) = check(&Source::new("valid.yaml", *text));
        assert!(machine.is_some() && diagnostics.is_empty());
        load(text);
    }
}

/// The YAML files under `dir`, recursively, sorted.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_machine_file_check_accepts_compiles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut accepted = 0;
    for dir in ["tests/fixtures", "tests/machines", "tests/ui", "examples/machines"] {
        let mut files = Vec::new();
        yaml_files(&root.join(dir), &mut files);
        assert!(!files.is_empty(), "no machine under {dir}");
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let source = Source::new(path.display().to_string(), text);
            let (machine, diagnostics) = check(&source);
            let must_pass = !path
                .components()
                .any(|c| c.as_os_str() == "invalid" || c.as_os_str() == "ui");
            if machine.is_some() && !diagnostics.has_errors() {
                compiles(&source);
                accepted += 1;
            } else {
                assert!(
                    !must_pass,
                    "{} has errors:\n{}",
                    path.display(),
                    diagnostics.render(&source)
                );
            }
        }
    }
    // The fixtures, the valid machines and the examples at least.
    assert!(accepted >= 35, "only {accepted} machines were accepted");
}

/// Machines `check` accepted before the rule "whatever check accepts compiles" held; each now has
/// an error at the node that made the generator give up.
#[test]
fn machines_the_generator_could_not_compile_are_refused() {
    for (text, code) in [
        (
            "name: M\nnetworks:\n  - { name: main, states: [] }\n",
            "fsm::no_start_state",
        ),
        ("name: M\nstates: []\n", "fsm::no_start_state"),
        ("name: M\nnetworks: []\n", "fsm::no_start_state"),
        ("name: M\n", "fsm::missing_key"),
    ] {
        let (_, diagnostics) = check(&Source::new("m.yaml", text));
        let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, [code], "{text:?}: one mistake, one diagnostic");
    }
    // The same in the DSL, where the tokens say it; and the gate refuses such a machine even when
    // nothing reported it before.
    for (tokens, message) in [
        ("machine M {}", "the machine has no states"),
        (
            "machine M { main_network: a; network a {} }",
            "network `a` has no states",
        ),
    ] {
        let parsed = fsm_codegen::syntax::dsl::parse(tokens.parse().expect("tokens"));
        assert!(parsed.syntax_errors.is_empty(), "{tokens}");
        let messages: Vec<&str> = parsed.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, [message], "{tokens}");
        let machine = parsed.machine.expect("a machine");
        let refused = fsm_codegen::analyze(&machine, None).expect_err("no IR for a machine without states");
        let messages: Vec<&str> = refused.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, [message], "{tokens}");
    }
}

#[test]
fn pathological_inputs() {
    for text in [
        "",
        "\u{feff}",
        "---\n...\n",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "{a: &a [*a]}",
        "name: &n x\nstates: *n\n",
        "? [a, b]\n: c\n",
        "name: M\nstates:\n  - { name: é, is_start: true, is_end: true, transform: { rust: \"é +\" } }\n",
        "name: M\nstates:\n  - name: a\n    is_start: true\n    is_end: true\n    transform:\n      rust: |\n        let x = 1;\n        x +\n",
    ] {
        load(text);
    }
}
