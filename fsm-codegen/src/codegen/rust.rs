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
    out.extend(g.run_type());
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

            impl #rt::StateName for #ty {
                fn name(&self) -> &'static str {
                    #ty::name(*self)
                }
            }

            impl ::core::fmt::Display for #ty {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.pad(#ty::name(*self))
                }
            }

            impl ::core::str::FromStr for #ty {
                type Err = #rt::UnknownName;
                fn from_str(s: &str) -> ::core::result::Result<Self, #rt::UnknownName> {
                    let state = match s {
                        #(#names => Self::#variants,)*
                        _ => {
                            return ::core::result::Result::Err(#rt::UnknownName {
                                name: ::std::string::ToString::to_string(s),
                                expected: #expected,
                            });
                        }
                    };
                    ::core::result::Result::Ok(state)
                }
            }

            #rt::impl_serde_by_name!(#ty);
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

            impl #rt::StateName for #e {
                fn name(&self) -> &'static str {
                    #e::name(*self)
                }
            }

            impl #rt::EndState for #e {
                const ALL: &'static [Self] = &#e::ALL;
            }

            impl ::core::fmt::Display for #e {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.pad(#e::name(*self))
                }
            }

            impl ::core::str::FromStr for #e {
                type Err = #rt::UnknownName;
                fn from_str(s: &str) -> ::core::result::Result<Self, #rt::UnknownName> {
                    #e::ALL.into_iter().find(|e| e.name() == s).ok_or_else(|| #rt::UnknownName {
                        name: ::std::string::ToString::to_string(s),
                        expected: #expected,
                    })
                }
            }

            #rt::impl_serde_by_name!(#e);
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
        // Without history or a tracing subscriber (checked once, in `start`), a run takes the
        // lean loop; push arcs take the general path.
        let run_body = if self.m.has_push_arcs() {
            quote!(self.start(data).finish())
        } else {
            quote! {
                let run = self.start(data);
                if run.observe {
                    return run.finish();
                }
                run.__lean()
            }
        };
        let run_stored_body = if self.m.has_push_arcs() {
            quote!(run.finish())
        } else {
            quote! {
                if run.observe {
                    return #rt::Ok(run.finish());
                }
                run.__lean()
            }
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
                        let run = self.start_stored(store, key)?;
                        #rt::Ok({ #run_stored_body })
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
                    let mut run = self.start(data);
                    run.store = #rt::Some(slot);
                    #rt::Ok(run)
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
                    #run_body
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
                    #run::new(&self.fns, #res_borrowed data, self.options)
                }

                /// A run of `data` that owns the functions (no lifetime to carry around).
                #[inline]
                pub fn into_run(self, data: #data) -> #run<F> {
                    #run::new(self.fns, #res_owned data, self.options)
                }

                #res_accessor

                #run_fn

                #stored_fns
            }

            #machine_impl

            #stored_impl
        }
    }

    // ---------------------------------------------------------------- run type

    fn run_type(&self) -> TokenStream {
        let rt = &self.rt;
        let m = self.m;
        let (t, run, data, end, pos) = (&self.fns, &self.run, &self.data, &self.end, &self.position);
        let event_driven = m.is_event_driven();
        let name = &self.name;
        let push = m.has_push_arcs();
        let depth = proc_macro2::Literal::usize_unsuffixed(m.push_depth.max(1));

        let rt_path = &self.rt_path;
        let stack_field = push.then(|| quote!(stack: #rt_path::ReturnStack<::core::option::Option<#pos>, #depth>,));
        let stack_init = push.then(|| quote!(stack: #rt::ReturnStack::new(),));
        let base_field = event_driven.then(|| quote!(base: u32, live: ::core::option::Option<#pos>,));
        let base_init = event_driven.then(|| quote!(base: 0, live: ::core::option::Option::None,));
        let base_read = if event_driven {
            quote!(self.transitions.wrapping_sub(self.base))
        } else {
            quote!(self.transitions)
        };
        // `live` is `Some(pos)` while `handle` may take the fast path: the run is under way, nothing
        // observes it, and no other method moved it since. Anything else clears it.
        // `live` is ahead of `pos` after the fast path moved into a state without functions (it
        // leaves `pos` behind): whatever clears `live` first brings `pos` up to date.
        let fast_off = event_driven.then(|| {
            quote! {
                if let #rt::Some(live) = self.live.take() {
                    self.pos = live;
                }
            }
        });
        // Entering a state the general way moves `pos`: `live` no longer leads (the callers that
        // stay on the fast path set it again).
        let leave_fast = event_driven.then(|| quote!(self.live = #rt::None;));
        // An arc's transform failed: the fast path may have left `pos` behind, and the arc's
        // source is where the run is.
        let catch_up = event_driven.then(|| {
            quote! {
                self.pos = from;
                self.live = #rt::None;
            }
        });
        let current = if event_driven {
            quote!(match self.live {
                ::core::option::Option::Some(live) => live,
                ::core::option::Option::None => self.pos,
            })
        } else {
            quote!(self.pos)
        };
        let settle_guard = push.then(|| quote!(if self.stack.is_empty()));
        let store_field = m
            .uses_store()
            .then(|| quote!(store: ::core::option::Option<#rt_path::StoreSlot<#data>>,));
        let store_init = m.uses_store().then(|| quote!(store: #rt::None,));
        let stored_accessor = m.uses_store().then(|| {
            quote! {
                /// The key of the record in its store and the version last loaded or saved;
                /// `None` for a run without a store.
                pub fn stored(&self) -> #rt::Option<(&str, u64)> {
                    self.store.as_ref().map(|s| (s.key(), s.version()))
                }
            }
        });

        // Positions, per state.
        let all: Vec<(StateRef, &ir::State)> = m.states().collect();
        let total = all.len();

        // __state_fns: the functions run on entering each state.
        let mut fn_arms = Vec::new();
        for (r, s) in &all {
            let calls: Vec<&Call> = s.functions().collect();
            if calls.is_empty() {
                continue;
            }
            let p = self.pos(*r);
            let body = self.transaction(*r, s.data_mode, &calls, None, s.resilience.timeout);
            let body = self.guarded(&s.resilience, body);
            fn_arms.push(quote!(#p => #body,));
        }
        let fn_default = (fn_arms.len() < total).then(|| quote!(_ => #rt::Ok(()),));
        let state_fns_body = if fn_arms.is_empty() {
            quote!({
                let _ = to;
                #rt::Ok(())
            })
        } else {
            quote!(match to {
                #(#fn_arms)*
                #fn_default
            })
        };

        // __arc_*: the transforms of arcs that have some.
        let mut arc_fns = Vec::new();
        for (n, net) in m.networks.iter().enumerate() {
            for (a, arc) in net.arcs.iter().enumerate() {
                if arc.transform.is_empty() {
                    continue;
                }
                let r = Self::sref(NetworkId(n), arc.from);
                let name = format_ident!("__arc_{}_{}", n, a);
                let calls: Vec<&Call> = arc.transform.iter().collect();
                // The event's payload, named `_payload` when no transform of the arc takes it.
                let payload = self.arc_payload(arc).map(|p| {
                    let t = self.payload_type(p);
                    if calls.iter().any(|c| self.call_takes_payload(c)) {
                        quote!(payload: &#t)
                    } else {
                        quote!(_payload: &#t)
                    }
                });
                let body = self.transaction(
                    r,
                    net.states[arc.from.0].data_mode,
                    &calls,
                    payload.as_ref().map(|_| ()),
                    None,
                );
                // `body` is a block: the function's body.
                arc_fns.push(quote! {
                    fn #name(&mut self, #payload) -> #rt::CallResult #body
                });
            }
        }

        // __on_error, __is_end, __end_of.
        let on_error_arms: Vec<TokenStream> = all
            .iter()
            .filter_map(|(r, s)| {
                s.on_error.map(|e| {
                    let p = self.pos(*r);
                    let t = self.pos(Self::sref(r.network, e));
                    quote!(#p => #rt::Some(#t),)
                })
            })
            .collect();
        let on_error_default = (on_error_arms.len() < total).then(|| quote!(_ => #rt::None,));
        let on_error_body = if on_error_arms.is_empty() {
            quote!({
                let _ = pos;
                #rt::None
            })
        } else {
            quote!(match pos {
                #(#on_error_arms)*
                #on_error_default
            })
        };
        let end_arms = m.ends.iter().map(|e| {
            let p = self.pos(e.state);
            let v = ident(&e.ident);
            quote!(#p => #rt::Some(#end::#v),)
        });
        let end_default = (m.ends.len() < total).then(|| quote!(_ => #rt::None,));
        let end_body = if m.ends.is_empty() {
            quote!({
                let _ = pos;
                #rt::None
            })
        } else {
            quote!(match pos {
                #(#end_arms)*
                #end_default
            })
        };

        // __eventless: try the eventless arcs of the current state.
        let mut eventless_arms = Vec::new();
        let mut waits = Vec::new(); // states with event arcs
        for (r, s) in &all {
            let net = &m.networks[r.network.0];
            let mut tries = Vec::new();
            let mut has_events = false;
            for a in &s.arcs {
                let arc = &net.arcs[a.0];
                if arc.event.is_some() {
                    has_events = true;
                    continue;
                }
                let body = self.arc_body(r.network, *a, None);
                match &arc.condition {
                    Some(c) => {
                        let cond = self.condition(c, None);
                        tries.push(quote! {
                            if #cond {
                                return #body.map(|()| true);
                            }
                        });
                    }
                    None => {
                        tries.push(quote!(return #body.map(|()| true);));
                        break;
                    }
                }
            }
            if has_events {
                waits.push(self.pos(*r));
            }
            if !tries.is_empty() {
                let p = self.pos(*r);
                eventless_arms.push(quote!(#p => { #(#tries)* }));
            }
        }
        let eventless_default = (eventless_arms.len() < total).then(|| quote!(_ => {}));
        let eventless_match = (!eventless_arms.is_empty()).then(|| {
            quote!(match self.pos {
                #(#eventless_arms)*
                #eventless_default
            })
        });
        let eventless_unreachable_ok = if eventless_arms.len() == total {
            quote!(#[allow(unreachable_code)])
        } else {
            quote!()
        };

        // What a run does when no eventless arc is available.
        let stuck = quote!(#rt::Err(#rt::RunError::NoTransition {
            network: self.pos.network(),
            state: self.pos.name(),
        }));
        let no_arc = if event_driven {
            quote! {
                if Self::__waits(self.pos) {
                    #rt::Ok(false)
                } else {
                    #stuck
                }
            }
        } else {
            quote!(#stuck)
        };
        let waits_fn = event_driven.then(|| {
            let body = if waits.is_empty() {
                quote!({
                    let _ = pos;
                    false
                })
            } else {
                quote!(::core::matches!(pos, #(#waits)|*))
            };
            quote! {
                /// Whether a state has arcs triggered by events.
                const fn __waits(pos: #pos) -> bool {
                    #body
                }
            }
        });

        // __lean: `run`'s loop when nothing observes the run and no arc pushes a network: enter a
        // state (its functions), stop at an end state, else pick the next arc (its condition and
        // transforms) and count it; the same moves, errors and counts as `finish`.
        let lean = (!event_driven && !push).then(|| {
            let mut pick_arms = Vec::new();
            for (r, s) in &all {
                let net = &m.networks[r.network.0];
                let mut tries = Vec::new();
                for a in &s.arcs {
                    let arc = &net.arcs[a.0];
                    let Target::State(t) = arc.target else { continue };
                    if arc.event.is_some() {
                        continue;
                    }
                    let tp = self.pos(Self::sref(r.network, t));
                    let transform = (!arc.transform.is_empty()).then(|| {
                        let f = format_ident!("__arc_{}_{}", r.network.0, a.0);
                        quote!(self.#f()?;)
                    });
                    let take = quote!({
                        #transform
                        return #rt::Ok(#rt::Some(#tp));
                    });
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
            let pick_default = (pick_arms.len() < total).then(|| quote!(_ => {}));
            let pick_match = (!pick_arms.is_empty()).then(|| {
                quote!(match from {
                    #(#pick_arms)*
                    #pick_default
                })
            });
            let pick_unreachable_ok = if pick_arms.len() == total {
                quote!(#[allow(unreachable_code)])
            } else {
                quote!()
            };
            quote! {
                /// `finish` from the start, for a run nothing observes: one loop that enters a
                /// state, stops at an end state, or picks the next arc and counts it.
                #[inline(always)]
                fn __lean(mut self) -> #rt::RunResult<#end, #data> {
                    let mut to = #pos::START;
                    let error = loop {
                        self.pos = to;
                        let failed = match self.__state_fns(to) {
                            #rt::Ok(()) => {
                                if let #rt::Some(end) = Self::__end_of(to) {
                                    return #rt::Ok(#rt::Outcome {
                                        end,
                                        data: self.data,
                                        error: self.error,
                                        transitions: self.transitions,
                                        history: self.history,
                                    });
                                }
                                if to.is_end() {
                                    break #rt::RunError::NoTransition { network: to.network(), state: to.name() };
                                }
                                match self.__pick(to) {
                                    #rt::Ok(#rt::Some(next)) => {
                                        if self.transitions >= self.options.max_transitions {
                                            break #rt::RunError::StepLimit {
                                                limit: self.options.max_transitions,
                                                state: to.name(),
                                            };
                                        }
                                        self.transitions = self.transitions.wrapping_add(1);
                                        to = next;
                                        continue;
                                    }
                                    #rt::Ok(#rt::None) => {
                                        break #rt::RunError::NoTransition { network: to.network(), state: to.name() };
                                    }
                                    #rt::Err(failed) => failed,
                                }
                            }
                            #rt::Err(failed) => failed,
                        };
                        let (function, error) = failed;
                        let failure = #rt::StateError {
                            network: to.network(),
                            state: to.name(),
                            function,
                            error,
                        };
                        let #rt::Some(next) = Self::__on_error(to) else {
                            break #rt::RunError::Function(failure);
                        };
                        self.error = #rt::Some(failure);
                        if self.transitions >= self.options.max_transitions {
                            break #rt::RunError::StepLimit {
                                limit: self.options.max_transitions,
                                state: to.name(),
                            };
                        }
                        self.transitions = self.transitions.wrapping_add(1);
                        to = next;
                    };
                    #rt::Err(#rt::Failure { error, data: self.data })
                }

                /// The first available eventless arc of `from` (by priority, then declaration
                /// order), its transforms run: its target, or `None` when no arc is available.
                #[inline]
                #[allow(clippy::needless_return, clippy::single_match, unused_variables)]
                #pick_unreachable_ok
                fn __pick(
                    &mut self,
                    from: #pos,
                ) -> #rt::Result<#rt::Option<#pos>, (&'static str, #rt::FnError)> {
                    #pick_match
                    #rt::Ok(#rt::None)
                }
            }
        });

        let pop = if push {
            quote! {
                /// Leaves a pushed network that reached an end state: continue at the return
                /// state of the innermost push arc that has one.
                fn __pop(&mut self, observe: bool) -> #rt::Result<(), #rt::RunError> {
                    while let #rt::Some(frame) = self.stack.pop() {
                        if let #rt::Some(ret) = frame {
                            self.__count()?;
                            return self.__arrive(ret, observe);
                        }
                    }
                    #rt::Ok(())
                }
            }
        } else {
            quote!()
        };
        let advance_end = if push {
            quote! {
                if self.pos.is_end() {
                    if self.stack.is_empty() {
                        return #stuck;
                    }
                    return self.__pop(observe).map(|()| true);
                }
            }
        } else {
            quote! {
                if self.pos.is_end() {
                    return #stuck;
                }
            }
        };

        // Inline functions.
        let ctx = self.held.ctx_type(rt);
        let inlines = m.inlines.iter().enumerate().map(|(i, inl)| {
            let name = format_ident!("__inline_{}", i);
            let code: TokenStream = match inl.code.parse::<TokenStream>() {
                Ok(ts) => ts,
                Err(_) => {
                    let msg = format!("fsm: inline Rust does not parse: {}", inl.code);
                    quote!(::core::compile_error!(#msg))
                }
            };
            let payload = inl.payload.as_deref().map(|p| {
                let t = self.payload_type(p);
                quote!(payload: &#t,)
            });
            match inl.role {
                Role::Transform => quote! {
                    #[allow(unused_variables, unused_braces, clippy::unit_arg, clippy::let_unit_value)]
                    fn #name(
                        data: &mut #data,
                        #payload
                        ctx: &mut #ctx,
                    ) -> #rt::Result<(), #rt::FnError> {
                        #rt::IntoFnResult::into_fn_result({ #code })
                    }
                },
                Role::Condition => quote! {
                    #[allow(unused_variables)]
                    fn #name(data: &#data, #payload) -> bool {
                        #code
                    }
                },
            }
        });

        let event_api = if event_driven { self.handle_fns() } else { quote!() };
        let event_move = event_driven.then(|| {
            quote! {
                /// Takes an event's arc to `to`: counts it (the step limit bounds what follows an
                /// event, not the event's own arc), then enters `to`.
                #[inline(always)]
                fn __event_move(&mut self, to: #pos, observe: bool) -> #rt::Result<(), #rt::RunError> {
                    self.transitions = self.transitions.wrapping_add(1);
                    self.__arrive(to, observe)
                }
            }
        });

        let run_doc = doc_attrs(&format!(
            "A run of machine `{name}`: the record, where it is, the path taken. Get one from \
             [`{m}::start`] or [`{m}::into_run`], or build one with [`{run}::new`].",
            m = self.machine
        ));
        let start = quote!(#pos::START);
        let held = &self.held;
        let (res_decl, res_param, res_bound, res_field, res_init) = (
            &held.run_param_decl,
            &held.run_param,
            &held.run_bound,
            &held.run_field,
            &held.init,
        );

        let definition = quote! {
            #run_doc
            pub struct #run<F #res_decl> {
                fns: F,
                #res_field
                data: #data,
                pos: #pos,
                phase: #rt_path::Phase<#end>,
                observe: bool,
                error: ::core::option::Option<#rt_path::StateError>,
                transitions: u32,
                #base_field
                options: #rt_path::RunOptions,
                history: ::std::vec::Vec<#rt_path::HistoryEntry>,
                started: ::core::option::Option<::std::time::Instant>,
                #stack_field
                #store_field
            }
        };

        // The impls sit in a `const _` block that imports the runtime's private module as
        // `__fsm` (as serde's derives do): the per-state and per-arc code names the runtime
        // hundreds of times, and the short path keeps the expansion small. The import is visible
        // in that block only.
        let impls = quote! {
            impl<F #res_param> ::core::fmt::Debug for #run<F #res_param> {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(::core::stringify!(#run))
                        .field("state", &#current)
                        .field("phase", &self.phase)
                        .field("transitions", &self.transitions)
                        .finish_non_exhaustive()
                }
            }

            impl<F: #t #res_bound> #run<F #res_param> {
                /// A run of `data` with these functions and options, at the start state. Nothing
                /// runs until the first step (or event).
                #[inline]
                pub fn new(fns: F, #res_field data: #data, options: #rt::RunOptions) -> Self {
                    let observe = options.history || #rt::tracing_enabled();
                    #run {
                        fns,
                        #res_init
                        data,
                        pos: #start,
                        phase: #rt::Phase::Start,
                        observe,
                        error: #rt::None,
                        transitions: 0,
                        #base_init
                        options,
                        history: ::std::vec::Vec::new(),
                        started: #rt::None,
                        #stack_init
                        #store_init
                    }
                }

                /// Where the run is: the start state until the first step, then the state last
                /// entered.
                pub fn state(&self) -> #pos {
                    #current
                }

                /// The end state, once the run finished.
                pub fn end(&self) -> #rt::Option<#end> {
                    match self.phase {
                        #rt::Phase::Finished(end) => #rt::Some(end),
                        _ => #rt::None,
                    }
                }

                /// The record.
                pub fn data(&self) -> &#data {
                    &self.data
                }

                /// The record, ending the run.
                pub fn into_data(self) -> #data {
                    self.data
                }

                /// The states entered so far, with timings (empty unless `RunOptions::history`).
                pub fn history(&self) -> &[#rt::HistoryEntry] {
                    &self.history
                }

                /// Transitions taken so far.
                pub fn transitions(&self) -> u32 {
                    self.transitions
                }

                /// The last error the run followed through an `on_error` arc.
                pub fn last_error(&self) -> #rt::Option<&#rt::StateError> {
                    self.error.as_ref()
                }

                #stored_accessor

                /// Takes one transition: enters the start state (first call), or takes the first
                /// available eventless arc (by priority, then declaration order) and enters its
                /// target, running its functions. At an end state, returns `Finished` again. An
                /// error stops the run; later calls return it again.
                pub fn step(&mut self) -> #rt::Result<#rt::Status<#pos, #end>, #rt::RunError> {
                    #fast_off
                    let observe = self.observe;
                    let moved = match &self.phase {
                        #rt::Phase::Running => self.__advance(observe),
                        #rt::Phase::Start => self.__begin(observe).map(|()| true),
                        #rt::Phase::Finished(end) => return #rt::Ok(#rt::Status::Finished(*end)),
                        #rt::Phase::Failed(e) => return #rt::Err(::core::clone::Clone::clone(&**e)),
                    };
                    match moved {
                        #rt::Ok(true) => #rt::Ok(self.__settle()),
                        #rt::Ok(false) => #rt::Ok(#rt::Status::Waiting(self.pos)),
                        #rt::Err(e) => #rt::Err(self.__fail(e)),
                    }
                }

                /// Steps until an end state: the outcome, or why the run stopped (with the record
                /// as it was then). A run that waits for an event stops with `NoTransition`.
                #[inline]
                pub fn finish(mut self) -> #rt::RunResult<#end, #data> {
                    #fast_off
                    let observe = self.observe;
                    let ran = match &self.phase {
                        #rt::Phase::Start => self.__begin(observe).and_then(|()| self.__to_end(observe)),
                        #rt::Phase::Running => self.__to_end(observe),
                        #rt::Phase::Finished(_) => #rt::Ok(()),
                        #rt::Phase::Failed(e) => #rt::Err(::core::clone::Clone::clone(&**e)),
                    };
                    match (ran, &self.phase) {
                        (#rt::Ok(()), #rt::Phase::Finished(end)) => {
                            #rt::Ok(#rt::Outcome {
                                end: *end,
                                data: self.data,
                                error: self.error,
                                transitions: self.transitions,
                                history: self.history,
                            })
                        }
                        (#rt::Ok(()), _) => #rt::Err(#rt::Failure {
                            error: #rt::RunError::NoTransition {
                                network: self.pos.network(),
                                state: self.pos.name(),
                            },
                            data: self.data,
                        }),
                        (#rt::Err(error), _) => {
                            #rt::Err(#rt::Failure { error, data: self.data })
                        }
                    }
                }

                /// Moves until an end state (`Ok`, the phase `Finished`) or a state that waits for
                /// an event (`Ok`, the phase still `Running`).
                fn __to_end(&mut self, observe: bool) -> #rt::Result<(), #rt::RunError> {
                    loop {
                        if let #rt::Status::Finished(_) = self.__settle() {
                            return #rt::Ok(());
                        }
                        match self.__advance(observe) {
                            #rt::Ok(true) => {}
                            #rt::Ok(false) => return #rt::Ok(()),
                            #rt::Err(e) => return #rt::Err(self.__fail(e)),
                        }
                    }
                }

                #event_api

                fn __begin(&mut self, observe: bool) -> #rt::Result<(), #rt::RunError> {
                    self.phase = #rt::Phase::Running;
                    if observe {
                        self.started = #rt::Some(::std::time::Instant::now());
                    }
                    self.__arrive(#start, observe)
                }

                #[cold]
                #[inline(never)]
                fn __fail(&mut self, error: #rt::RunError) -> #rt::RunError {
                    self.phase = #rt::Phase::Failed(::std::boxed::Box::new(::core::clone::Clone::clone(&error)));
                    #fast_off
                    error
                }

                /// After a move: finished when at an end state of the main network.
                fn __settle(&mut self) -> #rt::Status<#pos, #end> {
                    match Self::__end_of(self.pos) {
                        #rt::Some(end) #settle_guard => {
                            self.phase = #rt::Phase::Finished(end);
                            #fast_off
                            #rt::Status::Finished(end)
                        }
                        _ => #rt::Status::Running(self.pos),
                    }
                }

                /// One eventless move from the current state; `false` when it waits for an event.
                fn __advance(&mut self, observe: bool) -> #rt::Result<bool, #rt::RunError> {
                    #advance_end
                    if self.__eventless(observe)? {
                        return #rt::Ok(true);
                    }
                    #no_arc
                }

                /// Counts a transition against the step limit.
                #[inline]
                fn __count(&mut self) -> #rt::Result<(), #rt::RunError> {
                    if #base_read >= self.options.max_transitions {
                        return #rt::Err(#rt::RunError::StepLimit {
                            limit: self.options.max_transitions,
                            state: self.pos.name(),
                        });
                    }
                    self.transitions = self.transitions.wrapping_add(1);
                    #rt::Ok(())
                }

                /// Enters `to` and runs its functions; on failure follows the state's `on_error`
                /// arc, or stops.
                #[inline]
                fn __arrive(&mut self, to: #pos, observe: bool) -> #rt::Result<(), #rt::RunError> {
                    let mut to = to;
                    #leave_fast
                    loop {
                        self.pos = to;
                        let result = if observe { self.__observed(to) } else { self.__state_fns(to) };
                        let #rt::Err((function, error)) = result else {
                            return #rt::Ok(());
                        };
                        let failure = #rt::StateError {
                            network: to.network(),
                            state: to.name(),
                            function,
                            error,
                        };
                        match Self::__on_error(to) {
                            #rt::Some(next) => {
                                self.error = #rt::Some(failure);
                                self.__count()?;
                                to = next;
                            }
                            #rt::None => {
                                return #rt::Err(#rt::RunError::Function(failure));
                            }
                        }
                    }
                }

                /// Takes an eventless arc to `to`: counts it against the step limit, then enters `to`.
                #[inline(always)]
                fn __move(&mut self, to: #pos, observe: bool) -> #rt::Result<(), #rt::RunError> {
                    self.__count()?;
                    self.__arrive(to, observe)
                }

                #event_move

                /// A failure of an arc's transform: the source state's `on_error`, or stop.
                #[allow(dead_code)]
                fn __arc_failed(
                    &mut self,
                    from: #pos,
                    (function, error): (&'static str, #rt::FnError),
                    observe: bool,
                ) -> #rt::Result<(), #rt::RunError> {
                    #catch_up
                    let failure = #rt::StateError {
                        network: from.network(),
                        state: from.name(),
                        function,
                        error,
                    };
                    match Self::__on_error(from) {
                        #rt::Some(next) => {
                            self.error = #rt::Some(failure);
                            self.__count()?;
                            self.__arrive(next, observe)
                        }
                        #rt::None => #rt::Err(#rt::RunError::Function(failure)),
                    }
                }

                /// `__state_fns` with a tracing span and a history entry.
                fn __observed(&mut self, to: #pos) -> #rt::CallResult {
                    let _span = #rt::transition_span(#name, to.network(), to.name());
                    if !self.options.history {
                        return self.__state_fns(to);
                    }
                    let begin = ::std::time::Instant::now();
                    let result = self.__state_fns(to);
                    let at = self.started.map_or(::core::time::Duration::ZERO, |s| begin.saturating_duration_since(s));
                    self.history.push(#rt::HistoryEntry {
                        network: to.network(),
                        state: to.name(),
                        at,
                        took: begin.elapsed(),
                    });
                    result
                }

                /// The checks and transforms of a state, in its data mode. A hint to inline it into
                /// the run loop, where it is called once per state.
                #[inline]
                #[allow(unused_mut)]
                fn __state_fns(&mut self, to: #pos) -> #rt::CallResult {
                    #state_fns_body
                }

                #(#arc_fns)*

                /// Tries the eventless arcs of the current state, in order; takes the first
                /// available one.
                #[allow(clippy::needless_return, clippy::single_match, unused_variables)]
                #eventless_unreachable_ok
                fn __eventless(&mut self, observe: bool) -> #rt::Result<bool, #rt::RunError> {
                    #eventless_match
                    #rt::Ok(false)
                }

                #pop

                #lean

                #waits_fn

                const fn __on_error(pos: #pos) -> #rt::Option<#pos> {
                    #on_error_body
                }

                const fn __end_of(pos: #pos) -> #rt::Option<#end> {
                    #end_body
                }

                #(#inlines)*
            }
        };
        let impls = allow_unused(impls);
        quote! {
            #definition

            const _: () = {
                use #rt_path as __fsm;

                #impls
            };
        }
    }

    /// The payload type an arc's functions receive (its event's, if any).
    fn arc_payload(&self, arc: &ir::Arc) -> Option<&str> {
        arc.event.and_then(|e| self.m.events[e.0].payload.as_deref())
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
                    quote!(#rt::store_snapshot(&self.store, &self.data))
                };
                quote!({
                    let __saved = #saved;
                    let __result = (|| -> #rt::CallResult {
                        let __data = &mut self.data;
                        #ctx
                        #(#steps)*
                        #rt::Ok(())
                    })();
                    #rt::store_settle(&mut self.store, &mut self.data, __saved, __result)
                })
            }
            // The functions work in place; the record as it entered waits in `__saved` and comes
            // back only if one of them fails (cheaper than working on a copy and moving it back).
            DataMode::Copy => quote!({
                let __saved = ::core::clone::Clone::clone(&self.data);
                let __result = (|| -> #rt::CallResult {
                    let __data = &mut self.data;
                    #ctx
                    #(#steps)*
                    #rt::Ok(())
                })();
                if __result.is_err() {
                    self.data = __saved;
                }
                __result
            }),
            DataMode::Direct => quote!({
                let __data = &mut self.data;
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
                quote!(#t::#name(&self.fns, __data, #p &mut __ctx))
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
                quote!(#t::#name(&self.fns, &self.data #p))
            }
            Call::Inline(i) => {
                let name = format_ident!("__inline_{}", i.0);
                let p = payload
                    .filter(|_| self.m.inlines[i.0].payload.is_some())
                    .map(|p| quote!(, &#p));
                quote!(Self::#name(&self.data #p))
            }
            Call::Builtin { name, params } => {
                let rt = &self.rt;
                let f = ident(&crate::naming::fn_ident(name));
                let params = self.builtin_params(params);
                quote!(#rt::builtins::#f(&self.data, &#params))
            }
        }
    }

    /// Taking arc `a` of network `n` (its condition already true): its transforms, then the move.
    /// An expression of type `Result<(), RunError>`; `observe` in scope.
    fn arc_body(&self, n: NetworkId, a: ir::ArcId, payload: Option<&TokenStream>) -> TokenStream {
        self.arc_body_to(n, a, payload, None)
    }

    /// [`Self::arc_body`]; `fast`: the event arc moves with `__fast_move` to this state (which has
    /// no functions) instead of entering it.
    fn arc_body_to(
        &self,
        n: NetworkId,
        a: ir::ArcId,
        payload: Option<&TokenStream>,
        fast: Option<&TokenStream>,
    ) -> TokenStream {
        let rt = &self.rt;
        let net = &self.m.networks[n.0];
        let arc = &net.arcs[a.0];
        let from = self.pos(Self::sref(n, arc.from));
        let go = match fast {
            Some(to) => quote!(self.__fast_move(#to, observe)),
            None => self.goto(n, arc.target, arc.event.is_some()),
        };
        if arc.transform.is_empty() {
            return go;
        }
        let f = format_ident!("__arc_{}_{}", n.0, a.0);
        let arg = match (self.arc_payload(arc), payload) {
            (Some(_), Some(p)) => quote!(&#p),
            _ => quote!(),
        };
        quote!(match self.#f(#arg) {
            #rt::Ok(()) => #go,
            #rt::Err(e) => self.__arc_failed(#from, e, observe),
        })
    }

    /// Moving to an arc's target. Eventless arcs are counted against the step limit; the arc an
    /// event takes is not (the limit bounds what follows it), which keeps `handle` branch-free.
    fn goto(&self, n: NetworkId, target: Target, by_event: bool) -> TokenStream {
        let rt = &self.rt;
        match target {
            Target::State(s) => {
                let p = self.pos(Self::sref(n, s));
                if by_event {
                    quote!(self.__event_move(#p, observe))
                } else {
                    quote!(self.__move(#p, observe))
                }
            }
            Target::Push { network, return_state } => {
                let start = self.pos(Self::sref(network, self.m.networks[network.0].start));
                let frame = match return_state {
                    Some(r) => {
                        let p = self.pos(Self::sref(n, r));
                        quote!(#rt::Some(#p))
                    }
                    None => quote!(#rt::None),
                };
                let count = if by_event {
                    quote!({
                        self.transitions = self.transitions.wrapping_add(1);
                        #rt::Ok(())
                    })
                } else {
                    quote!(self.__count())
                };
                quote!(#count.and_then(|()| {
                    if self.stack.push(#frame).is_err() {
                        return #rt::Err(#rt::RunError::StepLimit {
                            limit: self.options.max_transitions,
                            state: self.pos.name(),
                        });
                    }
                    self.__arrive(#start, observe)
                }))
            }
        }
    }

    /// `handle` and its helpers, for event-driven machines.
    fn handle_fns(&self) -> TokenStream {
        let rt = &self.rt;
        let m = self.m;
        let (pos, end, ev) = (&self.position, &self.end, &self.event);
        let payload_ident = quote!(payload);
        // One arm per state with event arcs, each a `match` on the event: the outer `match` on the
        // state is a jump table in which "not the fast path" (`None`) is one more entry, not a test
        // before every event.
        let mut arms = Vec::new();
        for (r, s) in m.states() {
            let net = &m.networks[r.network.0];
            let p = self.pos(r);
            let mut event_arms = Vec::new();
            for a in &s.arcs {
                let arc = &net.arcs[a.0];
                let Some(e) = arc.event else { continue };
                let event = &m.events[e.0];
                let v = ident(&event.ident);
                let uses_payload = event.payload.is_some()
                    && (arc.condition.as_ref().is_some_and(|c| self.call_takes_payload(c))
                        || !arc.transform.is_empty());
                let pat = match (&event.payload, uses_payload) {
                    (Some(_), true) => quote!(#ev::#v(payload)),
                    (Some(_), false) => quote!(#ev::#v(_)),
                    (None, _) => quote!(#ev::#v),
                };
                let guard = arc.condition.as_ref().map(|c| {
                    let cond = self.condition(c, Some(&payload_ident));
                    quote!(if #cond)
                });
                // The common case of a hand-written match: the target waits for events, no
                // function can send the run elsewhere. Then the new state is known statically.
                let arc_may_divert = !arc.transform.is_empty() && s.on_error.is_some();
                let (status, bare) = match arc.target {
                    Target::State(t) if !arc_may_divert => {
                        let ts = &net.states[t.0];
                        let has_eventless = ts.arcs.iter().any(|x| net.arcs[x.0].event.is_none());
                        let may_divert = ts.on_error.is_some() && ts.functions().next().is_some();
                        if !ts.is_end && !has_eventless && !may_divert {
                            (
                                Some(self.pos(Self::sref(r.network, t))),
                                ts.functions().next().is_none(),
                            )
                        } else {
                            (None, false)
                        }
                    }
                    _ => (None, false),
                };
                // Into a state without functions, the fast path only counts the arc and sets
                // `live`: entering the state would only store its position.
                let fast_to = status.as_ref().filter(|_| bare);
                let body = self.arc_body_to(r.network, *a, Some(&payload_ident), fast_to);
                // The step limit counts from here; when the status is static, nothing follows the
                // arc and nothing reads the base.
                let (base, then) = match status {
                    // The fast path keeps `live` in step with the new state.
                    Some(tp) => (
                        quote!(),
                        quote!(.map(|()| {
                            if !observe {
                                self.live = #rt::Some(#tp);
                            }
                            #rt::Status::Waiting(#tp)
                        })),
                    ),
                    None => (
                        quote!(self.base = self.transitions;),
                        quote!(.and_then(|()| self.__rest(observe))),
                    ),
                };
                event_arms.push(quote! {
                    #pat #guard => {
                        #base
                        (#body)#then
                    }
                });
            }
            if !event_arms.is_empty() {
                arms.push(quote! {
                    #rt::Some(#p) => match event {
                        #(#event_arms)*
                        #[allow(unreachable_patterns)]
                        event => return #rt::Err(#rt::HandleError::Rejected { state: #p, event }),
                    },
                });
            }
        }
        let push = m.has_push_arcs();
        let rest_end = if push {
            quote! {
                if self.pos.is_end() {
                    if self.stack.is_empty() {
                        return #rt::Ok(self.__settle());
                    }
                    self.__pop(observe)?;
                    continue;
                }
            }
        } else {
            quote! {
                if self.pos.is_end() {
                    return #rt::Ok(self.__settle());
                }
            }
        };
        // A machine may declare events that no arc uses (yet): then every event is rejected, and
        // a `match` with only the rejecting arm would leave the rest of the function unreachable.
        let dispatch_body = if arms.is_empty() {
            quote! {
                let _ = observe;
                match key {
                    #rt::None => self.__handle_slow(event),
                    #rt::Some(state) => #rt::Err(#rt::HandleError::Rejected { state, event }),
                }
            }
        } else {
            quote! {
                let result = match key {
                    #(#arms)*
                    #rt::None => return self.__handle_slow(event),
                    #[allow(unreachable_patterns)]
                    #rt::Some(state) => return #rt::Err(#rt::HandleError::Rejected { state, event }),
                };
                result.map_err(|e| #rt::HandleError::Failed(::std::boxed::Box::new(self.__fail(e))))
            }
        };
        quote! {
            /// Handles an event: takes the first arc of the current state for this event whose
            /// condition holds (by priority, then declaration order), runs its transforms and the
            /// target's functions, then any eventless arcs that follow, until the run waits for
            /// the next event or ends. An event no arc accepts is handed back in
            /// `HandleError::Rejected`, the run unchanged.
            #[inline]
            pub fn handle(&mut self, event: #ev) -> ::core::result::Result<#rt::Status<#pos, #end>, #rt::HandleError<#pos, #ev>> {
                self.__dispatch(self.live, event, false)
            }

            /// `handle` when the fast path does not apply: the first event, a run that history or
            /// tracing observes, a run `step` moved, a finished or failed run.
            #[cold]
            #[inline(never)]
            fn __handle_slow(&mut self, event: #ev) -> ::core::result::Result<#rt::Status<#pos, #end>, #rt::HandleError<#pos, #ev>> {
                let observe = self.observe;
                match &self.phase {
                    #rt::Phase::Failed(e) => {
                        return #rt::Err(#rt::HandleError::Failed(::core::clone::Clone::clone(e)));
                    }
                    #rt::Phase::Finished(_) => {
                        return #rt::Err(#rt::HandleError::Rejected { state: self.pos, event });
                    }
                    #rt::Phase::Start => {
                        self.base = 0;
                        let begun = self.__begin(observe).and_then(|()| self.__rest(observe));
                        match begun {
                            #rt::Ok(#rt::Status::Finished(_)) => {
                                return #rt::Err(#rt::HandleError::Rejected { state: self.pos, event });
                            }
                            #rt::Ok(_) => {}
                            #rt::Err(e) => {
                                return #rt::Err(#rt::HandleError::Failed(::std::boxed::Box::new(self.__fail(e))));
                            }
                        }
                    }
                    #rt::Phase::Running => {}
                }
                if !observe {
                    self.live = #rt::Some(self.pos);
                }
                self.__dispatch(#rt::Some(self.pos), event, observe)
            }

            /// The arcs for `event` from `key`, the current state; `key` is `None` when `handle` may not
            /// take the fast path (see `__handle_slow`).
            #[inline(always)]
            fn __dispatch(&mut self, key: ::core::option::Option<#pos>, event: #ev, observe: bool) -> ::core::result::Result<#rt::Status<#pos, #end>, #rt::HandleError<#pos, #ev>> {
                #dispatch_body
            }

            /// An event's arc into a state without functions, on the fast path: counts the arc and
            /// leaves the position to `live`, which the caller sets (observed runs enter the state).
            #[inline(always)]
            fn __fast_move(&mut self, to: #pos, observe: bool) -> #rt::Result<(), #rt::RunError> {
                if observe {
                    return self.__event_move(to, observe);
                }
                self.transitions = self.transitions.wrapping_add(1);
                #rt::Ok(())
            }

            /// After an event's arc: eventless arcs until the run waits or ends. Kept out of line so
            /// that `handle`'s common arms stay a leaf.
            #[inline(never)]
            fn __rest(&mut self, observe: bool) -> ::core::result::Result<#rt::Status<#pos, #end>, #rt::RunError> {
                loop {
                    #rest_end
                    if !self.__eventless(observe)? {
                        return if Self::__waits(self.pos) {
                            if !observe {
                                self.live = #rt::Some(self.pos);
                            }
                            #rt::Ok(#rt::Status::Waiting(self.pos))
                        } else {
                            #rt::Err(#rt::RunError::NoTransition {
                                network: self.pos.network(),
                                state: self.pos.name(),
                            })
                        };
                    }
                }
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
