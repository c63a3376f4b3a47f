//! The functions trait: one typed method per function the machine names.

use super::{Gen, doc_attrs, ident};
use crate::ir::{self, Role};
use proc_macro2::TokenStream;
use quote::quote;

impl Gen<'_> {
    pub(super) fn method_sig(&self, f: &ir::Function) -> TokenStream {
        let rt = &self.rt_pub;
        let data = &self.data;
        let name = ident(&f.ident);
        let payload = f.payload.as_deref().map(|p| {
            let t = self.payload_type(p);
            quote!(payload: &#t,)
        });
        let ctx = self.held.ctx_type(rt);
        match f.role {
            // Async: the future borrows the record, the context and the functions (`&self`), and
            // is `Send`, so that a run can move between the threads of a multi-thread runtime.
            Role::Transform if f.is_async => {
                let output = if f.infallible {
                    quote!(())
                } else {
                    quote!(::core::result::Result<(), #rt::FnError>)
                };
                quote! {
                    fn #name(
                        &self,
                        data: &mut #data,
                        #payload
                        ctx: &mut #ctx,
                    ) -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
                }
            }
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
            Role::Condition if f.fallible => quote! {
                fn #name(&self, data: &#data, #payload) -> ::core::result::Result<bool, #rt::FnError>
            },
            Role::Condition => quote! {
                fn #name(&self, data: &#data, #payload) -> bool
            },
        }
    }

    pub(super) fn fns_trait(&self) -> TokenStream {
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
                Role::Transform if f.is_async && f.infallible => {
                    "Async check or transform (infallible; write it as an `async fn` or return an `async` block)"
                }
                Role::Transform if f.is_async => {
                    "Async check or transform (write it as an `async fn`, or return an `async move` block: the \
                     future must be `Send`)"
                }
                Role::Transform if f.infallible => "Check or transform (infallible)",
                Role::Transform if f.atomic => {
                    "Check or transform (atomic: reads the record and returns the change to apply, \
                     which cannot fail; write the return type as \
                     `Result<impl FnOnce(&mut D) + use<>, FnError>`)"
                }
                Role::Transform => "Check or transform",
                Role::Condition if f.fallible => {
                    "Condition (fallible: an error is a failure of the arc's source state, which follows its \
                     `on_error` arc or stops the run)"
                }
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
                Role::Transform if f.is_async && f.infallible => quote!(async_infallible),
                Role::Transform if f.is_async => quote!(async_transform),
                Role::Transform if f.infallible => quote!(infallible),
                Role::Transform if f.atomic => quote!(atomic),
                Role::Transform => quote!(transform),
                Role::Condition if f.fallible => quote!(fallible),
                Role::Condition => quote!(condition),
            };
            let payload = f.payload.as_deref().map(|p| self.payload_type(p));
            quote!(#kind #name(#payload);)
        });
        // The hooks: provided methods that do nothing, so that a machine pays for them only
        // when its functions override them (the run loop calls them through `MachineDef`).
        let pos = &self.position;
        let ev = &self.event;
        let rt_pub = &self.rt_pub;
        let event_hooks = self.m.is_event_driven().then(|| {
            quote! {
                /// Hook: an event arrives in `state`, before any arc is tried (a no-op unless overridden).
                fn on_dispatch(&self, state: #pos, event: &#ev) {}
                /// Hook: `event` was not taken in `state`, for `reason` (a no-op unless overridden).
                fn on_reject(&self, state: #pos, event: &#ev, reason: #rt_pub::Reject) {}
            }
        });
        let hooks = quote! {
            /// Hook: a run goes from `from` to `to`, after the arc's transforms, before the target's functions (a no-op unless overridden).
            fn on_transition(&self, from: #pos, to: #pos) {}
            #event_hooks
        };
        let hook_forwards = if self.m.is_event_driven() {
            quote!([on_transition(from: #pos, to: #pos); on_dispatch(state: #pos, event: &#ev); on_reject(state: #pos, event: &#ev, reason: #rt_pub::Reject);])
        } else {
            quote!([on_transition(from: #pos, to: #pos);])
        };
        let data = &self.data;
        let ctx_type = self.held.ctx_type(&self.rt_pub);
        let unit = if self.m.functions.is_empty() {
            quote! {
                /// The machine names no function: `()` implements the trait.
                impl #t for () {}
            }
        } else {
            quote!()
        };
        // Handing the machine a type that does not implement the trait says so in the machine's
        // terms (rustc's missing-method error then lists what to write).
        let message = format!(
            "`{{Self}}` is not the functions of machine `{}`: it does not implement `{t}`",
            self.name
        );
        let label = format!("the functions of machine `{}` go here", self.name);
        let note = format!(
            "write `impl {t} for {{Self}}` with one method per function the definition names (rustc lists the missing ones)"
        );
        quote! {
            #doc
            // Method names are the machine's function names: `new` or `into_x` are legitimate there.
            // The hooks' parameters are named for the docs, unused by the no-op bodies.
            #[allow(unused_variables)]
            #[allow(clippy::ptr_arg, clippy::new_ret_no_self, clippy::wrong_self_convention)]
            #[diagnostic::on_unimplemented(message = #message, label = #label, note = #note)]
            pub trait #t {
                #(#docs #sigs;)*
                #hooks
            }

            #rt::forward_fns!(#t, #data, #ctx_type; #hook_forwards #(#forwards)*);

            #unit
        }
    }
}
