//! Row 6: the connection is reset after the request reached the service,
//! before its answer got back (a proxy in front of `web_http` cuts it). The
//! outcome is unknown: a retry with the same key gets the stored answer
//! instead of a second contact; without a retry left, the step is
//! compensated, which deletes the contact the caller never heard of.

use std::sync::Arc;

use maestro::runtime::{RunEvent, Runtime};
use maestro::transport::FailureClass;

use super::net::CuttingProxy;
use super::{Saga, Tally, mixed, scale};
use crate::support::ServiceProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_after_sending_is_an_unknown_outcome() {
    let web = ServiceProcess::spawn("web_http", &[]);
    let proxy = CuttingProxy::start(web.addr, "POST /crm/contacts ").await;
    // Every run's first contact call is cut at about the same moment: the
    // breaker is set out of reach, this row is about each call's outcome.
    let through_proxy = format!(
        r#"endpoint: "http://{}"
    retry: {{attempts: 3, initial_interval: 20ms}}
    circuit_breaker: {{failure_threshold: 1000}}"#,
        proxy.addr
    );
    let retried = Saga {
        name: "reset_retried",
        crm: &through_proxy,
        ..Saga::default()
    }
    .load(&[&web]);
    let final_attempt = Saga {
        name: "reset_final",
        crm: &through_proxy,
        crm_step: "retry: {attempts: 1}",
        ..Saga::default()
    }
    .load(&[&web]);
    let runtime = Arc::new(
        Runtime::start(&retried.services)
            .await
            .expect("service actors start"),
    );
    let mut tally = Tally::new("6 connection reset after the request was sent");
    let n = scale(10, 100);
    let batch = tally
        .run(&runtime, mixed(&[&retried, &final_attempt], n), n)
        .await;
    for ending in batch {
        let report = ending.report().expect("final");
        let step = ending.step("crm_entry");
        let reset: Vec<FailureClass> = ending
            .events()
            .iter()
            .filter_map(|e| match &e.event {
                RunEvent::AttemptFailed { step, class, .. } if step == "crm_entry" => Some(*class),
                _ => None,
            })
            .collect();
        assert_eq!(reset, [FailureClass::Unknown], "{report}");
        if report["workflow"] == "reset_retried" {
            assert_eq!(ending.status(), "succeeded", "{report}");
            assert_eq!(step["attempts"], 2);
        } else {
            assert_eq!(ending.status(), "compensated", "{report}");
            assert_eq!(step["outcome_unknown"], true);
            assert_eq!(ending.undone(), ["crm_entry", "create_account"]);
        }
    }
    assert_eq!(proxy.cut(), n, "one reset per run");
    // Each contact was created once: the retry was answered from the
    // idempotency store, and the step without a retry was undone.
    let contacts = web.calls_to("POST /crm/contacts");
    let created = contacts.iter().filter(|c| c.took_effect()).count();
    let replayed = contacts.iter().filter(|c| c.replayed).count();
    assert_eq!((created, replayed), (n, n.div_ceil(2)), "{contacts:#?}");
    let undone = web.calls_to("DELETE /crm/contacts");
    assert_eq!(undone.len(), n / 2);
    assert!(
        undone.iter().all(|c| c
            .response
            .as_ref()
            .is_some_and(|r| r["deleted"].as_array().map(Vec::len) == Some(1))),
        "each undo deleted the contact the caller never heard of: {undone:#?}"
    );
    println!(
        "  measured: {} connections reset after the service answered; {replayed} retries answered \
         from the idempotency store, {} contacts created by unanswered calls undone",
        proxy.cut(),
        undone.len()
    );
    tally.check(&[&web]);
}
