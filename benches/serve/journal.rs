//! The cost of durability: the same fan_out load through `maestro serve` in
//! memory, with a SQLite journal (sync full, then normal) and, when
//! MAESTRO_BENCH_POSTGRES names a database, a PostgreSQL one; all in the
//! same run, in alternating rounds, at concurrency 1, 16 and 64.

use std::path::Path;
use std::time::Duration;

use crate::common::paired::show;
use crate::load::{self, Load, Target};
use crate::procs::{self, Proc};

/// One way of running `maestro serve`.
struct Variant {
    name: &'static str,
    args: Vec<String>,
}

fn variants(scratch: &Path) -> Vec<Variant> {
    let dir = |name: &str| scratch.join(name).display().to_string();
    let mut out = vec![
        Variant {
            name: "memory",
            args: Vec::new(),
        },
        Variant {
            name: "sqlite full",
            args: vec!["--state-dir".into(), dir("state-full")],
        },
        Variant {
            name: "sqlite normal",
            args: vec![
                "--state-dir".into(),
                dir("state-normal"),
                "--sync".into(),
                "normal".into(),
            ],
        },
    ];
    if let Ok(url) = std::env::var("MAESTRO_BENCH_POSTGRES") {
        out.push(Variant {
            name: "postgres",
            args: vec!["--state".into(), url],
        });
    }
    out
}

/// Drive every variant at each level, `count` runs each, in `rounds`.
pub async fn compare(
    client: &reqwest::Client,
    scratch: &Path,
    core: &Proc,
    web: &Proc,
    levels: [(usize, usize); 3],
    rounds: usize,
    budget: Duration,
) -> Vec<String> {
    let variants = variants(scratch);
    let servers: Vec<Proc> = variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            procs::serve(
                &crate::fan_out(),
                &procs::endpoints(core, web),
                &v.args,
                &scratch.join(format!("serve-journal-{i}.log")),
            )
        })
        .collect();
    let targets: Vec<Target> = variants
        .iter()
        .zip(&servers)
        .map(|(v, s)| Target {
            name: v.name,
            url: s.url("/v1/workflows/fan_out/runs?wait=true"),
        })
        .collect();
    let mut failures = Vec::new();
    let fsync = fsync_p50(scratch);
    let mut at_one: Vec<Duration> = Vec::new();
    for target in &targets {
        load::drive(client, target, 16, 100, budget).await;
    }
    println!();
    println!(
        "fan_out through maestro serve, in memory and journaled (same run, alternating rounds)"
    );
    println!(
        "{:>4} {:<14} {:>7} {:>9} {:>9} {:>9} {:>12}",
        "conc", "journal", "runs", "runs/s", "p50", "p99", "vs memory"
    );
    for (concurrency, count) in levels {
        let mut loads = vec![Load::default(); targets.len()];
        for round in 0..rounds {
            for i in 0..targets.len() {
                // Each round starts with another variant.
                let side = (i + round) % targets.len();
                let load = load::drive(
                    client,
                    &targets[side],
                    concurrency,
                    count / rounds,
                    budget / rounds as u32,
                )
                .await;
                loads[side].add(load);
            }
            for process in [core, web] {
                let _ = client.delete(process.admin_url("/calls")).send().await;
            }
        }
        let memory = loads[0].runs_per_s();
        if concurrency == 1 {
            at_one = loads.iter().map(|l| l.p(0.5)).collect();
        }
        for (target, load) in targets.iter().zip(&loads) {
            if load.failed > 0 || load.latencies.is_empty() {
                failures.push(format!(
                    "{} at concurrency {concurrency}: {} runs failed, {} succeeded",
                    target.name,
                    load.failed,
                    load.latencies.len()
                ));
            }
            println!(
                "{:>4} {:<14} {:>7} {:>9.0} {:>9} {:>9} {:>11.2}x",
                concurrency,
                target.name,
                load.latencies.len(),
                load.runs_per_s(),
                show(load.p(0.5)),
                show(load.p(0.99)),
                load.runs_per_s() / memory.max(1e-9),
            );
        }
    }
    println!("(vs memory: runs/s of the variant over runs/s in memory)");
    if let [memory, full, ..] = at_one[..] {
        println!(
            "one fsync of this disk (4 KiB written, then fsync; p50 of {FSYNCS}): {}; \
             a fan_out run waits for {DURABLE_WAITS} durable writes in a row, so at \
             concurrency 1: memory p50 + {DURABLE_WAITS} fsyncs = {}, sqlite full p50 = {}",
            show(fsync),
            show(memory + fsync * DURABLE_WAITS),
            show(full),
        );
    }
    failures
}

/// fsyncs timed for the figure printed beside the table.
const FSYNCS: usize = 200;
/// What a `fan_out` run waits to be durable, one after the other: its
/// acceptance with its first call's announcement (one commit), the parallel
/// pair's announcements, its end.
const DURABLE_WAITS: u32 = 3;

/// What one small write made durable costs on the disk the journal is on.
fn fsync_p50(scratch: &Path) -> Duration {
    use std::io::{Seek, SeekFrom, Write};
    let path = scratch.join("fsync-probe");
    let mut file = std::fs::File::create(&path).expect("a file in the scratch directory");
    let page = [7u8; 4096];
    let mut times: Vec<Duration> = (0..FSYNCS)
        .map(|_| {
            let start = std::time::Instant::now();
            file.seek(SeekFrom::Start(0)).expect("seek");
            file.write_all(&page).expect("write");
            file.sync_all().expect("fsync");
            start.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    times.sort();
    times[times.len() / 2]
}
