//! A workflow's steps laid out as a [`Chart`]: one box per step in flow
//! order, a fork and a join around each parallel group, and a cluster
//! around each loop's body and each child workflow's steps.

use super::{Box_, Chart, Cluster, Edge, Shape, call_text};
use crate::workflow::{Action, Foreach, Node, ParallelGroup, Step, Workflow};

const START: &str = "start";
// `end` is a keyword in Mermaid.
const END: &str = "done";

pub(super) fn chart(workflow: &Workflow) -> Chart {
    let mut builder = Builder {
        chart: Chart {
            title: workflow.name.clone(),
            ..Chart::default()
        },
        counter: 0,
        awaiting: Vec::new(),
        cluster: None,
    };
    builder.add(START, vec!["start".into()], Shape::Terminal);
    let top = Names::default();
    let last = builder.sequence(&workflow.steps, START.to_string(), &top);
    builder.add(END, vec!["end".into()], Shape::Terminal);
    builder.link(&last, END, None);
    builder.release(END);
    builder.chart
}

/// How one list of steps names what it draws.
#[derive(Default)]
struct Names {
    /// Before the generated ids of forks and joins: `loop0_` in a body.
    ids: String,
    /// Before step names: `pay/` in the child workflow of step `pay`.
    steps: String,
}

struct Builder<'w> {
    chart: Chart,
    /// Steps drawn so far, for their generated ids (`s0`).
    counter: usize,
    /// Steps whose compensation edge starts at the next node drawn, with
    /// their box.
    awaiting: Vec<(String, &'w Step)>,
    /// The cluster new boxes are drawn in.
    cluster: Option<usize>,
}

impl<'w> Builder<'w> {
    /// Draw `nodes` after `previous`; the node the flow leaves them by.
    fn sequence(&mut self, nodes: &'w [Node], mut previous: String, names: &Names) -> String {
        for (i, node) in nodes.iter().enumerate() {
            previous = match node {
                Node::Step(step) => self.place(step, &previous, names),
                Node::Parallel(group) => self.parallel(group, &previous, i, names),
            };
        }
        previous
    }

    /// Draw `step` after `from`; the node the flow leaves it by.
    fn place(&mut self, step: &'w Step, from: &str, names: &Names) -> String {
        let id = format!("s{}", self.counter);
        self.counter += 1;
        let (cluster, label, head, inner, body) = match &step.action {
            Action::Foreach(each) => (
                format!("loop{}", self.chart.clusters.len()),
                loop_label(each),
                format!("each .{}", each.alias),
                names.steps.clone(),
                &each.body,
            ),
            Action::Workflow(child) => (
                format!("child{}", self.chart.clusters.len()),
                child.path.clone(),
                format!("workflow {}", child.workflow.name),
                format!("{}{}/", names.steps, step.id),
                &child.workflow.steps,
            ),
            _ => {
                self.step(&id, step, names);
                self.release(&id);
                self.flow(from, &id, step);
                self.awaiting.push((id.clone(), step));
                return id;
            }
        };
        let outer = self.open(&cluster, label);
        self.add(&id, vec![step.id.clone(), head], Shape::Group);
        self.name(format!("{}{}", names.steps, step.id));
        self.release(&id);
        self.flow(from, &id, step);
        let inner = Names {
            ids: format!("{cluster}_"),
            steps: inner,
        };
        let exit = self.sequence(body, id, &inner);
        self.cluster = outer;
        exit
    }

    /// A fork, each branch from it, and a join; the join.
    fn parallel(
        &mut self,
        group: &'w ParallelGroup,
        from: &str,
        i: usize,
        names: &Names,
    ) -> String {
        let fork = format!("{}fork{i}", names.ids);
        let join = format!("{}join{i}", names.ids);
        self.release(&fork);
        self.add(&fork, vec!["parallel".into()], Shape::Fork);
        self.link(from, &fork, None);
        let mut branches = Vec::new();
        for step in &group.branches {
            let exit = self.place(step, &fork, names);
            branches.push((exit, std::mem::take(&mut self.awaiting)));
        }
        self.add(&join, vec!["join".into()], Shape::Join);
        for (exit, awaiting) in branches {
            self.link(&exit, &join, None);
            self.awaiting = awaiting;
            self.release(&join);
        }
        join
    }

    /// Start drawing in a new cluster; the one drawn in before.
    fn open(&mut self, id: &str, label: String) -> Option<usize> {
        self.chart.clusters.push(Cluster {
            id: id.to_owned(),
            label,
            parent: self.cluster,
        });
        self.cluster.replace(self.chart.clusters.len() - 1)
    }

    fn add(&mut self, id: &str, lines: Vec<String>, shape: Shape) {
        self.chart.boxes.push(Box_ {
            id: id.to_string(),
            lines,
            shape,
            step: None,
            cluster: self.cluster,
        });
    }

    /// Name the last box drawn as a step.
    fn name(&mut self, step: String) {
        if let Some(last) = self.chart.boxes.last_mut() {
            last.step = Some(step);
        }
    }

    fn step(&mut self, id: &str, step: &Step, names: &Names) {
        let doing = match step.call() {
            Some(call) => format!("{}: {}", call.service, call_text(&call.call)),
            None => step.label(),
        };
        let shape = if step.call().is_some() {
            Shape::Step
        } else {
            Shape::Pause
        };
        self.add(id, vec![step.id.clone(), doing], shape);
        self.name(format!("{}{}", names.steps, step.id));
    }

    fn link(&mut self, from: &str, to: &str, label: Option<String>) {
        self.chart.edges.push(Edge {
            from: from.to_string(),
            to: to.to_string(),
            label,
            undo: false,
        });
    }

    /// The edge into a step, labelled with its condition.
    fn flow(&mut self, from: &str, to: &str, step: &Step) {
        let label = step.when.as_ref().map(|w| w.source().to_string());
        self.link(from, to, label);
    }

    /// Dashed edges from `from`, where a later failure comes, back to each
    /// awaiting step that has a compensation.
    fn release(&mut self, from: &str) {
        for (to, step) in std::mem::take(&mut self.awaiting) {
            let Some(compensation) = step.compensation() else {
                continue;
            };
            let call = call_text(&compensation.call);
            let label = if compensation.service != step.service_name() {
                format!("undo: {}: {call}", compensation.service)
            } else {
                format!("undo: {call}")
            };
            self.chart.edges.push(Edge {
                from: from.to_string(),
                to,
                label: Some(label),
                undo: true,
            });
        }
    }
}

/// `foreach .input.items (×4 at once)`.
fn loop_label(each: &Foreach) -> String {
    let source = each.items.source();
    let items = source
        .strip_prefix("{{")
        .and_then(|s| s.strip_suffix("}}"))
        .map_or(source, str::trim);
    match each.concurrency.get() {
        1 => format!("foreach {items} (one at a time)"),
        n => format!("foreach {items} (×{n} at once)"),
    }
}
