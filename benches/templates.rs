//! Cost of evaluating templates against a small run (a handful of outputs),
//! which is what every step pays before its call; the target is well under
//! 5 µs per evaluation. Ends with a step's input rendered from its template
//! and built by hand from the same data, timed in turns, and their ratio.

// The rest of the module serves the async benches.
#[allow(dead_code)]
#[path = "common/paired.rs"]
mod paired;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion};
use maestro::template::{Condition, Scope, Template, ValueTemplate};
use serde_json::{Value, json};

// The allocator of the maestro binary, for glue and Maestro alike.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn small_scope() -> Scope {
    let mut scope = Scope::new(json!({
        "order": {"id": "ord-1042", "amount": 129.5, "currency": "EUR"},
        "customer": {"id": 9007199254740993u64, "name": "Ada", "tier": "gold"},
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    }));
    scope.insert("credit_score", json!({"value": 720, "bureau": "x"}));
    scope.insert("fraud_risk", json!({"level": "low", "score": 0.12}));
    scope.insert("inventory", json!({"reserved": true, "ids": [1, 2, 3]}));
    scope.skip("approval");
    scope
}

fn step_output() -> Value {
    json!({"status": "approved", "loan_id": "L-77", "limits": {"max": 5000, "min": 100}})
}

fn bench(c: &mut Criterion) {
    let scope = small_scope();

    let whole = Template::parse("{{ .credit_score.value }}").expect("template");
    c.bench_function("whole-value path", |b| {
        b.iter(|| whole.render(black_box(&scope)))
    });

    let object = Template::parse("{{ .input.order }}").expect("template");
    c.bench_function("whole-value object", |b| {
        b.iter(|| object.render(black_box(&scope)))
    });

    let text = Template::parse("/orders/{{ .input.order.id }}/items/{{ .input.items[0].sku }}")
        .expect("template");
    c.bench_function("interpolated string", |b| {
        b.iter(|| text.render(black_box(&scope)))
    });

    let when = Condition::parse("{{ .credit_score.value > 700 && .fraud_risk.level == 'low' }}")
        .expect("condition");
    c.bench_function("when && comparisons", |b| {
        b.iter(|| when.evaluate(black_box(&scope)))
    });

    let ternary = Template::parse("{{ .fraud_risk.level == 'high' ? 'urgent' : 'normal' }}")
        .expect("template");
    c.bench_function("ternary", |b| b.iter(|| ternary.render(black_box(&scope))));

    let input = input_template();
    c.bench_function("value template (small input map)", |b| {
        b.iter(|| input.render(black_box(&scope)))
    });

    c.bench_function("scope insert", |b| {
        b.iter_batched(
            || (scope.clone(), step_output()),
            |(mut scope, output)| {
                scope.insert("approval", output);
                scope
            },
            BatchSize::SmallInput,
        )
    });

    c.bench_function("compile (load time)", |b| {
        b.iter(|| {
            Condition::parse(black_box(
                "{{ .credit_score.value > 700 && .fraud_risk.level == 'low' }}",
            ))
        })
    });
}

/// The value template of the bench, written as the glue would: the same
/// fields read from the same data and put into a new document.
fn input_by_hand(scope: &Scope) -> Value {
    let input = scope.get("input").expect("input");
    let risk = scope.get("fraud_risk").expect("fraud_risk");
    json!({
        "customer": {"id": input["customer"]["id"].clone(), "name": input["customer"]["name"].clone()},
        "amount": input["order"]["amount"].clone(),
        "priority": if risk["level"] == "high" { "urgent" } else { "normal" },
        "lines": [input["items"][0]["sku"].clone(), "fixed"],
        "source": "maestro",
    })
}

fn input_template() -> ValueTemplate {
    ValueTemplate::parse(&json!({
        "customer": {"id": "{{ .input.customer.id }}", "name": "{{ .input.customer.name }}"},
        "amount": "{{ .input.order.amount }}",
        "priority": "{{ .fraud_risk.level == 'high' ? 'urgent' : 'normal' }}",
        "lines": ["{{ .input.items[0].sku }}", "fixed"],
        "source": "maestro",
    }))
    .expect("value template")
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    let scope = small_scope();
    let template = input_template();
    c.bench_function("value template by hand (glue)", |b| {
        b.iter(|| input_by_hand(black_box(&scope)))
    });
    c.final_summary();
    if paired::mode() != paired::Mode::List {
        assert_eq!(template.render(&scope).unwrap(), input_by_hand(&scope));
        let rounds = paired::Rounds::new(2000, Duration::from_secs(4));
        paired::timed_sync(
            rounds,
            100,
            || drop(black_box(input_by_hand(black_box(&scope)))),
            || drop(black_box(template.render(black_box(&scope)))),
        )
        .print("value template (small input map)", 1);
    }
}
