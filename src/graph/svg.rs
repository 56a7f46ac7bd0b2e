//! The chart as SVG: each box in a row by its depth (the longest path from
//! the start), rows centred, parallel branches side by side; compensations
//! dashed, curving back on the right; a frame around each cluster. Every
//! text is escaped.

use std::fmt::Write as _;

use crate::escape;

use super::{Chart, Shape};

const SLOT_W: i64 = 240;
const BOX_W: i64 = 210;
const ROW_H: i64 = 90;
const BOX_H: i64 = 46;
const MARGIN: i64 = 30;
/// Characters of a line drawn; the whole line is in the box's tooltip.
const LINE_CHARS: usize = 30;
/// Room between a cluster's frame and what it holds, per level of
/// clusters inside it, and above for its label.
const CLUSTER_PAD: i64 = 10;
const CLUSTER_LABEL_H: i64 = 14;

/// Where each box sits: its row and its place in the row.
fn layout(chart: &Chart) -> Vec<(i64, i64)> {
    let index = |id: &str| chart.boxes.iter().position(|b| b.id == id);
    let mut depth = vec![0i64; chart.boxes.len()];
    // Longest path over the forward edges: at most one pass per box.
    for _ in 0..chart.boxes.len() {
        let mut changed = false;
        for e in chart.edges.iter().filter(|e| !e.undo) {
            if let (Some(from), Some(to)) = (index(&e.from), index(&e.to))
                && depth[to] < depth[from] + 1
            {
                depth[to] = depth[from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut taken = std::collections::HashMap::<i64, i64>::new();
    depth
        .iter()
        .map(|row| {
            let slot = taken.entry(*row).or_default();
            *slot += 1;
            (*row, *slot - 1)
        })
        .collect()
}

/// The centre of each box, in pixels, and the image's width and height.
fn positions(chart: &Chart) -> (Vec<(i64, i64)>, i64, i64) {
    let places = layout(chart);
    let rows = places.iter().map(|p| p.0).max().unwrap_or(0) + 1;
    let width_of = |row: i64| places.iter().filter(|p| p.0 == row).count() as i64;
    let widest = (0..rows).map(width_of).max().unwrap_or(1);
    let width = widest * SLOT_W + 2 * MARGIN;
    let centres = places
        .iter()
        .map(|&(row, slot)| {
            let left = (width - width_of(row) * SLOT_W) / 2;
            (
                left + slot * SLOT_W + SLOT_W / 2,
                MARGIN + row * ROW_H + BOX_H / 2,
            )
        })
        .collect();
    (centres, width, rows * ROW_H + MARGIN)
}

fn clip(text: &str) -> String {
    clip_to(text, LINE_CHARS)
}

fn clip_to(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(chars - 1).collect();
    format!("{kept}…")
}

/// Half the width and height of a box of `shape`.
fn half(shape: Shape) -> (i64, i64) {
    match shape {
        Shape::Step | Shape::Pause | Shape::Group => (BOX_W / 2, BOX_H / 2),
        _ => (45, 14),
    }
}

/// Each cluster's frame, around the boxes it holds at any depth, with
/// more room for each level of clusters inside it.
fn frames(chart: &Chart, centres: &[(i64, i64)], out: &mut String) {
    let chains: Vec<Vec<usize>> = chart.boxes.iter().map(|b| chart.clusters_of(b)).collect();
    for (c, cluster) in chart.clusters.iter().enumerate() {
        let mut bounds: Option<(i64, i64, i64, i64)> = None;
        let mut levels = 0;
        for ((b, chain), &(x, y)) in chart.boxes.iter().zip(&chains).zip(centres) {
            let Some(at) = chain.iter().position(|&k| k == c) else {
                continue;
            };
            levels = levels.max(chain.len() - 1 - at);
            let (w, h) = half(b.shape);
            let (l, t, r, bt) = bounds.unwrap_or((x - w, y - h, x + w, y + h));
            bounds = Some((l.min(x - w), t.min(y - h), r.max(x + w), bt.max(y + h)));
        }
        let Some((left, top, right, bottom)) = bounds else {
            continue;
        };
        let pad = CLUSTER_PAD * (levels as i64 + 1);
        let (x, y) = (left - pad, top - pad - CLUSTER_LABEL_H);
        let (w, h) = (
            right - left + 2 * pad,
            bottom - top + 2 * pad + CLUSTER_LABEL_H,
        );
        let label = escape::html(&cluster.label);
        let _ = write!(
            out,
            "<g class=\"cluster\"><title>{label}</title><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" \
             height=\"{h}\" rx=\"8\" fill=\"none\"/><text class=\"cluster-label\" x=\"{}\" \
             y=\"{}\">{}</text></g>",
            x + 8,
            y + CLUSTER_LABEL_H,
            escape::html(&clip_to(&cluster.label, 2 * LINE_CHARS)),
        );
    }
}

/// Draw the chart.
pub(super) fn draw(chart: &Chart) -> String {
    let (centres, width, height) = positions(chart);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" viewBox=\"0 0 {width} {height}\" \
         width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{}\">",
        escape::html(&chart.title)
    );
    out.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>",
    );
    frames(chart, &centres, &mut out);
    let at = |id: &str| {
        let i = chart.boxes.iter().position(|b| b.id == id)?;
        Some((centres[i], chart.boxes[i].shape))
    };
    for e in &chart.edges {
        let (Some(((x1, y1), _)), Some(((x2, y2), _))) = (at(&e.from), at(&e.to)) else {
            continue;
        };
        edge(&mut out, (x1, y1), (x2, y2), e.undo, e.label.as_deref());
    }
    for (b, &(x, y)) in chart.boxes.iter().zip(&centres) {
        node(&mut out, b, x, y);
    }
    out.push_str("</svg>");
    out
}

fn edge(
    out: &mut String,
    (x1, y1): (i64, i64),
    (x2, y2): (i64, i64),
    undo: bool,
    label: Option<&str>,
) {
    let title = label
        .map(|l| format!("<title>{}</title>", escape::html(l)))
        .unwrap_or_default();
    if undo {
        // Back to the step it undoes, curving out to the right.
        let bend = x1.max(x2) + BOX_W / 2 + 20;
        let _ = write!(
            out,
            "<path class=\"edge undo\" d=\"M{} {y1} C{bend} {y1} {bend} {y2} {} {y2}\" \
             marker-end=\"url(#arrow)\">{title}</path>",
            x1 + BOX_W / 4,
            x2 + BOX_W / 2,
        );
        return;
    }
    let (top, bottom) = (y1 + BOX_H / 2, y2 - BOX_H / 2);
    let _ = write!(
        out,
        "<path class=\"edge\" d=\"M{x1} {top} L{x2} {bottom}\" marker-end=\"url(#arrow)\">{title}</path>"
    );
    if let Some(label) = label {
        let _ = write!(
            out,
            "<text class=\"edge-label\" x=\"{}\" y=\"{}\">{}</text>",
            (x1 + x2) / 2 + 6,
            (top + bottom) / 2,
            escape::html(&clip(label))
        );
    }
}

fn node(out: &mut String, b: &super::Box_, x: i64, y: i64) {
    let full = b.lines.join("\n");
    let class = match b.shape {
        Shape::Terminal => "terminal",
        Shape::Step => "step",
        // A step too, for a page colouring steps by outcome.
        Shape::Pause => "step pause",
        Shape::Group => "step group",
        Shape::Fork | Shape::Join => "fork",
    };
    let step = b
        .step
        .as_ref()
        .map(|s| format!(" data-step=\"{}\"", escape::html(s)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<g class=\"node {class}\"{step}><title>{}</title>",
        escape::html(&full)
    );
    // A pause is a pill with a dashed border, a group's head has a double
    // one: drawn so without a stylesheet.
    let (w, h, rx, border) = match b.shape {
        Shape::Step => (BOX_W, BOX_H, 6, ""),
        Shape::Pause => (BOX_W, BOX_H, BOX_H / 2, " stroke-dasharray=\"6 4\""),
        Shape::Group => (BOX_W, BOX_H, 6, " stroke-width=\"3\""),
        _ => (90, 28, 14, ""),
    };
    let _ = write!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{w}\" height=\"{h}\" rx=\"{rx}\"{border}/>",
        x - w / 2,
        y - h / 2,
    );
    let count = b.lines.len() as i64;
    for (i, line) in b.lines.iter().enumerate() {
        let dy = (i as i64 * 2 - (count - 1)) * 8 + 4;
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{}\" class=\"line{i}\">{}</text>",
            y + dy,
            escape::html(&clip(line))
        );
    }
    out.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use crate::workflow::load_str;

    #[test]
    fn steps_are_drawn_in_rows_with_their_ids_escaped() {
        let yaml = r#"
name: "a<b>"
services:
  s: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: first
    service: s
    method: "POST /x"
    compensate: {method: "DELETE /x"}
  - parallel:
      - {id: left, service: s, method: "POST /l"}
      - {id: right, service: s, method: "POST /r?q=<script>"}
"#;
        let workflow = load_str(yaml, "t.yaml", &|_| None).expect("valid");
        let svg = super::super::svg(&workflow);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("data-step=\"first\""));
        assert!(svg.contains("data-step=\"left\"") && svg.contains("data-step=\"right\""));
        assert!(
            svg.contains("class=\"edge undo\""),
            "the compensation is drawn"
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(svg.contains("aria-label=\"a&lt;b&gt;\""), "{svg}");
        assert!(!svg.contains("pause"), "no step pauses: {svg}");
    }

    #[test]
    fn sleep_and_wait_steps_are_dashed_pills_apart_from_calls() {
        let yaml = r#"
name: paused
services:
  s: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - {id: call, service: s, method: "POST /x"}
  - {id: approval, wait: approve, timeout: 1h}
  - {id: cool_off, sleep: 10m}
"#;
        let workflow = load_str(yaml, "t.yaml", &|_| None).expect("valid");
        let svg = super::super::svg(&workflow);
        let node = |step: &str| {
            let start = svg
                .find(&format!("data-step=\"{step}\""))
                .unwrap_or_else(|| panic!("{step} drawn: {svg}"));
            let open = svg[..start].rfind("<g ").expect("its group");
            let end = start + svg[start..].find("</g>").expect("closed");
            svg[open..end].to_string()
        };
        for step in ["approval", "cool_off"] {
            let g = node(step);
            assert!(g.starts_with("<g class=\"node step pause\""), "{g}");
            assert!(g.contains("rx=\"23\" stroke-dasharray=\"6 4\""), "{g}");
        }
        assert!(node("approval").contains(">wait approve</text>"));
        assert!(node("cool_off").contains(">sleep 10m</text>"));
        let call = node("call");
        assert!(call.starts_with("<g class=\"node step\""), "{call}");
        assert!(!call.contains("stroke-dasharray"), "{call}");
    }
}
