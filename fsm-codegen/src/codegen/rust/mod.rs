//! Rust code generation: the IR becomes items (enums, a trait, a machine type and the `MachineDef` tables the runtime's run loop reads) placed in
//! the user's module. Everything the items need from the runtime is reached through an absolute
//! path (`::fsm_runtime::__private` by default, see [`Options::runtime`]); nothing depends on the
//! user's imports or features. docs/generated-code.md describes the output.

mod calls;
mod compensate;
mod enums;
mod errors;
mod functions;
mod machine;
mod tables;

use crate::ir::{self, Machine, NetworkId, StateId, StateRef};
use crate::naming::{is_keyword, is_valid_ident};
use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::quote;

/// Options of the Rust generator.
#[derive(Clone, Debug)]
pub struct Options {
    /// Path of the runtime crate as the generated code's crate sees it: `::fsm_runtime` (the
    /// default) when it depends on `fsm-runtime`, `::fsm::runtime` through the facade. Set it with
    /// [`Options::runtime_path`].
    pub runtime: TokenStream,
    /// Put the Mermaid diagram in the machine type's documentation.
    pub diagram_in_docs: bool,
    /// Where rustc reports a problem with the record type (`data:`): not found, or missing a
    /// trait its data mode needs. The macros set it to the `data:` value's tokens (`fsm!`) or the
    /// path literal (`fsm_file!`); `None` (build.rs) leaves the generated file's own positions.
    pub data_span: Option<Span>,
    /// Where rustc reports a problem with an attribute of `attributes:` (a derive not in scope,
    /// a serde option it does not know).
    pub attribute_spans: UserSpans,
}

/// Where rustc reports problems with code the user wrote in the machine definition.
#[derive(Clone, Debug, Default)]
pub enum UserSpans {
    /// The generated file's own positions (build.rs, `fsm expand`).
    #[default]
    Generated,
    /// One place: the path literal of `fsm_file!`.
    At(Span),
    /// The tokens of the `fsm!` invocation, through the AST's spans.
    Tokens(crate::syntax::dsl::TokenSpans),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            runtime: quote!(::fsm_runtime),
            diagram_in_docs: true,
            data_span: None,
            attribute_spans: UserSpans::Generated,
        }
    }
}

impl Options {
    /// Sets the runtime path from text (`"::fsm::runtime"`).
    ///
    /// # Errors
    ///
    /// When `path` is not a Rust path.
    pub fn runtime_path(&mut self, path: &str) -> syn::Result<&mut Self> {
        let path: syn::Path = syn::parse_str(path)?;
        self.runtime = quote!(#path);
        Ok(self)
    }
}

/// Generates the items of `machine` with the default [`Options`].
pub fn generate(machine: &Machine) -> TokenStream {
    generate_with(machine, &Options::default())
}

/// Generates the items of `machine`.
pub fn generate_with(machine: &Machine, options: &Options) -> TokenStream {
    // The IR comes from the gate (`analyze`), which refuses a machine without networks or a
    // network without states.
    let g = Gen::new(machine, options);
    let mut out = g.data_alias();
    for n in 0..machine.networks.len() {
        out.extend(g.state_enum(NetworkId(n)));
    }
    if g.multi {
        out.extend(g.position_enum());
    }
    out.extend(g.end_enum());
    out.extend(g.state_data_enum());
    if machine.is_event_driven() {
        out.extend(g.event_enum());
    }
    out.extend(g.error_kind_enum());
    out.extend(super::resources::resources_struct(machine, &g.rt_path, &g.machine));
    out.extend(g.fns_trait());
    out.extend(g.machine_type());
    let tables = g.tables();
    // The requirements the tables put on the record type, checked first and named in terms of
    // the definition: rustc reports them before the uses in generated code.
    let mut checked = g.data_requirements();
    checked.extend(out);
    checked.extend(tables);
    checked.extend(g.builtin_statics());
    allow_unused(checked)
}

/// `tokens` with every token (groups included) at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// `tokens` with the spans of `spans`, one per token tree in pre-order (groups before their
/// contents), as [`TokenSpans::all`](crate::syntax::dsl::TokenSpans::all) lists the tokens of
/// the `fsm!` input they were read from; `None` when the counts differ.
fn respan_each(tokens: TokenStream, spans: &mut std::slice::Iter<'_, Span>) -> Option<TokenStream> {
    tokens
        .into_iter()
        .map(|mut tt| {
            let span = *spans.next()?;
            if let TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan_each(g.stream(), spans)?);
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            Some(tt)
        })
        .collect()
}

/// Marks every generated item `#[allow(dead_code)]`: a binary that includes a machine and uses
/// part of its API must still build under `#![deny(warnings)]`.
///
/// Works on the top-level token trees rather than re-parsing the output with syn: the output of a
/// large machine is big, and a parse-and-print round trip was most of a macro expansion's time.
/// The attributes go after the item's own attributes, where `syn` would push them.
fn allow_unused(items: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = items.into_iter().collect();
    let mut out = TokenStream::new();
    let mut i = 0;
    while i < tokens.len() {
        // The item's own attributes: `#` followed by a bracketed group.
        let start = i;
        while matches!(&tokens.get(i), Some(TokenTree::Punct(p)) if p.as_char() == '#')
            && matches!(&tokens.get(i + 1), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket)
        {
            i += 2;
        }
        let attrs_end = i;
        // Skip the visibility (`pub`, `pub(crate)`).
        let mut k = i;
        if matches!(&tokens.get(k), Some(TokenTree::Ident(id)) if id == "pub") {
            k += 1;
            if matches!(&tokens.get(k), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis) {
                k += 1;
            }
        }
        let keyword = match tokens.get(k) {
            Some(TokenTree::Ident(id)) => id.to_string(),
            _ => String::new(),
        };
        // The item ends at its body (a top-level brace group) for these kinds, at a top-level `;`
        // for everything else (statics, consts, macro calls, unit structs).
        let braced = matches!(keyword.as_str(), "enum" | "struct" | "trait" | "impl" | "fn" | "mod");
        let mut end = k;
        let mut is_trait_impl = false;
        while end < tokens.len() {
            match &tokens[end] {
                TokenTree::Punct(p) if p.as_char() == ';' => break,
                TokenTree::Group(g) if braced && g.delimiter() == Delimiter::Brace => break,
                TokenTree::Ident(id) if keyword == "impl" && id == "for" => is_trait_impl = true,
                _ => {}
            }
            end += 1;
        }
        let end = (end + 1).min(tokens.len());
        // Trait impls are never dead code. The record can be large (`Failure<D>` carries it
        // back), `()` when there is none, and payload types are whatever the machine declares.
        let mark = matches!(keyword.as_str(), "enum" | "struct" | "trait") || (keyword == "impl" && !is_trait_impl);
        let lints = if keyword == "impl" && !is_trait_impl {
            quote!(
                dead_code,
                clippy::result_large_err,
                clippy::unused_unit,
                clippy::ptr_arg
            )
        } else {
            quote!(dead_code)
        };
        let mut merged = !mark;
        for pair in tokens[start..attrs_end].chunks(2) {
            // The lints join the item's own `#[allow(...)]`: one attribute line, not two.
            if let (false, [hash, TokenTree::Group(attr)]) = (merged, pair) {
                let inner: Vec<TokenTree> = attr.stream().into_iter().collect();
                if let [TokenTree::Ident(id), TokenTree::Group(list)] = inner.as_slice()
                    && id == "allow"
                    && list.delimiter() == Delimiter::Parenthesis
                {
                    let own = list.stream();
                    out.extend([hash.clone()]);
                    out.extend(quote!([allow(#lints, #own)]));
                    merged = true;
                    continue;
                }
            }
            out.extend(pair.iter().cloned());
        }
        if !merged {
            out.extend(quote!(#[allow(#lints)]));
        }
        out.extend(tokens[attrs_end..end].iter().cloned());
        i = end.max(start + 1);
    }
    out
}

/// An identifier that never panics: names passed validation, but lowering an unvalidated AST
/// must not crash the compiler either.
pub(crate) fn ident(s: &str) -> Ident {
    if is_valid_ident(s) {
        return Ident::new(s, Span::call_site());
    }
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if is_keyword(&out) || out == "_" {
        out.push('_');
    }
    Ident::new(&out, Span::call_site())
}

pub(super) fn doc_attrs(text: &str) -> TokenStream {
    let lines = text.lines().map(|l| format!(" {}", l.trim_end()));
    quote!(#(#[doc = #lines])*)
}

fn parse_type(s: &str) -> TokenStream {
    match syn::parse_str::<syn::Type>(s) {
        Ok(t) => quote!(#t),
        Err(_) => {
            let msg = format!("fsm: `{s}` is not a Rust type");
            quote!(::core::compile_error!(#msg))
        }
    }
}

struct Gen<'a> {
    m: &'a Machine,
    /// The runtime's private module as the run type's impls name it: `__fsm`, imported in the
    /// `const _` block that holds them (see [`Gen::run_type`]).
    rt: Ident,
    /// The runtime's private module as an absolute path (`::fsm_runtime::__private`): what the
    /// items outside that block use.
    rt_path: TokenStream,
    /// The runtime's crate root (`::fsm_runtime`, or `::fsm::runtime`): the public names a user
    /// writes (`Context`, `FnError`), used in the signatures of the functions trait, which
    /// rustc's missing-method errors and editors copy into user code.
    rt_pub: TokenStream,
    multi: bool,
    name: String,
    machine: Ident,
    position: Ident,
    end: Ident,
    event: Ident,
    fns: Ident,
    run: Ident,
    /// `<Machine>Def`: the type of the machine's tables.
    def: Ident,
    /// The record type as the generated items name it: the alias `<Machine>Data`, so that a
    /// misspelt `data:` is one error (at the alias), not one per use; `()` without `data:`.
    data: TokenStream,
    /// The record type as written in `data:` (`()` without one), at [`Options::data_span`].
    data_ty: TokenStream,
    /// The first state whose functions run on a snapshot of the record (`Clone`), and its mode.
    clones_data: std::cell::RefCell<Option<(ir::DataMode, String)>>,
    options: &'a Options,
    /// Parameters of built-in calls, emitted as statics after the items.
    builtin_statics: std::cell::RefCell<Vec<(Ident, String)>>,
    /// The position value of every state, by network and state (see [`Gen::pos`]): built once,
    /// as each is named many times.
    positions: Vec<Vec<TokenStream>>,
    /// Payload types, parsed once each.
    types: std::cell::RefCell<std::collections::BTreeMap<String, TokenStream>>,
    /// The machine's resources, as the machine and run types hold them.
    held: super::resources::Held,
    /// `<Machine>StateData`, for a machine with a state that carries data.
    state_data: Option<Ident>,
    /// The variant of `<Machine>StateData` of every state with data, by network and state.
    state_data_variants: Vec<Vec<Option<Ident>>>,
}

impl<'a> Gen<'a> {
    fn new(m: &'a Machine, options: &'a Options) -> Self {
        let runtime = &options.runtime;
        let base = &m.ident;
        let multi = m.networks.len() > 1;
        Gen {
            m,
            rt: Ident::new("__fsm", Span::call_site()),
            rt_path: quote!(#runtime::__private),
            rt_pub: quote!(#runtime),
            multi,
            name: m.name.clone(),
            machine: ident(base),
            position: if multi {
                ident(&format!("{base}Position"))
            } else {
                ident(&format!("{base}State"))
            },
            end: ident(&format!("{base}End")),
            event: ident(&format!("{base}Event")),
            fns: ident(&format!("{base}Fns")),
            run: ident(&format!("{base}Run")),
            def: ident(&format!("{base}Def")),
            data: if m.data.is_some() {
                let alias = ident(&format!("{base}Data"));
                quote!(#alias)
            } else {
                quote!(())
            },
            data_ty: {
                let ty = m.data.as_deref().map_or_else(|| quote!(()), parse_type);
                options.data_span.map_or(ty.clone(), |at| respan(ty, at))
            },
            clones_data: std::cell::RefCell::new(None),
            options,
            builtin_statics: std::cell::RefCell::new(Vec::new()),
            positions: Self::positions(m),
            types: std::cell::RefCell::default(),
            held: super::resources::Held::new(m),
            state_data: m
                .states()
                .any(|(_, s)| s.data.is_some())
                .then(|| ident(&format!("{base}StateData"))),
            state_data_variants: Self::state_data_variants(m),
        }
    }

    /// The variant of each state with data: its identifier, prefixed with its network's outside
    /// the main network (two networks may have states of one name).
    fn state_data_variants(m: &Machine) -> Vec<Vec<Option<Ident>>> {
        m.networks
            .iter()
            .enumerate()
            .map(|(n, net)| {
                net.states
                    .iter()
                    .map(|s| {
                        s.data.as_ref().map(|_| {
                            if NetworkId(n) == m.main {
                                ident(&s.ident)
                            } else {
                                ident(&format!("{}{}", net.ident, s.ident))
                            }
                        })
                    })
                    .collect()
            })
            .collect()
    }

    /// The pattern (and constructor) of state `r`'s data, `<Machine>StateData::Red`: `None` for a
    /// state without data.
    fn state_data_variant(&self, r: StateRef) -> Option<TokenStream> {
        let e = self.state_data.as_ref()?;
        let v = self.state_data_variants[r.network.0][r.state.0].as_ref()?;
        Some(quote!(#e::#v))
    }

    /// What the run keeps of the state's data, after the resources among `MachineDef`'s, `Cx`'s
    /// and `Run`'s parameters: `, Option<<Machine>StateData>`; nothing for a machine whose
    /// states carry none (the runtime's default, `()`).
    fn state_data_param(&self) -> Option<TokenStream> {
        self.state_data.as_ref().map(|e| quote!(, ::core::option::Option<#e>))
    }

    /// `pub type <Machine>Data = <data:>;`, the one place the record type is written.
    fn data_alias(&self) -> TokenStream {
        let (alias, ty) = (&self.data, &self.data_ty);
        let Some(data) = &self.m.data else {
            // No record: the items say `()`.
            return TokenStream::new();
        };
        let doc = format!(
            " The record type of machine `{}`: `{data}` (`data:` in its definition).",
            self.name
        );
        quote! {
            #[doc = #doc]
            pub type #alias = #ty;
        }
    }

    /// An assertion per trait the tables need of the record type beyond what every machine
    /// needs, with `#[diagnostic::on_unimplemented]`, so that the first error names the machine,
    /// the key of the definition that asks for it and the fixes (rather than
    /// `Clone::clone(&*__d)` deep in generated code). Called after the tables are generated.
    fn data_requirements(&self) -> TokenStream {
        let Some((mode, state)) = self.clones_data.borrow().clone() else {
            return TokenStream::new();
        };
        let name = &self.name;
        let (message, label, note) = match mode {
            ir::DataMode::Reference => (
                format!(
                    "machine `{name}` has `data_mode: reference`: its record type `{{Self}}` must implement `Clone`"
                ),
                format!(
                    "`data:` of machine `{name}`: state `{state}` keeps a copy of the record to roll back to when it runs without a store"
                ),
                "derive or implement `Clone` for it, or declare the state's functions `infallible`".to_owned(),
            ),
            _ => (
                format!("machine `{name}` has `data_mode: copy`: its record type `{{Self}}` must implement `Clone`"),
                format!(
                    "`data:` of machine `{name}`: state `{state}` copies the record before its functions run, to roll back to if one fails"
                ),
                "derive or implement `Clone` for it; or set `data_mode: direct` (a failed state then leaves the record as its functions left it); or declare the state's functions `infallible` or `atomic`".to_owned(),
            ),
        };
        let check = ident(&format!("{}RecordIsClone", self.m.ident));
        let alias = &self.data;
        // Resolved where the items are, reported at the `data:` value.
        let at = self
            .options
            .data_span
            .map_or_else(Span::call_site, |at| Span::call_site().located_at(at));
        let alias = respan(quote!(#alias), at);
        let call = quote::quote_spanned!(at=> __check::<#alias>());
        quote! {
            const _: () = {
                #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
                trait #check {}
                impl<T: ::core::clone::Clone> #check for T {}
                const fn __check<T: #check>() {}
                #call
            };
        }
    }

    /// Notes that state `state` runs its functions on a snapshot of the record in `mode`.
    fn note_clone(&self, mode: ir::DataMode, state: &str) {
        let mut first = self.clones_data.borrow_mut();
        if first.is_none() {
            *first = Some((mode, state.to_owned()));
        }
    }

    fn positions(m: &Machine) -> Vec<Vec<TokenStream>> {
        let multi = m.networks.len() > 1;
        let position = ident(&format!("{}Position", m.ident));
        (0..m.networks.len())
            .map(|n| {
                let e = Self::enum_ident_of(m, NetworkId(n));
                let nv = ident(&m.networks[n].ident);
                m.networks[n]
                    .states
                    .iter()
                    .map(|s| {
                        let v = ident(&s.ident);
                        if multi {
                            quote!(#position::#nv(#e::#v))
                        } else {
                            quote!(#e::#v)
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// A payload type (any Rust type), parsed once.
    fn payload_type(&self, s: &str) -> TokenStream {
        self.types
            .borrow_mut()
            .entry(s.to_owned())
            .or_insert_with(|| parse_type(s))
            .clone()
    }

    fn state_enum_ident(&self, n: NetworkId) -> Ident {
        Self::enum_ident_of(self.m, n)
    }

    fn enum_ident_of(m: &Machine, n: NetworkId) -> Ident {
        if n == m.main {
            ident(&format!("{}State", m.ident))
        } else {
            ident(&format!("{}{}State", m.ident, m.networks[n.0].ident))
        }
    }

    /// The position value (expression and pattern) of a state.
    fn pos(&self, r: StateRef) -> TokenStream {
        self.positions[r.network.0][r.state.0].clone()
    }

    fn sref(n: NetworkId, s: StateId) -> StateRef {
        StateRef { network: n, state: s }
    }
}
