//! The `MachineDef` implementation: the tables the runtime's run loop asks (visit a state: run
//! its functions and pick its eventless arc; dispatch an event; the error arc and the end state
//! of a position).

use super::{Gen, doc_attrs, ident};
use crate::ir::{self, Call, Role, StateRef, Target};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

impl Gen<'_> {
    /// The machine's tables for the runtime's run loop: a `<Machine>Def` type implementing
    /// `MachineDef` with one `match` per question the loop asks (visit a state, dispatch an
    /// event, the error arc and the end state of a position), and the
    /// `<Machine>Run` alias of the runtime's `Run` for this machine.
    pub(super) fn tables(&self) -> TokenStream {
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
                Some(quote!(
                    let _ = pos;
                    true
                ))
            } else {
                Some(quote!(::core::matches!(pos, #(#hits)|*)))
            }
        };
        // visit, entering: the functions of each state that has some, in its data mode.
        let enter_of = |r: StateRef, s: &ir::State| -> Option<TokenStream> {
            let calls: Vec<&Call> = s.functions().collect();
            if calls.is_empty() {
                return None;
            }
            // A state with async functions has no synchronous entry: the synchronous entry points
            // of an async machine do not compile (`MachineDef::ASYNC`), and this arm says so if
            // one is reached anyway.
            if let Some(f) = calls.iter().find(|c| self.is_async(c)) {
                let fname = m.call_name(f);
                return Some(quote!(#rt::CallResult::Err((
                    #fname,
                    #rt::FnError::new("an async function, in a synchronous run: use `run_async`, `step_async` or `handle_async`"),
                ))));
            }
            let body = self.transaction(r, s.data_mode, &calls, None, s.resilience.timeout);
            Some(self.guarded(&s.resilience, body))
        };
        // enter_async: the states with async functions, awaited; the others answer with `visit`.
        let async_arms: Vec<TokenStream> = all
            .iter()
            .filter(|(_, s)| s.functions().any(|c| self.is_async(c)))
            .map(|(r, s)| {
                let body = self.transaction_async(*r, s);
                let body = self.guarded_async(&s.resilience, body);
                let p = self.pos(*r);
                quote!(#p => #body,)
            })
            .collect();

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
            quote!(
                let _ = pos;
                #rt::None
            )
        });

        let net_of = |r: StateRef| &m.networks[r.network.0];
        let has_eventless = |r: StateRef, s: &ir::State| s.arcs.iter().any(|a| net_of(r).arcs[a.0].event.is_none());
        // What `handle` asks: only event-driven machines need the answers.
        let event_driven = m.is_event_driven();
        let waits = set(&|r, s| s.arcs.iter().any(|a| net_of(r).arcs[a.0].event.is_some()));
        let settles = set(&|r, s| {
            let may_divert = (s.on_error.is_some() || !s.error_arcs.is_empty()) && s.functions().next().is_some();
            !(s.is_end || has_eventless(r, s) || may_divert)
        })
        .filter(|_| event_driven);
        let bare = set(&|_, s| s.functions().next().is_none()).filter(|_| event_driven);

        // visit, picking: the eventless arcs of each state, in order (an end state has none). One
        // arm per state that enters or picks anything; `ENTER` and `PICK` are the runtime's
        // constants, so each instance keeps only its part.
        let mut visit_arms = Vec::new();
        let mut visit_rest = Vec::new();
        for (r, s) in &all {
            let net = net_of(*r);
            let mut tries = Vec::new();
            let mut unconditional = false;
            for a in &s.arcs {
                let arc = &net.arcs[a.0];
                if arc.event.is_some() {
                    continue;
                }
                let take = self.take_arc(*r, arc, None);
                if arc.condition.is_empty() {
                    tries.push(take);
                    unconditional = true;
                    break;
                }
                let cond = self.conditions(&arc.condition, None, *r);
                tries.push(quote!(if #cond #take));
            }
            let enter = enter_of(*r, s).map(|body| quote!(if ENTER { #body?; }));
            // A lone arc without a condition is a block already: `if PICK { return ...; }`.
            let pick = match (tries.as_slice(), unconditional) {
                ([], _) => None,
                ([take], true) => Some(quote!(if PICK #take)),
                _ => Some(quote!(if PICK { #(#tries)* })),
            };
            let p = self.pos(*r);
            if enter.is_some() || pick.is_some() {
                visit_arms.push(quote!(#p => { #enter #pick }));
            } else {
                visit_rest.push(p);
            }
        }
        let visit = (!visit_arms.is_empty()).then(|| self.choice_table(visit_arms, &visit_rest, quote!(at)));
        // history_slot: the history slot of each state inside a superstate with history.
        let history_arms: Vec<TokenStream> = all
            .iter()
            .filter_map(|(r, s)| {
                s.history.map(|slot| {
                    let p = self.pos(*r);
                    let slot = proc_macro2::Literal::usize_unsuffixed(slot);
                    quote!(#p => #rt::Some(#slot),)
                })
            })
            .collect();
        let history_slot = table(history_arms, quote!(#rt::None), quote!(pos));
        let history_const = (m.history_slots > 0).then(|| {
            let n = proc_macro2::Literal::usize_unsuffixed(m.history_slots);
            quote!(const HISTORY_SLOTS: usize = #n;)
        });
        // begin: into the superstates around the start state, before the start state itself.
        let main_net = m.main_network();
        let begin = (!main_net.start_entry.is_empty()).then(|| {
            let start = Self::sref(m.main, main_net.start);
            let calls: Vec<&Call> = main_net.start_entry.iter().collect();
            let mode = main_net.states[main_net.start.0].data_mode;
            self.transaction(start, mode, &calls, None, None)
        });

        // dispatch: the arcs of each state for each event.
        let ev = &self.event;
        let event_ty = if m.is_event_driven() {
            quote!(#ev)
        } else {
            quote!(::core::convert::Infallible)
        };
        let dispatch = self.dispatch_table(&all);
        let accepts = self.accepts_table(&all);

        let frames = if m.has_push_arcs() {
            let depth = proc_macro2::Literal::usize_unsuffixed(m.push_depth.max(1));
            quote!(#rt::ReturnStack<#pos, #depth>)
        } else {
            quote!(#rt::NoFrames)
        };
        let held = &self.held;
        let (res_decl, res_bound) = (&held.run_param_decl, &held.run_bound);
        let sd = self.state_data_param();
        let res_arg = if held.ty.is_some() { quote!(R) } else { quote!(()) };
        let run_alias_args = match (&sd, held.ty.is_some()) {
            (None, true) => quote!(F, R),
            (None, false) => quote!(F),
            (Some(sd), true) => quote!(F, R #sd),
            (Some(sd), false) => quote!(F, () #sd),
        };

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
                let state_data = inl.state_data.as_deref().map(|t| self.payload_type(t));
                let sd_mut = state_data.as_ref().map(|t| quote!(state_data: &mut #t,));
                let sd_ref = state_data.as_ref().map(|t| quote!(state_data: &#t,));
                match inl.role {
                    Role::MakeData => quote! {
                        #[allow(unused_variables, unused_braces)]
                        fn #fname(
                            data: &#data,
                            #payload
                            ctx: &mut #ctx,
                        ) -> #state_data {
                            #code
                        }
                    },
                    Role::Transform => quote! {
                        #[allow(unused_variables, unused_braces, clippy::unit_arg, clippy::let_unit_value)]
                        fn #fname(
                            data: &mut #data,
                            #sd_mut
                            #payload
                            ctx: &mut #ctx,
                        ) -> #rt::Result<(), #rt::FnError> {
                            #rt::IntoFnResult::into_fn_result({ #code })
                        }
                    },
                    Role::Condition => quote! {
                        #[allow(unused_variables)]
                        fn #fname(data: &#data, #sd_ref #payload) -> bool {
                            #code
                        }
                    },
                }
            })
            .collect();
        let inline_impl = (!inlines.is_empty()).then(|| {
            quote! {
                #[allow(clippy::ptr_arg, clippy::unused_unit)]
                impl #def {
                    #(#inlines)*
                }
            }
        });

        let res = quote!(__fsm::Cx<#data, F, #res_arg #sd>);
        let on_error_for = self.on_error_for(&all, &res_arg);
        // Compensation: only for machines that have some.
        let compensation = set(&|_, s| s.compensate.is_some());
        let compensates_at = set(&|_, s| s.compensate_at_end).filter(|_| compensation.is_some());
        let compensates_const = compensation.is_some().then(|| {
            quote!(
                const COMPENSATES: bool = true;
            )
        });
        let compensate = self.compensate_table(&all);
        // The longest run of a machine without loops: the lean loop then skips the step limit.
        let longest_const = longest_run(m).map(|n| {
            let n = proc_macro2::Literal::u32_unsuffixed(n);
            quote!(const LONGEST: __fsm::Option<u32> = __fsm::Some(#n);)
        });
        // Durable runs resume from the names a store saved: every position, for a machine with a
        // record store (data-driven and synchronous, as `resume_stored` is).
        let positions_const = (m.uses_store() && !m.is_event_driven() && !m.is_async()).then(|| {
            let each = all.iter().map(|(r, _)| self.pos(*r));
            quote!(
                const POSITIONS: &'static [#pos] = &[#(#each),*];
            )
        });
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
            on(
                "on_error_for",
                quote!((pos: #pos, error: &__fsm::FnError) -> __fsm::Option<#pos>),
                on_error_for,
            ),
            on("compensation", quote!((pos: #pos) -> bool), compensation),
            on("compensates_at", quote!((pos: #pos) -> bool), compensates_at),
            on(
                "compensate",
                quote!((__cx: &mut #res, __d: &mut #data, at: #pos) -> __fsm::CallResult),
                compensate,
            ),
            on("waits", quote!((pos: #pos) -> bool), waits),
            on("settles", quote!((pos: #pos) -> bool), settles),
            on("bare", quote!((pos: #pos) -> bool), bare),
            on("history_slot", quote!((pos: #pos) -> __fsm::Option<usize>), history_slot),
            on(
                "begin",
                quote!((__cx: &mut #res, __d: &mut #data) -> __fsm::CallResult),
                begin,
            ),
            on(
                "visit",
                quote!(<const ENTER: bool, const PICK: bool>(__cx: &mut #res, __d: &mut #data, at: #pos) -> __fsm::Choice<#pos>),
                visit,
            ),
            on(
                "dispatch",
                quote!((__cx: &mut #res, __d: &mut #data, from: #pos, event: &#event_ty) -> __fsm::Choice<#pos>),
                dispatch,
            ),
            on("accepts", quote!((from: #pos, event: &#event_ty) -> bool), accepts),
            // The hooks of the functions trait: no-ops unless the functions override them.
            on(
                "on_transition",
                quote!((fns: &F, from: #pos, to: #pos)),
                Some(quote!(#t::on_transition(fns, from, to))),
            ),
            on(
                "on_dispatch",
                quote!((fns: &F, at: #pos, event: &#event_ty)),
                m.is_event_driven().then(|| quote!(#t::on_dispatch(fns, at, event))),
            ),
            on(
                "on_reject",
                quote!((fns: &F, at: #pos, event: &#event_ty, reason: __fsm::Reject)),
                m.is_event_driven().then(|| quote!(#t::on_reject(fns, at, event, reason))),
            ),
        ]
        .into_iter()
        .flatten()
        .collect();

        let async_const = m.is_async().then(|| {
            quote!(
                const ASYNC: bool = true;
            )
        });
        let async_impl = m.is_async().then(|| {
            let send = quote!(::core::marker::Send + ::core::marker::Sync);
            let res_send = held.ty.is_some().then(|| quote!(R: #send,));
            quote! {
                impl<F: #t + #send #res_bound> __fsm::AsyncMachineDef<F, #res_arg> for #def
                where
                    #data: ::core::marker::Send,
                    #res_send
                {
                    // A `Send` future the trait names: spelled out, not an `async fn`.
                    #[inline]
                    #[allow(clippy::manual_async_fn)]
                    fn enter_async<'a>(
                        __cx: &'a mut #res,
                        __d: &'a mut #data,
                        at: #pos,
                    ) -> impl ::core::future::Future<Output = __fsm::CallResult> + ::core::marker::Send + 'a {
                        async move {
                            match at {
                                #(#async_arms)*
                                _ => <Self as __fsm::MachineDef<F, #res_arg>>::visit::<true, false>(__cx, __d, at).map(drop),
                            }
                        }
                    }
                }
            }
        });
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

                // The tables are `match`es whose arms return: lints about their shape are noise.
                #[allow(unreachable_code, unreachable_patterns)]
                #[allow(clippy::needless_return, clippy::single_match, clippy::collapsible_match)]
                impl<F: #t #res_bound> __fsm::MachineDef<F, #res_arg #sd> for #def {
                    type Pos = #pos;
                    type End = #end;
                    type Data = #data;
                    type Event = #event_ty;
                    type Frames = #frames;
                    const NAME: &'static str = #name;
                    const START: #pos = #pos::START;
                    #history_const
                    #compensates_const
                    #longest_const
                    #positions_const
                    #async_const

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

                #async_impl

                #inline_impl
            };
        }
    }

    /// A `match` on `on` whose arms return the arc they take; `Ok(None)` after it (a function's
    /// body, without its braces). `rest`, the positions no arm names, are named too, not left to
    /// a `_` arm: an exhaustive `match` compiles to a jump table without a range test first.
    pub(super) fn choice_table(&self, arms: Vec<TokenStream>, rest: &[TokenStream], on: TokenStream) -> TokenStream {
        let rt = &self.rt;
        let default = (!rest.is_empty()).then(|| quote!(#(#rest)|* => {}));
        quote!(
            match #on {
                #(#arms)*
                #default
            }
            #rt::Ok(#rt::None)
        )
    }

    /// `dispatch`'s body: per state with event arcs, a `match` on the event.
    pub(super) fn dispatch_table(&self, all: &[(StateRef, &ir::State)]) -> Option<TokenStream> {
        let m = self.m;
        let ev = &self.event;
        let payload_ident = quote!(payload);
        let mut arms = Vec::new();
        let mut rest = Vec::new();
        for (r, s) in all {
            let net = &m.networks[r.network.0];
            let mut event_arms = Vec::new();
            for a in &s.arcs {
                let arc = &net.arcs[a.0];
                let Some(e) = arc.event else { continue };
                let event = &m.events[e.0];
                let v = ident(&event.ident);
                let uses_payload = event.payload.is_some()
                    && (arc.condition.iter().any(|c| self.call_takes_payload(c))
                        || arc.transform.iter().any(|c| self.call_takes_payload(c))
                        || arc.make_data.iter().any(|c| self.call_takes_payload(c)));
                let pat = match (&event.payload, uses_payload) {
                    (Some(_), true) => quote!(#ev::#v(payload)),
                    (Some(_), false) => quote!(#ev::#v(_)),
                    (None, _) => quote!(#ev::#v),
                };
                let guard = (!arc.condition.is_empty()).then(|| {
                    let cond = self.conditions(&arc.condition, Some(&payload_ident), *r);
                    quote!(if #cond)
                });
                let take = self.take_arc(*r, arc, Some(&payload_ident));
                event_arms.push(quote!(#pat #guard => #take));
            }
            let p = self.pos(*r);
            if event_arms.is_empty() {
                rest.push(p);
            } else {
                arms.push(quote! {
                    #p => match event {
                        #(#event_arms)*
                        _ => {}
                    },
                });
            }
        }
        (!arms.is_empty()).then(|| self.choice_table(arms, &rest, quote!(from)))
    }

    /// `accepts`' body: per state with event arcs, whether the event is one of theirs (the
    /// conditions aside), so that a rejection says whether a guard said no.
    pub(super) fn accepts_table(&self, all: &[(StateRef, &ir::State)]) -> Option<TokenStream> {
        let m = self.m;
        let ev = &self.event;
        let mut arms = Vec::new();
        for (r, s) in all {
            let net = &m.networks[r.network.0];
            let mut seen = Vec::new();
            let mut pats = Vec::new();
            for a in &s.arcs {
                let Some(e) = net.arcs[a.0].event else { continue };
                if seen.contains(&e) {
                    continue;
                }
                seen.push(e);
                let event = &m.events[e.0];
                let v = ident(&event.ident);
                pats.push(match event.payload {
                    Some(_) => quote!(#ev::#v(_)),
                    None => quote!(#ev::#v),
                });
            }
            if !pats.is_empty() {
                let p = self.pos(*r);
                arms.push(quote!(#p => ::core::matches!(event, #(#pats)|*),));
            }
        }
        (!arms.is_empty()).then(|| {
            let default = (arms.len() < all.len()).then(|| quote!(_ => false,));
            quote! {
                match from {
                    #(#arms)*
                    #default
                }
            }
        })
    }

    /// Taking `arc` from `from` (its condition already true): its transforms, in the source
    /// state's data mode, then where it leads. A block that returns from the table.
    pub(super) fn take_arc(&self, from: StateRef, arc: &ir::Arc, payload: Option<&TokenStream>) -> TokenStream {
        let rt = &self.rt;
        let n = from.network;
        let next = match arc.target {
            Target::State(_) if arc.internal => quote!(#rt::Next::Stay),
            Target::State(s) if arc.resume.is_some() => {
                let p = self.pos(Self::sref(n, s));
                let slot = proc_macro2::Literal::usize_unsuffixed(arc.resume.unwrap_or_default());
                quote!(#rt::Next::Resume { slot: #slot, or: #p })
            }
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
        // The target's data, made after the transforms; or the source's dropped, when the arc
        // leaves a state with data for one without. An internal arc keeps it.
        let state_data = match (&arc.make_data, arc.target) {
            (Some(make), Target::State(t)) => self.state_data_variant(Self::sref(n, t)).map(|variant| {
                let made = self.make_data_call(from, make, payload.is_some());
                quote!(__cx.state_data = #rt::Some(#variant(#made));)
            }),
            _ if arc.internal => None,
            _ => self
                .state_data_variant(from)
                .map(|_| quote!(__cx.state_data = #rt::None;)),
        };
        quote!({
            #transform
            #state_data
            return #rt::Ok(#rt::Some(#next));
        })
    }
}

/// The most transitions a run of a data-driven machine can take from its start state (its
/// eventless arcs and `on_error` arcs, every one a transition), when none of those paths comes
/// back to a state: `None` when one may (a loop, an internal arc), for an event-driven machine,
/// and for a machine that pushes networks or resumes a history (whose paths the run loop counts
/// with frames and slots).
fn longest_run(m: &ir::Machine) -> Option<u32> {
    if m.is_event_driven() || m.has_push_arcs() || m.networks.len() != 1 || m.history_slots > 0 {
        return None;
    }
    let net = m.main_network();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); net.states.len()];
    for arc in net.arcs.iter().filter(|a| a.event.is_none()) {
        match arc.target {
            Target::State(_) if arc.internal || arc.resume.is_some() => return None,
            Target::State(to) => next[arc.from.0].push(to.0),
            Target::Push { .. } => return None,
        }
    }
    for (i, s) in net.states.iter().enumerate() {
        next[i].extend(s.on_error.iter().chain(s.error_arcs.iter().map(|e| &e.to)).map(|t| t.0));
    }
    // Depth-first, without recursion: `longest[s]` once every state after `s` is done; a state
    // met again while on the path closes a loop.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; net.states.len()];
    let mut longest = vec![0u32; net.states.len()];
    let mut path = vec![(net.start.0, 0usize)];
    mark[net.start.0] = Mark::OnPath;
    while let Some(&mut (s, ref mut k)) = path.last_mut() {
        if let Some(&t) = next[s].get(*k) {
            *k += 1;
            match mark[t] {
                Mark::OnPath => return None,
                Mark::New => {
                    mark[t] = Mark::OnPath;
                    path.push((t, 0));
                }
                Mark::Done => {}
            }
        } else {
            longest[s] = next[s].iter().map(|&t| longest[t].saturating_add(1)).max().unwrap_or(0);
            mark[s] = Mark::Done;
            path.pop();
        }
    }
    Some(longest[net.start.0])
}
