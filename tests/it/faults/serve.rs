//! Row 10: `maestro serve` with a thousand runs in flight while service
//! actors are killed at random. Every run reaches a final state, each
//! kill is one restart, and the services saw no key take effect twice.
//! Also the helpers rows 10 and 11 share to drive a real server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use maestro::workflow::Workflow;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use super::{Ending, Tally, scale};
use crate::serve::process::{ServeProcess, order_input};
use crate::support::{ServiceProcess, example_file};

/// Requests to the server at once: its clients, not its runs, are bounded.
const CLIENTS: usize = 64;

/// An example workflow, loaded as the server loads it.
pub fn example_workflow(file: &str) -> Arc<Workflow> {
    let path = example_file(file);
    Arc::new(maestro::workflow::load_file(&path).unwrap_or_else(|d| panic!("{d}")))
}

/// The `i`th order: its own id, one item from a SKU with stock to spare.
pub fn order(i: usize) -> Value {
    const SKUS: [&str; 3] = ["SKU-KEYBOARD", "SKU-MOUSE", "SKU-HEADSET"];
    let mut order = order_input();
    order["order_id"] = json!(format!("ord_{i:06}"));
    order["items"] = json!([{"sku": SKUS[i % 3], "quantity": 1, "unit_price_cents": 2500}]);
    order
}

/// How a run the server accepted ended: its report once final, stuck
/// while queued or running, lost when the server no longer knows it.
pub async fn ending(server: &ServeProcess, id: &str) -> Ending {
    let (status, body) = server.get(&format!("/v1/runs/{id}")).await;
    match (status, body["status"].as_str()) {
        (200, Some("queued" | "running")) => Ending::Stuck { run_id: id.into() },
        (200, _) => Ending::Final {
            report: body,
            events: None,
        },
        _ => Ending::Lost {
            run_id: id.into(),
            why: format!("{status}: {body}"),
        },
    }
}

/// Submits every (workflow, input), [`CLIENTS`] at a time; each must be accepted.
async fn submit_all(server: &ServeProcess, jobs: Vec<(String, Value)>) -> Vec<String> {
    let slots = Arc::new(Semaphore::new(CLIENTS));
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|(workflow, input)| {
            let (client, slots) = (server.client.clone(), slots.clone());
            let url = server.url(&format!("/v1/workflows/{workflow}/runs"));
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await;
                let response = client
                    .post(url)
                    .json(&json!({ "input": input }))
                    .send()
                    .await;
                let response = response.expect("the server answers");
                assert_eq!(response.status(), 202);
                let body: Value = response.json().await.expect("JSON");
                body["run_id"].as_str().expect("a run id").to_string()
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(tasks.len());
    for task in tasks {
        ids.push(task.await.expect("submitted"));
    }
    ids
}

/// Waits, at most `bound`, until the server has no run queued or running;
/// returns the most runs seen running at once.
async fn wait_idle(server: &ServeProcess, bound: Duration) -> usize {
    let deadline = Instant::now() + bound;
    let mut peak = 0;
    loop {
        let (_, running) = server.get("/v1/runs?status=running&limit=1000").await;
        let (_, queued) = server.get("/v1/runs?status=queued&limit=1").await;
        let count = |list: &Value| list["runs"].as_array().map_or(0, Vec::len);
        peak = peak.max(count(&running));
        if count(&running) + count(&queued) == 0 || Instant::now() >= deadline {
            return peak;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small xorshift generator: which service dies and when is random,
/// and the seed printed so a failure can be replayed (`MAESTRO_FAULT_SEED`).
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        let seed = std::env::var("MAESTRO_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
                now.map_or(1, |d| d.as_nanos() as u64) | 1
            });
        println!("  seed: MAESTRO_FAULT_SEED={seed}");
        Dice(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Waits (at most 5 s) until the server counts `restarts` of `service`.
async fn wait_for_restarts(server: &ServeProcess, service: &str, restarts: u32) {
    for _ in 0..500 {
        let (_, listed) = server.get("/v1/services").await;
        let counted = listed["services"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == service))
            .and_then(|s| s["restarts"].as_u64());
        if counted >= Some(u64::from(restarts)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the kill of `{service}` was never counted");
}

/// Kills a random service's actor every 10–60 ms until `stop` or `max`
/// kills; returns the kills the server accepted, per service.
async fn kill_at_random(
    server: &ServeProcess,
    services: &[String],
    stop: &AtomicBool,
    max: usize,
) -> BTreeMap<String, u32> {
    let mut dice = Dice::new();
    let mut kills = BTreeMap::new();
    for _ in 0..max {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let service = &services[dice.below(services.len() as u64) as usize];
        let (status, body) = server
            .post(&format!("/v1/admin/services/{service}/kill"), &json!({}))
            .await;
        // 409: that actor is already down, restarting.
        assert!(status == 202 || status == 409, "{status} {body}");
        if status == 202 {
            let killed = kills.entry(service.clone()).or_default();
            *killed += 1;
            // The next kill must find this actor dead, not kill it twice.
            wait_for_restarts(server, service, *killed).await;
        }
        tokio::time::sleep(Duration::from_millis(10 + dice.below(50))).await;
    }
    kills
}

/// Counts of messages, each cut to its words without digits (durations,
/// ids), so that messages of one kind fall together.
fn causes<'a>(messages: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for message in messages {
        let words: Vec<&str> = message
            .trim_matches('"')
            .split_whitespace()
            .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
            .collect();
        *out.entry(words.join(" ")).or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_runs_end_while_service_actors_are_killed_at_random() {
    let fleet = [
        ServiceProcess::spawn("core_grpc", &[]),
        ServiceProcess::spawn("commerce_grpc", &[]),
    ];
    let files = ["loan_processing.yaml", "order_checkout.yaml"];
    let workflows: Vec<Arc<Workflow>> = files.iter().map(|f| example_workflow(f)).collect();
    let mut args = vec!["--enable-fault-injection", "--workflows"];
    let paths: Vec<String> = files
        .iter()
        .map(|f| format!("examples/workflows/{f}"))
        .collect();
    args.extend(paths.iter().map(String::as_str));
    let server = ServeProcess::try_spawn(&fleet, &args).expect("maestro serve starts");
    let services: Vec<String> = workflows
        .iter()
        .flat_map(|w| w.services.iter().map(|s| s.name.clone()))
        .collect();

    let n = scale(1000, 3000);
    let jobs: Vec<(String, Value)> = (0..n)
        .map(|i| match i % 2 {
            0 => ("loan_processing".to_string(), json!({})),
            _ => ("order_checkout".to_string(), order(i)),
        })
        .collect();
    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let ((ids, peak), kills) = tokio::join!(
        async {
            let ids = submit_all(&server, jobs).await;
            let peak = wait_idle(&server, Duration::from_secs(scale(120, 600) as u64)).await;
            stop.store(true, Ordering::SeqCst);
            (ids, peak)
        },
        kill_at_random(&server, &services, &stop, scale(40, 400)),
    );
    let elapsed = started.elapsed();

    let mut tally = Tally::new("10 maestro serve, actors killed at random");
    for (i, id) in ids.iter().enumerate() {
        tally.add(&workflows[i % 2], ending(&server, id).await);
    }
    let (_, listed) = server.get("/v1/services").await;
    for (service, killed) in &kills {
        let health = listed["services"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == *service))
            .expect("listed");
        assert_eq!(health["restarts"], *killed, "{health}");
        assert_eq!(health["alive"], true, "{health}");
    }
    // Why attempts failed (from the server's log) and why runs stopped.
    let attempts = causes(
        server
            .stderr()
            .lines()
            .filter(|l| l.contains("attempt failed"))
            .filter_map(|l| l.split("error=").nth(1)),
    );
    let runs = causes(
        tally
            .endings()
            .iter()
            .filter_map(|e| e.report()?["error"].as_str()),
    );
    println!("  measured: failed attempts by cause {attempts:?}; runs stopped by {runs:?}");
    let total: u32 = kills.values().sum();
    assert!(total > 0, "no kill was accepted");
    println!(
        "  measured: {n} runs in {elapsed:.1?} ({:.0} runs/s), at most {peak} running at once, \
         {total} kills {kills:?}",
        n as f64 / elapsed.as_secs_f64()
    );
    let processes: Vec<&ServiceProcess> = fleet.iter().collect();
    tally.check(&processes);
}
