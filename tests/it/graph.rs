//! `maestro graph` on a small workflow with every feature a chart shows:
//! a parallel group, a condition and compensations, in both formats.

use std::path::PathBuf;
use std::process::{Command, Output};

const WORKFLOW: &str = r#"name: order "express"
services:
  shop:
    type: http
    endpoint: "http://127.0.0.1:9"
  ledger:
    type: grpc
    endpoint: "127.0.0.1:9"
steps:
  - id: reserve
    service: shop
    method: "POST /reservations"
    output: reservation
    compensate:
      method: "DELETE /reservations/{{ .reservation.id }}"
  - parallel:
      - id: charge
        service: ledger
        method: Charge
        output: payment
        compensate:
          method: Refund
      - id: notify
        service: shop
        method: "POST /notifications"
  - id: ship
    when: "{{ .payment.status == \"ok\" }}"
    service: shop
    method: "POST /shipments"
"#;

/// The workflow in a directory of its own per test, since tests run at
/// once; removed when the test ends.
struct Fixture {
    dir: PathBuf,
    file: PathBuf,
}

impl Fixture {
    fn to_str(&self) -> Option<&str> {
        self.file.to_str()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(test: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("maestro-graph-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{test}.yaml"));
    std::fs::write(&file, WORKFLOW).expect("write");
    Fixture { dir, file }
}

fn graph(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("graph")
        .args(args)
        .output()
        .expect("maestro runs")
}

#[test]
fn mermaid_is_the_default() {
    let file = fixture("mermaid");
    let out = graph(&[file.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = r#"---
title: "order \"express\""
---
flowchart TD
    start(("start"))
    s0["reserve<br/>shop: POST /reservations"]
    fork1{{"parallel"}}
    s1["charge<br/>ledger: Charge"]
    s2["notify<br/>shop: POST /notifications"]
    join1{{"join"}}
    s3["ship<br/>shop: POST /shipments"]
    done(("end"))
    start --> s0
    fork1 -.->|"undo: DELETE /reservations/{{ .reservation.id }}"| s0
    s0 --> fork1
    fork1 --> s1
    fork1 --> s2
    s1 --> join1
    join1 -.->|"undo: Refund"| s1
    s2 --> join1
    join1 -->|"{{ .payment.status == #quot;ok#quot; }}"| s3
    s3 --> done
"#;
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn dot_on_request() {
    let file = fixture("dot");
    let out = graph(&[file.to_str().expect("utf-8"), "--format", "dot"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = r#"digraph "order \"express\"" {
    rankdir=TB;
    node [shape=box, style=rounded, fontname="Helvetica"];
    edge [fontname="Helvetica", fontsize=10];
    start [label="start", shape=circle];
    s0 [label="reserve\nshop: POST /reservations"];
    fork1 [label="parallel", shape=hexagon, style=solid];
    s1 [label="charge\nledger: Charge"];
    s2 [label="notify\nshop: POST /notifications"];
    join1 [label="join", shape=hexagon, style=solid];
    s3 [label="ship\nshop: POST /shipments"];
    done [label="end", shape=circle];
    start -> s0;
    fork1 -> s0 [label="undo: DELETE /reservations/{{ .reservation.id }}", style=dashed, constraint=false];
    s0 -> fork1;
    fork1 -> s1;
    fork1 -> s2;
    s1 -> join1;
    join1 -> s1 [label="undo: Refund", style=dashed, constraint=false];
    s2 -> join1;
    join1 -> s3 [label="{{ .payment.status == \"ok\" }}"];
    s3 -> done;
}
"#;
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn an_invalid_workflow_draws_nothing() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = graph(&[&format!("{root}/tests/invalid/unknown_field.yaml")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `retires`"));
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let file = fixture("usage");
    let out = graph(&[file.to_str().expect("utf-8"), "--format", "png"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_child_workflow_is_a_cluster_named_by_its_file() {
    let dir = std::env::temp_dir().join(format!("maestro-graph-{}-child", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let fixture = Fixture {
        file: dir.join("checkout.yaml"),
        dir,
    };
    std::fs::write(
        &fixture.file,
        "name: checkout\nsteps:\n  - id: pay\n    workflow: payment.yaml\n    input: {amount: 3}\n",
    )
    .expect("write");
    std::fs::write(
        fixture.dir.join("payment.yaml"),
        "name: payment\nservices:\n  pay: {type: http, endpoint: \"http://127.0.0.1:9\"}\nsteps:\n  \
         - id: charge\n    service: pay\n    method: \"POST /charge\"\n    \
         compensate: {method: \"POST /refund\"}\n",
    )
    .expect("write");
    let out = graph(&[fixture.to_str().expect("utf-8")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = r#"---
title: "checkout"
---
flowchart TD
    start(("start"))
    subgraph child0 ["payment.yaml"]
        s0[["pay<br/>workflow payment"]]
        s1["charge<br/>pay: POST /charge"]
    end
    done(("end"))
    start --> s0
    s0 --> s1
    s1 --> done
    done -.->|"undo: POST /refund"| s1
"#;
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}
