//! Nodes -> AST: walks the node tree with the format's rules, reporting every problem of a mapping
//! (duplicate, unknown, refused and missing keys, wrong types) and keeping going.

use super::scalar::{Scalar, resolve};
use super::tree::{Kind, Node, Style};
use crate::ast::{
    Arc, Attributes, Compensate, DataMode, ErrorArc, ErrorDecl, Event, FunctionDecl, FunctionRef, Machine, Network,
    Origin, Resource, State, Store, Superstate, Value, WILDCARD,
};
use crate::diagnostics::{Diagnostic, Diagnostics, codes, did_you_mean};
use crate::span::{Span, Spanned};
use crate::syntax::keys::{self, Place, refused};

/// What a node is, for "expected X, found Y" messages.
fn describe(node: &Node) -> String {
    match &node.kind {
        Kind::Scalar { text, style } => resolve(text, *style).describe(),
        Kind::Seq(_) => "a list".to_owned(),
        Kind::Map(_) => "a mapping".to_owned(),
    }
}

/// The keys of one mapping, checked: first occurrences of known keys only.
struct Fields<'n> {
    /// The mapping node.
    span: Span,
    entries: Vec<(&'n str, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

pub(super) struct Mapper<'s> {
    pub(super) text: &'s str,
    pub(super) diags: &'s mut Diagnostics,
}

impl Mapper<'_> {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn wrong_type(&mut self, node: &Node, expected: &str, help: Option<String>) {
        let found = describe(node);
        let mut d = Diagnostic::error(
            codes::WRONG_TYPE,
            format!("expected {expected}, found {found}"),
            node.span,
            format!("expected {expected}"),
        );
        if let Some(help) = help {
            d = d.with_help(help);
        }
        self.error(d);
    }

    /// The span to point at for a whole mapping: itself when it fits on one line, otherwise its
    /// first line (a multi-line label would cover the whole block).
    fn head(&self, node: &Node) -> Span {
        let span = node.span;
        let text = self.text.get(span.range()).unwrap_or("");
        match text.find('\n') {
            Some(i) => Span::new(span.start, span.start + u32::try_from(i).unwrap_or(0)),
            None => span,
        }
    }

    /// Checks the keys of a mapping describing `what` and returns the known ones.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, place: Place, refused: &[(&str, &str)]) -> Option<Fields<'n>> {
        let known = keys::names(place);
        self.foreign_tag(node);
        let Kind::Map(entries) = &node.kind else {
            self.wrong_type(node, &format!("a mapping ({what})"), None);
            return None;
        };
        let mut fields = Fields {
            span: node.span,
            entries: Vec::with_capacity(entries.len()),
        };
        let mut seen: Vec<(&str, Span)> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let key_text = match &key.kind {
                Kind::Scalar { text, style } if matches!(resolve(text, *style), Scalar::Str(_)) => text.as_str(),
                _ => {
                    self.wrong_type(key, "a key name", None);
                    continue;
                }
            };
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key_text) {
                let first = *first;
                self.error(
                    Diagnostic::error(
                        codes::DUPLICATE_KEY,
                        format!("duplicate key `{key_text}` in {what}"),
                        key.span,
                        "defined again here",
                    )
                    .with_label(first, "first defined here")
                    .with_help("remove one of them; only one value can be used"),
                );
                continue;
            }
            seen.push((key_text, key.span));
            if known.clone().any(|k| k == key_text) {
                fields.entries.push((key_text, value));
            } else if let Some((_, instead)) = refused.iter().find(|(k, _)| *k == key_text) {
                self.error(
                    Diagnostic::error(
                        codes::UNSUPPORTED,
                        format!("`{key_text}` is not supported in {what}"),
                        key.span,
                        "not supported",
                    )
                    .with_help(*instead),
                );
            } else {
                let help = match keys::meant(place, key_text, known.clone()) {
                    Some(better) => format!("did you mean `{better}`?"),
                    None => format!(
                        "the keys of {what} are: {}",
                        known.clone().collect::<Vec<_>>().join(", ")
                    ),
                };
                self.error(
                    Diagnostic::error(
                        codes::UNKNOWN_KEY,
                        format!("unknown key `{key_text}` in {what}"),
                        key.span,
                        "unknown key",
                    )
                    .with_help(help),
                );
            }
        }
        Some(fields)
    }

    /// A required key; reports it missing at the mapping's first line.
    fn required<'n>(&mut self, fields: &Fields<'n>, node: &Node, key: &str, what: &str) -> Option<&'n Node> {
        let value = fields.get(key);
        if value.is_none() {
            self.error(
                Diagnostic::error(
                    codes::MISSING_KEY,
                    format!("{what} has no `{key}`"),
                    self.head(node),
                    format!("`{key}` missing"),
                )
                .with_help(format!("add `{key}:` to {what}")),
            );
        }
        value
    }

    fn foreign_tag(&mut self, node: &Node) {
        if let Some(tag) = &node.tag {
            self.error(
                Diagnostic::error(
                    codes::UNSUPPORTED,
                    format!("yaml tag `{tag}` is not supported"),
                    node.span,
                    "tagged here",
                )
                .with_help("remove the tag; values are typed by the key they belong to"),
            );
        }
    }

    fn string(&mut self, node: &Node) -> Option<Spanned<String>> {
        self.foreign_tag(node);
        match &node.kind {
            Kind::Scalar { text, style } => match resolve(text, *style) {
                Scalar::Str(s) => Some(Spanned::new(s.to_owned(), node.span)),
                _ => {
                    self.wrong_type(
                        node,
                        "a string",
                        Some(format!("quote it to make it a string: \"{}\"", text.escape_default())),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(node, "a string", None);
                None
            }
        }
    }

    /// A name that refers to something (`to`, `on`, ...). When it has the wrong type, the
    /// reference is kept with an empty name, so that later checks know something was written
    /// there (the empty name is skipped by them; the type error is reported here).
    fn reference(&mut self, node: &Node) -> Spanned<String> {
        self.string(node)
            .unwrap_or_else(|| Spanned::new(String::new(), node.span))
    }

    /// A string whose span is its content (inside the quotes), for Rust code and types.
    fn code(&mut self, node: &Node) -> Option<Spanned<String>> {
        let text = self.string(node)?;
        Some(Spanned::new(text.value, self.content_span(node)))
    }

    /// Any scalar as text (`version: 1.0` is the string "1.0").
    fn text(&mut self, node: &Node) -> Option<Spanned<String>> {
        match &node.kind {
            Kind::Scalar { text, .. } => Some(Spanned::new(text.clone(), node.span)),
            _ => {
                self.wrong_type(node, "a string", None);
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node) -> Option<Spanned<bool>> {
        self.foreign_tag(node);
        if let Kind::Scalar { text, style } = &node.kind {
            if let Scalar::Bool(b) = resolve(text, *style) {
                return Some(Spanned::new(b, node.span));
            }
            // YAML 1.1 spellings: report them, and read them as meant so that one mistake does
            // not also look like a missing start state.
            let meant = match text.to_ascii_lowercase().as_str() {
                "yes" | "y" | "on" => Some(true),
                "no" | "n" | "off" => Some(false),
                _ => None,
            };
            if let Some(b) = meant {
                self.wrong_type(
                    node,
                    "`true` or `false`",
                    Some(format!("YAML 1.2 booleans are `true` and `false` only: write `{b}`")),
                );
                return Some(Spanned::new(b, node.span));
            }
        }
        self.wrong_type(node, "`true` or `false`", None);
        None
    }

    fn integer(&mut self, node: &Node) -> Option<Spanned<i64>> {
        self.foreign_tag(node);
        if let Kind::Scalar { text, style } = &node.kind
            && let Scalar::Int(i) = resolve(text, *style)
        {
            return Some(Spanned::new(i, node.span));
        }
        self.wrong_type(node, "an integer", None);
        None
    }

    /// A positive integer ([`keys::positive`], shared with the DSL).
    fn positive(&mut self, node: &Node) -> Option<Spanned<u64>> {
        match keys::positive(self.integer(node)?) {
            Ok(u) => Some(u),
            Err(d) => {
                self.error(d);
                None
            }
        }
    }

    /// One of a fixed set of words, with did-you-mean.
    fn choice<T: Copy>(&mut self, node: &Node, what: &str, options: &[(&str, T)]) -> Option<Spanned<T>> {
        let s = self.string(node)?;
        if let Some((_, v)) = options.iter().find(|(k, _)| *k == s.value) {
            return Some(Spanned::new(*v, s.span));
        }
        let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
        let help = match did_you_mean(&s.value, names.iter().copied()) {
            Some(better) => format!("did you mean `{better}`?"),
            None => format!("{what} is one of: {}", names.join(", ")),
        };
        self.error(
            Diagnostic::error(
                codes::INVALID_VALUE,
                format!("`{}` is not a valid {what}", s.value),
                s.span,
                format!("unknown {what}"),
            )
            .with_help(help),
        );
        None
    }

    fn data_mode(&mut self, node: &Node) -> Option<Spanned<DataMode>> {
        if let Kind::Map(_) = node.kind {
            self.error(
                Diagnostic::error(
                    codes::UNSUPPORTED,
                    "`data_mode` is a single word here",
                    node.span,
                    "a mapping",
                )
                .with_help("write `data_mode: copy` (or direct, reference); override it per state with the state's `data_mode`"),
            );
            return None;
        }
        self.choice(node, "data mode", keys::DATA_MODES)
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        self.foreign_tag(node);
        match &node.kind {
            Kind::Seq(items) => items,
            _ => {
                let help = matches!(node.kind, Kind::Map(_))
                    .then(|| format!("write {what} as a list: one item per line, starting with `- `"));
                self.wrong_type(node, &format!("a list of {what}"), help);
                &[]
            }
        }
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        if let Kind::Scalar { .. } = node.kind {
            self.wrong_type(
                node,
                &format!("a list of {what}"),
                node.scalar().map(|s| format!("write a list: [{s}]")),
            );
            return Vec::new();
        }
        self.list(node, what)
            .iter()
            .filter_map(|item| self.string(item))
            .collect()
    }

    /// A free-form value (metadata, resource config, built-in params).
    fn value(&mut self, node: &Node) -> Spanned<Value> {
        self.foreign_tag(node);
        let value = match &node.kind {
            Kind::Scalar { text, style } => match resolve(text, *style) {
                Scalar::Null => Value::Null,
                Scalar::Bool(b) => Value::Bool(b),
                Scalar::Int(i) => Value::Int(i),
                Scalar::Float(f) => Value::Float(f),
                Scalar::Str(s) => Value::String(s.to_owned()),
            },
            Kind::Seq(items) => Value::Seq(items.iter().map(|i| self.value(i)).collect()),
            Kind::Map(entries) => {
                let mut out: Vec<(Spanned<String>, Spanned<Value>)> = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let Some(key) = self.string(k) else { continue };
                    if let Some((first, _)) = out.iter().find(|(f, _)| f.value == key.value) {
                        let first = first.span;
                        self.error(
                            Diagnostic::error(
                                codes::DUPLICATE_KEY,
                                format!("duplicate key `{}`", key.value),
                                key.span,
                                "defined again here",
                            )
                            .with_label(first, "first defined here")
                            .with_help("remove one of them; only one value can be used"),
                        );
                        continue;
                    }
                    let v = self.value(v);
                    out.push((key, v));
                }
                Value::Map(out)
            }
        };
        Spanned::new(value, node.span)
    }

    /// The span of a string's content: inside the quotes when the source between them is
    /// exactly the text, otherwise the whole node (escapes, folded lines).
    fn content_span(&self, node: &Node) -> Span {
        let span = node.span;
        let Kind::Scalar { text, style } = &node.kind else {
            return span;
        };
        if matches!(style, Style::SingleQuoted | Style::DoubleQuoted) && span.len() >= 2 {
            let inner = Span::new(span.start + 1, span.end - 1);
            if self.text.get(inner.range()) == Some(text.as_str()) {
                return inner;
            }
        }
        span
    }

    /// The function references under `key`, none when the key is absent.
    fn function_refs_at(&mut self, fields: &Fields<'_>, key: &str) -> Vec<FunctionRef> {
        fields.get(key).map(|n| self.function_refs(n)).unwrap_or_default()
    }

    fn function_refs(&mut self, node: &Node) -> Vec<FunctionRef> {
        match &node.kind {
            Kind::Seq(items) => items.iter().filter_map(|i| self.function_ref(i)).collect(),
            _ => self.function_ref(node).into_iter().collect(),
        }
    }

    fn function_ref(&mut self, node: &Node) -> Option<FunctionRef> {
        const WHAT: &str = "a function reference";
        if let Kind::Scalar { .. } = node.kind {
            return self.string(node).map(FunctionRef::Named);
        }
        if let Kind::Seq(_) = node.kind {
            self.wrong_type(
                node,
                "one function",
                Some("only `transform` and `validate` take a list of functions".to_owned()),
            );
            return None;
        }
        let fields = self.fields(node, WHAT, Place::Function, refused::FUNCTION)?;
        match (fields.get(keys::RUST), fields.get(keys::BUILTIN)) {
            (Some(code), None) => {
                if let Some(params) = fields.get(keys::PARAMS) {
                    self.error(
                        Diagnostic::error(
                            codes::UNKNOWN_KEY,
                            "`params` is only allowed with `builtin`",
                            params.span,
                            "not allowed here",
                        )
                        .with_help("inline Rust sees the record as `data`; write the values into the expression"),
                    );
                }
                Some(FunctionRef::Rust {
                    code: self.code(code)?,
                    span: fields.span,
                })
            }
            (None, Some(name)) => {
                let name = self.string(name)?;
                let params = fields.get(keys::PARAMS).map(|p| self.value(p));
                Some(FunctionRef::Builtin {
                    name,
                    params,
                    span: fields.span,
                })
            }
            (Some(_), Some(builtin)) => {
                self.error(
                    Diagnostic::error(
                        codes::WRONG_TYPE,
                        "a function is either `rust` or `builtin`, not both",
                        builtin.span,
                        "second kind of function",
                    )
                    .with_help("split it into two functions"),
                );
                None
            }
            (None, None) => {
                if !fields.entries.is_empty() || matches!(&node.kind, Kind::Map(e) if e.is_empty()) {
                    self.error(
                        Diagnostic::error(
                            codes::MISSING_KEY,
                            "a function reference needs `rust` or `builtin`",
                            self.head(node),
                            "neither `rust` nor `builtin`",
                        )
                        .with_help(
                            "write a function name, `{ rust: \"<expression>\" }` or `{ builtin: <name>, params: {...} }`",
                        ),
                    );
                }
                None
            }
        }
    }

    pub(super) fn machine(&mut self, root: &Node) -> Option<Machine> {
        if !matches!(root.kind, Kind::Map(_)) {
            self.wrong_type(
                root,
                "a mapping (the machine)",
                Some("a machine file starts with `name:` and `states:` (or `networks:`)".to_owned()),
            );
            return None;
        }
        let fields = self.fields(root, "the machine", Place::Machine, refused::MACHINE)?;
        let name = self
            .required(&fields, root, keys::NAME, "the machine")
            .and_then(|n| self.string(n))
            .unwrap_or_else(|| Spanned::new(String::new(), self.head(root)));
        let mut machine = Machine {
            name,
            version: fields.get(keys::VERSION).and_then(|n| self.text(n)),
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            data: fields.get(keys::DATA).and_then(|n| self.code(n)),
            data_mode: fields.get(keys::DATA_MODE).and_then(|n| self.data_mode(n)),
            store: fields.get(keys::STORE).and_then(|n| self.store(n)),
            main_network: fields.get(keys::MAIN_NETWORK).and_then(|n| self.string(n)),
            networks: Vec::new(),
            events: Vec::new(),
            resources: Vec::new(),
            functions: Vec::new(),
            attributes: fields.get(keys::ATTRIBUTES).and_then(|n| self.attributes(n)),
            errors: Vec::new(),
            max_transitions: fields.get(keys::MAX_TRANSITIONS).and_then(|n| self.positive(n)),
            deny_warnings: fields.get(keys::DENY_WARNINGS).and_then(|n| self.boolean(n)),
            metadata: fields.get(keys::METADATA).map(|n| self.value(n)),
            implicit_network: false,
            span: root.span,
        };
        if let Some(events) = fields.get(keys::EVENTS) {
            machine.events = self
                .list(events, "events")
                .iter()
                .filter_map(|e| self.event(e))
                .collect();
        }
        if let Some(resources) = fields.get(keys::RESOURCES) {
            machine.resources = self
                .list(resources, "resources")
                .iter()
                .filter_map(|r| self.resource(r))
                .collect();
        }
        if let Some(functions) = fields.get(keys::FUNCTIONS) {
            machine.functions = self
                .list(functions, "functions")
                .iter()
                .filter_map(|f| self.function_decl(f))
                .collect();
        }
        if let Some(errors) = fields.get(keys::ERRORS) {
            machine.errors = self
                .list(errors, "errors")
                .iter()
                .filter_map(|e| self.error_decl(e))
                .collect();
        }
        let top_states = fields.get(keys::STATES);
        let top_arcs = fields.get(keys::ARCS);
        let top_superstates = fields.get(keys::SUPERSTATES);
        match fields.get(keys::NETWORKS) {
            Some(networks) => {
                let list = self.list(networks, "networks");
                if list.is_empty() && matches!(networks.kind, Kind::Seq(_)) {
                    self.empty(
                        networks,
                        "the machine has no networks",
                        "add a network: `- { name: main, states: [...], arcs: [...] }`",
                    );
                }
                machine.networks = list.iter().filter_map(|n| self.network(n)).collect();
                for (key, node) in [
                    (keys::STATES, top_states),
                    (keys::ARCS, top_arcs),
                    (keys::SUPERSTATES, top_superstates),
                ] {
                    let Some(node) = node else { continue };
                    let key_span = key_span(root, key).unwrap_or(node.span);
                    self.error(
                        Diagnostic::error(
                            codes::UNKNOWN_KEY,
                            format!("top-level `{key}` cannot be combined with `networks`"),
                            key_span,
                            "outside any network",
                        )
                        .with_label(
                            key_span_or(root, keys::NETWORKS, networks.span),
                            "networks declared here",
                        )
                        .with_help(format!("move these {key} into one of the `networks`")),
                    );
                }
            }
            None => match top_states {
                Some(states) => {
                    let name_span = key_span(root, keys::STATES).unwrap_or(states.span);
                    machine.implicit_network = true;
                    machine.networks.push(Network {
                        name: Spanned::new("main".to_owned(), name_span),
                        description: None,
                        states: self.states(states),
                        arcs: top_arcs.map(|a| self.arcs(a)).unwrap_or_default(),
                        superstates: top_superstates.map(|a| self.superstates(a)).unwrap_or_default(),
                        span: root.span,
                    });
                }
                None => self.error(
                    Diagnostic::error(
                        codes::MISSING_KEY,
                        "the machine has no states",
                        self.head(root),
                        "neither `states` nor `networks`",
                    )
                    .with_help("add `states:` and `arcs:` for one network, or `networks:` for several"),
                ),
            },
        }
        Some(machine)
    }

    fn network(&mut self, node: &Node) -> Option<Network> {
        let fields = self.fields(node, "a network", Place::Network, refused::NETWORK)?;
        let name = self
            .required(&fields, node, keys::NAME, "a network")
            .and_then(|n| self.string(n));
        let states = self
            .required(&fields, node, keys::STATES, "a network")
            .map(|s| self.states(s))
            .unwrap_or_default();
        let arcs = fields.get(keys::ARCS).map(|a| self.arcs(a)).unwrap_or_default();
        let superstates = fields
            .get(keys::SUPERSTATES)
            .map(|a| self.superstates(a))
            .unwrap_or_default();
        Some(Network {
            name: name?,
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            states,
            arcs,
            superstates,
            span: node.span,
        })
    }

    fn states(&mut self, node: &Node) -> Vec<State> {
        let list = self.list(node, "states");
        if list.is_empty() && matches!(node.kind, Kind::Seq(_)) {
            self.empty(
                node,
                "a network needs at least one state",
                "add its states, one of them with `is_start: true` and one with `is_end: true`",
            );
        }
        list.iter().filter_map(|s| self.state(s)).collect()
    }

    /// An empty list of states or networks: the generator needs a state to start in (the gate
    /// refuses it too, for an AST built by hand).
    fn empty(&mut self, node: &Node, message: &str, help: &str) {
        self.error(Diagnostic::error(codes::NO_START_STATE, message, node.span, "empty list").with_help(help));
    }

    fn arcs(&mut self, node: &Node) -> Vec<Arc> {
        self.list(node, "arcs").iter().flat_map(|a| self.arc(a)).collect()
    }

    fn superstates(&mut self, node: &Node) -> Vec<Superstate> {
        self.list(node, "superstates")
            .iter()
            .filter_map(|s| self.superstate(s))
            .collect()
    }

    fn superstate(&mut self, node: &Node) -> Option<Superstate> {
        let fields = self.fields(node, "a superstate", Place::Superstate, refused::SUPERSTATE)?;
        let name = self
            .required(&fields, node, keys::NAME, "a superstate")
            .and_then(|n| self.string(n));
        Some(Superstate {
            name: name?,
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            parent: fields.get(keys::PARENT).map(|n| self.reference(n)),
            initial: fields.get(keys::INITIAL).map(|n| self.reference(n)),
            history: fields.get(keys::HISTORY).and_then(|n| self.boolean(n)),
            on_entry: self.function_refs_at(&fields, keys::ON_ENTRY),
            on_exit: self.function_refs_at(&fields, keys::ON_EXIT),
            span: node.span,
        })
    }

    fn state(&mut self, node: &Node) -> Option<State> {
        let fields = self.fields(node, "a state", Place::State, refused::STATE)?;
        let name = self
            .required(&fields, node, keys::NAME, "a state")
            .and_then(|n| self.string(n));
        let state = State {
            name: name?,
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            is_start: fields.get(keys::IS_START).and_then(|n| self.boolean(n)),
            is_end: fields.get(keys::IS_END).and_then(|n| self.boolean(n)),
            validate: self.function_refs_at(&fields, keys::VALIDATE),
            parallel: fields
                .get(keys::PARALLEL)
                .map(|n| Spanned::new(self.function_refs(n), n.span)),
            transform: self.function_refs_at(&fields, keys::TRANSFORM),
            on_entry: self.function_refs_at(&fields, keys::ON_ENTRY),
            on_exit: self.function_refs_at(&fields, keys::ON_EXIT),
            superstate: fields.get(keys::SUPERSTATE).map(|n| self.reference(n)),
            on_error: fields.get(keys::ON_ERROR).map(|n| self.on_error(n)).unwrap_or_default(),
            compensate: fields.get(keys::COMPENSATE).and_then(|n| self.compensate(n)),
            data_mode: fields.get(keys::DATA_MODE).and_then(|n| self.data_mode(n)),
            data: fields.get(keys::DATA).and_then(|n| self.code(n)),
            retry: fields.get(keys::RETRY).map(|n| self.value(n)),
            timeout_seconds: fields.get(keys::TIMEOUT_SECONDS).map(|n| self.value(n)),
            circuit_breaker: fields.get(keys::CIRCUIT_BREAKER).map(|n| self.value(n)),
            rate_limit: fields.get(keys::RATE_LIMIT).map(|n| self.value(n)),
            max_concurrency: fields.get(keys::MAX_CONCURRENCY).map(|n| self.value(n)),
            resources: fields
                .get(keys::RESOURCES)
                .map(|n| self.string_list(n, "resource names"))
                .unwrap_or_default(),
            metadata: fields.get(keys::METADATA).map(|n| self.value(n)),
            span: node.span,
        };
        Some(state)
    }

    /// An arc; one per source when `from` is a list.
    fn arc(&mut self, node: &Node) -> Vec<Arc> {
        let Some(fields) = self.fields(node, "an arc", Place::Arc, refused::ARC) else {
            return Vec::new();
        };
        let sources = self
            .required(&fields, node, keys::FROM, "an arc")
            .map(|n| match &n.kind {
                Kind::Seq(items) => {
                    if items.is_empty() {
                        self.wrong_type(
                            n,
                            "a state or a list of states",
                            Some("name at least one state".to_owned()),
                        );
                    }
                    let names: Vec<Spanned<String>> = items.iter().filter_map(|i| self.string(i)).collect();
                    names.into_iter().map(|name| (name, Origin::List)).collect::<Vec<_>>()
                }
                _ => self
                    .string(n)
                    .map(|name| {
                        let origin = if name.value == WILDCARD {
                            Origin::Wildcard
                        } else {
                            Origin::Written
                        };
                        (name, origin)
                    })
                    .into_iter()
                    .collect(),
            });
        let arc = Arc {
            from: Spanned::new(String::new(), node.span),
            to: fields.get(keys::TO).map(|n| self.reference(n)),
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            on: fields.get(keys::ON).map(|n| self.reference(n)),
            condition: fields
                .get(keys::CONDITION)
                .map(|n| {
                    // A broken condition is still a condition: keep a placeholder so that the arc
                    // does not also look unconditional (and shadow the arcs after it).
                    let conditions = self.function_refs(n);
                    if conditions.is_empty() {
                        vec![FunctionRef::Named(Spanned::new(String::new(), n.span))]
                    } else {
                        conditions
                    }
                })
                .unwrap_or_default(),
            transform: self.function_refs_at(&fields, keys::TRANSFORM),
            data: fields.get(keys::DATA).and_then(|n| self.function_ref(n)),
            priority: fields.get(keys::PRIORITY).and_then(|n| self.integer(n)),
            target_network: fields.get(keys::TARGET_NETWORK).map(|n| self.reference(n)),
            return_state: fields.get(keys::RETURN_STATE).map(|n| self.reference(n)),
            resources: fields
                .get(keys::RESOURCES)
                .map(|n| self.string_list(n, "resource names"))
                .unwrap_or_default(),
            internal: fields.get(keys::INTERNAL).and_then(|n| self.boolean(n)),
            into: None,
            origin: Origin::Written,
            span: node.span,
        };
        sources
            .unwrap_or_default()
            .into_iter()
            .map(|(from, origin)| Arc {
                from,
                origin,
                ..arc.clone()
            })
            .collect()
    }

    /// `compensate: undo_fn` (one function), or `true`/`false` on an end state.
    fn compensate(&mut self, node: &Node) -> Option<Compensate> {
        if let Kind::Scalar { text, style } = &node.kind
            && let Scalar::Bool(b) = resolve(text, *style)
        {
            return Some(Compensate::End(Spanned::new(b, node.span)));
        }
        self.function_ref(node).map(Compensate::Function)
    }

    /// `on_error: state`, or a list of `{ kinds: [..], to: state }` entries.
    fn on_error(&mut self, node: &Node) -> Vec<ErrorArc> {
        let Kind::Seq(items) = &node.kind else {
            let to = self.reference(node);
            return vec![ErrorArc {
                kinds: Vec::new(),
                span: to.span,
                to,
            }];
        };
        if items.is_empty() {
            self.wrong_type(
                node,
                "a state or a list of `{ kinds: [..], to: state }` entries",
                Some("give at least one entry, or remove `on_error`".to_owned()),
            );
        }
        items.iter().filter_map(|item| self.error_arc(item)).collect()
    }

    fn error_arc(&mut self, node: &Node) -> Option<ErrorArc> {
        let fields = self.fields(node, "an `on_error` entry", Place::ErrorArc, &[])?;
        let to = self
            .required(&fields, node, keys::TO, "an `on_error` entry")
            .map(|n| self.reference(n));
        Some(ErrorArc {
            kinds: fields
                .get(keys::KINDS)
                .map(|n| self.string_list(n, "kinds of errors"))
                .unwrap_or_default(),
            to: to?,
            span: node.span,
        })
    }

    /// A kind of error: a name, or `{ name, description }`.
    fn error_decl(&mut self, node: &Node) -> Option<ErrorDecl> {
        if let Kind::Scalar { .. } = node.kind {
            let name = self.string(node)?;
            return Some(ErrorDecl {
                name,
                description: None,
                span: node.span,
            });
        }
        let fields = self.fields(node, "a kind of error", Place::ErrorDecl, &[])?;
        let name = self
            .required(&fields, node, keys::NAME, "a kind of error")
            .and_then(|n| self.string(n));
        Some(ErrorDecl {
            name: name?,
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            span: node.span,
        })
    }

    fn event(&mut self, node: &Node) -> Option<Event> {
        // `events: [start, stop]`: a bare name is an event without payload.
        if let Kind::Scalar { .. } = node.kind {
            let name = self.string(node)?;
            return Some(Event {
                name,
                payload: None,
                description: None,
                span: node.span,
            });
        }
        let fields = self.fields(node, "an event", Place::Event, &[])?;
        let name = self
            .required(&fields, node, keys::NAME, "an event")
            .and_then(|n| self.string(n));
        Some(Event {
            name: name?,
            payload: fields.get(keys::PAYLOAD).and_then(|n| self.code(n)),
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            span: node.span,
        })
    }

    /// `attributes: { states: [..], events: [..], ends: [..] }`, each an attribute string or a
    /// list of them.
    fn attributes(&mut self, node: &Node) -> Option<Attributes> {
        let fields = self.fields(node, "`attributes`", Place::Attributes, &[])?;
        let mut list = |key: &str| -> Vec<Spanned<String>> {
            let Some(node) = fields.get(key) else {
                return Vec::new();
            };
            match &node.kind {
                Kind::Seq(items) => items.iter().filter_map(|i| self.attribute(i)).collect(),
                _ => self.attribute(node).into_iter().collect(),
            }
        };
        Some(Attributes {
            states: list(keys::STATES),
            events: list(keys::EVENTS),
            ends: list(keys::ENDS),
            span: node.span,
        })
    }

    /// One attribute string; its span is its content, so that a mistake in it is pointed at.
    fn attribute(&mut self, node: &Node) -> Option<Spanned<String>> {
        if let Kind::Scalar { text, style } = &node.kind
            && matches!(resolve(text, *style), Scalar::Null)
        {
            // `- #[derive(Hash)]`: after a space, `#` starts a YAML comment.
            self.wrong_type(
                node,
                "an attribute",
                Some(
                    "quote attributes: `- \"#[derive(Hash)]\"` (in YAML, a `#` after a space starts a comment)"
                        .to_owned(),
                ),
            );
            return None;
        }
        self.code(node)
    }

    fn function_decl(&mut self, node: &Node) -> Option<FunctionDecl> {
        let fields = self.fields(
            node,
            "a function declaration",
            Place::FunctionDecl,
            refused::FUNCTION_DECL,
        )?;
        let name = self
            .required(&fields, node, keys::NAME, "a function declaration")
            .and_then(|n| self.string(n));
        Some(FunctionDecl {
            name: name?,
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            infallible: fields.get(keys::INFALLIBLE).and_then(|n| self.boolean(n)),
            atomic: fields.get(keys::ATOMIC).and_then(|n| self.boolean(n)),
            fallible: fields.get(keys::FALLIBLE).and_then(|n| self.boolean(n)),
            r#async: fields.get(keys::ASYNC).and_then(|n| self.boolean(n)),
            span: node.span,
        })
    }

    fn store(&mut self, node: &Node) -> Option<Store> {
        let fields = self.fields(node, "the store", Place::Store, &[])?;
        let resource = self
            .required(&fields, node, keys::RESOURCE, "the store")
            .and_then(|n| self.string(n));
        let table = self
            .required(&fields, node, keys::TABLE, "the store")
            .and_then(|n| self.string(n));
        Some(Store {
            resource: resource?,
            table: table?,
            span: node.span,
        })
    }

    fn resource(&mut self, node: &Node) -> Option<Resource> {
        let fields = self.fields(node, "a resource", Place::Resource, refused::RESOURCE)?;
        let name = self
            .required(&fields, node, keys::NAME, "a resource")
            .and_then(|n| self.string(n));
        let kind = self
            .required(&fields, node, keys::KIND, "a resource")
            .and_then(|n| self.choice(n, "resource kind", keys::RESOURCE_KINDS));
        let config = fields.get(keys::CONFIG).map(|n| self.value(n));
        if let Some(config) = &config
            && !matches!(config.value, Value::Map(_))
        {
            self.error(Diagnostic::error(
                codes::WRONG_TYPE,
                "expected a mapping of settings for `config`",
                config.span,
                "expected a mapping",
            ));
        }
        let mut resource = Resource {
            name: name?,
            kind: kind?,
            config,
            description: fields.get(keys::DESCRIPTION).and_then(|n| self.string(n)),
            connection_pool_size: None,
            timeout_seconds: None,
            retry_attempts: None,
            retry_delay_seconds: None,
            health_check_interval: None,
            transaction: None,
            span: node.span,
        };
        // Checked by validation against the catalog (`crate::resources::OWN`), like `config`;
        // the span covers `key: value`.
        for key in crate::resources::OWN.iter().map(|s| s.name).chain([keys::TRANSACTION]) {
            let Some(value_node) = fields.get(key) else { continue };
            let value = self.value(value_node);
            let start = key_span(node, key).map_or(value.span.start, |k| k.start);
            if let Some(slot) = resource.own_setting_mut(key) {
                *slot = Some(Spanned::new(value.value, Span::new(start, value.span.end)));
            }
        }
        Some(resource)
    }
}

/// The span of `key` in a mapping node.
fn key_span(node: &Node, key: &str) -> Option<Span> {
    match &node.kind {
        Kind::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.scalar() == Some(key))
            .map(|(k, _)| k.span),
        _ => None,
    }
}

fn key_span_or(node: &Node, key: &str, fallback: Span) -> Span {
    key_span(node, key).unwrap_or(fallback)
}
