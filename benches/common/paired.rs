//! Glue and Maestro timed in turns: one of each per round, the first of the
//! pair alternating, so that the noise of a shared machine falls on both
//! alike. Prints each side's p50 and p99, the ratio of the p50s, and the p50
//! of the per-round differences: Maestro's overhead over the glue.

use std::time::{Duration, Instant};

/// How the bench binary was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `--list`: a test runner asks for names; nothing is measured.
    List,
    /// Without `--bench` (`cargo test`, nextest): everything runs, briefly.
    Test,
    /// `cargo bench`.
    Bench,
}

pub fn mode() -> Mode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        Mode::List
    } else if args.iter().any(|a| a == "--bench") {
        Mode::Bench
    } else {
        Mode::Test
    }
}

/// Bounds of one paired measurement: a count of rounds and a time budget,
/// whichever ends first. In test mode, three rounds.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    pub count: usize,
    pub budget: Duration,
}

impl Rounds {
    pub fn new(count: usize, budget: Duration) -> Self {
        match mode() {
            Mode::Bench => Self { count, budget },
            Mode::Test | Mode::List => Self { count: 3, budget },
        }
    }
}

/// The times of each side, one per round.
#[derive(Debug, Default)]
pub struct Pairs {
    pub glue: Vec<Duration>,
    pub maestro: Vec<Duration>,
}

/// Time `glue` and `maestro` (each one whole operation) in turns.
pub async fn timed<G, M>(rounds: Rounds, mut glue: G, mut maestro: M) -> Pairs
where
    G: AsyncFnMut(),
    M: AsyncFnMut(),
{
    let mut pairs = Pairs::default();
    let end = Instant::now() + rounds.budget;
    for round in 0..rounds.count {
        if round > 0 && Instant::now() >= end {
            break;
        }
        let (g, m);
        if round % 2 == 0 {
            let start = Instant::now();
            glue().await;
            g = start.elapsed();
            let start = Instant::now();
            maestro().await;
            m = start.elapsed();
        } else {
            let start = Instant::now();
            maestro().await;
            m = start.elapsed();
            let start = Instant::now();
            glue().await;
            g = start.elapsed();
        }
        pairs.glue.push(g);
        pairs.maestro.push(m);
    }
    pairs
}

/// The same for synchronous work: each side runs `batch` times per round,
/// and the time per operation is recorded.
pub fn timed_sync(
    rounds: Rounds,
    batch: u32,
    mut glue: impl FnMut(),
    mut maestro: impl FnMut(),
) -> Pairs {
    let mut pairs = Pairs::default();
    let end = Instant::now() + rounds.budget;
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..batch {
            f();
        }
        start.elapsed() / batch
    };
    for round in 0..rounds.count {
        if round > 0 && Instant::now() >= end {
            break;
        }
        if round % 2 == 0 {
            pairs.glue.push(time(&mut glue));
            pairs.maestro.push(time(&mut maestro));
        } else {
            pairs.maestro.push(time(&mut maestro));
            pairs.glue.push(time(&mut glue));
        }
    }
    pairs
}

/// The `q` quantile (0..=1) of `times`, nearest rank.
pub fn quantile(times: &[Duration], q: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `412.3 µs`, `1.24 ms`, `85 ns`.
pub fn show(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

impl Pairs {
    /// Maestro's p50 over the glue's.
    pub fn ratio(&self) -> f64 {
        let glue = quantile(&self.glue, 0.5).as_secs_f64();
        quantile(&self.maestro, 0.5).as_secs_f64() / glue.max(f64::MIN_POSITIVE)
    }

    /// The p50 of Maestro minus glue, round by round, in microseconds
    /// (negative when Maestro was faster).
    pub fn overhead_us(&self) -> f64 {
        let mut diffs: Vec<f64> = self
            .glue
            .iter()
            .zip(&self.maestro)
            .map(|(g, m)| (m.as_secs_f64() - g.as_secs_f64()) * 1e6)
            .collect();
        if diffs.is_empty() {
            return 0.0;
        }
        diffs.sort_by(f64::total_cmp);
        diffs[(diffs.len() - 1) / 2]
    }

    /// One line: both sides, the ratio, the overhead (and per step, when
    /// the operation has several).
    pub fn print(&self, label: &str, steps: usize) {
        let side = |times: &[Duration]| {
            format!(
                "p50 {} p99 {}",
                show(quantile(times, 0.5)),
                show(quantile(times, 0.99))
            )
        };
        let overhead = self.overhead_us();
        let per_step = if steps > 1 {
            format!(" ({:.1} µs per step)", overhead / steps as f64)
        } else {
            String::new()
        };
        println!(
            "paired {label}: n={} | glue {} | maestro {} | ratio maestro/glue = {:.2} | overhead p50 {overhead:.1} µs{per_step}",
            self.glue.len(),
            side(&self.glue),
            side(&self.maestro),
            self.ratio(),
        );
    }
}
