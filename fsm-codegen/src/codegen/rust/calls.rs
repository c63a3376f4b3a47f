//! The calls inside the tables: a state's or an arc's functions in its data mode and under its
//! resilience settings, conditions, built-ins.

use super::{Gen, ident};
use crate::ir::{self, Call, DataMode, StateRef};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

impl Gen<'_> {
    /// A block running `calls` on the record in `mode`, returning
    /// `Result<(), (&'static str, FnError)>`. `payload`: a `payload` binding is in scope.
    pub(super) fn transaction(
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
        let steps = self.steps(calls, payload, false, None);
        // `timeout_seconds`: the clock starts before the first function, and a run that took too
        // long fails after the last one (so copy and reference modes roll its changes back).
        let began = timeout.map(|_| quote!(let __began = ::std::time::Instant::now();));
        let deadline = timeout.map(|t| {
            let nanos = proc_macro2::Literal::u64_unsuffixed((t * 1e9) as u64);
            quote!(#rt::deadline(__began, #nanos)?;)
        });
        let steps = began.into_iter().chain(steps).chain(deadline);
        let ctx = self.ctx_binding(at, calls, net, state, None);
        let (mode, infallible) = self.effective_mode(mode, calls, timeout);
        let body = quote!(
            let __data = &mut *__d;
            #ctx
            #(#steps)*
            #rt::Ok(())
        );
        match mode {
            DataMode::Direct => quote!({ #body }),
            _ => self.in_mode(mode, infallible, state, quote!((|| -> #rt::CallResult { #body })())),
        }
    }

    /// `run`, an expression giving the `CallResult` of a state's functions working on the record
    /// in place, in data mode `mode` (shared by the sync and async tables).
    fn in_mode(&self, mode: DataMode, infallible: bool, state: &str, run: TokenStream) -> TokenStream {
        let rt = &self.rt;
        match mode {
            // The functions work in place; with a store, success saves the record (optimistic
            // locking) and failure reloads it; without one, as `Copy`.
            DataMode::Reference => {
                let saved = if infallible {
                    quote!(#rt::None)
                } else {
                    self.note_clone(DataMode::Reference, state);
                    quote!(#rt::store_snapshot(&__cx.store, &*__d))
                };
                quote!({
                    let __saved = #saved;
                    let __result = #run;
                    #rt::store_settle(&mut __cx.store, __d, __saved, __result)
                })
            }
            // The functions work in place; the record as it entered waits in `__saved` and comes
            // back only if one of them fails (cheaper than working on a copy and moving it back).
            DataMode::Copy => {
                self.note_clone(DataMode::Copy, state);
                quote!({
                    let __saved = ::core::clone::Clone::clone(&*__d);
                    let __result = #run;
                    if __result.is_err() {
                        *__d = __saved;
                    }
                    __result
                })
            }
            DataMode::Direct => run,
        }
    }

    /// The calls of a state or an arc, one statement each, `?` on failure; `awaited`: the async
    /// functions among them are awaited.
    ///
    /// `label`: a failure breaks out of that labelled block with the `CallResult` instead (the
    /// async tables, whose state functions run inline in `enter_async`, not in a future of their
    /// own).
    fn steps(
        &self,
        calls: &[&Call],
        payload: Option<()>,
        awaited: bool,
        label: Option<&TokenStream>,
    ) -> Vec<TokenStream> {
        let m = self.m;
        let rt = &self.rt;
        calls
            .iter()
            .map(|c| {
                let fname = m.call_name(c);
                let call = self.transform_call(c, payload.is_some());
                let call = if awaited && self.is_async(c) {
                    quote!(#call.await)
                } else {
                    call
                };
                match label {
                    _ if self.infallible(c) => quote!(#call;),
                    // Reads the record (`&mut D` coerces to `&D`), then applies the change.
                    None if self.atomic(c) => quote!((#call.map_err(|e| (#fname, e))?)(__data);),
                    None => quote!(#call.map_err(|e| (#fname, e))?;),
                    Some(label) if self.atomic(c) => quote!(match #call {
                        #rt::Ok(__change) => __change(__data),
                        #rt::Err(e) => break #label #rt::Err((#fname, e)),
                    }),
                    Some(label) => quote!(if let #rt::Err(e) = #call {
                        break #label #rt::Err((#fname, e));
                    }),
                }
            })
            .collect()
    }

    /// `let mut __ctx = ..;` when a call takes the context.
    fn ctx_binding(
        &self,
        at: StateRef,
        calls: &[&Call],
        net: &str,
        state: &str,
        label: Option<&TokenStream>,
    ) -> TokenStream {
        let rt = &self.rt;
        // The state's data, for the functions that take it (a run placed in the state by
        // `start_in` has none: the state fails).
        let fail = match label {
            Some(label) => quote!(break #label),
            None => quote!(return),
        };
        let state_data = self
            .state_data_variant(at)
            .filter(|_| calls.iter().any(|c| self.call_takes_state_data(c)))
            .map(|variant| {
                quote! {
                    let __sd = match &mut __cx.state_data {
                        #rt::Some(#variant(__sd)) => __sd,
                        _ => #fail #rt::Err(#rt::no_state_data(#state)),
                    };
                }
            });
        let needs_ctx = calls.iter().any(|c| !matches!(c, Call::Builtin { .. }));
        let new_ctx = self.held.ctx_new(rt, &self.name, net, state);
        let ctx = needs_ctx.then(|| quote!(let mut __ctx = #new_ctx;));
        quote!(#state_data #ctx)
    }

    /// The data mode the calls need, and whether they cannot fail. Nothing can leave the record
    /// half-changed when every function cannot fail, but for the first, which may be atomic (it
    /// fails, if at all, before changing anything): no snapshot to take (in `reference` mode the
    /// record still has to be saved).
    fn effective_mode(&self, mode: DataMode, calls: &[&Call], timeout: Option<f64>) -> (DataMode, bool) {
        let infallible = timeout.is_none()
            && calls
                .iter()
                .enumerate()
                .all(|(i, c)| self.infallible(c) || (i == 0 && self.atomic(c)));
        // A machine without a record (`()`) has nothing to roll back either.
        let mode = if (infallible || self.m.data.is_none()) && mode == DataMode::Copy {
            DataMode::Direct
        } else {
            mode
        };
        (mode, infallible)
    }

    /// The async twin of [`Self::transaction`], for a state with async functions (in the body of
    /// `enter_async`): the same data modes, the functions awaited inside one `async` block, and a
    /// `timeout_seconds` that drops that block's future when it runs out (cancelling the call in
    /// flight), inside the data mode so that what the functions changed is rolled back.
    ///
    /// The state's `parallel:` functions run between its checks and its transforms, awaited
    /// together (the runtime's `join`), each with a context of its own; their changes
    /// are applied in list order once all have succeeded.
    pub(super) fn transaction_async(&self, at: StateRef, s: &ir::State) -> TokenStream {
        let (mode, timeout) = (s.data_mode, s.resilience.timeout);
        let calls: Vec<&Call> = s.validate.iter().chain(&s.transform).collect();
        let calls = calls.as_slice();
        let rt = &self.rt;
        let m = self.m;
        let net = &m.networks[at.network.0].name;
        let state = &m.state(at).name;
        let checks: Vec<&Call> = s.validate.iter().collect();
        let transforms: Vec<&Call> = s.transform.iter().collect();
        // Without a timeout, the functions run inline, in a labelled block of `enter_async`'s
        // own future (a failure breaks out of it): no future of their own to build, move and
        // poll through on every wake-up. A timeout needs one, to drop when it runs out.
        let label = timeout.is_none().then(|| quote!('__fns));
        let checks = self.steps(&checks, None, true, label.as_ref());
        let transforms = self.steps(&transforms, None, true, label.as_ref());
        let parallel = self.parallel_step(&s.parallel, net, state, label.as_ref());
        let ctx = self.ctx_binding(at, calls, net, state, label.as_ref());
        let body = quote!(
            let __data = &mut *__d;
            #ctx
            #(#checks)*
            #parallel
            #(#transforms)*
            #rt::Ok(())
        );
        let run = match timeout {
            Some(t) => {
                let nanos = proc_macro2::Literal::u64_unsuffixed((t * 1e9) as u64);
                quote!(#rt::timeout_async(#nanos, async { #body }).await)
            }
            None => quote!('__fns: { #body }),
        };
        let (mode, infallible) = self.effective_mode(mode, calls, timeout);
        // Parallel functions change nothing until all have succeeded (then their changes cannot
        // fail): a copy need not be taken for them, but a reference record is still saved.
        let infallible = infallible && (s.parallel.is_empty() || mode != DataMode::Reference);
        self.in_mode(mode, infallible, state, run)
    }

    /// The statement awaiting a state's `parallel:` functions together, then applying their
    /// changes in list order; nothing without them.
    fn parallel_step(&self, parallel: &[Call], net: &str, state: &str, label: Option<&TokenStream>) -> TokenStream {
        if parallel.is_empty() {
            return quote!();
        }
        let rt = &self.rt;
        let t = &self.fns;
        let new_ctx = self.held.ctx_new(rt, &self.name, net, state);
        let (contexts, branches): (Vec<TokenStream>, Vec<TokenStream>) = parallel
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                // Validation: only named async functions.
                let Call::Named(f) = c else { return None };
                let func = &self.m.functions[f.0];
                let name = ident(&func.ident);
                let fname = &func.name;
                let ctx = format_ident!("__pctx{}", i);
                Some((
                    quote!(let mut #ctx = #new_ctx;),
                    quote!(#rt::branch(#fname, #t::#name(&__cx.fns, &*__data, &mut #ctx))),
                ))
            })
            .unzip();
        let joined = quote!(#rt::join(::std::vec::Vec::from([#(#branches),*])).await);
        let joined = match label {
            Some(label) => quote!(match #joined {
                #rt::Ok(__changes) => __changes,
                #rt::Err(e) => break #label #rt::Err(e),
            }),
            None => quote!(#joined?),
        };
        quote! {
            let __changes = {
                #(#contexts)*
                #joined
            };
            for __change in __changes {
                __change(&mut *__data);
            }
        }
    }

    /// The async twin of [`Self::guarded`]: the loop of runs under the state's guards, awaited
    /// (`Attempts`), with the state's `max_concurrency` bulkhead. `body` is an expression giving
    /// the `CallResult` of one run, rolled back on failure.
    pub(super) fn guarded_async(&self, resilience: &ir::Resilience, body: TokenStream) -> TokenStream {
        if resilience.retry.is_none()
            && resilience.breaker.is_none()
            && resilience.rate_limit.is_none()
            && resilience.max_concurrency.is_none()
        {
            return body;
        }
        let rt = &self.rt;
        let (statics, guards) = self.guard_parts(resilience);
        let (bulkhead_static, bulkhead) = match resilience.max_concurrency {
            Some(n) => (
                quote!(static __BULKHEAD: #rt::Bulkhead = #rt::Bulkhead::new(#n);),
                quote!(#rt::Some(&__BULKHEAD)),
            ),
            None => (quote!(), quote!(#rt::None)),
        };
        quote!({
            #statics
            #bulkhead_static
            let __guards = #guards;
            let mut __attempts = #rt::Attempts::new(__guards, #bulkhead);
            loop {
                let __turn = match __attempts.begin().await {
                    #rt::Ok(turn) => turn,
                    #rt::Err(open) => break #rt::Err(open),
                };
                let __result = #body;
                if let #rt::Some(done) = __attempts.end(__turn, __result).await {
                    break done;
                }
            }
        })
    }

    /// Whether a call is of an async function.
    pub(super) fn is_async(&self, c: &Call) -> bool {
        matches!(c, Call::Named(f) if self.m.functions[f.0].is_async)
    }

    /// A state's functions (`body`, a block returning `CallResult` that rolls its own changes
    /// back) under its `retry` policy, `circuit_breaker` and `rate_limit`: one `static` breaker
    /// and limiter per state.
    pub(super) fn guarded(&self, resilience: &ir::Resilience, body: TokenStream) -> TokenStream {
        if resilience.retry.is_none() && resilience.breaker.is_none() && resilience.rate_limit.is_none() {
            return body;
        }
        let rt = &self.rt;
        let (statics, guards) = self.guard_parts(resilience);
        quote!({
            #statics
            #rt::guarded(
                #guards,
                || #body,
            )
        })
    }

    /// The `static` breaker and limiter of a state and the `Guards` value that names them.
    fn guard_parts(&self, resilience: &ir::Resilience) -> (TokenStream, TokenStream) {
        let rt = &self.rt;
        let nanos = |s: f64| proc_macro2::Literal::u64_unsuffixed((s * 1e9) as u64);
        let retry = match &resilience.retry {
            Some(r) => {
                let (attempts, delay, max, exponential, jitter) =
                    (r.attempts, nanos(r.delay), nanos(r.max_delay), r.exponential, r.jitter);
                let on = self.retry_on(&r.on);
                quote!(#rt::Some(&#rt::RetryPolicy::new(#attempts, #delay, #max, #exponential, #jitter)#on))
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
        (
            quote!(#breaker_static #limiter_static),
            quote!(#rt::Guards { retry: #retry, breaker: #breaker, limiter: #limiter }),
        )
    }

    /// Whether a check or transform cannot fail: a named function declared `infallible`.
    pub(super) fn infallible(&self, c: &Call) -> bool {
        matches!(c, Call::Named(f) if self.m.functions[f.0].infallible)
    }

    /// Whether a check or transform fails, if at all, before changing the record: a named
    /// function declared `atomic`.
    pub(super) fn atomic(&self, c: &Call) -> bool {
        matches!(c, Call::Named(f) if self.m.functions[f.0].atomic)
    }

    /// A call of a check or transform: `Result<(), FnError>` (`()` when [`Self::infallible`]);
    /// `__data` and `__ctx` in scope.
    pub(super) fn transform_call(&self, c: &Call, payload_in_scope: bool) -> TokenStream {
        let rt = &self.rt;
        match c {
            Call::Named(f) => {
                let func = &self.m.functions[f.0];
                let name = ident(&func.ident);
                let p = (func.payload.is_some() && payload_in_scope).then(|| quote!(payload,));
                let sd = func.state_data.is_some().then(|| quote!(&mut *__sd,));
                let t = &self.fns;
                // Fully qualified: a function called `clone` must not meet `Clone::clone`.
                quote!(#t::#name(&__cx.fns, __data, #sd #p &mut __ctx))
            }
            Call::Inline(i) => {
                let name = format_ident!("__inline_{}", i.0);
                let p = (self.m.inlines[i.0].payload.is_some() && payload_in_scope).then(|| quote!(payload,));
                let sd = self.m.inlines[i.0].state_data.is_some().then(|| quote!(&mut *__sd,));
                quote!(Self::#name(__data, #sd #p &mut __ctx))
            }
            Call::Builtin { name, params } => self.builtin(name, params, rt),
        }
    }

    pub(super) fn builtin(&self, name: &str, params: &serde_json::Value, rt: &Ident) -> TokenStream {
        let f = ident(&crate::naming::fn_ident(name));
        let params = self.builtin_params(params);
        quote!(#rt::builtins::#f(__data, &#params))
    }

    /// The static holding a built-in call's parameters (parsed once, on first use).
    pub(super) fn builtin_params(&self, params: &serde_json::Value) -> Ident {
        let mut statics = self.builtin_statics.borrow_mut();
        let name = format_ident!(
            "__{}_BUILTIN_PARAMS_{}",
            crate::naming::fn_ident(&self.m.ident).to_uppercase(),
            statics.len()
        );
        statics.push((name.clone(), params.to_string()));
        name
    }

    pub(super) fn builtin_statics(&self) -> TokenStream {
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

    /// A condition: `bool`. `payload`: the name of the payload binding in scope (a reference), if any.
    /// Every guard of an arc, joined with `&&` (tried in order, stopping at the first false).
    /// `at`: the arc's source, whose data a condition may read.
    pub(super) fn conditions(&self, cs: &[Call], payload: Option<&TokenStream>, at: StateRef) -> TokenStream {
        let each = cs.iter().map(|c| {
            let cond = self.condition(c, payload);
            // A condition on the state's data: false when the state has none (`start_in`).
            match self.state_data_variant(at).filter(|_| self.call_takes_state_data(c)) {
                Some(variant) => {
                    let rt = &self.rt;
                    quote!(match &__cx.state_data {
                        #rt::Some(#variant(__sd)) => #cond,
                        _ => false,
                    })
                }
                None => cond,
            }
        });
        quote!(#(#each)&&*)
    }

    /// The call of a function that makes a state's data, on an arc from `from`: its value, or
    /// the arc's failure. `payload_in_scope`: a `payload` binding is.
    pub(super) fn make_data_call(&self, from: StateRef, c: &Call, payload_in_scope: bool) -> TokenStream {
        let m = self.m;
        let net = &m.networks[from.network.0].name;
        let state = &m.state(from).name;
        let new_ctx = self.held.ctx_new(&self.rt, &self.name, net, state);
        let call = match c {
            Call::Named(f) => {
                let func = &m.functions[f.0];
                let name = ident(&func.ident);
                let fname = &func.name;
                let p = (func.payload.is_some() && payload_in_scope).then(|| quote!(payload,));
                let t = &self.fns;
                quote!(#t::#name(&__cx.fns, &*__d, #p &mut __ctx).map_err(|e| (#fname, e))?)
            }
            Call::Inline(i) => {
                let name = format_ident!("__inline_{}", i.0);
                let p = (m.inlines[i.0].payload.is_some() && payload_in_scope).then(|| quote!(payload,));
                quote!(Self::#name(&*__d, #p &mut __ctx))
            }
            // Validation: no built-in makes state data.
            Call::Builtin { .. } => quote!(::core::compile_error!("a built-in cannot make a state's data")),
        };
        quote!({
            let mut __ctx = #new_ctx;
            #call
        })
    }

    pub(super) fn call_takes_state_data(&self, c: &Call) -> bool {
        match c {
            Call::Named(f) => self.m.functions[f.0].state_data.is_some(),
            Call::Inline(i) => self.m.inlines[i.0].state_data.is_some(),
            Call::Builtin { .. } => false,
        }
    }

    pub(super) fn condition(&self, c: &Call, payload: Option<&TokenStream>) -> TokenStream {
        match c {
            Call::Named(f) => {
                let func = &self.m.functions[f.0];
                let name = ident(&func.ident);
                let p = payload.filter(|_| func.payload.is_some()).map(|p| quote!(, #p));
                let sd = func.state_data.is_some().then(|| quote!(, __sd));
                let t = &self.fns;
                if func.fallible {
                    // An error is the source state's failure: the table returns it.
                    let fname = &func.name;
                    quote!(#t::#name(&__cx.fns, &*__d #sd #p).map_err(|e| (#fname, e))?)
                } else {
                    quote!(#t::#name(&__cx.fns, &*__d #sd #p))
                }
            }
            Call::Inline(i) => {
                let name = format_ident!("__inline_{}", i.0);
                let p = payload
                    .filter(|_| self.m.inlines[i.0].payload.is_some())
                    .map(|p| quote!(, #p));
                let sd = self.m.inlines[i.0].state_data.is_some().then(|| quote!(, __sd));
                quote!(Self::#name(&*__d #sd #p))
            }
            Call::Builtin { name, params } => {
                let rt = &self.rt;
                let f = ident(&crate::naming::fn_ident(name));
                let params = self.builtin_params(params);
                quote!(#rt::builtins::#f(&*__d, &#params))
            }
        }
    }

    pub(super) fn call_takes_payload(&self, c: &Call) -> bool {
        match c {
            Call::Named(f) => self.m.functions[f.0].payload.is_some(),
            Call::Inline(i) => self.m.inlines[i.0].payload.is_some(),
            Call::Builtin { .. } => false,
        }
    }
}
