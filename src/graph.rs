//! The workflow drawn as a flowchart: Mermaid (default) or Graphviz DOT, with
//! parallel groups as fork/join, `when` on edges, compensations dashed, a
//! loop's body and a child workflow's steps each in a box of their own.
//!
//! Both formats, and the SVG the console shows, are written from one neutral
//! [`Chart`], so they always show the same nodes and edges.

mod build;
mod svg;
mod text;

use crate::workflow::{Call, Workflow};

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
/// by depth, each step a `<g data-step="ID">` a page can colour (a child
/// workflow's steps as `PARENT/ID`, as reports name them).
pub fn svg(workflow: &Workflow) -> String {
    svg::draw(&build::chart(workflow))
}

/// Draw `workflow` in `format`.
pub fn render(workflow: &Workflow, format: Format) -> String {
    let chart = build::chart(workflow);
    match format {
        Format::Mermaid => text::mermaid(&chart),
        Format::Dot => text::dot(&chart),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Start and end.
    Terminal,
    Step,
    /// A step that sleeps or waits for a signal: it calls nothing.
    Pause,
    /// A loop or a child workflow: its steps follow, in its cluster.
    Group,
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
    /// The step's name, for a step's box: its id, or `PARENT/ID` in a
    /// child workflow.
    step: Option<String>,
    /// The innermost cluster the box is drawn in.
    cluster: Option<usize>,
}

/// A box around a loop's body or a child workflow's steps.
#[derive(Debug)]
struct Cluster {
    /// Generated (`loop0`, `child1`).
    id: String,
    label: String,
    /// The cluster this one is drawn in.
    parent: Option<usize>,
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
    clusters: Vec<Cluster>,
}

impl Chart {
    /// The chain of clusters a box is drawn in, outermost first.
    fn clusters_of(&self, b: &Box_) -> Vec<usize> {
        let mut chain = Vec::new();
        let mut at = b.cluster;
        while let Some(c) = at {
            chain.push(c);
            at = self.clusters[c].parent;
        }
        chain.reverse();
        chain
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
