//! Row 9: a service actor killed while its calls are inside the service.
//! The supervisor restarts it; each call it held is an unknown outcome,
//! retried with the same key when the step has attempts left and
//! compensated when not. Every run succeeds or is compensated.

use std::sync::Arc;
use std::time::Duration;

use maestro::runtime::{RunEvent, Runtime};

use super::{Saga, Tally, mixed, scale};
use crate::runtime::{restarts_once_alive, start};
use crate::support::{Fault, ServiceProcess};

/// Contact calls that must be inside the service for a kill to count.
const IN_FLIGHT: usize = 3;

/// Kills the `crm` actor up to `kills` times, each time once enough
/// contact calls are inside the service, waiting for the restart and then
/// `spacing` between kills. Stops early when no such calls come (the batch
/// is over); returns how many kills were made.
async fn kill_mid_call(
    runtime: &Runtime,
    web: &ServiceProcess,
    kills: usize,
    spacing: Duration,
) -> u32 {
    let mut made = 0;
    for _ in 0..kills {
        let mut ready = false;
        for _ in 0..500 {
            let inside = web
                .active_calls()
                .iter()
                .filter(|c| c.is("POST /crm/contacts"))
                .count();
            if inside >= IN_FLIGHT {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !ready {
            break;
        }
        runtime.service_actor("crm").expect("alive").kill();
        made += 1;
        assert_eq!(restarts_once_alive(runtime, "crm").await, made);
        tokio::time::sleep(spacing).await;
    }
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_actors_killed_mid_call_are_restarted_and_every_run_ends() {
    let web = ServiceProcess::spawn("web_http", &[]);
    // Long enough for the kill to find calls inside the service.
    web.set_fault(Fault::delay("POST /crm/contacts", 300));
    let retried = Saga {
        name: "killed_retried",
        ..Saga::default()
    }
    .load(&[&web]);
    let final_attempt = Saga {
        name: "killed_final",
        crm_step: "retry: {attempts: 1}",
        ..Saga::default()
    }
    .load(&[&web]);
    let runtime = Arc::new(start(&retried).await);
    let mut tally = Tally::new("9 service actor killed mid-call");
    let (n, concurrency) = (scale(20, 1000), 20);
    // Under soak, kills are spaced so the supervisor's restart throttle
    // (more than 5 restarts in 10 s) is never reached: that is another case.
    let (kills, spacing) = (scale(2, 8), Duration::from_millis(scale(0, 2_100) as u64));
    let (batch, made) = tokio::join!(
        tally.run(&runtime, mixed(&[&retried, &final_attempt], n), concurrency),
        kill_mid_call(&runtime, &web, kills, spacing),
    );
    assert!(made >= 1, "no kill found calls in flight");
    let mut lost_attempts = 0;
    for ending in batch {
        let report = ending.report().expect("final");
        let status = ending.status();
        assert!(["succeeded", "compensated"].contains(&status), "{report}");
        let killed = ending
            .events()
            .iter()
            .filter(|e| {
                matches!(&e.event, RunEvent::AttemptFailed { error, .. }
                    if error.contains("service actor restarted during the call"))
            })
            .count();
        lost_attempts += killed;
        let step = ending.step("crm_entry");
        if status == "compensated" {
            // Only a killed call can have failed the contact step.
            assert!(killed >= 1, "{report}");
            assert_eq!(step["outcome_unknown"], true, "{report}");
        }
        if report["workflow"] == "killed_final" && killed >= 1 {
            assert_eq!(status, "compensated", "{report}");
        }
    }
    let health = runtime.health().await;
    let crm = health.iter().find(|h| h.name == "crm").expect("known");
    assert_eq!((crm.restarts, crm.alive), (made, true));
    println!("  measured: {made} kills, {lost_attempts} attempts abandoned by a kill");
    tally.check(&[&web]);
}
