//! Rust code generation: the IR becomes items (enums, a trait, a machine and a run type) placed in
//! the user's module. Everything the items need from the runtime is reached through an absolute
//! path (`::fsm_runtime::__private` by default, see [`Options::runtime`]); nothing depends on the
//! user's imports or features. docs/generated-code.md describes the output.

use crate::ir::{self, Call, DataMode, Machine, NetworkId, Role, StateId, StateRef, Target};
use crate::naming::{is_keyword, is_valid_ident};
use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::{format_ident, quote};

/// Options of the Rust generator.
#[derive(Clone, Debug)]
pub struct Options {
    /// Path of the runtime crate as the generated code's crate sees it: `::fsm_runtime` (the
    /// default) when it depends on `fsm-runtime`, `::fsm::runtime` through the facade. Set it with
    /// [`Options::runtime_path`].
    pub runtime: TokenStream,
    /// Put the Mermaid diagram in the machine type's documentation.
    pub diagram_in_docs: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            runtime: quote!(::fsm_runtime),
            diagram_in_docs: true,
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
    // Validation rules these out; without it, say so instead of generating nonsense.
    if machine.networks.is_empty() || machine.networks.iter().any(|n| n.states.is_empty()) {
        return quote!(::core::compile_error!("fsm: the machine has a network without states, or none"););
    }
    let g = Gen::new(machine, options);
    let mut out = TokenStream::new();
    for n in 0..machine.networks.len() {
        out.extend(g.state_enum(NetworkId(n)));
    }
    if g.multi {
        out.extend(g.position_enum());
    }
    out.extend(g.end_enum());
    if machine.is_event_driven() {
        out.extend(g.event_enum());
    }
    out.extend(super::resources::resources_struct(machine, &g.rt_path, &g.machine));
    out.extend(g.fns_trait());
    out.extend(g.machine_type());
    out.extend(g.tables());
    out.extend(g.builtin_statics());
    allow_unused(out)
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
        out.extend(tokens[start..attrs_end].iter().cloned());
        // Trait impls are never dead code.
        let mark = matches!(keyword.as_str(), "enum" | "struct" | "trait") || (keyword == "impl" && !is_trait_impl);
        if mark {
            out.extend(quote!(#[allow(dead_code)]));
        }
        if keyword == "impl" && !is_trait_impl {
            // The record can be large (`Failure<D>` carries it back), `()` when there is none,
            // and payload types are whatever the machine declares.
            out.extend(quote!(#[allow(clippy::result_large_err, clippy::unused_unit, clippy::ptr_arg)]));
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
    data: TokenStream,
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
            data: m.data.as_deref().map_or_else(|| quote!(()), parse_type),
            options,
            builtin_statics: std::cell::RefCell::new(Vec::new()),
            positions: Self::positions(m),
            types: std::cell::RefCell::default(),
            held: super::resources::Held::new(m),
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

    // ---------------------------------------------------------------- state enums

    fn state_enum(&self, n: NetworkId) -> TokenStream {
        let net = &self.m.networks[n.0];
        let rt = &self.rt_path;
        let ty = self.state_enum_ident(n);
        let doc = doc_attrs(&match &net.description {
            Some(d) if n == self.m.main => format!("The states of machine `{}`.\n\n{d}", self.name),
            Some(d) => format!(
                "The states of network `{}` of machine `{}`.\n\n{d}",
                net.name, self.name
            ),
            None if n == self.m.main && !self.multi => format!("The states of machine `{}`.", self.name),
            None => format!("The states of network `{}` of machine `{}`.", net.name, self.name),
        });
        let variants: Vec<Ident> = net.states.iter().map(|s| ident(&s.ident)).collect();
        let names: Vec<&str> = net.states.iter().map(|s| s.name.as_str()).collect();
        let var_docs = net.states.iter().map(|s| {
            let mut d = s.description.clone().unwrap_or_else(|| format!("State `{}`.", s.name));
            if s.is_start && s.is_end {
                d.push_str("\n\nStart and end state.");
            } else if s.is_start {
                d.push_str("\n\nStart state.");
            } else if s.is_end {
                d.push_str("\n\nEnd state.");
            }
            doc_attrs(&d)
        });
        let count = proc_macro2::Literal::usize_unsuffixed(net.states.len());
        let start = &variants[net.start.0.min(net.states.len().saturating_sub(1))];
        let ends: Vec<&Ident> = net
            .states
            .iter()
            .zip(&variants)
            .filter(|(s, _)| s.is_end)
            .map(|(_, v)| v)
            .collect();
        let is_end = if ends.is_empty() {
            quote!({
                let _ = self;
                false
            })
        } else {
            quote!(::core::matches!(self, #(Self::#ends)|*))
        };
        let net_name = &net.name;
        let expected = format!("a state of network `{}` of machine `{}`", net.name, self.name);
        quote! {
            #doc
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            #[allow(clippy::enum_variant_names, clippy::upper_case_acronyms)]
            pub enum #ty {
                #(#var_docs #variants,)*
            }

            impl #ty {
                /// Every state, in declaration order.
                pub const ALL: [Self; #count] = [#(Self::#variants),*];
                /// The state a run of this network starts in.
                pub const START: Self = Self::#start;
                /// Name of the network, as written in the machine definition.
                pub const NETWORK: &'static str = #net_name;

                /// The name, as written in the machine definition.
                pub const fn name(self) -> &'static str {
                    match self {
                        #(Self::#variants => #names,)*
                    }
                }

                /// Name of the network, as written in the machine definition.
                pub const fn network(self) -> &'static str {
                    Self::NETWORK
                }

                /// Whether runs of this network start here.
                pub const fn is_start(self) -> bool {
                    ::core::matches!(self, Self::#start)
                }

                /// Whether a run of this network ends here.
                pub const fn is_end(self) -> bool {
                    #is_end
                }
            }

            #rt::impl_names!(#ty, #expected);
        }
    }

    fn position_enum(&self) -> TokenStream {
        let rt = &self.rt_path;
        let p = &self.position;
        let nets: Vec<Ident> = self.m.networks.iter().map(|n| ident(&n.ident)).collect();
        let tys: Vec<Ident> = (0..self.m.networks.len())
            .map(|i| self.state_enum_ident(NetworkId(i)))
            .collect();
        let docs = self
            .m
            .networks
            .iter()
            .map(|n| doc_attrs(&format!("In network `{}`.", n.name)));
        let doc = doc_attrs(&format!(
            "Where a run of machine `{}` is: a network and a state of it.",
            self.name
        ));
        let start = self.pos(Self::sref(self.m.main, self.m.main_network().start));
        quote! {
            #doc
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub enum #p {
                #(#docs #nets(#tys),)*
            }

            impl #p {
                /// Where every run starts.
                pub const START: Self = #start;

                /// The state's name, as written in the machine definition.
                pub const fn name(self) -> &'static str {
                    match self {
                        #(Self::#nets(s) => s.name(),)*
                    }
                }

                /// The network's name, as written in the machine definition.
                pub const fn network(self) -> &'static str {
                    match self {
                        #(Self::#nets(_) => #tys::NETWORK,)*
                    }
                }

                /// Whether a run of the state's network ends here.
                pub const fn is_end(self) -> bool {
                    match self {
                        #(Self::#nets(s) => s.is_end(),)*
                    }
                }
            }

            impl #rt::StateName for #p {
                fn name(&self) -> &'static str {
                    #p::name(*self)
                }
            }

            impl ::core::fmt::Display for #p {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::write!(f, "{}.{}", self.network(), self.name())
                }
            }

            #(
                impl ::core::convert::From<#tys> for #p {
                    fn from(state: #tys) -> Self {
                        Self::#nets(state)
                    }
                }
            )*
        }
    }

    fn end_enum(&self) -> TokenStream {
        let rt = &self.rt_path;
        let e = &self.end;
        let p = &self.position;
        let vars: Vec<Ident> = self.m.ends.iter().map(|x| ident(&x.ident)).collect();
        let names: Vec<&str> = self
            .m
            .ends
            .iter()
            .map(|x| self.m.state(x.state).name.as_str())
            .collect();
        let positions: Vec<TokenStream> = self.m.ends.iter().map(|x| self.pos(x.state)).collect();
        let docs = self.m.ends.iter().map(|x| {
            let s = self.m.state(x.state);
            let net = &self.m.networks[x.state.network.0];
            doc_attrs(&match &s.description {
                Some(d) => format!("Ended in `{}` (network `{}`).\n\n{d}", s.name, net.name),
                None => format!("Ended in `{}` (network `{}`).", s.name, net.name),
            })
        });
        let doc = doc_attrs(&format!(
            "How a run of machine `{}` can end: one variant per end state where a run can finish, so \
             that callers match outcomes exhaustively.",
            self.name
        ));
        let count = proc_macro2::Literal::usize_unsuffixed(vars.len());
        let expected = format!("an end state of machine `{}`", self.name);
        let body = if vars.is_empty() {
            quote!(match self {})
        } else {
            quote!(match self { #(Self::#vars => #names,)* })
        };
        let state_body = if vars.is_empty() {
            quote!(match self {})
        } else {
            quote!(match self { #(Self::#vars => #positions,)* })
        };
        quote! {
            #doc
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            #[allow(clippy::enum_variant_names, clippy::upper_case_acronyms)]
            pub enum #e {
                #(#docs #vars,)*
            }

            impl #e {
                /// Every end state, in declaration order.
                pub const ALL: [Self; #count] = [#(Self::#vars),*];

                /// The end state's name, as written in the machine definition.
                pub const fn name(self) -> &'static str {
                    #body
                }

                /// The end state as a position of the machine.
                pub const fn state(self) -> #p {
                    #state_body
                }
            }

            impl #rt::EndState for #e {
                const ALL: &'static [Self] = &#e::ALL;
            }

            #rt::impl_names!(#e, #expected);
        }
    }

    fn event_enum(&self) -> TokenStream {
        let rt = &self.rt_path;
        let ev = &self.event;
        let has_payload = self.m.events.iter().any(|e| e.payload.is_some());
        let derive = if has_payload {
            quote!(#[derive(Debug)])
        } else {
            quote!(#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)])
        };
        let variants = self.m.events.iter().map(|e| {
            let v = ident(&e.ident);
            let doc = doc_attrs(e.description.as_deref().unwrap_or(&format!("Event `{}`.", e.name)));
            match &e.payload {
                Some(p) => {
                    let t = self.payload_type(p);
                    quote!(#doc #v(#t))
                }
                None => quote!(#doc #v),
            }
        });
        let name_arms = self.m.events.iter().map(|e| {
            let v = ident(&e.ident);
            let n = &e.name;
            if e.payload.is_some() {
                quote!(Self::#v(_) => #n)
            } else {
                quote!(Self::#v => #n)
            }
        });
        let doc = doc_attrs(&format!(
            "The events that drive machine `{}`, with their payloads.",
            self.name
        ));
        quote! {
            #doc
            #derive
            #[allow(clippy::enum_variant_names, clippy::upper_case_acronyms)]
            pub enum #ev {
                #(#variants,)*
            }

            impl #ev {
                /// The event's name, as written in the machine definition.
                pub const fn name(&self) -> &'static str {
                    match self {
                        #(#name_arms,)*
                    }
                }
            }

            impl #rt::EventName for #ev {
                fn name(&self) -> &'static str {
                    #ev::name(self)
                }
            }
        }
    }

    // ---------------------------------------------------------------- functions trait

    fn method_sig(&self, f: &ir::Function) -> TokenStream {
        let rt = &self.rt_path;
        let data = &self.data;
        let name = ident(&f.ident);
        let payload = f.payload.as_deref().map(|p| {
            let t = self.payload_type(p);
            quote!(payload: &#t,)
        });
        let ctx = self.held.ctx_type(rt);
        match f.role {
            Role::Transform if f.infallible => quote! {
                fn #name(
                    &self,
                    data: &mut #data,
                    #payload
                    ctx: &mut #ctx,
                )
            },
            // Reads the record and returns the change, which cannot fail; `use<Self>`: the change
            // borrows neither the record nor the functions.
            Role::Transform if f.atomic => quote! {
                fn #name(
                    &self,
                    data: &#data,
                    #payload
                    ctx: &mut #ctx,
                ) -> ::core::result::Result<impl ::core::ops::FnOnce(&mut #data) + use<Self>, #rt::FnError>
            },
            Role::Transform => quote! {
                fn #name(
                    &self,
                    data: &mut #data,
                    #payload
                    ctx: &mut #ctx,
                ) -> ::core::result::Result<(), #rt::FnError>
            },
            Role::Condition => quote! {
                fn #name(&self, data: &#data, #payload) -> bool
            },
        }
    }

    fn fns_trait(&self) -> TokenStream {
        let rt = &self.rt_path;
        let t = &self.fns;
        let doc = doc_attrs(&format!(
            "The functions of machine `{}`: one method per function named in its definition. \
             Implement it on a type of yours and hand that to [`{}::new`].\n\n\
             Methods take `&self`, so one implementation serves parallel runs; it is also \
             implemented for `&T`, `Box<T>` and `Arc<T>`.",
            self.name, self.machine
        ));
        let sigs: Vec<TokenStream> = self.m.functions.iter().map(|f| self.method_sig(f)).collect();
        let docs = self.m.functions.iter().map(|f| {
            let what = match f.role {
                Role::Transform if f.infallible => "Check or transform (infallible)",
                Role::Transform if f.atomic => {
                    "Check or transform (atomic: reads the record and returns the change to apply, \
                     which cannot fail; write the return type as \
                     `Result<impl FnOnce(&mut D) + use<>, FnError>`)"
                }
                Role::Transform => "Check or transform",
                Role::Condition => "Condition",
            };
            let mut d = match &f.description {
                Some(description) => format!("{description}\n\n{what} `{}`, used as:", f.name),
                None => format!("{what} `{}`, used as:", f.name),
            };
            for u in &f.uses {
                d.push_str(&format!("\n- {u}"));
            }
            doc_attrs(&d)
        });
        // The impls for `&T`, `Box<T>` and `Arc<T>` come from a runtime macro: each method once, by
        // kind and payload, rather than three copies of every signature.
        let forwards = self.m.functions.iter().map(|f| {
            let name = ident(&f.ident);
            let kind = match f.role {
                Role::Transform if f.infallible => quote!(infallible),
                Role::Transform if f.atomic => quote!(atomic),
                Role::Transform => quote!(transform),
                Role::Condition => quote!(condition),
            };
            let payload = f.payload.as_deref().map(|p| self.payload_type(p));
            quote!(#kind #name(#payload);)
        });
        let data = &self.data;
        let ctx_type = self.held.ctx_type(rt);
        let unit = if self.m.functions.is_empty() {
            quote! {
                /// The machine names no function: `()` implements the trait.
                impl #t for () {}
            }
        } else {
            quote!()
        };
        quote! {
            #doc
            // Method names are the machine's function names: `new` or `into_x` are legitimate there.
            #[allow(clippy::ptr_arg, clippy::new_ret_no_self, clippy::wrong_self_convention)]
            pub trait #t {
                #(#docs #sigs;)*
            }

            #rt::forward_fns!(#t, #data, #ctx_type; #(#forwards)*);

            #unit
        }
    }

    // ---------------------------------------------------------------- machine type

    fn machine_type(&self) -> TokenStream {
        let rt = &self.rt_path;
        let (m, t, run, data, end, pos) = (
            &self.machine,
            &self.fns,
            &self.run,
            &self.data,
            &self.end,
            &self.position,
        );
        let mermaid = super::diagram::mermaid(self.m);
        let mut doc = self
            .m
            .description
            .clone()
            .unwrap_or_else(|| format!("Machine `{}`.", self.name));
        doc.push_str(&format!(
            "\n\nGenerated by fsm from the machine definition. Create it with [`{m}::new`] from an \
             implementation of [`{t}`]; "
        ));
        if self.m.is_event_driven() {
            doc.push_str(&format!(
                "[`{m}::start`] (or [`{m}::into_run`]) gives a `{run}` whose `handle` takes events."
            ));
        } else {
            doc.push_str(&format!(
                "[`{m}::run`] runs a record from the start state to an end state; [`{m}::start`] gives \
                 a `{run}` to advance one `step` at a time."
            ));
        }
        if self.m.uses_store() {
            doc.push_str(&format!(
                " Its `reference` states work on a record in a store: [`{m}::start_stored`] loads it by \
                 key, and each such state saves it back with optimistic locking."
            ));
        }
        if self.options.diagram_in_docs {
            doc.push_str(&format!("\n\n```mermaid\n{}```", mermaid));
        }
        let doc = doc_attrs(&doc);
        let name = &self.name;
        let max = self.m.max_transitions;
        let held = &self.held;
        let (res_field, res_param, res_init, res_accessor) =
            (&held.machine_field, &held.new_param, &held.init, &held.accessor);
        let (res_borrowed_arg, res_borrowed, res_owned) = (&held.borrowed_arg, &held.borrowed_value, &held.owned_value);
        let run_new = if held.ty.is_some() {
            quote!(#rt::Run::with_resources)
        } else {
            quote!(#rt::Run::new)
        };
        let stored_fns = self.m.uses_store().then(|| {
            let run_stored = (!self.m.is_event_driven()).then(|| {
                quote! {
                    /// Loads the record under `key` from `store` and runs it to an end state, as
                    /// [`Self::run`] does: every `reference` state saves it back (see
                    /// [`Self::start_stored`]). `Err` when the record could not be loaded.
                    pub fn run_stored(
                        &self,
                        store: ::std::sync::Arc<dyn #rt::RecordStore<#data>>,
                        key: impl ::core::convert::Into<::std::string::String>,
                    ) -> #rt::Result<#rt::RunResult<#end, #data>, #rt::StoreError> {
                        #rt::Ok(self.start_stored(store, key)?.finish())
                    }
                }
            });
            let open_store = self.m.store.as_ref().map(|s| {
                let r = &self.m.resources[s.resource];
                let field = ident(&r.ident);
                let (handle, kind) = match r.kind {
                    ir::ResourceKind::Postgres => (quote!(PostgresStore), "postgres"),
                    _ => (quote!(SqliteStore), "sqlite"),
                };
                let table = &s.table;
                let doc = doc_attrs(&format!(
                    "The record store of the definition (`store:`): table `{table}` of the {kind} \
                     resource `{}`, created if missing. Open it once and pass clones to \
                     [`Self::start_stored`]{}; one store serves parallel runs. Records are kept as \
                     JSON: the record type must implement serde's `Serialize` and `Deserialize`.",
                    r.name,
                    if self.m.is_event_driven() {
                        ""
                    } else {
                        " or [`Self::run_stored`]"
                    },
                ));
                quote! {
                    #doc
                    pub fn open_store(
                        &self,
                    ) -> #rt::Result<::std::sync::Arc<dyn #rt::RecordStore<#data>>, #rt::StoreError> {
                        let store = #rt::store::#handle::new(
                            ::core::clone::Clone::clone(&self.resources.#field),
                            #table,
                        )?;
                        #rt::Ok(::std::sync::Arc::new(store))
                    }
                }
            });
            quote! {
                #open_store

                /// Loads the record under `key` from `store` (`reference` data mode) and starts a
                /// run of it. When every function of a `reference` state succeeds, the record is
                /// saved back at the version the run holds (optimistic locking); if another writer
                /// saved it since, the record is reloaded and the state fails with the conflict
                /// (its `on_error` arc can retry). When a function fails, the record is reloaded
                /// from the store: the last save is the rollback. `Err` when the record could not
                /// be loaded.
                pub fn start_stored(
                    &self,
                    store: ::std::sync::Arc<dyn #rt::RecordStore<#data>>,
                    key: impl ::core::convert::Into<::std::string::String>,
                ) -> #rt::Result<#run<&F #res_borrowed_arg>, #rt::StoreError> {
                    let (slot, data) = #rt::StoreSlot::load(store, key.into())?;
                    #rt::Ok(self.start(data).stored_in(slot))
                }

                #run_stored
            }
        });
        let run_fn = if self.m.is_event_driven() {
            quote!()
        } else {
            quote! {
                /// Runs `data` from the start state until an end state: the outcome (end state,
                /// record, the error an `on_error` arc followed, history), or why it stopped.
                #[inline]
                pub fn run(
                    &self,
                    data: #data,
                ) -> #rt::RunResult<#end, #data> {
                    self.start(data).finish()
                }
            }
        };
        let stored_impl = (self.m.uses_store() && !self.m.is_event_driven()).then(|| {
            quote! {
                impl<F: #t + ::core::marker::Send + ::core::marker::Sync> #rt::StoredMachine for #m<F> {
                    fn run_stored(
                        &self,
                        store: ::std::sync::Arc<dyn #rt::RecordStore<#data>>,
                        key: ::std::string::String,
                    ) -> #rt::Result<#rt::RunResult<#end, #data>, #rt::StoreError> {
                        #m::run_stored(self, store, key)
                    }
                    fn start_state(&self) -> (&'static str, &'static str) {
                        (#pos::START.network(), #pos::START.name())
                    }
                }
            }
        });
        let machine_impl = if self.m.is_event_driven() {
            quote!()
        } else {
            quote! {
                impl<F: #t + ::core::marker::Send + ::core::marker::Sync> #rt::Machine for #m<F> {
                    type Data = #data;
                    type End = #end;
                    #[inline]
                    fn run(
                        &self,
                        data: #data,
                    ) -> #rt::RunResult<#end, #data> {
                        #m::run(self, data)
                    }
                }
            }
        };
        quote! {
            #doc
            #[derive(Clone, Debug)]
            pub struct #m<F> {
                fns: F,
                #res_field
                options: #rt::RunOptions,
            }

            impl<F: #t> #m<F> {
                /// Name of the machine, as written in its definition.
                pub const NAME: &'static str = #name;
                /// The machine as a Mermaid state diagram.
                pub const MERMAID: &'static str = #mermaid;
                /// Where every run starts.
                pub const START: #pos = #pos::START;

                /// The machine, with its functions and default options (step limit from
                /// `max_transitions`, no history).
                pub fn new(fns: F #res_param) -> Self {
                    #m {
                        fns,
                        #res_init
                        options: #rt::RunOptions {
                            max_transitions: #max,
                            ..::core::default::Default::default()
                        },
                    }
                }

                /// Replaces the run options.
                #[must_use]
                pub fn with_options(mut self, options: #rt::RunOptions) -> Self {
                    self.options = options;
                    self
                }

                /// The run options.
                pub fn options(&self) -> #rt::RunOptions {
                    self.options
                }

                /// The functions.
                pub fn fns(&self) -> &F {
                    &self.fns
                }

                /// A run of `data`, borrowing the functions. Nothing runs until the first step
                /// (or event).
                #[inline]
                pub fn start(&self, data: #data) -> #run<&F #res_borrowed_arg> {
                    #run_new(&self.fns, #res_borrowed data, self.options)
                }

                /// A run of `data` that owns the functions (no lifetime to carry around).
                #[inline]
                pub fn into_run(self, data: #data) -> #run<F> {
                    #run_new(self.fns, #res_owned data, self.options)
                }

                #res_accessor

                #run_fn

                #stored_fns
            }

            #machine_impl

            #stored_impl
        }
    }

    // ---------------------------------------------------------------- tables

    /// The machine's tables for the runtime's run loop: a `<Machine>Def` type implementing
    /// `MachineDef` with one `match` per question the loop asks (enter a state, pick the
    /// eventless arc, dispatch an event, the error arc and the end state of a position), and the
    /// `<Machine>Run` alias of the runtime's `Run` for this machine.
    fn tables(&self) -> TokenStream {
        let rt = &self.rt;
        let rt_path = &self.rt_path;
        let m = self.m;
        let (t, run, data, end, pos, def) = (&self.fns, &self.run, &self.data, &self.end, &self.position, &self.def);
        let name = &self.name;
        let all: Vec<(StateRef, &ir::State)> = m.states().collect();
        let total = all.len();

        // A `match` on a position with `arms`, `default` for the positions no arm names; `None`
        // when no arm names any (the trait's default answers).
        let table = |arms: Vec<TokenStream>, default: TokenStream, on: TokenStream| {
            if arms.is_empty() {
                None
            } else if arms.len() < total {
                Some(quote!(match #on {
                    #(#arms)*
                    _ => #default,
                }))
            } else {
                Some(quote!(match #on {
                    #(#arms)*
                }))
            }
        };
        // The positions for which `pred` holds, as a `matches!`; `None` when none (the trait's
        // default answers `false`).
        let set = |pred: &dyn Fn(StateRef, &ir::State) -> bool| {
            let hits: Vec<TokenStream> = all
                .iter()
                .filter(|(r, s)| pred(*r, s))
                .map(|(r, _)| self.pos(*r))
                .collect();
            if hits.is_empty() {
                None
            } else if hits.len() == total {
                Some(quote!({
                    let _ = pos;
                    true
                }))
            } else {
                Some(quote!(::core::matches!(pos, #(#hits)|*)))
            }
        };
        // enter: the functions of each state that has some, in its data mode.
        let enter_arms: Vec<TokenStream> = all
            .iter()
            .filter_map(|(r, s)| {
                let calls: Vec<&Call> = s.functions().collect();
                if calls.is_empty() {
                    return None;
                }
                let p = self.pos(*r);
                let body = self.transaction(*r, s.data_mode, &calls, None, s.resilience.timeout);
                let body = self.guarded(&s.resilience, body);
                Some(quote!(#p => #body,))
            })
            .collect();
        let enter = table(enter_arms, quote!(#rt::Ok(())), quote!(to));

        let on_error_arms: Vec<TokenStream> = all
            .iter()
            .filter_map(|(r, s)| {
                s.on_error.map(|e| {
                    let (p, t) = (self.pos(*r), self.pos(Self::sref(r.network, e)));
                    quote!(#p => #rt::Some(#t),)
                })
            })
            .collect();
        let on_error = table(on_error_arms, quote!(#rt::None), quote!(pos));

        let end_arms: Vec<TokenStream> = m
            .ends
            .iter()
            .map(|e| {
                let (p, v) = (self.pos(e.state), ident(&e.ident));
                quote!(#p => #rt::Some(#end::#v),)
            })
            .collect();
        let end_of = table(end_arms, quote!(#rt::None), quote!(pos)).unwrap_or_else(|| {
            quote!({
                let _ = pos;
                #rt::None
            })
        });

        let net_of = |r: StateRef| &m.networks[r.network.0];
        let has_eventless = |r: StateRef, s: &ir::State| s.arcs.iter().any(|a| net_of(r).arcs[a.0].event.is_none());
        // What `handle` asks: only event-driven machines need the answers.
        let event_driven = m.is_event_driven();
        let waits = set(&|r, s| s.arcs.iter().any(|a| net_of(r).arcs[a.0].event.is_some()));
        let settles =
            set(&|r, s| !s.is_end && !has_eventless(r, s) && !(s.on_error.is_some() && s.functions().next().is_some()))
                .filter(|_| event_driven);
        let bare = set(&|_, s| s.functions().next().is_none()).filter(|_| event_driven);

        // pick: the eventless arcs of each state, in order.
        let mut pick_arms = Vec::new();
        for (r, s) in &all {
            let net = net_of(*r);
            let mut tries = Vec::new();
            for a in &s.arcs {
                let arc = &net.arcs[a.0];
                if arc.event.is_some() {
                    continue;
                }
                let take = self.take_arc(*r, arc, None);
                match &arc.condition {
                    Some(c) => {
                        let cond = self.condition(c, None);
                        tries.push(quote!(if #cond #take));
                    }
                    None => {
                        tries.push(take);
                        break;
                    }
                }
            }
            if !tries.is_empty() {
                let p = self.pos(*r);
                pick_arms.push(quote!(#p => { #(#tries)* }));
            }
        }
        let pick = (!pick_arms.is_empty()).then(|| self.choice_table(pick_arms, total, quote!(from)));

        // dispatch: the arcs of each state for each event.
        let ev = &self.event;
        let event_ty = if m.is_event_driven() {
            quote!(#ev)
        } else {
            quote!(::core::convert::Infallible)
        };
        let dispatch = self.dispatch_table(&all);

        let frames = if m.has_push_arcs() {
            let depth = proc_macro2::Literal::usize_unsuffixed(m.push_depth.max(1));
            quote!(#rt::ReturnStack<#pos, #depth>)
        } else {
            quote!(#rt::NoFrames)
        };
        let held = &self.held;
        let (res_decl, res_bound) = (&held.run_param_decl, &held.run_bound);
        let res_arg = if held.ty.is_some() { quote!(R) } else { quote!(()) };
        let run_alias_args = if held.ty.is_some() { quote!(F, R) } else { quote!(F) };

        // Inline functions.
        let ctx = self.held.ctx_type(rt);
        let inlines: Vec<TokenStream> = m
            .inlines
            .iter()
            .enumerate()
            .map(|(i, inl)| {
                let fname = format_ident!("__inline_{}", i);
                // Validation parsed the snippet; trust it.
                let code: TokenStream = inl.code.parse::<TokenStream>().unwrap_or_default();
                let payload = inl.payload.as_deref().map(|p| {
                    let t = self.payload_type(p);
                    quote!(payload: &#t,)
                });
                match inl.role {
                    Role::Transform => quote! {
                        #[allow(unused_variables, unused_braces, clippy::unit_arg, clippy::let_unit_value)]
                        fn #fname(
                            data: &mut #data,
                            #payload
                            ctx: &mut #ctx,
                        ) -> #rt::Result<(), #rt::FnError> {
                            #rt::IntoFnResult::into_fn_result({ #code })
                        }
                    },
                    Role::Condition => quote! {
                        #[allow(unused_variables)]
                        fn #fname(data: &#data, #payload) -> bool {
                            #code
                        }
                    },
                }
            })
            .collect();
        let inline_impl = (!inlines.is_empty()).then(|| {
            quote! {
                impl #def {
                    #(#inlines)*
                }
            }
        });

        let res = quote!(__fsm::Run<Self, F, #res_arg>);
        let on = |name: &str, sig: TokenStream, body: Option<TokenStream>| {
            let name = format_ident!("{}", name);
            body.map(|body| {
                quote! {
                    #[inline]
                    fn #name #sig {
                        #body
                    }
                }
            })
        };
        let tables: Vec<TokenStream> = [
            on("on_error", quote!((pos: #pos) -> __fsm::Option<#pos>), on_error),
            on("waits", quote!((pos: #pos) -> bool), waits),
            on("settles", quote!((pos: #pos) -> bool), settles),
            on("bare", quote!((pos: #pos) -> bool), bare),
            on(
                "enter",
                quote!((__run: &mut #res, to: #pos) -> __fsm::CallResult),
                enter,
            ),
            on(
                "pick",
                quote!((__run: &mut #res, from: #pos) -> __fsm::Choice<#pos>),
                pick,
            ),
            on(
                "dispatch",
                quote!((__run: &mut #res, from: #pos, event: &#event_ty) -> __fsm::Choice<#pos>),
                dispatch,
            ),
        ]
        .into_iter()
        .flatten()
        .collect();

        let def_doc = doc_attrs(&format!(
            "The tables of machine `{name}` for the runtime's run loop (`MachineDef`): \
             what [`{run}`] runs."
        ));
        let run_doc = doc_attrs(&format!(
            "A run of machine `{name}`: the record, where it is, the path taken. Get one from \
             [`{m}::start`] or [`{m}::into_run`]; `step` takes one transition, `finish` runs to an end \
             state{handle}.",
            m = self.machine,
            handle = if m.is_event_driven() {
                ", `handle` takes an event"
            } else {
                ""
            },
        ));
        quote! {
            #def_doc
            #[derive(Clone, Copy, Debug)]
            pub enum #def {}

            #run_doc
            pub type #run<F #res_decl> = #rt_path::Run<#def, #run_alias_args>;

            const _: () = {
                use #rt_path as __fsm;

                impl<F: #t #res_bound> __fsm::MachineDef<F, #res_arg> for #def {
                    type Pos = #pos;
                    type End = #end;
                    type Data = #data;
                    type Event = #event_ty;
                    type Frames = #frames;
                    const NAME: &'static str = #name;
                    const START: #pos = #pos::START;

                    #[inline]
                    fn network(pos: #pos) -> &'static str {
                        pos.network()
                    }
                    #[inline]
                    fn is_end(pos: #pos) -> bool {
                        pos.is_end()
                    }
                    #[inline]
                    fn end_of(pos: #pos) -> __fsm::Option<#end> {
                        #end_of
                    }
                    #(#tables)*
                }

                #inline_impl
            };
        }
    }

    /// A `match` on `on` whose arms return the arc they take; `Ok(None)` after it.
    fn choice_table(&self, arms: Vec<TokenStream>, total: usize, on: TokenStream) -> TokenStream {
        let rt = &self.rt;
        let default = (arms.len() < total).then(|| quote!(_ => {}));
        quote!({
            #[allow(clippy::needless_return, clippy::single_match, unreachable_code, unreachable_patterns)]
            match #on {
                #(#arms)*
                #default
            }
            #[allow(unreachable_code)]
            #rt::Ok(#rt::None)
        })
    }

    /// `dispatch`'s body: per state with event arcs, a `match` on the event.
    fn dispatch_table(&self, all: &[(StateRef, &ir::State)]) -> Option<TokenStream> {
        let m = self.m;
        let ev = &self.event;
        let payload_ident = quote!(payload);
        let mut arms = Vec::new();
        for (r, s) in all {
            let net = &m.networks[r.network.0];
            let mut event_arms = Vec::new();
            for a in &s.arcs {
                let arc = &net.arcs[a.0];
                let Some(e) = arc.event else { continue };
                let event = &m.events[e.0];
                let v = ident(&event.ident);
                let uses_payload = event.payload.is_some()
                    && (arc.condition.as_ref().is_some_and(|c| self.call_takes_payload(c))
                        || arc.transform.iter().any(|c| self.call_takes_payload(c)));
                let pat = match (&event.payload, uses_payload) {
                    (Some(_), true) => quote!(#ev::#v(payload)),
                    (Some(_), false) => quote!(#ev::#v(_)),
                    (None, _) => quote!(#ev::#v),
                };
                let guard = arc.condition.as_ref().map(|c| {
                    let cond = self.condition(c, Some(&payload_ident));
                    quote!(if #cond)
                });
                let take = self.take_arc(*r, arc, Some(&payload_ident));
                event_arms.push(quote!(#pat #guard => #take));
            }
            if !event_arms.is_empty() {
                let p = self.pos(*r);
                arms.push(quote! {
                    #p => match event {
                        #(#event_arms)*
                        _ => {}
                    },
                });
            }
        }
        (!arms.is_empty()).then(|| self.choice_table(arms, all.len(), quote!(from)))
    }

    /// Taking `arc` from `from` (its condition already true): its transforms, in the source
    /// state's data mode, then where it leads. A block that returns from the table.
    fn take_arc(&self, from: StateRef, arc: &ir::Arc, payload: Option<&TokenStream>) -> TokenStream {
        let rt = &self.rt;
        let n = from.network;
        let next = match arc.target {
            Target::State(s) => {
                let p = self.pos(Self::sref(n, s));
                quote!(#rt::Next::To(#p))
            }
            Target::Push { network, return_state } => {
                let start = self.pos(Self::sref(network, self.m.networks[network.0].start));
                let ret = match return_state {
                    Some(r) => {
                        let p = self.pos(Self::sref(n, r));
                        quote!(#rt::Some(#p))
                    }
                    None => quote!(#rt::None),
                };
                quote!(#rt::Next::Push { start: #start, ret: #ret })
            }
        };
        let transform = (!arc.transform.is_empty()).then(|| {
            let calls: Vec<&Call> = arc.transform.iter().collect();
            let mode = self.m.networks[n.0].states[arc.from.0].data_mode;
            let body = self.transaction(from, mode, &calls, payload.map(|_| ()), None);
            quote!(#body?;)
        });
        quote!({
            #transform
            return #rt::Ok(#rt::Some(#next));
        })
    }

    /// A block running `calls` on the record in `mode`, returning
    /// `Result<(), (&'static str, FnError)>`. `payload`: a `payload` binding is in scope.
    fn transaction(
        &self,
        at: StateRef,
        mode: DataMode,
        calls: &[&Call],
        payload: Option<()>,
        timeout: Option<f64>,
    ) -> TokenStream {
        let rt = &self.rt;
        let m = self.m;
        let net = &m.networks[at.network.0].name;
        let state = &m.state(at).name;
        let name = &self.name;
        let steps = calls.iter().map(|c| {
            let fname = m.call_name(c);
            let call = self.transform_call(c, payload.is_some());
            if self.infallible(c) {
                quote!(#call;)
            } else if self.atomic(c) {
                // Reads the record (`&mut D` coerces to `&D`), then applies the change.
                quote!((#call.map_err(|e| (#fname, e))?)(__data);)
            } else {
                quote!(#call.map_err(|e| (#fname, e))?;)
            }
        });
        // `timeout_seconds`: the clock starts before the first function, and a run that took too
        // long fails after the last one (so copy and reference modes roll its changes back).
        let began = timeout.map(|_| quote!(let __began = ::std::time::Instant::now();));
        let deadline = timeout.map(|t| {
            let nanos = proc_macro2::Literal::u64_unsuffixed((t * 1e9) as u64);
            quote!(#rt::deadline(__began, #nanos)?;)
        });
        let steps = began.into_iter().chain(steps).chain(deadline);
        let needs_ctx = calls.iter().any(|c| !matches!(c, Call::Builtin { .. }));
        let new_ctx = self.held.ctx_new(rt, name, net, state);
        let ctx = needs_ctx.then(|| quote!(let mut __ctx = #new_ctx;));
        // Nothing can leave the record half-changed when every function cannot fail, but for the
        // first, which may be atomic (it fails, if at all, before changing anything): no snapshot
        // to take (in `reference` mode the record still has to be saved).
        let infallible = timeout.is_none()
            && calls
                .iter()
                .enumerate()
                .all(|(i, c)| self.infallible(c) || (i == 0 && self.atomic(c)));
        let mode = if infallible && mode == DataMode::Copy {
            DataMode::Direct
        } else {
            mode
        };
        match mode {
            // The functions work in place; with a store, success saves the record (optimistic
            // locking) and failure reloads it; without one, as `Copy`.
            DataMode::Reference => {
                let saved = if infallible {
                    quote!(#rt::None)
                } else {
                    quote!(#rt::store_snapshot(&__run.store, &__run.data))
                };
                quote!({
                    let __saved = #saved;
                    let __result = (|| -> #rt::CallResult {
                        let __data = &mut __run.data;
                        #ctx
                        #(#steps)*
                        #rt::Ok(())
                    })();
                    #rt::store_settle(&mut __run.store, &mut __run.data, __saved, __result)
                })
            }
            // The functions work in place; the record as it entered waits in `__saved` and comes
            // back only if one of them fails (cheaper than working on a copy and moving it back).
            DataMode::Copy => quote!({
                let __saved = ::core::clone::Clone::clone(&__run.data);
                let __result = (|| -> #rt::CallResult {
                    let __data = &mut __run.data;
                    #ctx
                    #(#steps)*
                    #rt::Ok(())
                })();
                if __result.is_err() {
                    __run.data = __saved;
                }
                __result
            }),
            DataMode::Direct => quote!({
                let __data = &mut __run.data;
                #ctx
                #(#steps)*
                #rt::Ok(())
            }),
        }
    }

    /// A state's functions (`body`, a block returning `CallResult` that rolls its own changes
    /// back) under its `retry` policy, `circuit_breaker` and `rate_limit`: one `static` breaker
    /// and limiter per state.
    fn guarded(&self, resilience: &ir::Resilience, body: TokenStream) -> TokenStream {
        if resilience.retry.is_none() && resilience.breaker.is_none() && resilience.rate_limit.is_none() {
            return body;
        }
        let rt = &self.rt;
        let nanos = |s: f64| proc_macro2::Literal::u64_unsuffixed((s * 1e9) as u64);
        let retry = match &resilience.retry {
            Some(r) => {
                let (attempts, delay, max, exponential, jitter) =
                    (r.attempts, nanos(r.delay), nanos(r.max_delay), r.exponential, r.jitter);
                quote!(#rt::Some(&#rt::RetryPolicy::new(#attempts, #delay, #max, #exponential, #jitter)))
            }
            None => quote!(#rt::None),
        };
        let (breaker_static, breaker) = match resilience.breaker {
            Some((failures, reset)) => {
                let reset = nanos(reset);
                (
                    quote!(static __BREAKER: #rt::CircuitBreaker = #rt::CircuitBreaker::new(#failures, #reset);),
                    quote!(#rt::Some(&__BREAKER)),
                )
            }
            None => (quote!(), quote!(#rt::None)),
        };
        let (limiter_static, limiter) = match resilience.rate_limit {
            Some((per_second, burst)) => {
                let per_second = proc_macro2::Literal::f64_unsuffixed(per_second);
                (
                    quote!(static __LIMITER: #rt::RateLimiter = #rt::RateLimiter::new(#per_second, #burst);),
                    quote!(#rt::Some(&__LIMITER)),
                )
            }
            None => (quote!(), quote!(#rt::None)),
        };
        quote!({
            #breaker_static
            #limiter_static
            #rt::guarded(
                #rt::Guards { retry: #retry, breaker: #breaker, limiter: #limiter },
                || #body,
            )
        })
    }

    /// Whether a check or transform cannot fail: a named function declared `infallible`.
    fn infallible(&self, c: &Call) -> bool {
        matches!(c, Call::Named(f) if self.m.functions[f.0].infallible)
    }

    /// Whether a check or transform fails, if at all, before changing the record: a named
    /// function declared `atomic`.
    fn atomic(&self, c: &Call) -> bool {
        matches!(c, Call::Named(f) if self.m.functions[f.0].atomic)
    }

    /// A call of a check or transform: `Result<(), FnError>` (`()` when [`Self::infallible`]);
    /// `__data` and `__ctx` in scope.
    fn transform_call(&self, c: &Call, payload_in_scope: bool) -> TokenStream {
        let rt = &self.rt;
        match c {
            Call::Named(f) => {
                let func = &self.m.functions[f.0];
                let name = ident(&func.ident);
                let p = (func.payload.is_some() && payload_in_scope).then(|| quote!(payload,));
                let t = &self.fns;
                // Fully qualified: a function called `clone` must not meet `Clone::clone`.
                quote!(#t::#name(&__run.fns, __data, #p &mut __ctx))
            }
            Call::Inline(i) => {
                let name = format_ident!("__inline_{}", i.0);
                let p = (self.m.inlines[i.0].payload.is_some() && payload_in_scope).then(|| quote!(payload,));
                quote!(Self::#name(__data, #p &mut __ctx))
            }
            Call::Builtin { name, params } => self.builtin(name, params, rt),
        }
    }

    fn builtin(&self, name: &str, params: &serde_json::Value, rt: &Ident) -> TokenStream {
        let f = ident(&crate::naming::fn_ident(name));
        let params = self.builtin_params(params);
        quote!(#rt::builtins::#f(__data, &#params))
    }

    /// The static holding a built-in call's parameters (parsed once, on first use).
    fn builtin_params(&self, params: &serde_json::Value) -> Ident {
        let mut statics = self.builtin_statics.borrow_mut();
        let name = format_ident!(
            "__{}_BUILTIN_PARAMS_{}",
            crate::naming::fn_ident(&self.m.ident).to_uppercase(),
            statics.len()
        );
        statics.push((name.clone(), params.to_string()));
        name
    }

    fn builtin_statics(&self) -> TokenStream {
        let rt = &self.rt_path;
        let statics = self.builtin_statics.borrow();
        let items = statics.iter().map(|(name, json)| {
            quote! {
                static #name: ::std::sync::LazyLock<#rt::builtins::Value> =
                    ::std::sync::LazyLock::new(|| #rt::builtins::params(#json));
            }
        });
        quote!(#(#items)*)
    }

    /// A condition: `bool`. `payload`: the name of the payload binding in scope, if any.
    fn condition(&self, c: &Call, payload: Option<&TokenStream>) -> TokenStream {
        match c {
            Call::Named(f) => {
                let func = &self.m.functions[f.0];
                let name = ident(&func.ident);
                let p = payload.filter(|_| func.payload.is_some()).map(|p| quote!(, &#p));
                let t = &self.fns;
                quote!(#t::#name(&__run.fns, &__run.data #p))
            }
            Call::Inline(i) => {
                let name = format_ident!("__inline_{}", i.0);
                let p = payload
                    .filter(|_| self.m.inlines[i.0].payload.is_some())
                    .map(|p| quote!(, &#p));
                quote!(Self::#name(&__run.data #p))
            }
            Call::Builtin { name, params } => {
                let rt = &self.rt;
                let f = ident(&crate::naming::fn_ident(name));
                let params = self.builtin_params(params);
                quote!(#rt::builtins::#f(&__run.data, &#params))
            }
        }
    }

    fn call_takes_payload(&self, c: &Call) -> bool {
        match c {
            Call::Named(f) => self.m.functions[f.0].payload.is_some(),
            Call::Inline(i) => self.m.inlines[i.0].payload.is_some(),
            Call::Builtin { .. } => false,
        }
    }
}
