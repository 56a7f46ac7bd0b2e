//! Row 8: compensations that fail. One fails once and is retried; one
//! always fails, is retried per its service's policy and then reported;
//! the compensations after it still run, and the run ends
//! `compensation_failed`.

use std::collections::BTreeMap;
use std::sync::Arc;

use maestro::runtime::RunEvent;

use super::{Tally, jobs, scale};
use crate::runtime::{load, start};
use crate::support::ServiceProcess;

/// The breakers are set out of reach: every run's undo fails at about the
/// same moment, and this row is about each run's compensations, not about
/// a breaker opening on that burst.
const WORKFLOW: &str = r#"
name: undo_fails
services:
  inventory:
    type: grpc
    endpoint: "${MAESTRO_COMMERCE_GRPC}"
    retry: {attempts: 3, initial_interval: 20ms}
    circuit_breaker: {failure_threshold: 1000}
  payments:
    type: grpc
    endpoint: "${MAESTRO_COMMERCE_GRPC}"
    retry: {attempts: 3, initial_interval: 20ms}
    circuit_breaker: {failure_threshold: 1000}
  shipping:
    type: grpc
    endpoint: "${MAESTRO_COMMERCE_GRPC}"
steps:
  - id: reserve
    service: inventory
    method: Reserve
    input:
      order_id: ord-undo
      items: [{sku: SKU-MOUSE, quantity: 1, unit_price_cents: 3450}]
    output: reservation
    compensate:
      method: Release
      input:
        reservation_id: "{{ .reservation.reservation_id }}"
        reason: undo row
        chaos: {fail_times: 1}
  - id: charge
    service: payments
    method: Charge
    input:
      order_id: ord-undo
      amount_cents: 3450
      currency: EUR
      method: PAYMENT_METHOD_CARD
      card_token: tok_visa_4242
      capture: true
    output: payment
    compensate:
      method: Refund
      input:
        charge_id: "{{ .payment.charge_id }}"
        reason: undo row
        chaos: {fail_times: 1000}
  - id: ship
    service: shipping
    method: CreateShipment
    input:
      order_id: ord-undo
      reservation_id: "{{ .reservation.reservation_id }}"
      chaos: {fail_times: 1000, code: INVALID_ARGUMENT}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compensation_failing_once_is_retried_one_failing_always_is_reported() {
    let commerce = ServiceProcess::spawn("commerce_grpc", &[]);
    let workflow = load(WORKFLOW, &[&commerce]);
    let runtime = Arc::new(start(&workflow).await);
    let mut tally = Tally::new("8 a compensation fails once, another always");
    let n = scale(8, 60);
    let batch = tally.run(&runtime, jobs(&workflow, n), n).await;
    for ending in batch {
        assert_eq!(ending.status(), "compensation_failed", "{ending:#?}");
        let report = ending.report().expect("final");
        let undone = crate::support::compensations(report);
        assert_eq!(
            undone,
            [("charge", false, 3), ("reserve", true, 2)],
            "the refund exhausts its 3 attempts; the release, after it, needs 2"
        );
        // The release started only once the refund had been given up.
        let events = ending.events();
        let given_up = events.iter().position(
            |e| matches!(&e.event, RunEvent::CompensationFailed { step, .. } if step == "charge"),
        );
        let release = events.iter().position(
            |e| matches!(&e.event, RunEvent::CompensationStarted { step, .. } if step == "reserve"),
        );
        assert!(given_up < release, "{events:#?}");
    }
    // What the commerce services saw, per compensation key.
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for call in commerce.calls() {
        if ["Refund", "Release"].contains(&call.method.as_str()) {
            let key = call.idempotency_key.clone().expect("a key");
            by_key.entry(key).or_default().push(call.outcome);
        }
    }
    assert_eq!(by_key.len(), 2 * n);
    for (key, outcomes) in &by_key {
        let expected: &[&str] = if key.ends_with(":charge:compensate") {
            &["UNAVAILABLE"; 3]
        } else {
            &["UNAVAILABLE", "ok"]
        };
        assert_eq!(outcomes, expected, "{key}");
    }
    tally.check(&[&commerce]);
}
