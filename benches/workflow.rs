//! A whole workflow, `examples/workflows/fan_out.yaml` (one gRPC call, then a
//! gRPC and an HTTP call in parallel, both reading the first one's answer),
//! run by Maestro and by hand-written glue against loopback services in this
//! process. Ends with the two timed in turns, and their ratio.

mod common;

use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::{Value, json};

use common::glue::Glue;
use common::loopback::Loopback;
use common::paired::{self, Mode, Rounds};
use maestro::runtime::{BoundWorkflow, RunOptions, RunStatus, Runtime};

// The allocator of the maestro binary, for glue and Maestro alike, so that
// a ratio measures orchestration and not the allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const PAYLOAD: &str = "Quarterly revenue grew strongly in every region";

async fn maestro(runtime: &Runtime, bound: &BoundWorkflow) -> Value {
    let input = json!({ "payload": PAYLOAD });
    let handle = runtime
        .spawn_run(bound, input, RunOptions::default())
        .await
        .expect("run starts");
    let report = handle.finished().await.expect("a report");
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    report.output.expect("an output")
}

async fn glue(glue: &Glue) -> Value {
    glue.fan_out(PAYLOAD).await.expect("glue fan-out")
}

fn main() {
    let loopback = Loopback::start();
    let rt = common::client_runtime();
    // The gRPC channel needs a runtime to be created in.
    let _entered = rt.enter();
    let workflow = loopback.example("fan_out.yaml");
    let by_hand = Glue::new(&loopback.grpc_url(), &loopback.http_url());
    let (runtime, bound) = rt.block_on(async {
        let runtime = Runtime::start(&workflow.services).await.expect("runtime");
        let bound = runtime.bind(workflow).expect("bound");
        // Both produce the same document, or the comparison means nothing.
        assert_eq!(maestro(&runtime, &bound).await, glue(&by_hand).await);
        (runtime, bound)
    });

    let time = |n: u64, maestro_side: bool| {
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                if maestro_side {
                    maestro(&runtime, &bound).await;
                } else {
                    glue(&by_hand).await;
                }
            }
            start.elapsed()
        })
    };
    // For a profiler: `MAESTRO_BENCH_PROFILE=maestro|glue MAESTRO_BENCH_RUNS=N`
    // makes only N runs of one side, and nothing else.
    if let Ok(side) = std::env::var("MAESTRO_BENCH_PROFILE") {
        let runs = std::env::var("MAESTRO_BENCH_RUNS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        time(runs, side == "maestro");
        rt.block_on(runtime.shutdown());
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("fan_out workflow");
    group.bench_function("glue", |b| b.iter_custom(|n| time(n, false)));
    group.bench_function("maestro", |b| b.iter_custom(|n| time(n, true)));
    group.finish();
    c.final_summary();

    if paired::mode() != Mode::List {
        let rounds = Rounds::new(3000, Duration::from_secs(8));
        rt.block_on(async {
            paired::timed(
                rounds,
                async || drop(glue(&by_hand).await),
                async || drop(maestro(&runtime, &bound).await),
            )
            .await
            .print("fan_out workflow (3 steps)", 3);
        });
    }
    rt.block_on(runtime.shutdown());
}
