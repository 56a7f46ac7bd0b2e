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
