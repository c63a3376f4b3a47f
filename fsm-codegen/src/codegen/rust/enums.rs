//! The enums of a machine: its states (one per network, and the `Position` of a machine with
//! several networks), its end states, its events.

use super::{Gen, UserSpans, doc_attrs, ident, respan, respan_each};
use crate::attributes;
use crate::ir::{self, AttributeTarget, NetworkId, StateRef};
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

/// The attributes of `attributes:` for one enum, as generated.
struct UserAttributes {
    /// The derive of what the enum always has, then the user's attributes (without derives of
    /// those traits).
    tokens: TokenStream,
    /// The serde traits the runtime implements by name: those the user does not derive.
    serde_by_name: Vec<Ident>,
}

impl Gen<'_> {
    /// The derive and the attributes of `target`'s enum.
    fn attributes(&self, target: AttributeTarget) -> UserAttributes {
        let payloads = self.m.events.iter().any(|e| e.payload.is_some());
        let mut attrs = Vec::new();
        let mut broken = TokenStream::new();
        for a in self.m.attributes_for(target) {
            let parsed = syn::parse_str::<TokenStream>(&a.text)
                .map(|tokens| self.user_span(tokens, a.span))
                .and_then(attributes::parse_tokens);
            match parsed {
                Ok(parsed) => attrs.extend(parsed),
                // Validation refuses what does not parse.
                Err(e) => broken.extend(e.into_compile_error()),
            }
        }
        let (serialize, deserialize) = attributes::serde_derived(&attrs);
        let kept = attributes::without_provided(attrs, &|name| attributes::provided(target, payloads, name));
        let derives = attributes::derives(target, payloads).iter().map(|d| ident(d));
        let derive = if attributes::derives(target, payloads).is_empty() {
            TokenStream::new()
        } else {
            quote!(#[derive(#(#derives),*)])
        };
        let user = attributes::to_tokens(&kept);
        let serde_by_name = [("serialize", !serialize), ("deserialize", !deserialize)]
            .into_iter()
            .filter(|(_, by_name)| *by_name)
            .map(|(name, _)| ident(name))
            .collect();
        UserAttributes {
            tokens: quote!(#derive #user #broken),
            serde_by_name,
        }
    }

    /// Tokens the user wrote (re-read from the IR's text), at the place [`UserSpans`] says.
    fn user_span(&self, tokens: TokenStream, span: crate::span::Span) -> TokenStream {
        match &self.options.attribute_spans {
            UserSpans::Generated => tokens,
            UserSpans::At(at) => respan(tokens, Span::call_site().located_at(*at)),
            UserSpans::Tokens(spans) => {
                let all = spans.all(span);
                let mut iter = all.iter();
                match respan_each(tokens.clone(), &mut iter) {
                    Some(exact) if iter.len() == 0 => exact,
                    _ => respan(tokens, spans.resolve(span)),
                }
            }
        }
    }

    /// `impl_names!` of a state or end enum, with the serde traits it implements by name when
    /// the user derives some.
    fn impl_names(&self, ty: &Ident, expected: &str, attrs: &UserAttributes) -> TokenStream {
        let rt = &self.rt_path;
        if attrs.serde_by_name.len() == 2 {
            quote!(#rt::impl_names!(#ty, #expected);)
        } else {
            let which = &attrs.serde_by_name;
            quote!(#rt::impl_names!(#ty, #expected, serde(#(#which),*));)
        }
    }

    pub(super) fn state_enum(&self, n: NetworkId) -> TokenStream {
        let net = &self.m.networks[n.0];
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
        let attrs = self.attributes(AttributeTarget::States);
        let names_impl = self.impl_names(&ty, &expected, &attrs);
        let attributes = &attrs.tokens;
        quote! {
            #doc
            #attributes
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

            #names_impl
        }
    }

    pub(super) fn position_enum(&self) -> TokenStream {
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

    pub(super) fn end_enum(&self) -> TokenStream {
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
        let attrs = self.attributes(AttributeTarget::Ends);
        let names_impl = self.impl_names(e, &expected, &attrs);
        let attributes = &attrs.tokens;
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
            #attributes
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

            #names_impl
        }
    }

    /// `<Machine>StateData`: one variant per state that carries data, holding it; what
    /// `run.state_data()` shows (as `Option<..>`: `None` in a state without data). Nothing for a
    /// machine whose states carry none.
    pub(super) fn state_data_enum(&self) -> TokenStream {
        let Some(e) = &self.state_data else {
            return TokenStream::new();
        };
        let pos = &self.position;
        let with_data: Vec<(StateRef, &ir::State)> = self.m.states().filter(|(_, s)| s.data.is_some()).collect();
        let variants = with_data.iter().map(|(r, s)| {
            let v = &self.state_data_variants[r.network.0][r.state.0];
            let t = self.payload_type(s.data.as_deref().unwrap_or("()"));
            let doc = doc_attrs(&format!(
                "The data of state `{}` (network `{}`): made by the arc that entered it.",
                s.name, self.m.networks[r.network.0].name
            ));
            quote!(#doc #v(#t))
        });
        let state_arms = with_data.iter().map(|(r, _)| {
            let v = &self.state_data_variants[r.network.0][r.state.0];
            let p = self.pos(*r);
            quote!(Self::#v(_) => #p)
        });
        let doc = doc_attrs(&format!(
            "The data of the states of machine `{}` that carry their own (`data:` of a state): what \
             `run.state_data()` holds while the run is in such a state. The arc into the state \
             makes it; leaving the state drops it.",
            self.name
        ));
        quote! {
            #doc
            #[derive(Debug)]
            #[allow(clippy::enum_variant_names, clippy::upper_case_acronyms, clippy::large_enum_variant)]
            pub enum #e {
                #(#variants,)*
            }

            impl #e {
                /// The state this is the data of.
                pub const fn state(&self) -> #pos {
                    match self {
                        #(#state_arms,)*
                    }
                }
            }
        }
    }

    pub(super) fn event_enum(&self) -> TokenStream {
        let rt = &self.rt_path;
        let ev = &self.event;
        let attributes = self.attributes(AttributeTarget::Events).tokens;
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
        // With payloads, `Debug` by hand: a payload is shown with its own `Debug`, or as `..`
        // when its type has none, so payload types need not implement it.
        let debug = self.m.events.iter().any(|e| e.payload.is_some()).then(|| {
            let arms = self.m.events.iter().map(|e| {
                let v = ident(&e.ident);
                let shown = v.to_string();
                if e.payload.is_some() {
                    quote!(Self::#v(payload) => f.debug_tuple(#shown).field(#rt::payload_debug!(payload)).finish())
                } else {
                    quote!(Self::#v => f.write_str(#shown))
                }
            });
            quote! {
                impl ::core::fmt::Debug for #ev {
                    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        match self {
                            #(#arms,)*
                        }
                    }
                }
            }
        });
        let doc = doc_attrs(&format!(
            "The events that drive machine `{}`, with their payloads.",
            self.name
        ));
        quote! {
            #doc
            #attributes
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


            #debug
        }
    }
}
