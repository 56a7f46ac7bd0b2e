//! The charts drawn from one workflow, and their escaping.

use super::*;
use crate::workflow::load_str;

const WORKFLOW: &str = r#"
name: "say \"hi\""
services:
  fast:
    type: grpc
    endpoint: "localhost:50051"
  api:
    type: http
    endpoint: "http://localhost:3000"
steps:
  - id: first
    service: fast
    method: Process
    output: processed
    compensate:
      method: Undo
  - parallel:
      - id: left
        service: fast
        method: Analyze
        output: analysis
      - id: right
        service: api
        method: "POST /enrich"
        output: enriched
        compensate:
          method: "DELETE /enrich/{{ .enriched.id }}"
  - id: last
    when: "{{ .analysis.confidence > 0.8 && .analysis.label == \"ok\" }}"
    service: api
    method: "POST /submit"
"#;

fn chart() -> Workflow {
    load_str(WORKFLOW, "graph.yaml", &|_| None).expect("valid workflow")
}

#[test]
fn escapes_for_mermaid() {
    assert_eq!(
        mermaid_escape(r#"a "b" <c> & #d | `e`"#),
        "a #quot;b#quot; #lt;c#gt; #amp; #35;d #124; #96;e#96;"
    );
}

#[test]
fn escapes_for_dot() {
    assert_eq!(dot_escape(r#"say "hi" \n"#), r#"say \"hi\" \\n"#);
}

#[test]
fn mermaid_shows_forks_conditions_and_compensations() {
    let text = render(&chart(), Format::Mermaid);
    assert!(
        text.starts_with("---\ntitle: \"say \\\"hi\\\"\"\n---\nflowchart TD\n"),
        "{text}"
    );
    assert!(text.contains("    start((\"start\"))\n"), "{text}");
    assert!(
        text.contains("    s0[\"first<br/>fast: Process\"]\n"),
        "{text}"
    );
    assert!(text.contains("    fork1{{\"parallel\"}}\n"), "{text}");
    assert!(text.contains("    s0 --> fork1\n"), "{text}");
    assert!(
        text.contains("    fork1 --> s1\n    fork1 --> s2\n"),
        "{text}"
    );
    assert!(text.contains("    s1 --> join1\n"), "{text}");
    assert!(
        text.contains("    fork1 -.->|\"undo: Undo\"| s0\n"),
        "{text}"
    );
    assert!(
        text.contains("    join1 -.->|\"undo: DELETE /enrich/{{ .enriched.id }}\"| s2\n"),
        "{text}"
    );
    assert!(
            text.contains("    join1 -->|\"{{ .analysis.confidence #gt; 0.8 #amp;#amp; .analysis.label == #quot;ok#quot; }}\"| s3\n"),
            "{text}"
        );
    assert!(text.contains("    s3 --> done\n"), "{text}");
}

#[test]
fn dot_shows_the_same_chart() {
    let text = render(&chart(), Format::Dot);
    assert!(text.starts_with("digraph \"say \\\"hi\\\"\" {\n"), "{text}");
    assert!(
        text.contains("    s0 [label=\"first\\nfast: Process\"];\n"),
        "{text}"
    );
    assert!(
        text.contains("    fork1 [label=\"parallel\", shape=hexagon, style=solid];\n"),
        "{text}"
    );
    assert!(
        text.contains("    fork1 -> s0 [label=\"undo: Undo\", style=dashed, constraint=false];\n"),
        "{text}"
    );
    assert!(
            text.contains("    join1 -> s3 [label=\"{{ .analysis.confidence > 0.8 && .analysis.label == \\\"ok\\\" }}\"];\n"),
            "{text}"
        );
    assert!(text.contains("    s3 -> done;\n"), "{text}");
    assert!(text.trim_end().ends_with('}'));
}

#[test]
fn pauses_have_a_shape_of_their_own_in_mermaid_and_dot() {
    let yaml = r#"
name: paused
steps:
  - {id: approval, wait: approve}
  - {id: cool_off, sleep: 1s}
"#;
    let workflow = load_str(yaml, "p.yaml", &|_| None).expect("valid");
    let mermaid = render(&workflow, Format::Mermaid);
    assert!(
        mermaid.contains("s0([\"approval<br/>wait approve\"])"),
        "{mermaid}"
    );
    assert!(mermaid.contains("s1([\"cool_off<br/>sleep 1s\"])"));
    let dot = render(&workflow, Format::Dot);
    assert!(
        dot.contains("s0 [label=\"approval\\nwait approve\", style=\"rounded,dashed\"];"),
        "{dot}"
    );
}

const LOOP: &str = r#"
name: bulk
services:
  inv: {type: http, endpoint: "http://127.0.0.1:9"}
steps:
  - id: reserve_all
    foreach: "{{ .input.items }}"
    concurrency: 4
    steps:
      - id: reserve
        service: inv
        method: "POST /reserve"
        output: reservation
        compensate: {method: "POST /release"}
      - parallel:
          - id: lines
            foreach: "{{ .item.lines }}"
            as: line
            steps:
              - {id: pick, service: inv, method: "POST /pick"}
          - {id: note, service: inv, method: "POST /note"}
    output: reservations
  - {id: confirm, service: inv, method: "POST /confirm"}
"#;

#[test]
fn a_loop_is_a_cluster_around_its_body_in_mermaid() {
    let workflow = load_str(LOOP, "l.yaml", &|_| None).expect("valid");
    let text = render(&workflow, Format::Mermaid);
    let expected_boxes = "    start((\"start\"))
    subgraph loop0 [\"foreach .input.items (×4 at once)\"]
        s0[[\"reserve_all<br/>each .item\"]]
        s1[\"reserve<br/>inv: POST /reserve\"]
        loop0_fork1{{\"parallel\"}}
        subgraph loop1 [\"foreach .item.lines (one at a time)\"]
            s2[[\"lines<br/>each .line\"]]
            s3[\"pick<br/>inv: POST /pick\"]
        end
        s4[\"note<br/>inv: POST /note\"]
        loop0_join1{{\"join\"}}
    end
    s5[\"confirm<br/>inv: POST /confirm\"]
    done((\"end\"))
";
    assert!(text.contains(expected_boxes), "{text}");
    let expected_edges = "    start --> s0
    s0 --> s1
    loop0_fork1 -.->|\"undo: POST /release\"| s1
    s1 --> loop0_fork1
    loop0_fork1 --> s2
    s2 --> s3
    loop0_fork1 --> s4
    s3 --> loop0_join1
    s4 --> loop0_join1
    loop0_join1 --> s5
    s5 --> done
";
    assert!(text.ends_with(expected_edges), "{text}");
}

#[test]
fn a_loop_is_a_cluster_in_dot_and_a_framed_group_in_svg() {
    let workflow = load_str(LOOP, "l.yaml", &|_| None).expect("valid");
    let dot = render(&workflow, Format::Dot);
    assert!(
        dot.contains(
            "    subgraph cluster_loop0 {\n        label=\"foreach .input.items (×4 at once)\";\n        \
             style=rounded;\n        s0 [label=\"reserve_all\\neach .item\", peripheries=2];\n"
        ),
        "{dot}"
    );
    assert!(
        dot.contains("            s3 [label=\"pick\\ninv: POST /pick\"];\n        }\n"),
        "{dot}"
    );
    let svg = svg(&workflow);
    assert_eq!(svg.matches("<g class=\"cluster\">").count(), 2, "{svg}");
    assert!(
        svg.contains("<text class=\"cluster-label\"")
            && svg.contains(">foreach .item.lines (one at a time)</text>"),
        "{svg}"
    );
    assert!(
        svg.contains("<g class=\"node step group\" data-step=\"reserve_all\">"),
        "{svg}"
    );
    assert!(svg.contains("data-step=\"pick\""), "{svg}");
}

#[test]
fn a_child_workflows_steps_are_named_as_reports_name_them() {
    let dir = std::env::temp_dir().join(format!("maestro-graph-child-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = "name: payment\nservices:\n  pay: {type: http, endpoint: \"http://127.0.0.1:9\"}\n\
                 steps:\n  - {id: charge, service: pay, method: \"POST /charge\"}\n";
    std::fs::write(dir.join("payment.yaml"), child).unwrap();
    let parent = "name: checkout\nsteps:\n  - {id: pay, workflow: payment.yaml}\n";
    let loaded = load_str(parent, dir.join("checkout.yaml"), &|_| None);
    let _ = std::fs::remove_dir_all(&dir);
    let svg = svg(&loaded.expect("valid"));
    assert!(svg.contains("data-step=\"pay\""), "{svg}");
    assert!(svg.contains("data-step=\"pay/charge\""), "{svg}");
    assert!(svg.contains(">payment.yaml</text>"), "{svg}");
}
