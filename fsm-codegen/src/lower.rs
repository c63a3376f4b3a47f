//! `lower`: a machine that passed the gate ([`Valid`]) becomes the [`ir::Machine`](crate::ir::Machine)
//! the generators read.
//!
//! Names are resolved to indices through the lookups validation built, arcs ordered the way a run
//! tries them (priority, highest first, then declaration order), functions collected into the
//! trait's methods, end states and push depth computed. Settings (resilience, resources, the step
//! limit) arrive typed from validation: nothing here reads a YAML value. Lowering cannot fail, and
//! it is reachable only through [`crate::analyze`], so it never sees a machine with errors.

use crate::ast;
use crate::ir::{
    Arc, ArcId, Call, DataMode, EndState, Event, EventId, Function, FunctionId, Inline, InlineId, Machine, Network,
    NetworkId, Role, State, StateId, StateRef, Store, Target,
};
use crate::naming::{fn_ident, type_ident};
use crate::validate::{Context, Valid};

/// The step limit of a run when the machine does not set `max_transitions`.
pub const DEFAULT_MAX_TRANSITIONS: u32 = 1000;

/// Lowers a machine that passed validation.
pub(crate) fn lower(valid: Valid<'_>) -> Machine {
    let Valid { cx, typed, .. } = valid;
    let machine = cx.machine;
    let mut lowering = Lowering {
        cx: &cx,
        events: machine
            .events
            .iter()
            .map(|e| Event {
                name: e.name.value.clone(),
                ident: type_ident(&e.name),
                payload: e.payload.as_ref().map(|p| p.value.trim().to_owned()),
                description: doc(&e.description),
            })
            .collect(),
        functions: Vec::new(),
        payload_uses: Vec::new(),
        state_data_uses: Vec::new(),
        inlines: Vec::new(),
        history_slots: 0,
    };
    let default_mode = mode(machine.data_mode.as_ref().map(|m| m.value));

    // Validation resolved `main_network` (and required it when there are several networks).
    let main = machine
        .main_network
        .as_ref()
        .and_then(|m| cx.networks.get(m.value.as_str()).copied())
        .map_or(NetworkId(0), NetworkId);
    let mut networks = Vec::with_capacity(machine.networks.len());
    for ((n, net), resilience) in cx.networks().zip(typed.resilience) {
        networks.push(lowering.network(n, net, default_mode, resilience, n == main.0));
    }

    let Lowering {
        events,
        mut functions,
        payload_uses,
        state_data_uses,
        inlines,
        ..
    } = lowering;
    for f in &mut functions {
        // Validation refused duplicate declarations and `infallible` on conditions.
        if let Some(&d) = cx.functions.get(f.name.as_str()) {
            let decl = &machine.functions[d];
            f.infallible = f.role == Role::Transform && decl.infallible.as_ref().is_some_and(|i| i.value);
            f.atomic = f.role == Role::Transform && decl.atomic.as_ref().is_some_and(|a| a.value) && !f.infallible;
            f.fallible = f.role == Role::Condition && decl.fallible.as_ref().is_some_and(|a| a.value);
            f.is_async = f.role == Role::Transform && decl.r#async.as_ref().is_some_and(|a| a.value);
            f.description = doc(&decl.description);
        }
    }
    for ((f, payloads), state_data) in functions.iter_mut().zip(payload_uses).zip(state_data_uses) {
        // A function gets the payload only when every use of it has the same one.
        let first = payloads.first().cloned().flatten();
        if first.is_some() && payloads.iter().all(|p| *p == first) {
            f.payload = first;
        }
        // The same for a state's data; a maker returns the data of the states it makes it for
        // (validation: one type). An atomic transform returns its change: it gets none.
        let first = state_data.first().cloned().flatten();
        if f.role == Role::MakeData || (!f.atomic && state_data.iter().all(|p| *p == first)) {
            f.state_data = first;
        }
    }

    let mut ir = Machine {
        name: machine.name.value.clone(),
        ident: type_ident(&machine.name),
        description: doc(&machine.description),
        data: machine.data.as_ref().map(|d| d.value.trim().to_owned()),
        data_mode: default_mode,
        networks,
        main,
        events,
        errors: machine
            .errors
            .iter()
            .map(|e| crate::ir::ErrorKind {
                name: e.name.value.clone(),
                ident: type_ident(&e.name),
                description: doc(&e.description),
            })
            .collect(),
        functions,
        inlines,
        resources: typed.resources,
        store: machine.store.as_ref().and_then(|s| {
            Some(Store {
                resource: cx.resources.get(s.resource.value.as_str()).copied()?,
                table: s.table.value.clone(),
            })
        }),
        max_transitions: typed.max_transitions,
        ends: Vec::new(),
        push_depth: 0,
        history_slots: lowering.history_slots,
        attributes: machine
            .attributes
            .iter()
            .flat_map(|a| a.lists())
            .flat_map(|(target, list)| {
                list.iter().map(move |a| crate::ir::Attribute {
                    target,
                    text: a.value.clone(),
                    span: a.span,
                })
            })
            .collect(),
        span: machine.span,
    };
    ir.ends = end_states(&ir);
    ir.push_depth = push_depth(&ir, ir.main, &mut Vec::new());
    ir
}

/// The superstates around `net`'s start state, outermost first: what a run of the network enters
/// before its start state.
fn start_superstates(net: &ast::Network) -> Vec<&ast::Superstate> {
    let start = net
        .states
        .iter()
        .find(|s| s.is_start.as_ref().is_some_and(|b| b.value))
        .or(net.states.first());
    let Some(start) = start else { return Vec::new() };
    ast::superstate_chain(net, start.superstate.as_ref().map(|n| n.value.as_str()))
        .into_iter()
        .rev()
        .filter_map(|name| net.superstates.iter().find(|s| s.name.value == name))
        .collect()
}

struct Lowering<'c, 'm> {
    cx: &'c Context<'m>,
    events: Vec<Event>,
    functions: Vec<Function>,
    /// For each function, the payload type of each use (`None`: a use without payload).
    payload_uses: Vec<Vec<Option<String>>>,
    /// For each function, the type of the state data of each use: of the state whose function it
    /// is (an arc's, of its source), or, for a maker, of the state it makes it for.
    state_data_uses: Vec<Vec<Option<String>>>,
    inlines: Vec<Inline>,
    /// History slots given so far (one per superstate with `history`, over all networks).
    history_slots: usize,
}

impl Lowering<'_, '_> {
    fn network(
        &mut self,
        n: usize,
        net: &ast::Network,
        default_mode: DataMode,
        resilience: Vec<crate::ir::Resilience>,
        is_main: bool,
    ) -> Network {
        let cx = self.cx;
        let state_index = |name: &str| cx.state(n, name).map(StateId);

        // A slot for each superstate with history (validation: none has a superstate inside).
        let mut slots: Vec<(&str, usize)> = Vec::new();
        for sup in net
            .superstates
            .iter()
            .filter(|s| s.history.as_ref().is_some_and(|h| h.value))
        {
            slots.push((sup.name.value.as_str(), self.history_slots));
            self.history_slots += 1;
        }
        let slot_of = |name: &str| slots.iter().find(|(n, _)| *n == name).map(|(_, slot)| *slot);
        let mut states = Vec::with_capacity(net.states.len());
        for (s, resilience) in net.states.iter().zip(resilience) {
            let what = |kind: &str| format!("{kind} of state `{}`", s.name.value);
            let data = state_data(s);
            let validate = s
                .validate
                .iter()
                .map(|f| self.call(f, Role::Transform, None, data.clone(), what("check")))
                .collect();
            let parallel: Vec<Call> = s
                .parallel
                .iter()
                .flat_map(|p| &p.value)
                .map(|f| self.call(f, Role::Transform, None, None, what("parallel function")))
                .collect();
            for call in &parallel {
                if let Call::Named(id) = call {
                    self.functions[id.0].parallel = true;
                }
            }
            let mut transform: Vec<Call> = s
                .transform
                .iter()
                .map(|f| self.call(f, Role::Transform, None, data.clone(), what("transform")))
                .collect();
            transform.extend(
                s.on_entry
                    .iter()
                    .map(|f| self.call(f, Role::Transform, None, data.clone(), what("entry action"))),
            );
            states.push(State {
                name: s.name.value.clone(),
                ident: type_ident(&s.name),
                description: doc(&s.description),
                is_start: s.is_start.as_ref().is_some_and(|b| b.value),
                is_end: s.is_end.as_ref().is_some_and(|b| b.value),
                validate,
                parallel,
                transform,
                on_error: s.catch_all().and_then(|e| state_index(&e.to)),
                compensate: match &s.compensate {
                    Some(ast::Compensate::Function(f)) => {
                        Some(self.call(f, Role::Transform, None, None, what("compensation")))
                    }
                    _ => None,
                },
                compensate_at_end: matches!(&s.compensate, Some(ast::Compensate::End(b)) if b.value),
                // Validation refused entries after the catch-all.
                error_arcs: s
                    .on_error
                    .iter()
                    .take_while(|e| !e.kinds.is_empty())
                    .filter_map(|e| {
                        Some(crate::ir::ErrorArc {
                            kinds: e.kinds.iter().map(|k| k.value.clone()).collect(),
                            to: state_index(&e.to)?,
                        })
                    })
                    .collect(),
                data_mode: s.data_mode.as_ref().map_or(default_mode, |m| mode(Some(m.value))),
                arcs: Vec::new(),
                resilience,
                resources: s.resources.iter().map(|r| r.value.clone()).collect(),
                history: ast::superstate_chain(net, s.superstate.as_ref().map(|n| n.value.as_str()))
                    .into_iter()
                    .find_map(slot_of),
                data,
                span: s.span,
            });
        }

        let chains: Vec<Vec<&str>> = net
            .states
            .iter()
            .map(|s| ast::superstate_chain(net, s.superstate.as_ref().map(|n| n.value.as_str())))
            .collect();
        let superstate = |name: &str| net.superstates.iter().find(|s| s.name.value == name);
        let taken = reachable_arcs(net);
        let mut levels = Vec::with_capacity(net.arcs.len());
        let mut arcs = Vec::with_capacity(net.arcs.len());
        for (a, _) in net.arcs.iter().zip(&taken).filter(|(_, taken)| **taken) {
            let Some(from) = state_index(&a.from) else { continue };
            let target = match (&a.target_network, &a.to) {
                (Some(tn), _) => match cx.networks.get(tn.value.as_str()).copied() {
                    Some(n) => Target::Push {
                        network: NetworkId(n),
                        return_state: a.return_state.as_ref().and_then(|r| state_index(r)),
                    },
                    None => continue,
                },
                (None, Some(to)) => match state_index(to) {
                    Some(t) => Target::State(t),
                    None => continue,
                },
                (None, None) => continue,
            };
            let event =
                a.on.as_ref()
                    .and_then(|on| cx.events.get(on.value.as_str()).copied())
                    .map(EventId);
            let payload = event.and_then(|e| self.events[e.0].payload.clone());
            // The arc as written: a superstate's or a wildcard's arc is one arc, whichever
            // state it was copied to.
            let (written_from, written_to) = match &a.origin {
                ast::Origin::Superstate { name, .. } => (name.as_str(), a.to.as_ref().map(|t| t.value.as_str())),
                ast::Origin::Wildcard => (ast::WILDCARD, a.to.as_ref().map(|t| t.value.as_str())),
                ast::Origin::Written | ast::Origin::List => (a.from.value.as_str(), None),
            };
            let internal = a.internal.as_ref().is_some_and(|i| i.value);
            let label = format!(
                "{}arc `{} -> {}`{}",
                if internal { "internal " } else { "" },
                written_from,
                match target {
                    // An internal arc of a superstate stays in each of its states.
                    Target::State(_) if internal && written_to.is_some() => written_from.to_owned(),
                    Target::State(t) => net.states[t.0].name.value.clone(),
                    Target::Push { network, .. } => format!("push {}", cx.machine.networks[network.0].name.value),
                },
                a.on.as_ref()
                    .map(|on| format!(" on `{}`", on.value))
                    .unwrap_or_default()
            );
            // The arc's functions run in its source: they see the source's data.
            let source_data = state_data(&net.states[from.0]);
            let condition = a
                .condition
                .iter()
                .map(|c| {
                    let usage = format!("condition of {label}");
                    self.call(c, Role::Condition, payload.clone(), source_data.clone(), usage)
                })
                .collect();
            // Leaving and coming in: the exit actions of the source and of the superstates the
            // arc leaves (innermost first), then the arc's transforms, then the entry actions of
            // the superstates it comes into (outermost first). A push arc is a call: it leaves
            // nothing; an internal arc stays.
            let (leaves, enters): (Vec<&ast::Superstate>, Vec<&ast::Superstate>) = match target {
                Target::State(t) if !internal => {
                    let source = &chains[from.0];
                    let dest = &chains[t.0];
                    (
                        source
                            .iter()
                            .filter(|s| !dest.contains(s))
                            .filter_map(|s| superstate(s))
                            .collect(),
                        dest.iter()
                            .rev()
                            .filter(|s| !source.contains(s))
                            .filter_map(|s| superstate(s))
                            .collect(),
                    )
                }
                _ => (Vec::new(), Vec::new()),
            };
            let mut transform = Vec::new();
            if matches!(target, Target::State(_)) && !internal {
                let source = &net.states[from.0];
                for f in &source.on_exit {
                    let usage = format!("exit action of state `{}`", source.name.value);
                    transform.push(self.call(f, Role::Transform, None, source_data.clone(), usage));
                }
            }
            for sup in &leaves {
                for f in &sup.on_exit {
                    let usage = format!("exit action of superstate `{}`", sup.name.value);
                    transform.push(self.call(f, Role::Transform, None, source_data.clone(), usage));
                }
            }
            for f in &a.transform {
                let usage = format!("transform of {label}");
                transform.push(self.call(f, Role::Transform, payload.clone(), source_data.clone(), usage));
            }
            for sup in &enters {
                for f in &sup.on_entry {
                    let usage = format!("entry action of superstate `{}`", sup.name.value);
                    transform.push(self.call(f, Role::Transform, None, source_data.clone(), usage));
                }
            }
            // A push starts a run of the network: into the superstates around its start state.
            if let Target::Push { network, .. } = target {
                for sup in start_superstates(&cx.machine.networks[network.0]) {
                    for f in &sup.on_entry {
                        let usage = format!("entry action of superstate `{}`", sup.name.value);
                        transform.push(self.call(f, Role::Transform, None, source_data.clone(), usage));
                    }
                }
            }
            // The target's data, made after the transforms (validation: exactly the arcs into a
            // state with data name a maker).
            let make_data = match target {
                Target::State(t) if !internal => {
                    let target_data = state_data(&net.states[t.0]);
                    a.data.as_ref().filter(|_| target_data.is_some()).map(|f| {
                        let usage = format!("data of state `{}` made by {label}", net.states[t.0].name.value);
                        self.call(f, Role::MakeData, payload.clone(), target_data, usage)
                    })
                }
                _ => None,
            };
            arcs.push(Arc {
                from,
                target,
                event,
                condition,
                internal,
                transform,
                make_data,
                resume: a.into.as_ref().and_then(|into| slot_of(&into.value)),
                priority: a.priority.as_ref().map_or(0, |p| p.value),
                description: doc(&a.description),
                span: a.span,
            });
            levels.push(a.origin.level());
        }

        for (i, arc) in arcs.iter().enumerate() {
            states[arc.from.0].arcs.push(ArcId(i));
        }
        for state in &mut states {
            // Stable: equal priorities keep declaration order; a superstate's arcs come after
            // the state's own (and a nearer superstate's).
            state
                .arcs
                .sort_by_key(|a| (levels[a.0], std::cmp::Reverse(arcs[a.0].priority)));
        }

        let start = states.iter().position(|s| s.is_start).map_or(StateId(0), StateId);
        // A pushed network's are among the push arc's transforms; the main network's begin a run.
        let mut start_entry = Vec::new();
        for sup in start_superstates(net).into_iter().filter(|_| is_main) {
            for f in &sup.on_entry {
                let usage = format!("entry action of superstate `{}`", sup.name.value);
                start_entry.push(self.call(f, Role::Transform, None, None, usage));
            }
        }
        Network {
            name: net.name.value.clone(),
            ident: type_ident(&net.name),
            description: doc(&net.description),
            states,
            arcs,
            start,
            start_entry,
        }
    }

    fn call(
        &mut self,
        f: &ast::FunctionRef,
        role: Role,
        payload: Option<String>,
        state_data: Option<String>,
        usage: String,
    ) -> Call {
        match f {
            ast::FunctionRef::Named(name) => {
                let id = match self.functions.iter().position(|g| g.name == name.value) {
                    Some(i) => i,
                    None => {
                        self.functions.push(Function {
                            name: name.value.clone(),
                            ident: fn_ident(name),
                            role,
                            payload: None,
                            uses: Vec::new(),
                            infallible: false,
                            atomic: false,
                            fallible: false,
                            is_async: false,
                            parallel: false,
                            description: None,
                            state_data: None,
                        });
                        self.payload_uses.push(Vec::new());
                        self.state_data_uses.push(Vec::new());
                        self.functions.len() - 1
                    }
                };
                // A superstate's exit action is used by every arc leaving it: say so once.
                if !self.functions[id].uses.contains(&usage) {
                    self.functions[id].uses.push(usage);
                }
                self.payload_uses[id].push(payload);
                self.state_data_uses[id].push(state_data);
                Call::Named(FunctionId(id))
            }
            ast::FunctionRef::Rust { code, .. } => {
                self.inlines.push(Inline {
                    code: code.value.clone(),
                    role,
                    payload,
                    state_data,
                    span: code.span,
                });
                Call::Inline(InlineId(self.inlines.len() - 1))
            }
            ast::FunctionRef::Builtin { name, params, .. } => Call::Builtin {
                name: name.value.clone(),
                params: params.as_ref().map_or(serde_json::Value::Null, |p| p.value.to_json()),
            },
        }
    }
}

/// The type of a state's own data, as written.
fn state_data(s: &ast::State) -> Option<String> {
    s.data.as_ref().map(|d| d.value.trim().to_owned())
}

fn mode(m: Option<ast::DataMode>) -> DataMode {
    match m {
        None | Some(ast::DataMode::Copy) => DataMode::Copy,
        Some(ast::DataMode::Direct) => DataMode::Direct,
        Some(ast::DataMode::Reference) => DataMode::Reference,
    }
}

fn doc(d: &Option<crate::span::Spanned<String>>) -> Option<String> {
    d.as_ref().map(|d| d.value.trim().to_owned()).filter(|d| !d.is_empty())
}

/// End states where a run can finish, and their end-enum variants.
fn end_states(ir: &Machine) -> Vec<EndState> {
    let mut refs: Vec<StateRef> = Vec::new();
    let mut visited = Vec::new();
    collect_ends(ir, ir.main, &mut refs, &mut visited);
    let plain: Vec<&str> = refs.iter().map(|r| ir.state(*r).ident.as_str()).collect();
    refs.iter()
        .map(|r| {
            let ident = &ir.state(*r).ident;
            let unique = plain.iter().filter(|p| **p == ident.as_str()).count() == 1;
            EndState {
                state: *r,
                ident: if unique || r.network == ir.main {
                    ident.clone()
                } else {
                    format!("{}{}", ir.networks[r.network.0].ident, ident)
                },
            }
        })
        .collect()
}

fn collect_ends(ir: &Machine, net: NetworkId, out: &mut Vec<StateRef>, visited: &mut Vec<NetworkId>) {
    if visited.contains(&net) {
        return;
    }
    visited.push(net);
    let network = &ir.networks[net.0];
    for (i, s) in network.states.iter().enumerate() {
        if s.is_end {
            out.push(StateRef {
                network: net,
                state: StateId(i),
            });
        }
    }
    for arc in &network.arcs {
        if let Target::Push {
            network: pushed,
            return_state: None,
        } = arc.target
        {
            collect_ends(ir, pushed, out, visited);
        }
    }
}

/// Longest chain of push arcs starting in `net` (cycles, rejected by validation, are cut).
fn push_depth(ir: &Machine, net: NetworkId, path: &mut Vec<NetworkId>) -> usize {
    if path.contains(&net) {
        return 0;
    }
    path.push(net);
    let depth = ir.networks[net.0]
        .arcs
        .iter()
        .filter_map(|a| match a.target {
            Target::Push { network, .. } => Some(1 + push_depth(ir, network, path)),
            Target::State(_) => None,
        })
        .max()
        .unwrap_or(0);
    path.pop();
    depth
}

/// Which arcs of `net` can be taken, by index: in the order a state tries the arcs of an event
/// (its own, then each superstate level; priority, highest first; declaration order), the arcs
/// after the first without a condition never are. Validation says so where it is a mistake; here
/// they are dropped, so the generated `match` has no unreachable arm.
fn reachable_arcs(net: &ast::Network) -> Vec<bool> {
    let mut groups: std::collections::BTreeMap<(&str, Option<&str>), Vec<usize>> = Default::default();
    for (i, a) in net.arcs.iter().enumerate() {
        groups
            .entry((a.from.value.as_str(), a.on.as_ref().map(|e| e.value.as_str())))
            .or_default()
            .push(i);
    }
    let mut taken = vec![true; net.arcs.len()];
    for mut group in groups.into_values() {
        let arc = |i: &usize| &net.arcs[*i];
        group.sort_by_key(|i| {
            (
                arc(i).origin.level(),
                std::cmp::Reverse(arc(i).priority.as_ref().map_or(0, |p| p.value)),
            )
        });
        if let Some(first) = group.iter().position(|i| arc(i).condition.is_empty()) {
            for i in &group[first + 1..] {
                taken[*i] = false;
            }
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Source;

    fn lowered(yaml: &str) -> Machine {
        let source = Source::new("m.yaml", yaml);
        let (machine, diagnostics) = crate::syntax::yaml::parse(&source);
        assert!(!diagnostics.has_errors(), "{}", diagnostics.render(&source));
        match crate::analyze(&machine.expect("a machine"), Some(&source)) {
            Ok(analyzed) => analyzed.ir,
            Err(d) => panic!("{}", d.render(&source)),
        }
    }

    #[test]
    fn arcs_are_ordered_by_priority_then_declaration() {
        let m = lowered(
            "name: M\nstates:\n  - { name: a, is_start: true }\n  - { name: b, is_end: true }\n  \
             - { name: c, is_end: true }\n  - { name: d, is_end: true }\narcs:\n  \
             - { from: a, to: b, priority: -1 }\n  - { from: a, to: c, condition: x }\n  \
             - { from: a, to: d, condition: y, priority: 3 }\n  - { from: a, to: b, condition: z }\n",
        );
        let net = m.main_network();
        let targets: Vec<_> = net.states[0].arcs.iter().map(|a| net.arcs[a.0].target).collect();
        assert_eq!(
            targets,
            [3, 2, 1, 1].map(|s| Target::State(StateId(s))),
            "priority 3, then the two of priority 0 in order, then -1"
        );
    }

    #[test]
    fn functions_get_roles_uses_and_payloads() {
        let m = lowered(
            "name: M\ndata: u32\nevents:\n  - { name: set, payload: u32 }\n  - { name: go }\nstates:\n  \
             - { name: a, is_start: true, transform: prepare }\n  - { name: b, is_end: true }\narcs:\n  \
             - { from: a, to: a, on: set, condition: fits, transform: store }\n  \
             - { from: a, to: b, on: go, condition: ready }\n",
        );
        let f = |name: &str| m.functions.iter().find(|f| f.name == name).expect(name);
        assert_eq!(f("prepare").role, Role::Transform);
        assert_eq!(f("fits").role, Role::Condition);
        assert_eq!(f("store").payload.as_deref(), Some("u32"));
        assert_eq!(f("fits").payload.as_deref(), Some("u32"));
        assert_eq!(f("ready").payload, None, "`go` carries nothing");
        assert_eq!(f("prepare").payload, None, "state functions never get a payload");
        assert_eq!(f("store").uses, ["transform of arc `a -> a` on `set`"]);
    }

    #[test]
    fn ends_and_push_depth_follow_push_arcs() {
        let m = lowered(
            "name: M\nmain_network: main\nnetworks:\n  - name: main\n    states:\n      \
             - { name: s, is_start: true }\n      - { name: done, is_end: true }\n    arcs:\n      \
             - { from: s, target_network: sub, return_state: done, condition: c }\n      \
             - { from: s, target_network: other }\n  - name: sub\n    states:\n      \
             - { name: x, is_start: true }\n      - { name: done, is_end: true }\n    arcs:\n      \
             - { from: x, target_network: other, return_state: done }\n  - name: other\n    states:\n      \
             - { name: y, is_start: true }\n      - { name: done, is_end: true }\n    arcs:\n      \
             - { from: y, to: done }\n",
        );
        let ends: Vec<&str> = m.ends.iter().map(|e| e.ident.as_str()).collect();
        // `sub` returns, so its end is not the machine's; `other` is pushed without return.
        assert_eq!(ends, ["Done", "OtherDone"]);
        assert_eq!(m.push_depth, 2);
        assert!(m.has_push_arcs());
    }

    #[test]
    fn a_step_limit_that_does_not_fit_is_refused_not_clamped() {
        let source = Source::new(
            "m.yaml",
            "name: M\nmax_transitions: 4294967296\nstates: [{ name: a, is_start: true, is_end: true }]\n",
        );
        let (machine, diagnostics) = crate::syntax::yaml::parse(&source);
        assert!(diagnostics.is_empty());
        let refused = crate::analyze(&machine.expect("a machine"), Some(&source)).expect_err("too large");
        let messages: Vec<&str> = refused.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages, ["`max_transitions` must be at most 4294967295"]);
        assert_eq!(
            lowered(&source.text.replace("4294967296", "4294967295")).max_transitions,
            u32::MAX
        );
    }

    #[test]
    fn defaults() {
        let m = lowered("name: my-machine\nstates:\n  - { name: a, is_start: true, is_end: true }\n");
        assert_eq!(m.ident, "MyMachine");
        assert_eq!(m.max_transitions, DEFAULT_MAX_TRANSITIONS);
        assert_eq!(m.data_mode, DataMode::Copy);
        assert!(m.data.is_none() && !m.is_event_driven() && m.push_depth == 0);
    }
}
