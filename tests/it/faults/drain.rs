//! Row 11: SIGTERM while a hundred runs are in flight. `maestro serve`
//! takes no new run, lets those in flight finish within `--grace`, cancels
//! and compensates whatever is left after it, answers every waiting
//! client, and exits 0.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::serve::{example_workflow, order};
use super::{Ending, Tally, scale};
use crate::serve::process::ServeProcess;
use crate::support::{Fault, ServiceProcess};

/// What a drain left: every waiting client's answer, the exit code, how
/// long the server took to exit after the signal, and its stderr.
struct Drained {
    answers: Vec<Result<Value, String>>,
    code: Option<i32>,
    took: Duration,
    stderr: String,
}

/// Starts `n` runs of order_checkout, each with a client waiting for its
/// end; sends SIGTERM once all are running.
async fn sigterm_with_runs_in_flight(commerce: &ServiceProcess, grace: &str, n: usize) -> Drained {
    let mut server = ServeProcess::try_spawn(
        std::slice::from_ref(commerce),
        &[
            "--workflows",
            "examples/workflows/order_checkout.yaml",
            "--grace",
            grace,
        ],
    )
    .expect("maestro serve starts");
    let url = server.url("/v1/workflows/order_checkout/runs?wait=true");
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let (client, url) = (server.client.clone(), url.clone());
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .json(&json!({ "input": order(i) }))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                response.json::<Value>().await.map_err(|e| e.to_string())
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = server.get("/v1/runs?status=running&limit=1000").await;
        if list["runs"].as_array().map_or(0, Vec::len) == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the runs never all started: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let signalled = Instant::now();
    let exit = tokio::task::spawn_blocking(move || {
        let status = server.terminate(Duration::from_secs(120));
        (status, signalled.elapsed(), server)
    });
    let mut answers = Vec::with_capacity(n);
    for client in clients {
        answers.push(client.await.expect("the client task ends"));
    }
    let (status, took, server) = exit.await.expect("the server exits");
    Drained {
        answers,
        code: status.and_then(|s| s.code()),
        took,
        stderr: server.stderr(),
    }
}

/// Tallies the answers: a waiting client that got no final report is a
/// lost run (its id is not known, so it is named by its position).
fn tally(row: &str, drained: &Drained) -> Tally {
    let workflow = example_workflow("order_checkout.yaml");
    let mut tally = Tally::new(row);
    for (i, answer) in drained.answers.iter().enumerate() {
        let ending = match answer {
            Ok(report) if report["run_id"].is_string() => Ending::Final {
                report: report.clone(),
                events: None,
            },
            other => Ending::Lost {
                run_id: format!("client {i}"),
                why: format!("{other:?}"),
            },
        };
        tally.add(&workflow, ending);
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_the_runs_in_flight_finish_within_the_grace_period() {
    let commerce = ServiceProcess::spawn("commerce_grpc", &[]);
    // Runs are still going when the signal comes.
    commerce.set_fault(Fault::delay("Commit", 1_500));
    let n = scale(100, 500);
    let drained = sigterm_with_runs_in_flight(&commerce, "30s", n).await;
    let tally = tally("11 SIGTERM with runs in flight, --grace 30s", &drained);
    assert_eq!(drained.code, Some(0), "stderr:\n{}", drained.stderr);
    assert!(
        drained.stderr.contains("every run has ended")
            && !drained.stderr.contains("grace period over"),
        "{}",
        drained.stderr
    );
    // None had to be cancelled: each finished on its own, which under load
    // may be compensated (a 1 s timeout of this workflow, a breaker open).
    for ending in tally.endings() {
        let status = ending.status();
        assert!(
            ["succeeded", "compensated"].contains(&status),
            "{ending:#?}"
        );
    }
    let committed = commerce.calls_to("Commit").iter().filter(|c| c.ok).count();
    println!(
        "  measured: {n} runs in flight, {committed} committed; exit {:.1?} after SIGTERM \
         (grace 30s)",
        drained.took
    );
    tally.check(&[&commerce]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_the_grace_period_the_runs_left_are_cancelled_and_compensated_before_exit() {
    let commerce = ServiceProcess::spawn("commerce_grpc", &[]);
    // Far longer than the grace period (the commit's own 2 s timeout is not
    // reached either): no run can finish in time.
    commerce.set_fault(Fault::delay("Commit", 10_000));
    let n = scale(100, 500);
    let drained = sigterm_with_runs_in_flight(&commerce, "300ms", n).await;
    let tally = tally("11 SIGTERM with runs in flight, --grace 300ms", &drained);
    assert_eq!(drained.code, Some(0), "stderr:\n{}", drained.stderr);
    assert!(
        drained.stderr.contains("grace period over"),
        "{}",
        drained.stderr
    );
    // Each run was cancelled wherever it stood and what it had done undone
    // (the shared checks hold each report and the call logs to that). A run
    // cancelled inside its charge cannot be refunded: the step has no
    // output, and this workflow's refund reads the charge id from it
    // (docs/workflow.md says so); that run ends compensation_failed.
    let (mut undone, mut unrenderable) = (0, 0);
    for ending in tally.endings() {
        undone += ending.undone().len();
        if ending.status() == "compensation_failed" {
            let report = ending.report().expect("final");
            for failed in report["compensations"].as_array().into_iter().flatten() {
                if failed["ok"] == false {
                    let error = failed["error"].as_str().unwrap_or_default();
                    assert!(error.contains("could not be rendered"), "{report}");
                    let step = failed["step"].as_str().unwrap_or_default();
                    assert_eq!(ending.step(step)["outcome_unknown"], true, "{report}");
                    unrenderable += 1;
                }
            }
        } else {
            // A run may also have failed on its own just before.
            let status = ending.status();
            assert!(
                ["cancelled", "compensated"].contains(&status),
                "{ending:#?}"
            );
        }
    }
    assert!(tally.endings().iter().any(|e| e.status() == "cancelled"));
    assert!(commerce.calls_to("Commit").iter().all(|c| !c.ok));
    println!(
        "  measured: {n} runs in flight; cancelled, {undone} compensations run ({unrenderable} \
         refunds of a charge cancelled mid-call could not be rendered), exited {:.1?} after \
         SIGTERM (grace 300ms)",
        drained.took
    );
    tally.check(&[&commerce]);
}
