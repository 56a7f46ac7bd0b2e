//! One step, layer by layer, beside the same call made by hand (the glue:
//! tonic with generated types, or reqwest): Maestro's transport alone
//! (dynamic gRPC messages, JSON in and out), an attempt dispatched through
//! the service actor, and a whole one-step run (run and saga actors, the
//! event log, the report). Loopback services run in this process. Ends with
//! each layer timed in turns with the glue, and their ratios.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use common::glue::Glue;
use common::loopback::Loopback;
use common::paired::{self, Mode, Rounds};
use maestro::runtime::{BoundWorkflow, RunOptions, RunStatus, Runtime, ServiceHandle};
use maestro::transport::{CallRequest, CallTarget, Transport};

// The allocator of the maestro binary, for glue and Maestro alike, so that
// a ratio measures orchestration and not the allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const PAYLOAD: &str = "Quarterly revenue grew strongly in every region";
const CUSTOMER: &str = "proc_5d1c4a7f0b9e2c31";

const HTTP_STEP: &str = r#"
name: one_http_step
services:
  api_service:
    type: http
    endpoint: "${MAESTRO_WEB_HTTP}"
steps:
  - id: enrich
    service: api_service
    method: "POST /enrich"
    input:
      id: "{{ .input.id }}"
    output: enriched
"#;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Grpc,
    Http,
}

/// Everything one protocol's layers need, set up once.
struct Layers {
    protocol: Protocol,
    glue: Glue,
    transport: Mutex<Transport>,
    actor: ServiceHandle,
    bound: BoundWorkflow,
    request: CallRequest,
    input: Value,
}

impl Layers {
    fn new(protocol: Protocol, glue: &Glue, bound: BoundWorkflow) -> Self {
        let service = bound.workflow.services[0].clone();
        let (target, body, input) = match protocol {
            Protocol::Grpc => (
                CallTarget::Grpc {
                    method: "Process".into(),
                },
                json!({ "data": PAYLOAD }),
                json!({ "payload": PAYLOAD }),
            ),
            Protocol::Http => (
                CallTarget::Http {
                    verb: http::Method::POST,
                    path: "/enrich".into(),
                },
                json!({ "id": CUSTOMER }),
                json!({ "id": CUSTOMER }),
            ),
        };
        Self {
            protocol,
            glue: glue.clone(),
            transport: Mutex::new(Transport::new(&service).expect("a transport")),
            actor: bound.service(&service.name).expect("bound").clone(),
            bound,
            request: CallRequest {
                target,
                body: body.into(),
                headers: Arc::new([]),
                idempotency_key: "bench:step".into(),
                run_id: "bench".into(),
                step_id: "step".into(),
                timeout: Duration::from_secs(30),
                trace: None,
            },
            input,
        }
    }

    fn name(&self) -> &'static str {
        match self.protocol {
            Protocol::Grpc => "grpc step",
            Protocol::Http => "http step",
        }
    }

    async fn glue(&self) {
        match self.protocol {
            Protocol::Grpc => drop(self.glue.process(PAYLOAD).await.expect("glue call")),
            Protocol::Http => drop(self.glue.enrich(CUSTOMER).await.expect("glue call")),
        }
    }

    async fn transport(&self) {
        let call = self.transport.lock().unwrap().call(self.request.clone());
        call.await.expect("transport call");
    }

    async fn actor(&self) {
        let cancel = CancellationToken::new();
        self.actor
            .attempt(self.request.clone(), cancel)
            .await
            .expect("attempt through the service actor");
    }

    async fn run(&self, runtime: &Runtime) {
        let handle = runtime
            .spawn_run(&self.bound, self.input.clone(), RunOptions::default())
            .await
            .expect("run starts");
        let report = handle.finished().await.expect("a report");
        assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    }
}

fn layer_name(which: &str) -> &str {
    which.split_once(':').map_or(which, |(_, layer)| layer)
}

/// `iters` operations in a row, on the client runtime.
fn time<F: Future<Output = ()>>(
    rt: &tokio::runtime::Runtime,
    iters: u64,
    mut op: impl FnMut() -> F,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            op().await;
        }
        start.elapsed()
    })
}

fn main() {
    let loopback = Loopback::start();
    let rt = common::client_runtime();
    // The gRPC channel needs a runtime to be created in.
    let _entered = rt.enter();
    let grpc = loopback.load(
        common::ONE_GRPC_STEP,
        Path::new("benches/one_grpc_step.yaml"),
    );
    let http = loopback.load(HTTP_STEP, Path::new("benches/one_http_step.yaml"));
    let glue = Glue::new(&loopback.grpc_url(), &loopback.http_url());
    let (runtime, layers) = rt.block_on(async {
        let services = [grpc.services.clone(), http.services.clone()].concat();
        let runtime = Arc::new(Runtime::start(&services).await.expect("runtime"));
        let layers = [
            Layers::new(Protocol::Grpc, &glue, runtime.bind(grpc).unwrap()),
            Layers::new(Protocol::Http, &glue, runtime.bind(http).unwrap()),
        ];
        // Connections opened and descriptors fetched before any timing.
        for layer in &layers {
            layer.glue().await;
            layer.transport().await;
            layer.actor().await;
            layer.run(&runtime).await;
        }
        (runtime, layers)
    });

    // For a profiler: `MAESTRO_BENCH_PROFILE=grpc|http:glue|transport|actor|run
    // MAESTRO_BENCH_RUNS=N` makes only N operations of one layer.
    if let Ok(which) = std::env::var("MAESTRO_BENCH_PROFILE") {
        let n = std::env::var("MAESTRO_BENCH_RUNS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        let layer = &layers[usize::from(which.starts_with("http"))];
        match layer_name(&which) {
            "glue" => time(&rt, n, || layer.glue()),
            "transport" => time(&rt, n, || layer.transport()),
            "actor" => time(&rt, n, || layer.actor()),
            _ => time(&rt, n, || layer.run(&runtime)),
        };
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    for layer in &layers {
        let mut group = c.benchmark_group(layer.name());
        group.bench_function("glue", |b| b.iter_custom(|n| time(&rt, n, || layer.glue())));
        group.bench_function("maestro transport", |b| {
            b.iter_custom(|n| time(&rt, n, || layer.transport()))
        });
        group.bench_function("maestro service actor", |b| {
            b.iter_custom(|n| time(&rt, n, || layer.actor()))
        });
        group.bench_function("maestro one-step run", |b| {
            b.iter_custom(|n| time(&rt, n, || layer.run(&runtime)))
        });
        group.finish();
    }
    c.final_summary();

    if paired::mode() != Mode::List {
        let rounds = Rounds::new(3000, Duration::from_secs(6));
        for layer in &layers {
            let name = layer.name();
            rt.block_on(async {
                paired::timed(
                    rounds,
                    async || layer.glue().await,
                    async || layer.transport().await,
                )
                .await
                .print(&format!("{name}, transport"), 1);
                paired::timed(
                    rounds,
                    async || layer.glue().await,
                    async || layer.actor().await,
                )
                .await
                .print(&format!("{name}, service actor"), 1);
                paired::timed(
                    rounds,
                    async || layer.glue().await,
                    async || layer.run(&runtime).await,
                )
                .await
                .print(&format!("{name}, one-step run"), 1);
            });
        }
    }
    drop(layers);
    if let Ok(runtime) = Arc::try_unwrap(runtime) {
        rt.block_on(runtime.shutdown());
    }
}
