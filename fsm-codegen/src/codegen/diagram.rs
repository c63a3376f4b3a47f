//! Diagrams of a machine: Mermaid (`stateDiagram-v2`) and Graphviz DOT, rendered from the IR with
//! minijinja templates (`templates/*.jinja`).
//!
//! Networks other than the main one are drawn inside the network that first pushes them (Mermaid
//! composite states, DOT clusters). A push arc leads to the pushed network; its return arc leaves
//! it. Arcs are labelled with their event, condition (`[is_valid]`) and non-zero priority.

use crate::ir::{Call, Machine, NetworkId, StateRef, Target};
use minijinja::{Environment, Value, context};
use std::collections::BTreeMap;

const MERMAID: &str = include_str!("templates/mermaid.jinja");
const DOT: &str = include_str!("templates/dot.jinja");

/// A diagram format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Mermaid `stateDiagram-v2`.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// Renders the diagram of `machine` in `format`.
pub fn render(machine: &Machine, format: Format) -> String {
    match format {
        Format::Mermaid => mermaid(machine),
        Format::Dot => dot(machine),
    }
}

/// The machine as a Mermaid state diagram (ends with a newline).
pub fn mermaid(machine: &Machine) -> String {
    if machine.networks.is_empty() {
        return "stateDiagram-v2\n".to_owned();
    }
    let ids = Ids::new(machine);
    let ctx = context! { main => ids.mermaid_network(machine, machine.main, &mut Vec::new()) };
    let mut out = render_template(MERMAID, ctx);
    out.push('\n');
    out
}

/// The machine as a Graphviz DOT digraph (ends with a newline).
pub fn dot(machine: &Machine) -> String {
    let mut networks = Vec::new();
    let mut arcs = Vec::new();
    for (n, net) in machine.networks.iter().enumerate() {
        let id = NetworkId(n);
        let states: Vec<Value> = net
            .states
            .iter()
            .enumerate()
            .map(|(s, st)| {
                context! {
                    id => dot_id(machine, StateRef { network: id, state: crate::ir::StateId(s) }),
                    label => escape(&st.name),
                    is_end => st.is_end,
                }
            })
            .collect();
        networks.push(context! { id => sanitize(&net.name), label => escape(&net.name), states });
        for arc in &net.arcs {
            let from = dot_id(
                machine,
                StateRef {
                    network: id,
                    state: arc.from,
                },
            );
            let label = escape(&arc_label(machine, arc));
            match arc.target {
                Target::State(t) => arcs.push(context! {
                    from, to => dot_id(machine, StateRef { network: id, state: t }), label, style => "",
                }),
                Target::Push { network, return_state } => {
                    let pushed = &machine.networks[network.0];
                    let start = dot_id(
                        machine,
                        StateRef {
                            network,
                            state: pushed.start,
                        },
                    );
                    let push_label = if label.is_empty() {
                        "push".to_owned()
                    } else {
                        format!("push {label}")
                    };
                    arcs.push(context! { from, to => start, label => push_label, style => "dashed" });
                    if let Some(r) = return_state {
                        for (e, st) in pushed.states.iter().enumerate() {
                            if st.is_end {
                                arcs.push(context! {
                                    from => dot_id(machine, StateRef { network, state: crate::ir::StateId(e) }),
                                    to => dot_id(machine, StateRef { network: id, state: r }),
                                    label => "return",
                                    style => "dotted",
                                });
                            }
                        }
                    }
                }
            }
        }
        for (s, st) in net.states.iter().enumerate() {
            for (e, label) in error_arcs(st) {
                arcs.push(context! {
                    from => dot_id(machine, StateRef { network: id, state: crate::ir::StateId(s) }),
                    to => dot_id(machine, StateRef { network: id, state: e }),
                    label => label,
                    style => "dashed",
                });
            }
        }
    }
    let start = if machine.networks.is_empty() {
        "__start".to_owned()
    } else {
        dot_id(
            machine,
            StateRef {
                network: machine.main,
                state: machine.main_network().start,
            },
        )
    };
    let ctx = context! { name => sanitize(&machine.name), networks, arcs, start };
    let mut out = render_template(DOT, ctx);
    out.push('\n');
    out
}

fn render_template(template: &str, ctx: Value) -> String {
    let env = Environment::new();
    // The templates are ours and are tested; an error here is a bug, reported in the output
    // rather than by a panic.
    match env.render_str(template, ctx) {
        Ok(s) => s,
        Err(e) => format!("%% diagram template error: {e}"),
    }
}

/// The label of an arc: event, `[condition]`, non-zero priority, `(internal)` for an arc that
/// stays (drawn as a loop, like a self-transition, which leaves and comes back), `(history)` for
/// an arc into a superstate that remembers where the run was.
fn arc_label(machine: &Machine, arc: &crate::ir::Arc) -> String {
    let mut parts = Vec::new();
    if let Some(e) = arc.event {
        parts.push(machine.events[e.0].name.clone());
    }
    if !arc.condition.is_empty() {
        let guards: Vec<String> = arc.condition.iter().map(|c| call_label(machine, c)).collect();
        parts.push(format!("[{}]", guards.join(" && ")));
    }
    if arc.priority != 0 {
        parts.push(format!("(priority {})", arc.priority));
    }
    if arc.internal {
        parts.push("(internal)".to_owned());
    }
    if arc.resume.is_some() {
        // Drawn to the superstate's `initial`; the run may resume elsewhere inside it.
        parts.push("(history)".to_owned());
    }
    parts.join(" ")
}

fn call_label(machine: &Machine, call: &Call) -> String {
    match call {
        Call::Named(f) => machine.functions[f.0].name.clone(),
        Call::Inline(i) => machine.inlines[i.0]
            .code
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        Call::Builtin { name, .. } => name.clone(),
    }
}

/// Text safe inside a Mermaid label or a quoted DOT string.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            ';' | ':' | '\n' | '\r' | '{' | '}' | '#' | '\\' => ' ',
            c => c,
        })
        .collect()
}

/// An identifier made of `[A-Za-z0-9_]`.
fn sanitize(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else {
        out
    }
}

fn dot_id(machine: &Machine, r: StateRef) -> String {
    format!(
        "{}__{}",
        sanitize(&machine.networks[r.network.0].name),
        sanitize(&machine.state(r).name)
    )
}

/// Mermaid identifiers: the state names themselves when they are plain and unique in the
/// machine (the common, readable case), `network__state` otherwise.
struct Ids {
    plain: bool,
    network_ids: Vec<String>,
    /// For each network, the networks drawn inside it (pushed first from it).
    subs: BTreeMap<usize, Vec<NetworkId>>,
}

impl Ids {
    fn new(m: &Machine) -> Self {
        let names: Vec<&str> = m.states().map(|(_, s)| s.name.as_str()).collect();
        const RESERVED: &[&str] = &["end", "state", "note", "direction", "class", "classDef", "style"];
        let plain = names.iter().all(|n| sanitize(n) == *n && !RESERVED.contains(n))
            && names.iter().enumerate().all(|(i, n)| !names[..i].contains(n));
        let state_ids: Vec<String> = if plain {
            names.iter().map(|n| (*n).to_owned()).collect()
        } else {
            m.states().map(|(r, _)| dot_id(m, r)).collect()
        };
        let network_ids = m
            .networks
            .iter()
            .map(|n| {
                let id = sanitize(&n.name);
                if state_ids.contains(&id) {
                    format!("{id}_network")
                } else {
                    id
                }
            })
            .collect();
        // Each network is drawn inside the first network (in declaration order) that pushes it;
        // networks nobody pushes are drawn at the top level, after the main one.
        let mut placed = vec![false; m.networks.len()];
        placed[m.main.0] = true;
        let mut subs: BTreeMap<usize, Vec<NetworkId>> = BTreeMap::new();
        let mut queue = vec![m.main];
        while let Some(n) = queue.pop() {
            for arc in &m.networks[n.0].arcs {
                if let Target::Push { network, .. } = arc.target
                    && !placed[network.0]
                {
                    placed[network.0] = true;
                    subs.entry(n.0).or_default().push(network);
                    queue.push(network);
                }
            }
        }
        for (i, p) in placed.iter().enumerate() {
            if !p {
                subs.entry(m.main.0).or_default().push(NetworkId(i));
            }
        }
        Ids {
            plain,
            network_ids,
            subs,
        }
    }

    fn state(&self, m: &Machine, r: StateRef) -> String {
        if self.plain {
            m.state(r).name.clone()
        } else {
            dot_id(m, r)
        }
    }

    fn mermaid_network(&self, m: &Machine, n: NetworkId, seen: &mut Vec<NetworkId>) -> Value {
        seen.push(n);
        let net = &m.networks[n.0];
        let sref = |s| StateRef { network: n, state: s };
        let states: Vec<Value> = (0..net.states.len())
            .map(|s| {
                let r = sref(crate::ir::StateId(s));
                context! { id => self.state(m, r), label => escape(&m.state(r).name) }
            })
            .collect();
        let mut arcs = Vec::new();
        for arc in &net.arcs {
            let from = self.state(m, sref(arc.from));
            let label = escape(&arc_label(m, arc));
            match arc.target {
                Target::State(t) => arcs.push(context! { from, to => self.state(m, sref(t)), label }),
                Target::Push { network, return_state } => {
                    let sub = self.network_ids[network.0].clone();
                    let push_label = if label.is_empty() {
                        "push".to_owned()
                    } else {
                        format!("push {label}")
                    };
                    arcs.push(context! { from, to => sub.clone(), label => push_label });
                    if let Some(r) = return_state {
                        arcs.push(context! { from => sub, to => self.state(m, sref(r)), label => "" });
                    }
                }
            }
        }
        for (s, st) in net.states.iter().enumerate() {
            for (e, label) in error_arcs(st) {
                arcs.push(context! {
                    from => self.state(m, sref(crate::ir::StateId(s))),
                    to => self.state(m, sref(e)),
                    label => label,
                });
            }
        }
        let ends: Vec<String> = (0..net.states.len())
            .filter(|s| net.states[*s].is_end)
            .map(|s| self.state(m, sref(crate::ir::StateId(s))))
            .collect();
        let subs: Vec<Value> = self
            .subs
            .get(&n.0)
            .into_iter()
            .flatten()
            .filter(|s| !seen.contains(s))
            .copied()
            .collect::<Vec<_>>()
            .into_iter()
            .map(|s| self.mermaid_network(m, s, seen))
            .collect();
        context! {
            id => self.network_ids[n.0].clone(),
            start => self.state(m, sref(net.start)),
            states,
            arcs,
            ends,
            subs,
        }
    }
}

/// A state's `on_error` arcs with their labels: the entries with kinds (`on error: timeout,
/// unavailable`), then the one for every error (`on error`).
fn error_arcs(st: &crate::ir::State) -> Vec<(crate::ir::StateId, String)> {
    let mut arcs: Vec<(crate::ir::StateId, String)> = st
        .error_arcs
        .iter()
        .map(|a| (a.to, format!("on error: {}", a.kinds.join(", "))))
        .collect();
    arcs.extend(st.on_error.map(|e| (e, "on error".to_owned())));
    arcs
}
