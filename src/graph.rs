//! The workflow drawn as a flowchart: Mermaid (default) or Graphviz DOT, with
//! parallel groups as fork/join, `when` on edges, compensations dashed.
//!
//! Both formats, and the SVG the console shows, are written from one neutral
//! [`Chart`], so they always show the same nodes and edges.

mod svg;

use std::fmt::Write as _;

use crate::workflow::{Call, Node, Step, Workflow};

/// The output language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A Mermaid `flowchart`, rendered by GitHub and most Markdown viewers.
    #[default]
    Mermaid,
    /// Graphviz: `dot -Tsvg`.
    Dot,
}

/// Draw `workflow` as an SVG image, laid out here (no layout engine): rows
/// by depth, each step a `<g data-step="ID">` a page can colour.
pub fn svg(workflow: &Workflow) -> String {
    svg::draw(&Chart::of(workflow))
}

/// Draw `workflow` in `format`.
pub fn render(workflow: &Workflow, format: Format) -> String {
    let chart = Chart::of(workflow);
    match format {
        Format::Mermaid => chart.mermaid(),
        Format::Dot => chart.dot(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Start and end.
    Terminal,
    Step,
    /// A step that sleeps or waits for a signal: it calls nothing.
    Pause,
    /// Where a parallel group starts and ends.
    Fork,
    Join,
}

#[derive(Debug)]
struct Box_ {
    /// Generated (`s0`, `fork1`), so that step ids never need escaping as ids.
    id: String,
    /// Lines of the label, unescaped.
    lines: Vec<String>,
    shape: Shape,
    /// The workflow's step id, for a step's box.
    step: Option<String>,
}

#[derive(Debug)]
struct Edge {
    from: String,
    to: String,
    label: Option<String>,
    /// Compensations: drawn dashed, against the flow.
    undo: bool,
}

/// Nodes and edges in drawing order.
#[derive(Debug, Default)]
struct Chart {
    title: String,
    boxes: Vec<Box_>,
    edges: Vec<Edge>,
}

const START: &str = "start";
// `end` is a keyword in Mermaid.
const END: &str = "done";

impl Chart {
    fn of(workflow: &Workflow) -> Self {
        let mut chart = Chart {
            title: workflow.name.clone(),
            ..Chart::default()
        };
        chart.add(START, vec!["start".into()], Shape::Terminal);
        // Steps whose compensation edge starts at the next node drawn.
        let mut awaiting_next: Vec<&Step> = Vec::new();
        let mut previous = START.to_string();
        let mut counter = 0;
        for (i, node) in workflow.steps.iter().enumerate() {
            let entry = match node {
                Node::Step(step) => {
                    let id = format!("s{counter}");
                    counter += 1;
                    chart.step(&id, step);
                    id
                }
                Node::Parallel(_) => format!("fork{i}"),
            };
            for step in awaiting_next.drain(..) {
                chart.undo(&entry, step);
            }
            match node {
                Node::Step(step) => {
                    chart.flow(&previous, &entry, step);
                    awaiting_next.push(step);
                    previous = entry;
                }
                Node::Parallel(group) => {
                    let join = format!("join{i}");
                    chart.add(&entry, vec!["parallel".into()], Shape::Fork);
                    chart.link(&previous, &entry, None);
                    let mut ids = Vec::new();
                    for step in &group.branches {
                        let id = format!("s{counter}");
                        counter += 1;
                        chart.step(&id, step);
                        chart.flow(&entry, &id, step);
                        ids.push(id);
                    }
                    chart.add(&join, vec!["join".into()], Shape::Join);
                    for (id, step) in ids.iter().zip(&group.branches) {
                        chart.link(id, &join, None);
                        chart.undo(&join, step);
                    }
                    previous = join;
                }
            }
        }
        chart.add(END, vec!["end".into()], Shape::Terminal);
        chart.link(&previous, END, None);
        for step in awaiting_next {
            chart.undo(END, step);
        }
        chart
    }

    fn add(&mut self, id: &str, lines: Vec<String>, shape: Shape) {
        self.boxes.push(Box_ {
            id: id.to_string(),
            lines,
            shape,
            step: None,
        });
    }

    fn step(&mut self, id: &str, step: &Step) {
        let doing = match step.call() {
            Some(call) => format!("{}: {}", call.service, call_text(&call.call)),
            None => step.label(),
        };
        let lines = vec![step.id.clone(), doing];
        let shape = if step.call().is_some() {
            Shape::Step
        } else {
            Shape::Pause
        };
        self.add(id, lines, shape);
        if let Some(last) = self.boxes.last_mut() {
            last.step = Some(step.id.clone());
        }
    }

    fn link(&mut self, from: &str, to: &str, label: Option<String>) {
        self.edges.push(Edge {
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

    /// A dashed edge back to `step` from where a later failure comes.
    fn undo(&mut self, from: &str, step: &Step) {
        let Some(compensation) = step.compensation() else {
            return;
        };
        let to = self
            .boxes
            .iter()
            .rev()
            .find(|b| b.step.as_ref() == Some(&step.id))
            .map(|b| b.id.clone())
            .expect("a step is drawn before its compensation");
        let mut label = format!("undo: {}", call_text(&compensation.call));
        if compensation.service != step.service_name() {
            label = format!(
                "undo: {}: {}",
                compensation.service,
                call_text(&compensation.call)
            );
        }
        self.edges.push(Edge {
            from: from.to_string(),
            to,
            label: Some(label),
            undo: true,
        });
    }

    fn mermaid(&self) -> String {
        let mut out = String::new();
        // The front matter is YAML, where a JSON string is a valid scalar.
        let title = serde_json::Value::String(self.title.clone());
        let _ = writeln!(out, "---\ntitle: {title}\n---");
        out.push_str("flowchart TD\n");
        for b in &self.boxes {
            let label = b
                .lines
                .iter()
                .map(|l| mermaid_escape(l))
                .collect::<Vec<_>>()
                .join("<br/>");
            let _ = match b.shape {
                Shape::Terminal => writeln!(out, "    {}((\"{label}\"))", b.id),
                Shape::Step => writeln!(out, "    {}[\"{label}\"]", b.id),
                Shape::Pause => writeln!(out, "    {}([\"{label}\"])", b.id),
                Shape::Fork | Shape::Join => writeln!(out, "    {}{{{{\"{label}\"}}}}", b.id),
            };
        }
        for e in &self.edges {
            let arrow = if e.undo { "-.->" } else { "-->" };
            let _ = match &e.label {
                Some(label) => writeln!(
                    out,
                    "    {} {arrow}|\"{}\"| {}",
                    e.from,
                    mermaid_escape(label),
                    e.to
                ),
                None => writeln!(out, "    {} {arrow} {}", e.from, e.to),
            };
        }
        out
    }

    fn dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&self.title));
        out.push_str(
            "    rankdir=TB;\n    node [shape=box, style=rounded, fontname=\"Helvetica\"];\n",
        );
        out.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
        for b in &self.boxes {
            let label = b
                .lines
                .iter()
                .map(|l| dot_escape(l))
                .collect::<Vec<_>>()
                .join("\\n");
            let shape = match b.shape {
                Shape::Terminal => ", shape=circle",
                Shape::Step => "",
                Shape::Pause => ", style=\"rounded,dashed\"",
                Shape::Fork | Shape::Join => ", shape=hexagon, style=solid",
            };
            let _ = writeln!(out, "    {} [label=\"{label}\"{shape}];", b.id);
        }
        for e in &self.edges {
            let mut attrs = Vec::new();
            if let Some(label) = &e.label {
                attrs.push(format!("label=\"{}\"", dot_escape(label)));
            }
            if e.undo {
                // Back-edges must not pull the layout upside down.
                attrs.push("style=dashed".into());
                attrs.push("constraint=false".into());
            }
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            let _ = writeln!(out, "    {} -> {}{attrs};", e.from, e.to);
        }
        out.push_str("}\n");
        out
    }
}

/// `POST /orders/{{ .input.id }}` or `Process`.
fn call_text(call: &Call) -> String {
    match call {
        Call::Grpc { method } => method.clone(),
        Call::Http { verb, path } => format!("{verb} {}", path.source()),
    }
}

/// Text inside a quoted Mermaid label: quotes and markup become entity
/// codes, which Mermaid writes as `#name;`.
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '|' => out.push_str("#124;"),
            // Backticks would start a Markdown string.
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text inside a quoted DOT string: backslash and quote escaped, so that
/// no `\n` or `\l` of the user's turns into layout.
fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
