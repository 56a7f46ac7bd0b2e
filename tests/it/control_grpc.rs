//! Loops and child workflows over gRPC, end to end: `maestro execute` of the
//! examples against the commerce service on 127.0.0.1, whose call log shows
//! a call per element with its own key, and the saga across elements and
//! into a child workflow.

use serde_json::{Value, json};

use crate::execute::execute;
use crate::support::{Fault, ServiceProcess, compensations};

fn order(items: Value, postal_code: &str) -> String {
    let mut order: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::support::example_file("inputs/order.json"))
            .expect("the example order"),
    )
    .expect("JSON");
    order["items"] = items;
    order["shipping_address"]["postal_code"] = json!(postal_code);
    order.to_string()
}

fn json_args(input: &str) -> [&str; 4] {
    ["--input", input, "--output", "json"]
}

#[test]
fn a_loop_reserves_each_line_with_its_own_key_and_a_failure_releases_every_line() {
    let fleet = vec![ServiceProcess::spawn("commerce_grpc", &[])];
    let items = json!([
        {"sku": "SKU-KEYBOARD", "quantity": 1, "unit_price_cents": 12900},
        {"sku": "SKU-MOUSE", "quantity": 2, "unit_price_cents": 3450},
        {"sku": "SKU-MONITOR", "quantity": 1, "unit_price_cents": 19900},
    ]);
    let input = order(items.clone(), "10119");
    let run = execute(&fleet, "bulk_reservation.yaml", &json_args(&input));
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let report = run.json();
    assert_eq!(
        report["output"]["reservations"].as_array().map(Vec::len),
        Some(3)
    );
    let calls = fleet[0].calls();
    let mut keys: Vec<String> = calls
        .iter()
        .filter(|c| c.method == "Reserve")
        .filter_map(|c| c.idempotency_key.clone())
        .map(|k| k.split_once(':').expect("RUN:STEP").1.to_owned())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "reserve_all[0]/reserve",
            "reserve_all[1]/reserve",
            "reserve_all[2]/reserve"
        ]
    );
    assert_eq!(calls.iter().filter(|c| c.method == "Commit").count(), 3);

    // Commits refused: every line's reservation is released, each with
    // its own reservation's id.
    let fleet = vec![ServiceProcess::spawn("commerce_grpc", &[])];
    fleet[0].set_fault(Fault::fail("Commit", 10, "FAILED_PRECONDITION"));
    let run = execute(&fleet, "bulk_reservation.yaml", &json_args(&input));
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let report = run.json();
    let undone: Vec<&str> = compensations(&report).iter().map(|c| c.0).collect();
    assert_eq!(undone.len(), 3, "{report}");
    assert!(undone.iter().all(|s| s.starts_with("reserve_all[")));
    let calls = fleet[0].calls();
    let id_of = |v: &Value| v["reservation_id"].as_str().map(str::to_owned);
    let mut reserved: Vec<String> = calls
        .iter()
        .filter(|c| c.method == "Reserve" && c.ok)
        .filter_map(|c| c.response.as_ref().and_then(id_of))
        .collect();
    let mut released: Vec<String> = calls
        .iter()
        .filter(|c| c.method == "Release" && c.ok)
        .filter_map(|c| id_of(&c.request))
        .collect();
    reserved.sort();
    released.sort();
    assert_eq!(reserved.len(), 3);
    assert_eq!(reserved, released);
}

#[test]
fn a_child_workflows_charge_is_refunded_when_the_parent_fails_after_it() {
    let fleet = vec![ServiceProcess::spawn("commerce_grpc", &[])];
    let items = json!([{"sku": "SKU-MOUSE", "quantity": 1, "unit_price_cents": 3450}]);
    let run = execute(
        &fleet,
        "checkout_with_payment.yaml",
        &json_args(&order(items.clone(), "10119")),
    );
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let charge = fleet[0]
        .calls()
        .into_iter()
        .find(|c| c.method == "Charge")
        .expect("the child charged");
    assert!(
        charge
            .idempotency_key
            .as_deref()
            .unwrap_or_default()
            .ends_with(":pay/charge"),
        "{charge:?}"
    );

    // No postal code: the shipment fails; the child's charge is refunded,
    // then the stock released.
    let fleet = vec![ServiceProcess::spawn("commerce_grpc", &[])];
    let run = execute(
        &fleet,
        "checkout_with_payment.yaml",
        &json_args(&order(items, "")),
    );
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let report = run.json();
    let undone: Vec<&str> = compensations(&report).iter().map(|c| c.0).collect();
    assert_eq!(undone, ["pay/charge", "reserve_inventory"]);
    let calls = fleet[0].calls();
    let at = |method: &str| calls.iter().position(|c| c.method == method);
    assert!(
        at("Refund").is_some() && at("Refund") < at("Release"),
        "{calls:#?}"
    );
}
