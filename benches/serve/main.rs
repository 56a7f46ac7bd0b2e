//! `make bench-serve`: a load driver for `maestro serve`. It starts the
//! example services (`core_grpc`, `web_http`), `maestro serve` with
//! `examples/workflows/fan_out.yaml` (one call, then two in parallel), and
//! that workflow written by hand as a server (the glue), then measures:
//! runs at concurrency 1, 16 and 64 against both, in alternating rounds
//! (runs/s, p50, p99, peak RSS); the same load in memory and with each
//! journal (SQLite, PostgreSQL when MAESTRO_BENCH_POSTGRES is set); 10,000
//! runs in flight at once against
//! services that answer after 1 s (peak RSS); the cold start of `maestro
//! execute` (to the first request, and the whole process's wall and CPU
//! time on an HTTP saga); and a journaled server killed with 10,000 runs in
//! flight and started again. Every stretch is bounded in count and time. Run as a
//! test (without `--bench`), it does all of it on a small scale.

mod cold;
#[path = "../common/mod.rs"]
mod common;
mod glue_server;
mod journal;
mod load;
mod procs;
mod recovery;
mod report;
mod scale;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use common::paired::{Mode, mode};
use load::{Load, Target};
use procs::Proc;

// The allocator of the maestro binary, for glue and Maestro alike, so that
// a ratio measures orchestration and not the allocator.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// How much of everything: the full figures, or a quick pass as a test.
struct Plan {
    /// Concurrency and runs per side at that concurrency.
    levels: [(usize, usize); 3],
    /// Each level alternates glue and Maestro this many times.
    rounds: usize,
    /// Time budget of one side at one level.
    level_budget: Duration,
    warmup: usize,
    in_flight: usize,
    delay_ms: u64,
    scale_budget: Duration,
    cold_runs: usize,
    /// Journaled variants: concurrency and runs per variant.
    journal_levels: [(usize, usize); 3],
    /// Runs in flight when a journaled server is killed, and how late the
    /// services answer meanwhile.
    recovery_runs: usize,
    recovery_delay_ms: u64,
    /// `--only load|cold|scale|journal|recovery`: one part instead of all.
    only: Option<String>,
}

impl Plan {
    fn new(mode: Mode, args: &[String]) -> Self {
        let mut plan = Plan::defaults(mode);
        let value = |flag: &str| {
            let i = args.iter().position(|a| a == flag)?;
            args.get(i + 1).cloned()
        };
        let number = |flag: &str| value(flag).and_then(|v| v.parse::<usize>().ok());
        plan.only = value("--only");
        if let Some(n) = number("--in-flight") {
            plan.in_flight = n;
        }
        if let Some(ms) = number("--delay-ms") {
            plan.delay_ms = ms as u64;
        }
        plan
    }

    fn runs(&self, part: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == part)
    }

    fn defaults(mode: Mode) -> Self {
        match mode {
            Mode::Bench => Plan {
                levels: [(1, 2000), (16, 8000), (64, 16000)],
                rounds: 4,
                level_budget: Duration::from_secs(30),
                warmup: 300,
                in_flight: 10_000,
                delay_ms: 1000,
                scale_budget: Duration::from_secs(180),
                cold_runs: 20,
                journal_levels: [(1, 1000), (16, 4000), (64, 8000)],
                recovery_runs: 10_000,
                recovery_delay_ms: 5_000,
                only: None,
            },
            Mode::Test | Mode::List => Plan {
                levels: [(1, 8), (16, 32), (64, 128)],
                rounds: 2,
                level_budget: Duration::from_secs(20),
                warmup: 4,
                in_flight: 200,
                delay_ms: 200,
                scale_budget: Duration::from_secs(60),
                cold_runs: 3,
                journal_levels: [(1, 8), (16, 32), (64, 128)],
                recovery_runs: 200,
                recovery_delay_ms: 1_000,
                only: None,
            },
        }
    }
}

/// The name a test runner sees (`--list --format terse`).
const TEST_NAME: &str = "load_driver";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--glue-server") {
        return glue_server::main(&args);
    }
    let mode = mode();
    if mode == Mode::List {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{TEST_NAME}: test");
        }
        return ExitCode::SUCCESS;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let failures = runtime.block_on(drive(Plan::new(mode, &args)));
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        for failure in failures {
            eprintln!("FAILED: {failure}");
        }
        ExitCode::FAILURE
    }
}

fn fan_out() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workflows/fan_out.yaml")
}

/// Everything asked for, in order; returns what went wrong.
async fn drive(plan: Plan) -> Vec<String> {
    let scratch = std::env::temp_dir().join(format!("maestro-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("an HTTP client");
    report::machine();
    let mut failures = Vec::new();
    if plan.runs("load") || plan.runs("cold") || plan.runs("journal") {
        let core = procs::example("core_grpc", &[]);
        let web = procs::example("web_http", &[]);
        if plan.runs("load") {
            failures.extend(throughput(&plan, &client, &scratch, &core, &web).await);
        }
        if plan.runs("journal") {
            let levels = plan.journal_levels;
            let budget = plan.level_budget;
            failures.extend(
                journal::compare(&client, &scratch, &core, &web, levels, plan.rounds, budget).await,
            );
        }
        if plan.runs("cold") {
            let http = cold::http(&scratch, plan.cold_runs).await;
            let grpc = cold::grpc(&scratch, plan.cold_runs, &core, &client).await;
            let saga = cold::saga(plan.cold_runs, &web).await;
            report::cold(&http, &grpc, &saga);
        }
    }
    if plan.runs("scale") {
        failures.extend(scale(&plan, &client, &scratch).await);
    }
    if plan.runs("recovery") {
        failures.extend(recovery(&plan, &client, &scratch).await);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    failures
}

/// Glue and Maestro at each concurrency, in alternating rounds.
async fn throughput(
    plan: &Plan,
    client: &reqwest::Client,
    scratch: &Path,
    core: &Proc,
    web: &Proc,
) -> Vec<String> {
    let mut failures = Vec::new();
    let serve = procs::serve(
        &fan_out(),
        &procs::endpoints(core, web),
        &[],
        &scratch.join("serve.log"),
    );
    let glue = procs::glue_server(core, web);
    println!(
        "maestro serve pid {}, glue server pid {}",
        serve.pid(),
        glue.pid()
    );
    let targets = [
        Target {
            name: "glue",
            url: glue.url("/run"),
        },
        Target {
            name: "maestro",
            url: serve.url("/v1/workflows/fan_out/runs?wait=true"),
        },
    ];
    for target in &targets {
        let warm = load::drive(client, target, 16, plan.warmup, plan.level_budget).await;
        if warm.failed > 0 {
            failures.push(format!(
                "{}: {} warm-up runs failed",
                target.name, warm.failed
            ));
        }
    }
    let mut rows = Vec::new();
    for (concurrency, count) in plan.levels {
        let mut sides = [Load::default(), Load::default()];
        for round in 0..plan.rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in order {
                let server = [&glue, &serve][side];
                let cpu_before = server.cpu();
                let mut load = load::drive(
                    client,
                    &targets[side],
                    concurrency,
                    count / plan.rounds,
                    plan.level_budget / plan.rounds as u32,
                )
                .await;
                load.cpu = server.cpu().saturating_sub(cpu_before);
                sides[side].add(load);
            }
            // The example services log every call; keep them small.
            forget_calls(client, &[core, web]).await;
        }
        for (side, load) in sides.iter().enumerate() {
            if load.failed > 0 || load.latencies.is_empty() {
                failures.push(format!(
                    "{} at concurrency {concurrency}: {} runs failed, {} succeeded",
                    targets[side].name,
                    load.failed,
                    load.latencies.len()
                ));
            }
        }
        let [glue_load, maestro_load] = sides;
        rows.push(report::Row {
            concurrency,
            glue: glue_load,
            maestro: maestro_load,
            glue_memory: glue.memory(),
            maestro_memory: serve.memory(),
        });
    }
    report::load_table(&rows);
    failures
}

/// Runs in flight at once against services that answer late.
async fn scale(plan: &Plan, client: &reqwest::Client, scratch: &Path) -> Vec<String> {
    let slow = ["--delay-ms".to_owned(), plan.delay_ms.to_string()];
    let core = procs::example("core_grpc", &slow);
    let web = procs::example("web_http", &slow);
    let limit = plan.in_flight.to_string();
    let limits = [
        "--max-running".to_owned(),
        limit.clone(),
        "--max-queued".to_owned(),
        limit,
    ];
    let serve = procs::serve(
        &fan_out(),
        &procs::endpoints(&core, &web),
        &limits,
        &scratch.join("serve-scale.log"),
    );
    println!("maestro serve pid {}", serve.pid());
    let mut failures = Vec::new();
    let maestro = scale::run(
        client,
        scale::Server::Maestro,
        &serve,
        plan.in_flight,
        plan.scale_budget,
    )
    .await;
    drop(serve);
    report::scale("maestro serve", &maestro, plan.delay_ms);
    // The glue server, on the same services, after maestro serve has gone.
    let glue = procs::glue_server(&core, &web);
    println!("glue server pid {}", glue.pid());
    let by_hand = scale::run(
        client,
        scale::Server::Glue,
        &glue,
        plan.in_flight,
        plan.scale_budget,
    )
    .await;
    report::scale("glue server", &by_hand, plan.delay_ms);
    println!(
        "scale: peak RSS maestro/glue = {:.2}",
        maestro.end.peak_mb() / by_hand.end.peak_mb().max(0.001)
    );
    for (name, scale) in [("maestro serve", &maestro), ("glue server", &by_hand)] {
        if !scale.drained || scale.succeeded != plan.in_flight as u64 {
            failures.push(format!(
                "scale, {name}: {} of {} runs succeeded (drained: {})",
                scale.succeeded, plan.in_flight, scale.drained
            ));
        }
    }
    failures
}

/// Runs in flight in a journaled server killed with -9, and a new one.
async fn recovery(plan: &Plan, client: &reqwest::Client, scratch: &Path) -> Vec<String> {
    let slow = ["--delay-ms".to_owned(), plan.recovery_delay_ms.to_string()];
    let core = procs::example("core_grpc", &slow);
    let web = procs::example("web_http", &slow);
    let recovered = recovery::run(
        client,
        &fan_out(),
        &procs::endpoints(&core, &web),
        &scratch.join("state-recovery"),
        plan.recovery_runs,
        plan.scale_budget,
        &scratch.join("serve-recovery.log"),
    )
    .await;
    recovery::report(&recovered, plan.recovery_delay_ms);
    if recovered.succeeded != plan.recovery_runs as u64 {
        return vec![format!(
            "recovery: {} of {} runs succeeded after the restart",
            recovered.succeeded, plan.recovery_runs
        )];
    }
    Vec::new()
}

async fn forget_calls(client: &reqwest::Client, processes: &[&Proc]) {
    for process in processes {
        let _ = client.delete(process.admin_url("/calls")).send().await;
    }
}
