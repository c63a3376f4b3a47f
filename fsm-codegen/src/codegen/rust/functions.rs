//! The functions trait: one typed method per function the machine names.

use super::{Gen, doc_attrs, ident};
use crate::ir::{self, Role};
use proc_macro2::TokenStream;
use quote::quote;

impl Gen<'_> {
    /// The parameters (after `&self`) and the return type of a function that makes a state's
    /// data or receives it: written out in full, in the trait and in its forwarding impls.
    /// `None` for the others, whose signatures are one of the runtime macro's kinds.
    fn full_sig(&self, f: &ir::Function) -> Option<(Vec<TokenStream>, TokenStream)> {
        let t = self.payload_type(f.state_data.as_deref()?);
        let rt = &self.rt_pub;
        let data = &self.data;
        let payload = f.payload.as_deref().map(|p| {
            let p = self.payload_type(p);
            quote!(payload: &#p)
        });
        let ctx = self.held.ctx_type(rt);
        let ctx = quote!(ctx: &mut #ctx);
        let result = |ok: TokenStream| quote!(::core::result::Result<#ok, #rt::FnError>);
        let (args, ret) = match f.role {
            Role::MakeData => (vec![quote!(data: &#data)], result(quote!(#t))),
            Role::Condition => (
                vec![quote!(data: &#data), quote!(state_data: &#t)],
                if f.fallible { result(quote!(bool)) } else { quote!(bool) },
            ),
            Role::Transform => (
                vec![quote!(data: &mut #data), quote!(state_data: &mut #t)],
                if f.infallible { quote!(()) } else { result(quote!(())) },
            ),
        };
        let mut args = args;
        args.extend(payload);
        if f.role != Role::Condition {
            args.push(ctx);
        }
        Some((args, ret))
    }

    pub(super) fn method_sig(&self, f: &ir::Function) -> TokenStream {
        if let Some((args, ret)) = self.full_sig(f) {
            let name = ident(&f.ident);
            return quote!(fn #name(&self, #(#args),*) -> #ret);
        }
        let rt = &self.rt_pub;
        let data = &self.data;
        let name = ident(&f.ident);
        let payload = f.payload.as_deref().map(|p| {
            let t = self.payload_type(p);
            quote!(payload: &#t,)
        });
        let ctx = self.held.ctx_type(rt);
        match f.role {
            // A function of a `parallel:` list: reads the record (the others of the list read it
            // at the same time), and its future gives the change to make once all have succeeded.
            Role::Transform if f.is_async && f.parallel => quote! {
                fn #name(
                    &self,
                    data: &#data,
                    #payload
                    ctx: &mut #ctx,
                ) -> impl ::core::future::Future<
                    Output = ::core::result::Result<#rt::Change<#data>, #rt::FnError>,
                > + ::core::marker::Send
            },
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
            // A maker always has its state's data type (`full_sig`).
            Role::MakeData => quote! {
                fn #name(&self, data: &#data, #payload ctx: &mut #ctx) -> ::core::result::Result<(), #rt::FnError>
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
                Role::Transform if f.is_async && f.parallel => {
                    "Async parallel function (runs at the same time as the others of its state's `parallel` \
                     list: it reads the record and gives the change to make, applied once all have \
                     succeeded; write it as an `async fn` returning `Result<Change<D>, FnError>`, \
                     e.g. `Ok(Box::new(move |d| d.field = value))`)"
                }
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
                Role::MakeData => "Makes a state's data (on an arc into it, after the arc's transforms)",
            };
            let named = match (&f.state_data, f.role) {
                (Some(t), Role::Transform | Role::Condition) => {
                    format!("`{}` (it gets the state's data, `{t}`, as `state_data`)", f.name)
                }
                _ => format!("`{}`", f.name),
            };
            let mut d = match &f.description {
                Some(description) => format!("{description}\n\n{what} {named}, used as:"),
                None => format!("{what} {named}, used as:"),
            };
            for u in &f.uses {
                d.push_str(&format!("\n- {u}"));
            }
            doc_attrs(&d)
        });
        // The impls for `&T`, `Box<T>` and `Arc<T>` come from a runtime macro: each method once, by
        // kind and payload, rather than three copies of every signature.
        let full: Vec<TokenStream> = self
            .m
            .functions
            .iter()
            .filter_map(|f| {
                let (args, ret) = self.full_sig(f)?;
                let name = ident(&f.ident);
                Some(quote!(#name(#(#args),*) -> #ret;))
            })
            .collect();
        let full = (!full.is_empty()).then(|| quote!({ #(#full)* }));
        let forwards = self.m.functions.iter().filter(|f| self.full_sig(f).is_none()).map(|f| {
            let name = ident(&f.ident);
            let kind = match f.role {
                Role::Transform if f.is_async && f.parallel => quote!(parallel),
                Role::Transform if f.is_async && f.infallible => quote!(async_infallible),
                Role::Transform if f.is_async => quote!(async_transform),
                Role::Transform if f.infallible => quote!(infallible),
                Role::Transform if f.atomic => quote!(atomic),
                Role::Transform => quote!(transform),
                Role::Condition if f.fallible => quote!(fallible),
                Role::Condition | Role::MakeData => quote!(condition),
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

            #rt::forward_fns!(#t, #data, #ctx_type; #hook_forwards #full #(#forwards)*);

            #unit
        }
    }
}
