//! A `foreach` of 1,000 elements against a straight line of ten steps, each
//! one HTTP call to a loopback service in this process, each beside the same
//! calls made by hand-written glue in the same run: what Maestro adds per
//! element of a loop, and per step of a line. The two should match.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::glue::Glue;
use common::loopback::Loopback;
use common::paired::{self, Mode, Pairs, Rounds};
use maestro::runtime::{BoundWorkflow, RunOptions, RunStatus, Runtime};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ELEMENTS: usize = 1_000;
const LINE: usize = 10;

const SERVICES: &str = r#"
services:
  web:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
"#;

fn line_workflow() -> String {
    let mut text = format!("name: line\n{SERVICES}steps:\n");
    for i in 0..LINE {
        text.push_str(&format!(
            "  - {{id: s{i}, service: web, method: \"POST /enrich\", input: {{id: \"{{{{ .input.ids[{i}] }}}}\"}}, output: o{i}}}\n"
        ));
    }
    text
}

fn loop_workflow() -> String {
    format!(
        "name: each\n{SERVICES}steps:\n  - id: all\n    foreach: \"{{{{ .input.ids }}}}\"\n    steps:\n      - {{id: one, service: web, method: \"POST /enrich\", input: {{id: \"{{{{ .item }}}}\"}}, output: enriched}}\n    output: all\n"
    )
}

fn ids(n: usize) -> Value {
    json!({ "ids": (0..n).map(|i| format!("doc-{i}")).collect::<Vec<_>>() })
}

async fn maestro(runtime: &Runtime, bound: &BoundWorkflow, input: &Value) {
    let handle = runtime
        .spawn_run(bound, input.clone(), RunOptions::default())
        .await
        .expect("run starts");
    let report = handle.finished().await.expect("a report");
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
}

async fn glue(glue: &Glue, n: usize) {
    for i in 0..n {
        glue.enrich(&format!("doc-{i}")).await.expect("glue enrich");
    }
}

fn main() {
    if paired::mode() == Mode::List {
        return;
    }
    let loopback = Loopback::start();
    let rt = common::client_runtime();
    let _entered = rt.enter();
    let by_hand = Glue::new(&loopback.grpc_url(), &loopback.http_url());
    let line = loopback.load(&line_workflow(), "line.yaml".as_ref());
    let each = loopback.load(&loop_workflow(), "each.yaml".as_ref());
    let (line_input, each_input) = (ids(LINE), ids(ELEMENTS));
    rt.block_on(async {
        let runtime = Runtime::start(&line.services).await.expect("runtime");
        let line = runtime.bind(line).expect("bound");
        let each = runtime.bind(each).expect("bound");
        let straight: Pairs = paired::timed(
            Rounds::new(2000, Duration::from_secs(8)),
            async || glue(&by_hand, LINE).await,
            async || maestro(&runtime, &line, &line_input).await,
        )
        .await;
        straight.print("straight line (10 steps)", LINE);
        let looped: Pairs = paired::timed(
            Rounds::new(40, Duration::from_secs(15)),
            async || glue(&by_hand, ELEMENTS).await,
            async || maestro(&runtime, &each, &each_input).await,
        )
        .await;
        looped.print("foreach of 1,000 elements", ELEMENTS);
        let per_step = straight.overhead_us() / LINE as f64;
        let per_element = looped.overhead_us() / ELEMENTS as f64;
        println!(
            "foreach: {per_element:.1} µs per element over the glue, a straight line {per_step:.1} µs per step: ratio {:.2}",
            per_element / per_step.max(f64::MIN_POSITIVE)
        );
        runtime.shutdown().await;
    });
}
