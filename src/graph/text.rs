//! The chart as text: a Mermaid `flowchart` or a Graphviz digraph, clusters
//! as `subgraph`s holding their boxes.

use std::fmt::Write as _;

use super::{Box_, Chart, Shape, dot_escape, mermaid_escape};

/// Each box in turn, with the clusters it opens and closes: `open(depth,
/// cluster)`, `close(depth)` and `each(depth, box)`, depth counting the
/// clusters open around it.
fn walk(
    chart: &Chart,
    out: &mut String,
    open: impl Fn(&mut String, usize, usize),
    close: impl Fn(&mut String, usize),
    each: impl Fn(&mut String, usize, &Box_),
) {
    let mut stack: Vec<usize> = Vec::new();
    for b in &chart.boxes {
        let chain = chart.clusters_of(b);
        let shared = stack.iter().zip(&chain).take_while(|(a, b)| a == b).count();
        while stack.len() > shared {
            stack.pop();
            close(out, stack.len());
        }
        for &c in &chain[shared..] {
            open(out, stack.len(), c);
            stack.push(c);
        }
        each(out, stack.len(), b);
    }
    while !stack.is_empty() {
        stack.pop();
        close(out, stack.len());
    }
}

fn indent(depth: usize) -> String {
    "    ".repeat(depth + 1)
}

pub(super) fn mermaid(chart: &Chart) -> String {
    let mut out = String::new();
    // The front matter is YAML, where a JSON string is a valid scalar.
    let title = serde_json::Value::String(chart.title.clone());
    let _ = writeln!(out, "---\ntitle: {title}\n---");
    out.push_str("flowchart TD\n");
    let open = |out: &mut String, depth: usize, c: usize| {
        let cluster = &chart.clusters[c];
        let label = mermaid_escape(&cluster.label);
        let _ = writeln!(
            out,
            "{}subgraph {} [\"{label}\"]",
            indent(depth),
            cluster.id
        );
    };
    let close = |out: &mut String, depth: usize| {
        let _ = writeln!(out, "{}end", indent(depth));
    };
    walk(chart, &mut out, open, close, |out, depth, b| {
        let label = b
            .lines
            .iter()
            .map(|l| mermaid_escape(l))
            .collect::<Vec<_>>()
            .join("<br/>");
        let pad = indent(depth);
        let _ = match b.shape {
            Shape::Terminal => writeln!(out, "{pad}{}((\"{label}\"))", b.id),
            Shape::Step => writeln!(out, "{pad}{}[\"{label}\"]", b.id),
            Shape::Pause => writeln!(out, "{pad}{}([\"{label}\"])", b.id),
            Shape::Group => writeln!(out, "{pad}{}[[\"{label}\"]]", b.id),
            Shape::Fork | Shape::Join => writeln!(out, "{pad}{}{{{{\"{label}\"}}}}", b.id),
        };
    });
    for e in &chart.edges {
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

pub(super) fn dot(chart: &Chart) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&chart.title));
    out.push_str("    rankdir=TB;\n    node [shape=box, style=rounded, fontname=\"Helvetica\"];\n");
    out.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
    let open = |out: &mut String, depth: usize, c: usize| {
        let cluster = &chart.clusters[c];
        let pad = indent(depth);
        let _ = writeln!(out, "{pad}subgraph cluster_{} {{", cluster.id);
        let label = dot_escape(&cluster.label);
        let _ = writeln!(out, "{pad}    label=\"{label}\";\n{pad}    style=rounded;");
    };
    let close = |out: &mut String, depth: usize| {
        let _ = writeln!(out, "{}}}", indent(depth));
    };
    walk(chart, &mut out, open, close, |out, depth, b| {
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
            Shape::Group => ", peripheries=2",
            Shape::Fork | Shape::Join => ", shape=hexagon, style=solid",
        };
        let _ = writeln!(out, "{}{} [label=\"{label}\"{shape}];", indent(depth), b.id);
    });
    for e in &chart.edges {
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
