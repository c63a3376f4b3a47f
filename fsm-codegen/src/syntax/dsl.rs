//! The `fsm!` front end: Rust tokens -> spanned [`ast`](crate::ast).
//!
//! The grammar reads like the YAML format written the way Rust is written (the full reference
//! with a complete example is `docs/dsl.md`):
//!
//! ```text
//! /// doc comments become `description`
//! machine Order {
//!     data: crate::Order;                 // machine settings: `key: value;`
//!     data_mode: copy;
//!     events { Pay(u64), Ship, Cancel }   // like an enum: payloads in parentheses
//!     resources { db: sqlite { path: "orders.db" } }
//!     functions { /// Marks the order paid.
//!                 mark_paid: infallible, charge }
//!     network main {
//!         start state new;
//!         state paid { validate: check_amount; transform: [charge, rust!(data.paid = true)]; on_error: failed; }
//!         end state shipped;
//!         end state failed;
//!         new -> paid on Pay if is_valid priority 2;
//!         paid -> shipped on Ship do notify using db;
//!         paid -> push billing return shipped;
//!     }
//! }
//! ```
//!
//! # Spans without text
//!
//! A macro has no source text, only tokens. The parser numbers every token it reads into a
//! [`TokenSpans`] table and gives each AST node the [`Span`] `first..last + 1` of token indices, so
//! the checks and diagnostics of the YAML path work unchanged; the macro maps a diagnostic back to
//! the tokens with [`TokenSpans::error`]. Indices grow in source order, so sorting diagnostics by
//! span still sorts them by position.
//!
//! Grammar mistakes are `syn::Error`s at the exact token. Mistakes that have a YAML counterpart
//! (unknown key, value of the wrong type, `data_mode: fast`, an inline Rust expression that does
//! not parse) are [`Diagnostic`]s with the same codes as the YAML path. The parser recovers at
//! the next `;` (or `,` in lists), so every mistake of an invocation is reported at once. It never
//! panics, whatever the tokens.

use crate::ast::{
    Arc, Attributes, Compensate, DataMode, ErrorArc, ErrorDecl, Event, FunctionDecl, FunctionRef, Machine, Network,
    Origin, Resource, ResourceKind, State, Store, Superstate, Value, WILDCARD,
};
use crate::diagnostics::{Diagnostic, Diagnostics, codes, did_you_mean};
use crate::span::{Span, Spanned};
use crate::syntax::keys::{self, Place};
use proc_macro2::{Delimiter, Ident, Spacing, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser as _};
use syn::{LitStr, Token};

/// Keys accepted in the machine body (`key: value;`): the [`Dsl::Setting`](keys::Dsl::Setting)s
/// of the machine in the table of keys.
pub fn machine_keys() -> Vec<&'static str> {
    keys::dsl_settings(Place::Machine)
}

/// Keys accepted in a state block (`state s { key: value; }`).
pub fn state_keys() -> Vec<&'static str> {
    keys::dsl_settings(Place::State)
}

/// Clauses of an arc (`a -> b on E if g priority 1 do f using r;`).
pub fn arc_clauses() -> Vec<&'static str> {
    keys::dsl_clauses(Place::Arc)
}

/// The `proc_macro2` span of every token the parser read, indexed by the offsets used in the
/// AST's [`Span`]s.
#[derive(Clone, Debug, Default)]
pub struct TokenSpans {
    spans: Vec<proc_macro2::Span>,
}

impl TokenSpans {
    /// Number of recorded tokens.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether no token was recorded.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The span of the first and the last token a [`Span`] covers, or the call site for a span
    /// that does not come from this table.
    pub fn ends(&self, span: Span) -> (proc_macro2::Span, proc_macro2::Span) {
        let first = self.spans.get(span.start as usize).copied();
        let last = self.spans.get(span.end.saturating_sub(1) as usize).copied();
        match (first, last) {
            (Some(first), Some(last)) if span.end > span.start => (first, last),
            (Some(first), _) => (first, first),
            _ => {
                let site = proc_macro2::Span::call_site();
                (site, site)
            }
        }
    }

    /// The span of every token a [`Span`] covers, in the order they were read (empty for a span
    /// that does not come from this table).
    pub fn all(&self, span: Span) -> &[proc_macro2::Span] {
        self.spans.get(span.start as usize..span.end as usize).unwrap_or(&[])
    }

    /// One `proc_macro2` span for a [`Span`]: the tokens joined when the compiler can join them
    /// (nightly), else the first token.
    pub fn resolve(&self, span: Span) -> proc_macro2::Span {
        let (first, last) = self.ends(span);
        first.join(last).unwrap_or(first)
    }

    /// A `syn::Error` covering the tokens of `span`. Like `syn::Error::new_spanned`, it carries the
    /// first and the last token, so on stable rustc underlines the whole range.
    pub fn error(&self, span: Span, message: impl std::fmt::Display) -> syn::Error {
        let (first, last) = self.ends(span);
        let tokens: TokenStream = [Ident::new("__fsm_start", first), Ident::new("__fsm_end", last)]
            .into_iter()
            .map(TokenTree::Ident)
            .collect();
        syn::Error::new_spanned(tokens, message)
    }
}

/// The result of parsing an `fsm!` invocation.
#[derive(Debug)]
pub struct DslParse {
    /// The machine, as far as it could be read (`None` when even `machine Name { ... }` is
    /// missing). Statements with grammar mistakes are left out.
    pub machine: Option<Machine>,
    /// Token spans of every AST [`Span`].
    pub spans: TokenSpans,
    /// Mistakes with a YAML counterpart, with the same codes; spans index [`Self::spans`].
    pub diagnostics: Diagnostics,
    /// Grammar mistakes, each at its token.
    pub syntax_errors: Vec<syn::Error>,
}

impl DslParse {
    /// Whether anything went wrong while reading (the AST is then incomplete and is not
    /// validated further).
    pub fn has_errors(&self) -> bool {
        !self.syntax_errors.is_empty() || self.diagnostics.has_errors()
    }
}

/// Parses the tokens of an `fsm!` invocation.
pub fn parse(tokens: TokenStream) -> DslParse {
    let mut p = Parser::default();
    let deep = crate::depth::too_deep_tokens(&tokens).map(|at| (at, true));
    if let Some((at, deep)) = deep.or_else(|| crate::depth::long_number_tokens(&tokens).map(|at| (at, false))) {
        let span = p.one(at);
        p.diags.push(if deep {
            crate::depth::too_deep_tokens_diagnostic(span)
        } else {
            crate::depth::long_number_diagnostic(span)
        });
        return DslParse {
            machine: None,
            spans: TokenSpans { spans: p.spans },
            diagnostics: p.diags,
            syntax_errors: p.errors,
        };
    }
    let machine = (|input: ParseStream<'_>| p.document(input)).parse2(tokens);
    let mut machine = match machine {
        Ok(m) => m,
        Err(e) => {
            p.errors.push(e);
            None
        }
    };
    if let Some(machine) = &mut machine {
        machine.expand_arcs();
    }
    if let Some(machine) = &machine
        && p.errors.is_empty()
    {
        empty(machine, &mut p.diags);
    }
    DslParse {
        machine,
        spans: TokenSpans { spans: p.spans },
        diagnostics: p.diags,
        syntax_errors: p.errors,
    }
}

/// A machine without states, or a network without states: the generator needs a state to start
/// in. Reported only when the grammar was followed (a broken state is its own error).
fn empty(machine: &Machine, diags: &mut Diagnostics) {
    if machine.networks.is_empty() {
        diags.push(
            Diagnostic::error(
                codes::NO_START_STATE,
                "the machine has no states",
                machine.name.span,
                "no network, no state",
            )
            .with_help("add states (`start state a;`, `end state b;`) and arcs (`a -> b;`)"),
        );
    }
    for network in machine.networks.iter().filter(|n| n.states.is_empty()) {
        diags.push(
            Diagnostic::error(
                codes::NO_START_STATE,
                format!("network `{}` has no states", network.name.value),
                network.name.span,
                "no state to start in",
            )
            .with_help("add its states (`start state a;`, `end state b;`) and arcs (`a -> b;`)"),
        );
    }
}

/// Line and column (1-based) of a token, when the caller can tell (a proc-macro can, with
/// proc-macro2's `span-locations`); used to say where a secondary label ("first defined here") is.
pub type Locate<'a> = &'a dyn Fn(proc_macro2::Span) -> Option<(usize, usize)>;

/// The message a diagnostic gets in a `compile_error!`: `code: message`, then the primary label,
/// secondary labels (with line and column when `locate` gives them) and help.
pub fn message(d: &Diagnostic, spans: &TokenSpans, locate: Locate<'_>) -> String {
    let mut out = format!("{}: {}", d.code, d.message);
    for label in &d.labels {
        if label.message.is_empty() {
            continue;
        }
        if label.primary {
            out.push_str(&format!("\n  = label: {}", label.message));
        } else {
            match locate(spans.ends(label.span).0) {
                Some((line, column)) => {
                    out.push_str(&format!("\n  = note: {} (line {line}, column {column})", label.message));
                }
                None => out.push_str(&format!("\n  = note: {}", label.message)),
            }
        }
    }
    if let Some(help) = &d.help {
        out.push_str(&format!("\n  = help: {help}"));
    }
    out
}

/// Every error of a parse and of later stages as one combined `syn::Error` (`None` if there is
/// none). Warnings are left out: see [`message`] for their text.
pub fn to_syn_error<'a>(
    syntax_errors: impl IntoIterator<Item = &'a syn::Error>,
    diagnostics: &Diagnostics,
    spans: &TokenSpans,
    locate: Locate<'_>,
) -> Option<syn::Error> {
    let mut all: Option<syn::Error> = None;
    let mut add = |e: syn::Error| match &mut all {
        Some(a) => a.combine(e),
        None => all = Some(e),
    };
    // Grammar mistakes carry a code too, like every other diagnostic: `fsm::dsl_syntax: ...`.
    for e in syntax_errors {
        for one in e.clone() {
            add(syn::Error::new(
                one.span(),
                format!(
                    "{}: {one}\n  = help: the grammar of `fsm!` is in docs/dsl.md",
                    codes::DSL_SYNTAX
                ),
            ));
        }
    }
    for d in diagnostics.iter().filter(|d| d.severity == crate::Severity::Error) {
        add(spans.error(d.span(), message(d, spans, locate)));
    }
    all
}

type Result<T> = syn::Result<T>;

#[derive(Default)]
struct Parser {
    spans: Vec<proc_macro2::Span>,
    diags: Diagnostics,
    errors: Vec<syn::Error>,
}

/// Which list a statement-level recovery skips to the end of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Semi,
    Comma,
}

impl Parser {
    /// Records a token span; returns its index.
    fn mark(&mut self, span: proc_macro2::Span) -> u32 {
        let i = u32::try_from(self.spans.len()).unwrap_or(u32::MAX);
        self.spans.push(span);
        i
    }

    fn one(&mut self, span: proc_macro2::Span) -> Span {
        let i = self.mark(span);
        Span::new(i, i.saturating_add(1))
    }

    /// The next index (the end of a node whose last token was just marked).
    fn here(&self) -> u32 {
        u32::try_from(self.spans.len()).unwrap_or(u32::MAX)
    }

    /// Records first and last token of a token stream; returns the covering span.
    fn mark_tokens(&mut self, tokens: &TokenStream, fallback: proc_macro2::Span) -> Span {
        let mut iter = tokens.clone().into_iter();
        let first = iter.next().map_or(fallback, |t| t.span());
        let last = iter.last().map(|t| t.span());
        let start = self.mark(first);
        if let Some(last) = last {
            self.mark(last);
        }
        Span::new(start, self.here())
    }

    /// Consumes tokens up to and including the next `;` (or `,`), or a `{ ... }` group ending a
    /// statement, so that parsing can go on after a mistake.
    fn recover(input: ParseStream<'_>, stop: Stop) {
        let _ = input.step(|cursor| {
            let mut c = *cursor;
            while let Some((tt, next)) = c.token_tree() {
                c = next;
                match &tt {
                    TokenTree::Punct(p) if p.as_char() == ';' => break,
                    TokenTree::Punct(p) if p.as_char() == ',' && stop == Stop::Comma => break,
                    TokenTree::Group(g) if g.delimiter() == Delimiter::Brace && stop == Stop::Semi => {
                        // `state x { .. }` ends at its block; `key: { .. };` has its `;` next.
                        if let Some((TokenTree::Punct(p), after)) = c.token_tree()
                            && p.as_char() == ';'
                        {
                            c = after;
                        }
                        break;
                    }
                    _ => {}
                }
            }
            Ok(((), c))
        });
    }

    /// Consumes the rest of a delimited group (so that syn does not add an "unexpected token"
    /// error to the one being reported).
    fn drain(input: ParseStream<'_>) {
        let _ = input.step(|cursor| {
            let mut c = *cursor;
            while let Some((_, next)) = c.token_tree() {
                c = next;
            }
            Ok(((), c))
        });
    }

    // ---------------------------------------------------------------- document

    fn document(&mut self, input: ParseStream<'_>) -> Result<Option<Machine>> {
        let description = self.docs(input)?;
        let kw = Ident::parse_any(input).map_err(|e| syn::Error::new(e.span(), "expected `machine Name { ... }`"))?;
        if kw != "machine" {
            return Err(syn::Error::new(kw.span(), "expected `machine Name { ... }`"));
        }
        let start = self.mark(kw.span());
        let name = self.name(input)?;
        let content;
        let brace = syn::braced!(content in input);
        let mut machine = Machine {
            name,
            version: None,
            description,
            data: None,
            data_mode: None,
            store: None,
            main_network: None,
            networks: Vec::new(),
            events: Vec::new(),
            resources: Vec::new(),
            functions: Vec::new(),
            attributes: None,
            errors: Vec::new(),
            max_transitions: None,
            deny_warnings: None,
            metadata: None,
            implicit_network: false,
            span: Span::default(),
        };
        let mut implicit = Network {
            name: Spanned::new("main".to_owned(), machine.name.span),
            description: None,
            states: Vec::new(),
            arcs: Vec::new(),
            superstates: Vec::new(),
            span: machine.name.span,
        };
        let mut first_implicit: Option<proc_macro2::Span> = None;
        let mut keys = Keys::default();
        while !content.is_empty() {
            if let Err(e) = self.machine_item(&content, &mut machine, &mut implicit, &mut first_implicit, &mut keys) {
                self.errors.push(e);
                Self::recover(&content, Stop::Semi);
            }
        }
        let end = self.one(brace.span.close());
        machine.span = Span::new(start, end.end);
        if !implicit.states.is_empty() || !implicit.arcs.is_empty() {
            if machine.networks.is_empty() {
                machine.implicit_network = true;
                implicit.span = machine.span;
                machine.networks.push(implicit);
            } else if let Some(at) = first_implicit {
                self.errors.push(syn::Error::new(
                    at,
                    "states and arcs must be inside a `network` block when the machine declares networks",
                ));
            }
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the machine: one `fsm!` invocation declares one machine"));
        }
        Ok(Some(machine))
    }

    fn machine_item(
        &mut self,
        input: ParseStream<'_>,
        machine: &mut Machine,
        implicit: &mut Network,
        first_implicit: &mut Option<proc_macro2::Span>,
        keys: &mut Keys,
    ) -> Result<()> {
        let docs = self.docs(input)?;
        let lookahead_word = input.fork().call(Ident::parse_any).ok();
        let word = lookahead_word.as_ref().map(Ident::to_string);
        match word.as_deref() {
            Some("network") if !input.peek2(Token![->]) && !input.peek2(Token![:]) => {
                let kw = Ident::parse_any(input)?;
                let start = self.mark(kw.span());
                let name = self.name(input)?;
                let content;
                let brace = syn::braced!(content in input);
                let mut network = Network {
                    name,
                    description: docs,
                    states: Vec::new(),
                    arcs: Vec::new(),
                    superstates: Vec::new(),
                    span: Span::default(),
                };
                self.network_body(&content, &mut network);
                let end = self.one(brace.span.close());
                network.span = Span::new(start, end.end);
                machine.networks.push(network);
                Ok(())
            }
            Some("events") if input.peek2(syn::token::Brace) => {
                let events = self.item_block(input, docs, keys, "events", Self::event)?;
                machine.events.extend(events);
                Ok(())
            }
            Some("resources") if input.peek2(syn::token::Brace) => {
                let resources = self.item_block(input, docs, keys, "resources", Self::resource)?;
                machine.resources.extend(resources);
                Ok(())
            }
            Some("functions") if input.peek2(syn::token::Brace) => {
                let functions = self.item_block(input, docs, keys, "functions", Self::function_decl)?;
                machine.functions.extend(functions);
                Ok(())
            }
            Some("errors") if input.peek2(syn::token::Brace) => {
                let errors = self.item_block(input, docs, keys, "errors", Self::error_decl)?;
                machine.errors.extend(errors);
                Ok(())
            }
            Some("attributes") if input.peek2(syn::token::Brace) => {
                self.no_docs(docs, "attributes")?;
                let kw = Ident::parse_any(input)?;
                let span = self.one(kw.span());
                if keys.check(self, keys::ATTRIBUTES, span) {
                    machine.attributes = Some(self.attributes(input, span.start)?);
                } else {
                    let _ = self.attributes(input, span.start)?;
                }
                Ok(())
            }
            Some(_) if input.peek2(Token![:]) && !input.peek2(Token![::]) => {
                self.no_docs(docs, "a setting")?;
                self.machine_setting(input, machine, keys)
            }
            _ => {
                if first_implicit.is_none() {
                    *first_implicit = Some(input.span());
                }
                self.network_item(input, docs, implicit)
            }
        }
    }

    fn machine_setting(&mut self, input: ParseStream<'_>, machine: &mut Machine, keys: &mut Keys) -> Result<()> {
        let key = Ident::parse_any(input)?;
        let key_span = self.one(key.span());
        input.parse::<Token![:]>()?;
        let key = key.to_string();
        let known = machine_keys();
        if !known.contains(&key.as_str()) {
            self.unknown_key(Place::Machine, &key, key_span, &known, "machine");
            Self::recover(input, Stop::Semi);
            return Ok(());
        }
        if !keys.check(self, &key, key_span) {
            Self::recover(input, Stop::Semi);
            return Ok(());
        }
        match key.as_str() {
            keys::VERSION => machine.version = self.scalar_text(input, keys::VERSION)?,
            keys::DATA => machine.data = self.rust_type(input)?,
            keys::DATA_MODE => machine.data_mode = self.data_mode(input)?,
            keys::STORE => machine.store = Some(self.store(input)?),
            keys::MAIN_NETWORK => machine.main_network = Some(self.name(input)?),
            keys::MAX_TRANSITIONS => machine.max_transitions = self.positive(input, keys::MAX_TRANSITIONS)?,
            keys::DENY_WARNINGS => machine.deny_warnings = self.boolean(input, keys::DENY_WARNINGS)?,
            keys::METADATA => machine.metadata = Some(self.value(input)?),
            // A setting of the table this parser does not read (the table test catches it).
            _ => {
                self.unknown_key(Place::Machine, &key, key_span, &known, "machine");
                Self::recover(input, Stop::Semi);
                return Ok(());
            }
        }
        self.semi(input)
    }

    // ---------------------------------------------------------------- networks

    fn network_body(&mut self, input: ParseStream<'_>, network: &mut Network) {
        while !input.is_empty() {
            let result = self
                .docs(input)
                .and_then(|docs| self.network_item(input, docs, network));
            if let Err(e) = result {
                self.errors.push(e);
                Self::recover(input, Stop::Semi);
            }
        }
    }

    fn network_item(
        &mut self,
        input: ParseStream<'_>,
        description: Option<Spanned<String>>,
        network: &mut Network,
    ) -> Result<()> {
        let is_name = input.peek(LitStr) || input.fork().call(Ident::parse_any).is_ok();
        if (is_name || input.peek(syn::token::Bracket)) && input.peek2(Token![->]) {
            let arcs = self.arc(input, description)?;
            network.arcs.extend(arcs);
            return Ok(());
        }
        let word = input.fork().call(Ident::parse_any).ok();
        if word.as_ref().is_some_and(|w| w == "superstate") && !input.peek2(Token![:]) {
            let kw = Ident::parse_any(input)?;
            let start = self.mark(kw.span());
            let superstate = self.superstate(input, start, description)?;
            network.superstates.push(superstate);
            return Ok(());
        }
        let mut is_start = None;
        let mut is_end = None;
        let mut start = None;
        loop {
            let word = input.fork().call(Ident::parse_any).ok();
            match word.as_ref().map(Ident::to_string).as_deref() {
                Some("start") if is_start.is_none() => {
                    let kw = Ident::parse_any(input)?;
                    let span = self.one(kw.span());
                    start.get_or_insert(span.start);
                    is_start = Some(Spanned::new(true, span));
                }
                Some("end") if is_end.is_none() => {
                    let kw = Ident::parse_any(input)?;
                    let span = self.one(kw.span());
                    start.get_or_insert(span.start);
                    is_end = Some(Spanned::new(true, span));
                }
                Some("state") => {
                    let kw = Ident::parse_any(input)?;
                    let span = self.one(kw.span());
                    let start = start.unwrap_or(span.start);
                    let state = self.state(input, start, description, is_start, is_end)?;
                    network.states.push(state);
                    return Ok(());
                }
                _ if is_start.is_some() || is_end.is_some() => {
                    return Err(input.error("expected `state` (e.g. `start state new;` or `end state done;`)"));
                }
                _ => {
                    return Err(input.error(
                        "expected a state (`state name;`, `start state name;`, `end state name;`) or an arc \
                         (`from -> to;`)",
                    ));
                }
            }
        }
    }

    fn state(
        &mut self,
        input: ParseStream<'_>,
        start: u32,
        description: Option<Spanned<String>>,
        is_start: Option<Spanned<bool>>,
        is_end: Option<Spanned<bool>>,
    ) -> Result<State> {
        let name = self.name(input)?;
        // `state red(RedLight)`: the state's own data, written like an event's payload.
        let mut data = None;
        if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            data = self.type_in(&content, paren.span.join())?;
        }
        let mut state = State {
            name,
            description,
            is_start,
            is_end,
            validate: Vec::new(),
            parallel: None,
            transform: Vec::new(),
            on_entry: Vec::new(),
            on_exit: Vec::new(),
            superstate: None,
            on_error: Vec::new(),
            compensate: None,
            data_mode: None,
            data,
            retry: None,
            timeout_seconds: None,
            circuit_breaker: None,
            rate_limit: None,
            max_concurrency: None,
            resources: Vec::new(),
            metadata: None,
            span: Span::default(),
        };
        if input.peek(syn::token::Brace) {
            let content;
            let brace = syn::braced!(content in input);
            let mut keys = Keys::default();
            while !content.is_empty() {
                if let Err(e) = self.state_setting(&content, &mut state, &mut keys) {
                    self.errors.push(e);
                    Self::recover(&content, Stop::Semi);
                }
            }
            let end = self.one(brace.span.close());
            // `state x { .. };` is accepted too.
            if input.peek(Token![;]) {
                input.parse::<Token![;]>()?;
            }
            state.span = Span::new(start, end.end);
        } else if input.peek(Token![;]) {
            let semi: Token![;] = input.parse()?;
            let end = self.one(semi.span);
            state.span = Span::new(start, end.end);
        } else {
            let (at, _) = self.token_span(state.name.span);
            return Err(syn::Error::new(
                at,
                format!(
                    "expected `;` after `state {}` (or a `{{ ... }}` block of settings)",
                    state.name.value
                ),
            ));
        }
        Ok(state)
    }

    fn state_setting(&mut self, input: ParseStream<'_>, state: &mut State, keys: &mut Keys) -> Result<()> {
        if input.peek(Token![#]) {
            return Err(input.error("doc comments of a state go before `state`, not inside its block"));
        }
        let key = Ident::parse_any(input).map_err(|e| syn::Error::new(e.span(), "expected a setting `key: value;`"))?;
        let key_span = self.one(key.span());
        input.parse::<Token![:]>()?;
        let key = key.to_string();
        let known = state_keys();
        if !known.contains(&key.as_str()) {
            self.unknown_key(Place::State, &key, key_span, &known, "state");
            Self::recover(input, Stop::Semi);
            return Ok(());
        }
        if !keys.check(self, &key, key_span) {
            Self::recover(input, Stop::Semi);
            return Ok(());
        }
        match key.as_str() {
            keys::VALIDATE => state.validate = self.functions(input)?,
            keys::TRANSFORM => state.transform = self.functions(input)?,
            keys::PARALLEL => state.parallel = Some(Spanned::new(self.functions(input)?, key_span)),
            keys::ON_ENTRY => state.on_entry = self.functions(input)?,
            keys::ON_EXIT => state.on_exit = self.functions(input)?,
            keys::SUPERSTATE => state.superstate = Some(self.name(input)?),
            keys::ON_ERROR => state.on_error = self.on_error(input)?,
            keys::COMPENSATE => state.compensate = Some(self.compensate(input)?),
            keys::DATA_MODE => state.data_mode = self.data_mode(input)?,
            keys::RETRY => state.retry = Some(self.value(input)?),
            keys::TIMEOUT_SECONDS => state.timeout_seconds = Some(self.value(input)?),
            keys::CIRCUIT_BREAKER => state.circuit_breaker = Some(self.value(input)?),
            keys::RATE_LIMIT => state.rate_limit = Some(self.value(input)?),
            keys::MAX_CONCURRENCY => state.max_concurrency = Some(self.value(input)?),
            keys::RESOURCES => state.resources = self.names(input)?,
            keys::METADATA => state.metadata = Some(self.value(input)?),
            // A setting of the table this parser does not read (the table test catches it).
            _ => {
                self.unknown_key(Place::State, &key, key_span, &known, "state");
                Self::recover(input, Stop::Semi);
                return Ok(());
            }
        }
        self.semi(input)
    }

    /// `superstate name;` or `superstate name { parent: p; on_entry: f; on_exit: g; }` (after
    /// the keyword, which starts at `start`).
    fn superstate(
        &mut self,
        input: ParseStream<'_>,
        start: u32,
        description: Option<Spanned<String>>,
    ) -> Result<Superstate> {
        let name = self.name(input)?;
        let mut sup = Superstate {
            name,
            description,
            parent: None,
            initial: None,
            history: None,
            on_entry: Vec::new(),
            on_exit: Vec::new(),
            span: Span::default(),
        };
        if input.peek(Token![;]) {
            let semi: Token![;] = input.parse()?;
            let end = self.one(semi.span);
            sup.span = Span::new(start, end.end);
            return Ok(sup);
        }
        let content;
        let brace = syn::braced!(content in input);
        let mut keys = Keys::default();
        let known = keys::dsl_settings(Place::Superstate);
        while !content.is_empty() {
            let result = (|| -> Result<()> {
                let key = Ident::parse_any(&content)
                    .map_err(|e| syn::Error::new(e.span(), "expected a setting `key: value;`"))?;
                let key_span = self.one(key.span());
                content.parse::<Token![:]>()?;
                let key = key.to_string();
                if !known.contains(&key.as_str()) {
                    self.unknown_key(Place::Superstate, &key, key_span, &known, "superstate");
                    Self::recover(&content, Stop::Semi);
                    return Ok(());
                }
                if !keys.check(self, &key, key_span) {
                    Self::recover(&content, Stop::Semi);
                    return Ok(());
                }
                match key.as_str() {
                    keys::PARENT => sup.parent = Some(self.name(&content)?),
                    keys::INITIAL => sup.initial = Some(self.name(&content)?),
                    keys::HISTORY => sup.history = self.boolean(&content, &key)?,
                    keys::ON_ENTRY => sup.on_entry = self.functions(&content)?,
                    keys::ON_EXIT => sup.on_exit = self.functions(&content)?,
                    _ => {
                        self.unknown_key(Place::Superstate, &key, key_span, &known, "superstate");
                        Self::recover(&content, Stop::Semi);
                        return Ok(());
                    }
                }
                self.semi(&content)
            })();
            if let Err(e) = result {
                self.errors.push(e);
                Self::recover(&content, Stop::Semi);
            }
        }
        let end = self.one(brace.span.close());
        if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
        }
        sup.span = Span::new(start, end.end);
        Ok(sup)
    }

    /// An arc; one per source when the source is a list (`[a, b] -> c`).
    fn arc(&mut self, input: ParseStream<'_>, description: Option<Spanned<String>>) -> Result<Vec<Arc>> {
        let sources: Vec<(Spanned<String>, Origin)> = if input.peek(syn::token::Bracket) {
            let names = self.names(input)?;
            if names.is_empty() {
                return Err(input.error("name at least one state in `[..] ->`"));
            }
            names.into_iter().map(|n| (n, Origin::List)).collect()
        } else {
            let from = self.name(input)?;
            let origin = if from.value == WILDCARD {
                Origin::Wildcard
            } else {
                Origin::Written
            };
            vec![(from, origin)]
        };
        let start = sources.first().map_or(self.here(), |(f, _)| f.span.start);
        input.parse::<Token![->]>()?;
        let mut arc = Arc {
            from: Spanned::new(String::new(), Span::default()),
            to: None,
            description,
            on: None,
            condition: Vec::new(),
            transform: Vec::new(),
            data: None,
            priority: None,
            target_network: None,
            return_state: None,
            resources: Vec::new(),
            internal: None,
            into: None,
            origin: Origin::Written,
            span: Span::default(),
        };
        let each = |arc: Arc| -> Vec<Arc> {
            sources
                .iter()
                .map(|(from, origin)| Arc {
                    from: from.clone(),
                    origin: origin.clone(),
                    ..arc.clone()
                })
                .collect()
        };
        let is_push = input.fork().call(Ident::parse_any).is_ok_and(|i| i == "push")
            && (input.peek2(syn::Ident::peek_any) || input.peek2(LitStr));
        if is_push {
            let kw = Ident::parse_any(input)?;
            self.mark(kw.span());
            arc.target_network = Some(self.name(input)?);
            if input.peek(Token![return]) {
                let kw: Token![return] = input.parse()?;
                self.mark(kw.span);
                arc.return_state = Some(self.name(input)?);
            }
        } else {
            arc.to = Some(self.name(input)?);
        }
        let mut keys = Keys::default();
        while !input.peek(Token![;]) {
            if input.is_empty() {
                return Err(input.error("expected `;` after the arc"));
            }
            let word = Ident::parse_any(input).map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "expected an arc clause (`on Event`, `if guard`, `priority 1`, `do transform`, \
                     `with make_data`, `using resource`) or `;`",
                )
            })?;
            let span = self.one(word.span());
            let span_of_word = word.span();
            let word = word.to_string();
            if word == keys::INTERNAL {
                if !keys.check(self, &word, span) {
                    Self::recover(input, Stop::Semi);
                    arc.span = Span::new(start, self.here());
                    return Ok(each(arc));
                }
                arc.internal = Some(Spanned::new(true, span));
                continue;
            }
            let clauses = arc_clauses();
            let clause = keys::dsl_clause(Place::Arc, &word);
            if clause.is_none() {
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_KEY,
                    format!("unknown arc clause `{word}`"),
                    span,
                    "not a clause of an arc",
                );
                // An alias names the key (`guard` means `condition`): say the clause's word.
                let meant = keys::meant(Place::Arc, &word, clauses.iter().copied()).map(|k| {
                    keys::keys(Place::Arc)
                        .iter()
                        .find_map(|key| match key.dsl {
                            keys::Dsl::Clause(w) if key.name == k => Some(w),
                            _ => None,
                        })
                        .unwrap_or(k)
                });
                d = d.with_help(match meant {
                    Some(s) => format!("did you mean `{s}`? An arc takes: {}", clauses.join(", ")),
                    None => format!("an arc takes: {}", clauses.join(", ")),
                });
                self.diags.push(d);
                Self::recover(input, Stop::Semi);
                arc.span = Span::new(start, self.here());
                return Ok(each(arc));
            }
            if !keys.check(self, &word, span) {
                Self::recover(input, Stop::Semi);
                arc.span = Span::new(start, self.here());
                return Ok(each(arc));
            }
            match clause {
                Some(keys::ON) => arc.on = Some(self.name(input)?),
                Some(keys::CONDITION) => {
                    // A condition that does not parse is still a condition (see the YAML reader).
                    let at = self.here();
                    arc.condition = self.functions(input)?;
                    if arc.condition.is_empty() {
                        arc.condition = vec![FunctionRef::Named(Spanned::new(String::new(), Span::new(at, at)))];
                    }
                }
                Some(keys::PRIORITY) => arc.priority = self.integer(input, keys::PRIORITY)?,
                Some(keys::TRANSFORM) => arc.transform = self.functions(input)?,
                Some(keys::DATA) => arc.data = self.function(input)?,
                Some(keys::RESOURCES) => arc.resources = self.names(input)?,
                // A clause of the table this parser does not read (the table test catches it).
                _ => {
                    return Err(syn::Error::new(
                        span_of_word,
                        format!("the arc clause `{word}` is not supported by this parser"),
                    ));
                }
            }
        }
        let semi: Token![;] = input.parse()?;
        let end = self.one(semi.span);
        arc.span = Span::new(start, end.end);
        Ok(each(arc))
    }

    // ---------------------------------------------------------------- attributes

    /// The block of `attributes { states: #[derive(Hash)] #[repr(u8)]; events: ..; ends: ..; }`
    /// (after the keyword, which starts at `start`).
    fn attributes(&mut self, input: ParseStream<'_>, start: u32) -> Result<Attributes> {
        let content;
        let brace = syn::braced!(content in input);
        let mut attributes = Attributes {
            states: Vec::new(),
            events: Vec::new(),
            ends: Vec::new(),
            span: Span::default(),
        };
        let mut keys = Keys::default();
        let known = keys::dsl_settings(Place::Attributes);
        while !content.is_empty() {
            let result = (|| {
                let key = Ident::parse_any(&content)
                    .map_err(|e| syn::Error::new(e.span(), "expected `states:`, `events:` or `ends:`"))?;
                let key_span = self.one(key.span());
                content.parse::<Token![:]>()?;
                let key = key.to_string();
                let list = match key.as_str() {
                    keys::STATES => &mut attributes.states,
                    keys::EVENTS => &mut attributes.events,
                    keys::ENDS => &mut attributes.ends,
                    _ => {
                        self.unknown_key(Place::Attributes, &key, key_span, &known, "block of attributes");
                        Self::recover(&content, Stop::Semi);
                        return Ok(());
                    }
                };
                let given = self.attribute_list(&content);
                if keys.check(self, &key, key_span) {
                    *list = given;
                }
                self.semi(&content)
            })();
            if let Err(e) = result {
                self.errors.push(e);
                Self::recover(&content, Stop::Semi);
            }
        }
        let end = self.one(brace.span.close());
        attributes.span = Span::new(start, end.end);
        Ok(attributes)
    }

    /// The attributes up to the next `;`: one piece of text per attribute (`#`, an optional `!`
    /// and a bracketed group), and any other tokens as a piece of their own, for validation to
    /// report like a YAML string that is not an attribute. Every token of a piece is recorded, in
    /// the order the generator meets them, so that rustc's errors about an attribute (a derive
    /// not in scope) point at the token in the macro.
    fn attribute_list(&mut self, input: ParseStream<'_>) -> Vec<Spanned<String>> {
        let tokens: Vec<TokenTree> = input
            .step(|cursor| {
                let mut c = *cursor;
                let mut out = Vec::new();
                while let Some((tt, next)) = c.token_tree() {
                    if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ';') {
                        break;
                    }
                    out.push(tt);
                    c = next;
                }
                Ok((out, c))
            })
            .unwrap_or_default();
        let is_pound = |t: &TokenTree| matches!(t, TokenTree::Punct(p) if p.as_char() == '#');
        let mut pieces: Vec<Vec<TokenTree>> = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let mut piece = vec![tokens[i].clone()];
            i += 1;
            if is_pound(&piece[0]) {
                if matches!(tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == '!') {
                    piece.push(tokens[i].clone());
                    i += 1;
                }
                if let Some(TokenTree::Group(g)) = tokens.get(i)
                    && g.delimiter() == Delimiter::Bracket
                {
                    piece.push(tokens[i].clone());
                    i += 1;
                }
            } else {
                while i < tokens.len() && !is_pound(&tokens[i]) {
                    piece.push(tokens[i].clone());
                    i += 1;
                }
            }
            pieces.push(piece);
        }
        pieces
            .into_iter()
            .map(|piece| {
                let stream: TokenStream = piece.into_iter().collect();
                let start = self.here();
                self.mark_all(&stream);
                Spanned::new(tokens_text(&stream, false), Span::new(start, self.here()))
            })
            .collect()
    }

    /// Records every token of `tokens`, groups before their contents.
    fn mark_all(&mut self, tokens: &TokenStream) {
        for tt in tokens.clone() {
            self.mark(tt.span());
            if let TokenTree::Group(g) = &tt {
                self.mark_all(&g.stream());
            }
        }
    }

    // ---------------------------------------------------------------- events, resources

    /// `name { item, item, ... }` at machine level (`events`, `resources`, `functions`): the items
    /// that parse, each mistake recorded and skipped to the next `,`.
    fn item_block<T>(
        &mut self,
        input: ParseStream<'_>,
        docs: Option<Spanned<String>>,
        keys: &mut Keys,
        name: &str,
        item: fn(&mut Self, ParseStream<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.no_docs(docs, name)?;
        let kw = Ident::parse_any(input)?;
        let span = self.one(kw.span());
        keys.check(self, name, span);
        let content;
        syn::braced!(content in input);
        let mut items = Vec::new();
        self.list(&content, |p, input| {
            items.push(item(p, input)?);
            Ok(())
        });
        Ok(items)
    }

    /// A comma-separated list, recovering at the next `,` after a mistake.
    fn list(&mut self, input: ParseStream<'_>, mut item: impl FnMut(&mut Self, ParseStream<'_>) -> Result<()>) {
        while !input.is_empty() {
            let result = item(self, input).and_then(|()| {
                if input.is_empty() {
                    Ok(())
                } else {
                    input.parse::<Token![,]>().map(drop)
                }
            });
            if let Err(e) = result {
                self.errors.push(e);
                Self::recover(input, Stop::Comma);
            }
        }
    }

    /// `compensate: undo_fn;` (one function) or `compensate: true;` (an end state).
    fn compensate(&mut self, input: ParseStream<'_>) -> Result<Compensate> {
        if input.peek(syn::LitBool) {
            let b: syn::LitBool = input.parse()?;
            let span = self.one(b.span);
            return Ok(Compensate::End(Spanned::new(b.value, span)));
        }
        if input.peek(syn::token::Bracket) {
            return Err(input.error("`compensate` takes one function (or `true` on an end state)"));
        }
        let mut functions = self.functions(input)?;
        match functions.pop() {
            Some(f) if functions.is_empty() => Ok(Compensate::Function(f)),
            _ => Err(input.error("`compensate` takes one function (or `true` on an end state)")),
        }
    }

    /// A kind of error in `errors { .. }`: its name, after optional doc comments.
    fn error_decl(&mut self, input: ParseStream<'_>) -> Result<ErrorDecl> {
        let description = self.docs(input)?;
        let name = self.name(input)?;
        let start = description.as_ref().map_or(name.span.start, |d| d.span.start);
        Ok(ErrorDecl {
            name,
            description,
            span: Span::new(start, self.here()),
        })
    }

    /// `on_error: state;` (every error), or entries tried in order, each `[kind, kind] -> state`
    /// or `state` (every error): `on_error: [timeout, unavailable] -> wait, failed;`.
    fn on_error(&mut self, input: ParseStream<'_>) -> Result<Vec<ErrorArc>> {
        let mut entries = Vec::new();
        loop {
            if input.peek(syn::token::Bracket) {
                let content;
                let bracket = syn::bracketed!(content in input);
                let start = self.mark(bracket.span.open());
                let mut kinds = Vec::new();
                while !content.is_empty() {
                    kinds.push(self.name(&content)?);
                    if !content.is_empty() {
                        content.parse::<Token![,]>()?;
                    }
                }
                self.mark(bracket.span.close());
                input.parse::<Token![->]>().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected `->` and a state after the kinds: `on_error: [timeout, unavailable] -> wait, failed;`",
                    )
                })?;
                let to = self.name(input)?;
                let span = Span::new(start, to.span.end);
                entries.push(ErrorArc { kinds, to, span });
            } else {
                let to = self.name(input)?;
                entries.push(ErrorArc {
                    kinds: Vec::new(),
                    span: to.span,
                    to,
                });
            }
            if !input.peek(Token![,]) {
                return Ok(entries);
            }
            input.parse::<Token![,]>()?;
        }
    }

    fn event(&mut self, input: ParseStream<'_>) -> Result<Event> {
        let description = self.docs(input)?;
        let name = self.name(input)?;
        let mut payload = None;
        if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            payload = self.type_in(&content, paren.span.join())?;
        }
        let start = description.as_ref().map_or(name.span.start, |d| d.span.start);
        Ok(Event {
            name,
            payload,
            description,
            span: Span::new(start, self.here()),
        })
    }

    /// `name`, `name: infallible`, `name: atomic`, `name: fallible` or `name: async` (also
    /// `name: async infallible`), after optional doc comments.
    fn function_decl(&mut self, input: ParseStream<'_>) -> Result<FunctionDecl> {
        let description = self.docs(input)?;
        let name = self.name(input)?;
        let (mut infallible, mut atomic, mut fallible, mut is_async) = (None, None, None, None);
        if input.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            // `async` is a keyword: `Ident::parse_any` reads it too. Words follow each other
            // until the `,` or the end of the block.
            loop {
                let word = Ident::parse_any(input).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected `infallible`, `atomic`, `fallible` or `async` after `:`",
                    )
                })?;
                let flag = Some(Spanned::new(true, self.one(word.span())));
                match word.to_string().as_str() {
                    keys::INFALLIBLE => infallible = flag,
                    keys::ATOMIC => atomic = flag,
                    keys::FALLIBLE => fallible = flag,
                    keys::ASYNC => is_async = flag,
                    _ => {
                        return Err(syn::Error::new(
                            word.span(),
                            "expected `infallible`, `atomic`, `fallible` or `async`: the properties a function declaration takes",
                        ));
                    }
                }
                if input.is_empty() || input.peek(Token![,]) {
                    break;
                }
            }
        }
        let start = description.as_ref().map_or(name.span.start, |d| d.span.start);
        Ok(FunctionDecl {
            name,
            description,
            infallible,
            atomic,
            fallible,
            r#async: is_async,
            span: Span::new(start, self.here()),
        })
    }

    fn resource(&mut self, input: ParseStream<'_>) -> Result<Resource> {
        let description = self.docs(input)?;
        let name = self.name(input)?;
        input.parse::<Token![:]>()?;
        let kind_ident = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a resource kind: sqlite, postgres, file, http or llm",
            )
        })?;
        let kind_span = self.one(kind_ident.span());
        let kind_text = kind_ident.to_string();
        let kind = match keys::word(keys::RESOURCE_KINDS, &kind_text) {
            Some(kind) => kind,
            None => {
                self.invalid_value(
                    &kind_text,
                    kind_span,
                    "resource kind",
                    &keys::words(keys::RESOURCE_KINDS),
                );
                ResourceKind::File
            }
        };
        let mut config = if input.peek(syn::token::Brace) {
            Some(self.value(input)?)
        } else {
            None
        };
        let start = description.as_ref().map_or(name.span.start, |d| d.span.start);
        let mut resource = Resource {
            name,
            kind: Spanned::new(kind, kind_span),
            config: None,
            description,
            connection_pool_size: None,
            timeout_seconds: None,
            retry_attempts: None,
            retry_delay_seconds: None,
            health_check_interval: None,
            transaction: None,
            span: Span::new(start, self.here()),
        };
        // The braces hold the config and the settings of the resource itself (which YAML writes
        // beside `config:`): the latter move to their fields, their span covering `key: value`.
        if let Some(Spanned {
            value: Value::Map(entries),
            ..
        }) = &mut config
        {
            let mut kept = Vec::with_capacity(entries.len());
            for (key, value) in std::mem::take(entries) {
                match resource.own_setting_mut(&key.value) {
                    Some(slot) => {
                        *slot = Some(Spanned::new(value.value, Span::new(key.span.start, value.span.end)));
                    }
                    None => kept.push((key, value)),
                }
            }
            *entries = kept;
        }
        resource.config = config;
        Ok(resource)
    }

    // ---------------------------------------------------------------- pieces

    /// `/// ...` lines (`#[doc = "..."]` attributes), joined with newlines, one leading space of
    /// each line dropped, as rustdoc shows them.
    fn docs(&mut self, input: ParseStream<'_>) -> Result<Option<Spanned<String>>> {
        let mut lines = Vec::new();
        let mut start = None;
        while input.peek(Token![#]) {
            let pound: Token![#] = input.parse()?;
            if input.peek(Token![!]) {
                return Err(syn::Error::new(
                    pound.span,
                    "inner attributes are not supported in `fsm!`",
                ));
            }
            let content;
            syn::bracketed!(content in input);
            let name = Ident::parse_any(&content)?;
            if name != "doc" {
                Self::drain(&content);
                return Err(syn::Error::new(
                    name.span(),
                    "only doc comments (`///`) are accepted here; they become the `description`",
                ));
            }
            content.parse::<Token![=]>()?;
            let text: LitStr = content.parse()?;
            let i = self.mark(pound.span);
            start.get_or_insert(i);
            self.mark(text.span());
            let value = text.value();
            lines.push(value.strip_prefix(' ').map_or(value.clone(), str::to_owned));
        }
        Ok(start.map(|s| Spanned::new(lines.join("\n"), Span::new(s, self.here()))))
    }

    fn token_span(&self, span: Span) -> (proc_macro2::Span, proc_macro2::Span) {
        let first = self.spans.get(span.start as usize).copied();
        let first = first.unwrap_or_else(proc_macro2::Span::call_site);
        let last = self
            .spans
            .get(span.end.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(first);
        (first, last)
    }

    fn no_docs(&mut self, docs: Option<Spanned<String>>, what: &str) -> Result<()> {
        match docs {
            None => Ok(()),
            Some(d) => {
                let (first, _) = self.token_span(d.span);
                Err(syn::Error::new(
                    first,
                    format!(
                        "doc comments are not accepted before {what}: document the machine, a network, a state, an arc, an event or a resource"
                    ),
                ))
            }
        }
    }

    /// A name: an identifier (keywords included, so validation can say why `type` cannot be a
    /// state) or a string literal (names that are not identifiers, as in YAML).
    fn name(&mut self, input: ParseStream<'_>) -> Result<Spanned<String>> {
        if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            let span = self.one(lit.span());
            return Ok(Spanned::new(lit.value(), span));
        }
        let ident = Ident::parse_any(input).map_err(|e| syn::Error::new(e.span(), "expected a name"))?;
        let span = self.one(ident.span());
        Ok(Spanned::new(ident.unraw().to_string(), span))
    }

    /// `store: db.orders;`: the resource, a dot, the table.
    fn store(&mut self, input: ParseStream<'_>) -> Result<Store> {
        let resource = self.name(input)?;
        input
            .parse::<Token![.]>()
            .map_err(|e| syn::Error::new(e.span(), "expected `.` and the table: `store: db.orders;`"))?;
        let table = self.name(input)?;
        let span = resource.span.join(table.span);
        Ok(Store { resource, table, span })
    }

    /// One name or `[a, b]`.
    fn names(&mut self, input: ParseStream<'_>) -> Result<Vec<Spanned<String>>> {
        if input.peek(syn::token::Bracket) {
            let content;
            let bracket = syn::bracketed!(content in input);
            self.mark(bracket.span.open());
            let mut out = Vec::new();
            while !content.is_empty() {
                out.push(self.name(&content)?);
                if !content.is_empty() {
                    content.parse::<Token![,]>()?;
                }
            }
            self.mark(bracket.span.close());
            Ok(out)
        } else {
            Ok(vec![self.name(input)?])
        }
    }

    /// One function reference or `[f, g]`.
    fn functions(&mut self, input: ParseStream<'_>) -> Result<Vec<FunctionRef>> {
        if input.peek(syn::token::Bracket) {
            let content;
            let bracket = syn::bracketed!(content in input);
            self.mark(bracket.span.open());
            let mut out = Vec::new();
            while !content.is_empty() {
                out.extend(self.function(&content)?);
                if !content.is_empty() {
                    content.parse::<Token![,]>()?;
                }
            }
            self.mark(bracket.span.close());
            Ok(out)
        } else {
            Ok(self.function(input)?.into_iter().collect())
        }
    }

    /// `name`, `rust!(code)` (or `rust! { code }`) or `builtin!(name)` /
    /// `builtin!(name, params)`. `None` when inline Rust does not parse (reported here, at the
    /// token).
    fn function(&mut self, input: ParseStream<'_>) -> Result<Option<FunctionRef>> {
        let word = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a function: a name, `rust!(expression)` or `builtin!(name, params)`",
            )
        })?;
        if !input.peek(Token![!]) {
            let span = self.one(word.span());
            return Ok(Some(FunctionRef::Named(Spanned::new(word.unraw().to_string(), span))));
        }
        input.parse::<Token![!]>()?;
        let start = self.mark(word.span());
        let (group, body, group_span) = input.step(|cursor| match cursor.token_tree() {
            Some((TokenTree::Group(g), rest)) if g.delimiter() != Delimiter::None => {
                Ok(((g.clone(), g.stream(), g.span()), rest))
            }
            _ => Err(cursor.error("expected `(...)` or `{ ... }` after the macro name")),
        })?;
        match word.to_string().as_str() {
            "rust" => {
                let code_span = self.mark_tokens(&body, group_span);
                let span = Span::new(start, self.here());
                // Statements accept every expression too: what fails here fails in every role,
                // and is reported at the token. Role-specific checks (a condition must be an
                // expression) are validation's, as for YAML.
                let delimiter = group.delimiter();
                let parsed = (|input: ParseStream<'_>| {
                    let content;
                    match delimiter {
                        Delimiter::Brace => {
                            syn::braced!(content in input);
                        }
                        Delimiter::Bracket => {
                            syn::bracketed!(content in input);
                        }
                        _ => {
                            syn::parenthesized!(content in input);
                        }
                    }
                    syn::Block::parse_within(&content).map(drop)
                })
                .parse2(TokenStream::from(TokenTree::Group(group)));
                if body.is_empty() {
                    let d = Diagnostic::error(codes::RUST_SYNTAX, "empty inline Rust", span, "no code here")
                        .with_help("write an expression, e.g. `rust!(data.total > 0)`");
                    self.diags.push(d);
                    return Ok(None);
                }
                if let Err(e) = parsed {
                    let at = self.one(e.span());
                    let d = Diagnostic::error(
                        codes::RUST_SYNTAX,
                        format!("inline Rust does not parse: {e}"),
                        at,
                        "here",
                    )
                    .with_help("a condition is an expression, a transform a block body; the record is `data`");
                    self.diags.push(d);
                    return Ok(None);
                }
                let code = tokens_text(&body, false);
                Ok(Some(FunctionRef::Rust {
                    code: Spanned::new(code, code_span),
                    span,
                }))
            }
            "builtin" => {
                let (name, params) = (|inner: ParseStream<'_>| {
                    let name = self.name(inner)?;
                    let params = if inner.is_empty() {
                        None
                    } else {
                        inner.parse::<Token![,]>()?;
                        let v = self.value(inner)?;
                        if inner.peek(Token![,]) {
                            inner.parse::<Token![,]>()?;
                        }
                        Some(v)
                    };
                    Ok((name, params))
                })
                .parse2(body)?;
                Ok(Some(FunctionRef::Builtin {
                    name,
                    params,
                    span: Span::new(start, self.here()),
                }))
            }
            other => Err(syn::Error::new(
                word.span(),
                format!("unknown function form `{other}!`: expected `rust!(...)` or `builtin!(...)`"),
            )),
        }
    }

    fn semi(&mut self, input: ParseStream<'_>) -> Result<()> {
        input.parse::<Token![;]>().map(drop)
    }

    /// A Rust type up to the next `;`.
    fn rust_type(&mut self, input: ParseStream<'_>) -> Result<Option<Spanned<String>>> {
        let tokens = input.step(|cursor| {
            let mut c = *cursor;
            let mut out = TokenStream::new();
            while let Some((tt, next)) = c.token_tree() {
                if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ';') {
                    break;
                }
                out.extend([tt]);
                c = next;
            }
            Ok((out, c))
        })?;
        let fallback = input.span();
        (|inner: ParseStream<'_>| self.type_in(inner, fallback)).parse2(tokens)
    }

    /// The whole of `input` as a Rust type; an INVALID_TYPE diagnostic if it does not parse.
    fn type_in(&mut self, input: ParseStream<'_>, fallback: proc_macro2::Span) -> Result<Option<Spanned<String>>> {
        let tokens: TokenStream = input.step(|cursor| {
            let mut c = *cursor;
            let mut out = TokenStream::new();
            while let Some((tt, next)) = c.token_tree() {
                out.extend([tt]);
                c = next;
            }
            Ok((out, c))
        })?;
        if tokens.is_empty() {
            return Err(syn::Error::new(fallback, "expected a Rust type"));
        }
        // A type cut short (`super::`, `<u32`) fails at the end of its tokens, which syn places
        // at the call site for a stream of its own: parsed inside a group spanned at the last
        // token, such an error points there.
        let last = tokens.clone().into_iter().last().map_or(fallback, |t| t.span());
        let mut group = proc_macro2::Group::new(Delimiter::Parenthesis, tokens.clone());
        group.set_span(last);
        let parsed = (|outer: ParseStream<'_>| {
            let content;
            syn::parenthesized!(content in outer);
            let ty: syn::Type = content.parse()?;
            if !content.is_empty() {
                return Err(content.error("unexpected token"));
            }
            Ok(ty)
        })
        .parse2(TokenStream::from(TokenTree::Group(group)));
        match parsed {
            Ok(ty) => {
                let span = self.mark_tokens(&tokens, fallback);
                Ok(Some(Spanned::new(tokens_text(&ty.to_token_stream(), true), span)))
            }
            Err(e) => {
                let at = self.one(e.span());
                self.diags.push(
                    Diagnostic::error(codes::INVALID_TYPE, format!("not a Rust type: {e}"), at, "here")
                        .with_help("write a type path such as `crate::Order`, `u64` or `Vec<String>`"),
                );
                Ok(None)
            }
        }
    }

    fn data_mode(&mut self, input: ParseStream<'_>) -> Result<Option<Spanned<DataMode>>> {
        let ident = Ident::parse_any(input)
            .map_err(|e| syn::Error::new(e.span(), "expected a data mode: copy, direct or reference"))?;
        let span = self.one(ident.span());
        let word = ident.to_string();
        let Some(mode) = keys::word(keys::DATA_MODES, &word) else {
            self.invalid_value(&word, span, "data mode", &keys::words(keys::DATA_MODES));
            return Ok(None);
        };
        Ok(Some(Spanned::new(mode, span)))
    }

    /// A literal scalar as text (`version: "1.2";` or `version: 3;`).
    fn scalar_text(&mut self, input: ParseStream<'_>, key: &str) -> Result<Option<Spanned<String>>> {
        let lit: syn::Lit = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), format!("expected a string for `{key}`")))?;
        let span = self.one(lit.span());
        let text = match &lit {
            syn::Lit::Str(s) => s.value(),
            syn::Lit::Int(i) => i.base10_digits().to_owned(),
            syn::Lit::Float(f) => f.base10_digits().to_owned(),
            _ => {
                self.wrong_type(key, span, "a string");
                return Ok(None);
            }
        };
        Ok(Some(Spanned::new(text, span)))
    }

    fn boolean(&mut self, input: ParseStream<'_>, key: &str) -> Result<Option<Spanned<bool>>> {
        let tt: TokenTree = input.parse()?;
        let span = self.one(tt.span());
        match keys::boolean(&tt.to_string()) {
            Some(b) => Ok(Some(Spanned::new(b, span))),
            None => {
                self.wrong_type(key, span, "`true` or `false`");
                Ok(None)
            }
        }
    }

    /// An optionally negative integer literal.
    fn integer(&mut self, input: ParseStream<'_>, key: &str) -> Result<Option<Spanned<i64>>> {
        let minus = if input.peek(Token![-]) {
            let m: Token![-] = input.parse()?;
            Some(self.mark(m.span))
        } else {
            None
        };
        let tt: TokenTree = input
            .parse()
            .map_err(|e| syn::Error::new(e.span(), format!("expected an integer for `{key}`")))?;
        let at = self.one(tt.span());
        let span = Span::new(minus.unwrap_or(at.start), at.end);
        let lit = match &tt {
            TokenTree::Literal(l) => syn::parse2::<syn::Lit>(l.to_token_stream()).ok(),
            _ => None,
        };
        let Some(syn::Lit::Int(int)) = lit else {
            self.wrong_type(key, span, "an integer");
            return Ok(None);
        };
        let digits = int.base10_digits();
        let value = match minus {
            Some(_) => format!("-{digits}").parse::<i64>(),
            None => digits.parse::<i64>(),
        };
        match value {
            Ok(v) => Ok(Some(Spanned::new(v, span))),
            Err(_) => {
                self.diags.push(
                    Diagnostic::error(
                        codes::INVALID_VALUE,
                        format!("`{key}` is out of range"),
                        span,
                        "does not fit in an i64",
                    )
                    .with_help(format!("`{key}` is a 64-bit signed integer")),
                );
                Ok(None)
            }
        }
    }

    /// A positive integer, read as the YAML front end reads it ([`keys::positive`]).
    fn positive(&mut self, input: ParseStream<'_>, key: &str) -> Result<Option<Spanned<u64>>> {
        Ok(self.integer(input, key)?.and_then(|v| match keys::positive(v) {
            Ok(u) => Some(u),
            Err(d) => {
                self.diags.push(d);
                None
            }
        }))
    }

    /// A free-form value: `{ key: value, .. }`, `[value, ..]`, a literal, `true`/`false`, `null`,
    /// or a bare word (a string, as a plain YAML scalar).
    fn value(&mut self, input: ParseStream<'_>) -> Result<Spanned<Value>> {
        if input.peek(syn::token::Brace) {
            let content;
            let brace = syn::braced!(content in input);
            let span = self.one(brace.span.join());
            let mut entries: Vec<(Spanned<String>, Spanned<Value>)> = Vec::new();
            while !content.is_empty() {
                let key = self.name(&content)?;
                content.parse::<Token![:]>()?;
                let value = self.value(&content)?;
                if let Some((first, _)) = entries.iter().find(|(k, _)| k.value == key.value) {
                    self.diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_KEY,
                            format!("key `{}` is given twice", key.value),
                            key.span,
                            "given again here",
                        )
                        .with_label(first.span, "first given here"),
                    );
                } else {
                    entries.push((key, value));
                }
                if !content.is_empty() {
                    content.parse::<Token![,]>()?;
                }
            }
            return Ok(Spanned::new(Value::Map(entries), span));
        }
        if input.peek(syn::token::Bracket) {
            let content;
            let bracket = syn::bracketed!(content in input);
            let span = self.one(bracket.span.join());
            let mut items = Vec::new();
            while !content.is_empty() {
                items.push(self.value(&content)?);
                if !content.is_empty() {
                    content.parse::<Token![,]>()?;
                }
            }
            return Ok(Spanned::new(Value::Seq(items), span));
        }
        if input.peek(Token![-]) {
            let m: Token![-] = input.parse()?;
            let start = self.mark(m.span);
            let lit: syn::Lit = input
                .parse()
                .map_err(|e| syn::Error::new(e.span(), "expected a number after `-`"))?;
            self.mark(lit.span());
            let span = Span::new(start, self.here());
            return match lit {
                syn::Lit::Int(i) => {
                    let v = format!("-{}", i.base10_digits()).parse::<i64>();
                    v.map(|v| Spanned::new(Value::Int(v), span))
                        .map_err(|_| syn::Error::new(i.span(), "integer out of range"))
                }
                syn::Lit::Float(f) => {
                    let v = format!("-{}", f.base10_digits()).parse::<f64>();
                    v.map(|v| Spanned::new(Value::Float(v), span))
                        .map_err(|_| syn::Error::new(f.span(), "not a number"))
                }
                other => Err(syn::Error::new(other.span(), "expected a number after `-`")),
            };
        }
        if input.peek(syn::Lit) {
            let lit: syn::Lit = input.parse()?;
            let span = self.one(lit.span());
            let value = match &lit {
                syn::Lit::Str(s) => Value::String(s.value()),
                syn::Lit::Int(i) => Value::Int(
                    i.base10_digits()
                        .parse::<i64>()
                        .map_err(|_| syn::Error::new(i.span(), "integer out of range"))?,
                ),
                syn::Lit::Float(f) => Value::Float(
                    f.base10_digits()
                        .parse::<f64>()
                        .map_err(|_| syn::Error::new(f.span(), "not a number"))?,
                ),
                syn::Lit::Bool(b) => Value::Bool(b.value),
                syn::Lit::Char(c) => Value::String(c.value().to_string()),
                _ => return Err(syn::Error::new(lit.span(), "expected a string, a number or a boolean")),
            };
            return Ok(Spanned::new(value, span));
        }
        let ident = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a value: a literal, a word, `null`, `[..]` or `{ key: value, .. }`",
            )
        })?;
        let span = self.one(ident.span());
        let value = match ident.to_string().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            other => Value::String(other.to_owned()),
        };
        Ok(Spanned::new(value, span))
    }

    // ---------------------------------------------------------------- diagnostics

    fn unknown_key(&mut self, place: Place, key: &str, span: Span, known: &[&str], what: &str) {
        let mut d = Diagnostic::error(
            codes::UNKNOWN_KEY,
            format!("unknown key `{key}` in a {what}"),
            span,
            "unknown key",
        );
        d = d.with_help(match keys::meant(place, key, known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? A {what} takes: {}", known.join(", ")),
            None => format!("a {what} takes: {}", known.join(", ")),
        });
        self.diags.push(d);
    }

    fn invalid_value(&mut self, value: &str, span: Span, what: &str, allowed: &[&str]) {
        let mut d = Diagnostic::error(
            codes::INVALID_VALUE,
            format!("`{value}` is not a {what}"),
            span,
            format!("unknown {what}"),
        );
        d = d.with_help(match did_you_mean(value, allowed.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? Expected one of: {}", allowed.join(", ")),
            None => format!("expected one of: {}", allowed.join(", ")),
        });
        self.diags.push(d);
    }

    fn wrong_type(&mut self, key: &str, span: Span, expected: &str) {
        self.diags.push(Diagnostic::error(
            codes::WRONG_TYPE,
            format!("`{key}` must be {expected}"),
            span,
            format!("expected {expected}"),
        ));
    }
}

/// Keys already given in one block, for DUPLICATE_KEY.
#[derive(Default)]
struct Keys(Vec<(String, Span)>);

impl Keys {
    /// Records `key`; reports and returns false when it was given before.
    fn check(&mut self, p: &mut Parser, key: &str, span: Span) -> bool {
        if let Some((_, first)) = self.0.iter().find(|(k, _)| k == key) {
            p.diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_KEY,
                    format!("`{key}` is given twice"),
                    span,
                    "given again here",
                )
                .with_label(*first, "first given here")
                .with_help(format!("give `{key}` once")),
            );
            return false;
        }
        self.0.push((key.to_owned(), span));
        true
    }
}

/// Tokens as compact, readable Rust text (`data.total > 0`, `crate::Order`, `Vec<u8>`): what the
/// YAML form would contain. The generated code re-parses it, so only readability depends on the
/// spacing chosen here. `types` drops the spaces around `<` and `>`.
pub fn tokens_text(tokens: &TokenStream, types: bool) -> String {
    #[derive(PartialEq)]
    enum Piece {
        Word(String),
        Op(String),
        Open(char),
        Close(char),
    }
    fn flatten(tokens: &TokenStream, out: &mut Vec<Piece>) {
        let mut pending_op = String::new();
        for tt in tokens.clone() {
            match tt {
                TokenTree::Punct(p) => {
                    pending_op.push(p.as_char());
                    if p.spacing() == Spacing::Alone {
                        out.push(Piece::Op(std::mem::take(&mut pending_op)));
                    }
                }
                other => {
                    if pending_op == "'" {
                        // A lifetime: `'` joined to the identifier that follows.
                        out.push(Piece::Word(format!("'{other}")));
                        pending_op.clear();
                        continue;
                    }
                    if !pending_op.is_empty() {
                        out.push(Piece::Op(std::mem::take(&mut pending_op)));
                    }
                    match other {
                        TokenTree::Group(g) => {
                            let (open, close) = match g.delimiter() {
                                Delimiter::Parenthesis => ('(', ')'),
                                Delimiter::Bracket => ('[', ']'),
                                Delimiter::Brace => ('{', '}'),
                                Delimiter::None => {
                                    flatten(&g.stream(), out);
                                    continue;
                                }
                            };
                            out.push(Piece::Open(open));
                            flatten(&g.stream(), out);
                            out.push(Piece::Close(close));
                        }
                        t => out.push(Piece::Word(t.to_string())),
                    }
                }
            }
        }
        if !pending_op.is_empty() {
            out.push(Piece::Op(pending_op));
        }
    }
    let mut pieces = Vec::new();
    flatten(tokens, &mut pieces);
    let is_keyword = |w: &str| crate::naming::is_keyword(w) && !matches!(w, "self" | "Self" | "crate" | "super");
    let mut out = String::new();
    let mut unary_prev = false;
    for (i, piece) in pieces.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| pieces.get(j));
        let next = pieces.get(i + 1);
        let space = match (prev, piece) {
            (None, _) => false,
            (Some(_), _) if unary_prev => false,
            (Some(Piece::Open('{')), _) | (Some(_), Piece::Close('}')) => true,
            (Some(Piece::Open(_)), _) | (Some(_), Piece::Close(_)) => false,
            (Some(_), Piece::Op(o)) if matches!(o.as_str(), "." | "," | ";" | "?" | ":" | "::") => false,
            (Some(Piece::Op(o)), _) if matches!(o.as_str(), "." | "::" | "#") => false,
            // Calls, indexing and macro invocations: `f(x)`, `a[0]`, `m!(..)`.
            (Some(Piece::Word(w)), Piece::Open('(' | '[')) => is_keyword(w),
            (Some(Piece::Close(_)), Piece::Open('(' | '[')) => false,
            (Some(Piece::Word(_)), Piece::Op(o)) if o == "!" && matches!(next, Some(Piece::Open(_))) => false,
            (Some(Piece::Op(o)), _) if o == "!" => false,
            (Some(_), Piece::Op(o)) if types && (o == "<" || o == ">" || o == ">>") => false,
            (Some(Piece::Op(o)), _) if types && o == "<" => false,
            _ => true,
        };
        if space {
            out.push(' ');
        }
        // A prefix operator (`-x`, `&x`, `*x`, `!x`) takes no space after it.
        unary_prev = match piece {
            Piece::Op(o) if matches!(o.as_str(), "-" | "&" | "*" | "!" | "&&") => match prev {
                None | Some(Piece::Open(_)) => true,
                Some(Piece::Op(p)) => !(types && p == ">"),
                Some(Piece::Word(w)) => is_keyword(w) && !matches!(w.as_str(), "true" | "false"),
                Some(Piece::Close(_)) => false,
            },
            Piece::Op(o) if types && o == "&" => true,
            _ => false,
        };
        match piece {
            Piece::Word(w) | Piece::Op(w) => out.push_str(w),
            Piece::Open(c) | Piece::Close(c) => out.push(*c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn ok(tokens: TokenStream) -> Machine {
        let parsed = parse(tokens);
        assert!(
            parsed.syntax_errors.is_empty(),
            "{:?}",
            parsed.syntax_errors.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        parsed.machine.unwrap()
    }

    #[test]
    fn full_machine() {
        let m = ok(quote! {
            /// An order.
            /// Two lines.
            machine Order {
                version: "1.2";
                data: crate::Order;
                data_mode: copy;
                store: db.orders;
                main_network: main;
                max_transitions: 500;
                deny_warnings: true;
                metadata: { owner: "shop", tags: [a, "b", 3, -1.5, null] };
                events {
                    /// Paid.
                    Pay(u64),
                    Ship,
                    Track(Vec<crate::Parcel>),
                }
                resources {
                    db: sqlite { path: "orders.db", timeout_seconds: 2.5, retry_attempts: 3 },
                    api: http,
                }
                /// The main flow.
                network main {
                    /// New order.
                    start state new;
                    state paid {
                        validate: check_amount;
                        transform: [charge, rust!(data.paid = true), builtin!(set_field, { field: "x" })];
                        on_error: failed;
                        data_mode: direct;
                        retry: { attempts: 3, delay_seconds: 0.5 };
                        timeout_seconds: 2.5;
                        circuit_breaker: { failures: 5 };
                        resources: [db];
                        metadata: { sla: 3 };
                    }
                    end state shipped;
                    end state failed;
                    /// Pay it.
                    new -> paid on Pay if is_valid priority -2 do [log] using db;
                    new -> failed if rust!(data.total == 0);
                    paid -> shipped on Ship;
                    paid -> push billing return shipped;
                    paid -> push billing;
                }
                network billing {
                    start end state only;
                }
            }
        });
        assert_eq!(m.name.value, "Order");
        assert_eq!(m.description.as_ref().unwrap().value, "An order.\nTwo lines.");
        assert_eq!(m.data.as_ref().unwrap().value, "crate::Order");
        assert_eq!(m.events[2].payload.as_ref().unwrap().value, "Vec<crate::Parcel>");
        assert_eq!(m.events[0].description.as_ref().unwrap().value, "Paid.");
        assert_eq!(m.resources[0].kind.value, ResourceKind::Sqlite);
        let store = m.store.as_ref().unwrap();
        assert_eq!(
            (store.resource.value.as_str(), store.table.value.as_str()),
            ("db", "orders")
        );
        assert!(store.resource.span.start < store.table.span.start);
        // The settings of the resource itself leave the config for their fields.
        let db = &m.resources[0];
        assert_eq!(db.timeout_seconds.as_ref().unwrap().value, Value::Float(2.5));
        assert_eq!(db.retry_attempts.as_ref().unwrap().value, Value::Int(3));
        match &db.config.as_ref().unwrap().value {
            Value::Map(entries) => assert_eq!(entries.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.networks.len(), 2);
        let main = &m.networks[0];
        assert_eq!(main.description.as_ref().unwrap().value, "The main flow.");
        assert_eq!(main.states.len(), 4);
        assert!(main.states[0].is_start.is_some());
        let paid = &main.states[1];
        assert_eq!(paid.transform.len(), 3);
        assert!(matches!(&paid.retry.as_ref().unwrap().value, Value::Map(m) if m.len() == 2));
        assert_eq!(paid.timeout_seconds.as_ref().unwrap().value, Value::Float(2.5));
        assert!(paid.circuit_breaker.is_some());
        match &paid.transform[1] {
            FunctionRef::Rust { code, .. } => assert_eq!(code.value, "data.paid = true"),
            other => panic!("{other:?}"),
        }
        assert_eq!(main.arcs.len(), 5);
        let a = &main.arcs[0];
        assert_eq!(a.priority.as_ref().unwrap().value, -2);
        assert_eq!(a.on.as_ref().unwrap().value, "Pay");
        assert_eq!(a.resources[0].value, "db");
        assert_eq!(a.description.as_ref().unwrap().value, "Pay it.");
        assert_eq!(main.arcs[3].target_network.as_ref().unwrap().value, "billing");
        assert_eq!(main.arcs[3].return_state.as_ref().unwrap().value, "shipped");
        assert!(main.arcs[4].return_state.is_none());
        let only = &m.networks[1].states[0];
        assert!(only.is_start.is_some() && only.is_end.is_some());
    }

    #[test]
    fn function_declarations_take_infallible_atomic_or_fallible() {
        let m = ok(
            quote! { machine M { functions { a: infallible, b: atomic, c, d: fallible, f: async infallible } start state s; end state e; s -> e; } },
        );
        let flags: Vec<_> = m
            .functions
            .iter()
            .map(|f| {
                (
                    f.infallible.is_some(),
                    f.atomic.is_some(),
                    f.fallible.is_some(),
                    f.r#async.is_some(),
                )
            })
            .collect();
        assert_eq!(
            flags,
            [
                (true, false, false, false),
                (false, true, false, false),
                (false, false, false, false),
                (false, false, true, false),
                (true, false, false, true)
            ]
        );
        let parsed = parse(quote! { machine M { functions { a: pure } start state s; end state e; s -> e; } });
        let errors: Vec<String> = parsed.syntax_errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            ["expected `infallible`, `atomic`, `fallible` or `async`: the properties a function declaration takes"]
        );
    }

    #[test]
    fn a_store_needs_its_table() {
        let parsed = parse(quote! { machine M { store: db; start state a; end state b; a -> b; } });
        let errors: Vec<String> = parsed.syntax_errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors, ["expected `.` and the table: `store: db.orders;`"]);
    }

    #[test]
    fn spans_are_token_indices_in_order() {
        let parsed = parse(quote! { machine M { start state a; end state b; a -> b; } });
        let m = parsed.machine.unwrap();
        let n = &m.networks[0];
        assert!(m.implicit_network);
        assert!(n.states[0].span.start < n.states[1].span.start);
        assert!(n.states[1].span.end <= n.arcs[0].span.start);
        assert_eq!(m.span.start, 0);
        assert_eq!(m.span.end as usize, parsed.spans.len());
    }

    #[test]
    fn mistakes_are_all_reported() {
        let parsed = parse(quote! {
            machine M {
                data_mod: copy;
                data_mode: fast;
                stat a;
                start state a { transfrom: f; }
                a -> b whn x;
                a -> b priority high;
                a -> b if rust!(data >);
            }
        });
        let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [
                codes::UNKNOWN_KEY,
                codes::INVALID_VALUE,
                codes::UNKNOWN_KEY,
                codes::UNKNOWN_KEY,
                codes::WRONG_TYPE,
                codes::RUST_SYNTAX
            ]
        );
        assert_eq!(parsed.syntax_errors.len(), 1, "`stat a;`");
        // Statements after the mistakes were still read.
        assert_eq!(parsed.machine.unwrap().networks[0].arcs.len(), 3);
    }

    /// Thousands of nested brackets or operators in `rust!(..)`, or nested generics in `data:`,
    /// used to overflow the stack (in syn, and in this parser's own recursion over values).
    #[test]
    fn deep_tokens_are_refused_at_the_token() {
        let cases = [
            format!(
                "machine M {{ network n {{ start state a; end state b; a -> b if rust!({}x{}); }} }}",
                "(".repeat(3000),
                ")".repeat(3000)
            ),
            format!(
                "machine M {{ network n {{ start state a; end state b; a -> b if rust!({}x); }} }}",
                "!".repeat(3000)
            ),
            format!("machine M {{ data: {}u8{}; }}", "Vec<".repeat(1200), ">".repeat(1200)),
            format!("machine M {{ metadata: {}1{}; }}", "[".repeat(3000), "]".repeat(3000)),
        ];
        // An 80,000-digit literal took syn 11 s to read (quadratic).
        let long: TokenStream = format!("machine M {{ max_transitions: {}; }}", "9".repeat(80_000))
            .parse()
            .expect("tokens");
        let found: Vec<_> = parse(long).diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(found, [codes::RUST_SYNTAX]);
        for text in cases {
            let tokens: TokenStream = text.parse().expect("tokens");
            let parsed = parse(tokens.clone());
            let found: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
            assert_eq!(found, [codes::TOO_DEEP]);
            assert!(parsed.machine.is_none());
            // The primary label is a recorded token (not the call site).
            assert_eq!(parsed.spans.len(), 1);
            // And the macro's whole expansion reports it as a compile error.
            let expanded = crate::expand::dsl(tokens, &|_| None).to_string();
            assert!(expanded.contains("fsm::too_deep"), "{expanded}");
        }
    }

    #[test]
    fn text_of_tokens() {
        assert_eq!(
            tokens_text(&quote!(data.items.len() > 0 && !data.done), false),
            "data.items.len() > 0 && !data.done"
        );
        assert_eq!(tokens_text(&quote!(-x + f(a, &b)[0]), false), "-x + f(a, &b)[0]");
        assert_eq!(
            tokens_text(&quote!(std::collections::BTreeMap<String, Vec<u8>>), true),
            "std::collections::BTreeMap<String, Vec<u8>>"
        );
        assert_eq!(tokens_text(&quote!(&'static str), true), "&'static str");
        assert_eq!(tokens_text(&quote!(format!("{}", x)), false), "format!(\"{}\", x)");
    }

    #[test]
    fn attributes_are_one_piece_each_with_every_token_recorded() {
        let parsed = parse(quote! {
            machine M {
                attributes {
                    states: #[derive(Hash, serde::Serialize)] #[serde(rename_all = "snake_case")];
                    ends: derive(Hash) #![allow(x)];
                }
                start state a; end state b; a -> b;
            }
        });
        assert!(parsed.syntax_errors.is_empty() && parsed.diagnostics.is_empty());
        let attributes = parsed.machine.as_ref().and_then(|m| m.attributes.clone()).unwrap();
        let text = |list: &[Spanned<String>]| list.iter().map(|a| a.value.clone()).collect::<Vec<_>>();
        assert_eq!(
            text(&attributes.states),
            [
                "#[derive(Hash, serde::Serialize)]",
                "#[serde(rename_all = \"snake_case\")]"
            ]
        );
        // Stray tokens and an inner attribute stay pieces of their own, for validation to report.
        assert_eq!(text(&attributes.ends), ["derive(Hash)", "#![allow(x)]"]);
        assert!(attributes.events.is_empty());
        // `#`, `[..]`, `derive`, `(..)`, `Hash`, `,`, `serde`, `:`, `:`, `Serialize`.
        assert_eq!(parsed.spans.all(attributes.states[0].span).len(), 10);
        let diagnostics = crate::validate::validate(parsed.machine.as_ref().unwrap());
        let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, [codes::INVALID_ATTRIBUTE, codes::INVALID_ATTRIBUTE]);
    }

    #[test]
    fn an_attributes_block_reports_unknown_and_repeated_keys() {
        let parsed = parse(quote! {
            machine M {
                attributes { state: #[derive(Hash)]; ends: #[derive(Hash)]; ends: #[repr(u8)]; }
                start state a; end state b; a -> b;
            }
        });
        let codes: Vec<&str> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, [codes::UNKNOWN_KEY, codes::DUPLICATE_KEY]);
        let attributes = parsed.machine.and_then(|m| m.attributes).unwrap();
        assert_eq!(attributes.ends.len(), 1);
    }

    // Random token streams and edited valid invocations: `fsm-codegen/tests/dsl_never_panics.rs`.
}
