//! What the load driver prints: the machine, one row per concurrency with
//! glue and Maestro side by side and their ratios, cold start, and memory
//! at scale.

use crate::cold::Cold;
use crate::common::paired::{quantile, show};
use crate::load::Load;
use crate::procs::Memory;
use crate::scale::Scale;

pub struct Row {
    pub concurrency: usize,
    pub glue: Load,
    pub maestro: Load,
    pub glue_memory: Memory,
    pub maestro_memory: Memory,
}

/// CPUs, CPU model and memory, as BENCHMARKS.md records them.
pub fn machine() {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    println!(
        "machine: {cpus} CPUs, {model}, {:.1} GiB",
        memory_kb as f64 / 1024.0 / 1024.0
    );
}

pub fn load_table(rows: &[Row]) {
    println!();
    println!(
        "fan_out (1 call, then 2 in parallel) through maestro serve and through the glue server"
    );
    println!(
        "{:>4} {:>6} {:>6} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6} | {:>9} {:>9} | {:>9} {:>9} {:>6} | {:>9} {:>9}",
        "conc",
        "runs",
        "fails",
        "glue/s",
        "maestro/s",
        "ratio",
        "glue p50",
        "m p50",
        "ratio",
        "glue p99",
        "m p99",
        "glue CPU",
        "m CPU",
        "ratio",
        "m RSS MB",
        "glue MB",
    );
    for row in rows {
        let (g, m) = (&row.glue, &row.maestro);
        println!(
            "{:>4} {:>6} {:>6} | {:>9.0} {:>9.0} {:>6.2} | {:>9} {:>9} {:>6.2} | {:>9} {:>9} | {:>9} {:>9} {:>6.2} | {:>9.1} {:>9.1}",
            row.concurrency,
            m.latencies.len(),
            g.failed + m.failed,
            g.runs_per_s(),
            m.runs_per_s(),
            m.runs_per_s() / g.runs_per_s().max(1e-9),
            show(g.p(0.5)),
            show(m.p(0.5)),
            m.p(0.5).as_secs_f64() / g.p(0.5).as_secs_f64().max(1e-9),
            show(g.p(0.99)),
            show(m.p(0.99)),
            show(g.cpu_per_run()),
            show(m.cpu_per_run()),
            m.cpu_per_run().as_secs_f64() / g.cpu_per_run().as_secs_f64().max(1e-9),
            row.maestro_memory.peak_mb(),
            row.glue_memory.peak_mb(),
        );
    }
    println!(
        "(throughput ratio is maestro/glue runs/s; latency ratio is maestro/glue p50; CPU is the server's user+system time per run; RSS is the peak so far, VmHWM)"
    );
}

pub fn cold(http: &Cold, grpc: &Cold, saga: &Cold) {
    println!();
    let line = |name: &str, cold: &Cold| {
        println!(
            "cold start, {name}: n={} | spawn to first request p50 {} (min {}, max {}) | spawn to exit p50 {} | CPU p50 {}",
            cold.first_request.len(),
            show(quantile(&cold.first_request, 0.5)),
            show(quantile(&cold.first_request, 0.0)),
            show(quantile(&cold.first_request, 1.0)),
            show(quantile(&cold.whole_run, 0.5)),
            show(quantile(&cold.cpu, 0.5)),
        );
    };
    line("maestro execute, one HTTP step", http);
    line("maestro execute, one gRPC step (reflection first)", grpc);
    println!(
        "cold start, whole process, maestro execute of an HTTP saga (3 calls): n={} | wall p50 {} (min {}, max {}) | CPU (user+sys) p50 {} (min {}, max {})",
        saga.whole_run.len(),
        show(quantile(&saga.whole_run, 0.5)),
        show(quantile(&saga.whole_run, 0.0)),
        show(quantile(&saga.whole_run, 1.0)),
        show(quantile(&saga.cpu, 0.5)),
        show(quantile(&saga.cpu, 0.0)),
        show(quantile(&saga.cpu, 1.0)),
    );
}

pub fn scale(server: &str, scale: &Scale, delay_ms: u64) {
    println!();
    println!(
        "scale, {server}: {} runs of fan_out submitted ({} accepted) in {}, services delaying every call {delay_ms} ms",
        scale.submitted,
        scale.accepted,
        show(scale.submit_time),
    );
    println!(
        "scale, {server}: peak runs in flight {} | RSS idle {:.1} MB, peak {:.1} MB | {} succeeded | all ended after {}{}",
        scale.peak_in_flight,
        scale.idle.rss_mb(),
        scale.end.peak_mb(),
        scale.succeeded,
        show(scale.drain_time),
        if scale.drained {
            ""
        } else {
            " (NOT drained: budget spent)"
        },
    );
}
