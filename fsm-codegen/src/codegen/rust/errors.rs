//! Kinds of errors: the `<Machine>ErrorKind` enum of the kinds declared in `errors:`, and the
//! `on_error_for` table that chooses a state's `on_error` entry by the error's kind. A machine
//! without `errors:` gets no enum, and one without kinds in its `on_error` lists no table (the
//! run loop's default, `on_error`, is the answer), so its code is what it was before kinds.

use super::{Gen, doc_attrs, ident};
use crate::ir::{self, StateRef};
use proc_macro2::TokenStream;
use quote::quote;

impl Gen<'_> {
    /// The `<Machine>ErrorKind` enum, when the machine declares `errors:`.
    pub(super) fn error_kind_enum(&self) -> TokenStream {
        if self.m.errors.is_empty() {
            return TokenStream::new();
        }
        let rt = &self.rt_path;
        let rt_pub = &self.rt_pub;
        let e = ident(&format!("{}ErrorKind", self.m.ident));
        let vars: Vec<proc_macro2::Ident> = self.m.errors.iter().map(|k| ident(&k.ident)).collect();
        let names: Vec<&str> = self.m.errors.iter().map(|k| k.name.as_str()).collect();
        let docs = self.m.errors.iter().map(|k| {
            doc_attrs(&match &k.description {
                Some(d) => format!("`{}`: {d}", k.name),
                None => format!("`{}`.", k.name),
            })
        });
        let doc = doc_attrs(&format!(
            "The kinds of errors the functions of machine `{}` return (`errors:` in its definition). \
             A function fails with one as `{e}::{}.error(\"...\")`; a state's `on_error` entries \
             and its `retry: {{ on: [..] }}` choose by kind. The kinds the runtime reports itself \
             (`timeout`, `circuit_open`, `rate_limited`, `store_conflict`, `step_limit`) are \
             constants of `ErrorKind`.",
            self.name, vars[0]
        ));
        let count = proc_macro2::Literal::usize_unsuffixed(vars.len());
        let expected = format!("a kind of error of machine `{}`", self.name);
        quote! {
            #doc
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub enum #e {
                #(#docs #vars,)*
            }

            impl #e {
                /// Every kind, in declaration order.
                pub const ALL: [Self; #count] = [#(Self::#vars),*];

                /// The kind's name, as written in the machine definition.
                pub const fn name(self) -> &'static str {
                    match self { #(Self::#vars => #names,)* }
                }

                /// The kind as the runtime names it.
                pub const fn kind(self) -> #rt_pub::ErrorKind {
                    #rt_pub::ErrorKind::named(self.name())
                }

                /// An error of this kind with a message.
                pub fn error(self, message: impl ::core::convert::Into<::std::borrow::Cow<'static, str>>) -> #rt_pub::FnError {
                    #rt_pub::FnError::of_kind(self, message)
                }

                /// An error of this kind with a message and its cause.
                pub fn because(
                    self,
                    message: impl ::core::convert::Into<::std::borrow::Cow<'static, str>>,
                    source: impl ::std::error::Error + ::core::marker::Send + ::core::marker::Sync + 'static,
                ) -> #rt_pub::FnError {
                    #rt_pub::FnError::with_source(message, source).with_kind(self)
                }
            }

            impl ::core::convert::From<#e> for #rt_pub::ErrorKind {
                fn from(kind: #e) -> Self {
                    kind.kind()
                }
            }

            impl ::core::fmt::Display for #e {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.pad(self.name())
                }
            }

            impl ::core::str::FromStr for #e {
                type Err = #rt::UnknownName;
                fn from_str(s: &str) -> ::core::result::Result<Self, #rt::UnknownName> {
                    #rt::parse_name(s, &#e::ALL, #e::name, #expected)
                }
            }
        }
    }

    /// The body of `on_error_for`, when a state has `on_error` entries with kinds: per such
    /// state, its entries in order (the kinds as `ErrorKind` constants), then its catch-all; the
    /// other states answer their `on_error`.
    pub(super) fn on_error_for(&self, all: &[(StateRef, &ir::State)], res_arg: &TokenStream) -> Option<TokenStream> {
        let rt = &self.rt;
        let arms: Vec<TokenStream> = all
            .iter()
            .filter(|(_, s)| !s.error_arcs.is_empty())
            .map(|(r, s)| {
                let p = self.pos(*r);
                let entries = s.error_arcs.iter().map(|arc| {
                    let kinds = arc.kinds.iter().map(|k| self.error_kind(k));
                    let to = self.pos(Self::sref(r.network, arc.to));
                    quote!(if #rt::ErrorKind::any_of(&[#(#kinds),*], error) {
                        return #rt::Some(#to);
                    })
                });
                let rest = match s.on_error {
                    Some(e) => {
                        let t = self.pos(Self::sref(r.network, e));
                        quote!(#rt::Some(#t))
                    }
                    None => quote!(#rt::None),
                };
                quote!(#p => {
                    #(#entries)*
                    #rest
                })
            })
            .collect();
        if arms.is_empty() {
            return None;
        }
        Some(quote!(
            match pos {
                #(#arms)*
                _ => <Self as #rt::MachineDef<F, #res_arg>>::on_error(pos),
            }
        ))
    }

    /// A kind of error as a constant expression: a built-in `ErrorKind` constant, or the
    /// declared kind by name.
    fn error_kind(&self, name: &str) -> TokenStream {
        let rt = &self.rt;
        match name {
            "timeout" => quote!(#rt::ErrorKind::TIMEOUT),
            "circuit_open" => quote!(#rt::ErrorKind::CIRCUIT_OPEN),
            "rate_limited" => quote!(#rt::ErrorKind::RATE_LIMITED),
            "store_conflict" => quote!(#rt::ErrorKind::STORE_CONFLICT),
            "step_limit" => quote!(#rt::ErrorKind::STEP_LIMIT),
            _ => quote!(#rt::ErrorKind::named(#name)),
        }
    }

    /// `.on(&[..])` after a `RetryPolicy::new(..)` whose `retry` names kinds; nothing otherwise.
    pub(super) fn retry_on(&self, kinds: &[String]) -> TokenStream {
        if kinds.is_empty() {
            return TokenStream::new();
        }
        let kinds = kinds.iter().map(|k| self.error_kind(k));
        quote!(.on(const { &[#(#kinds),*] }))
    }
}
