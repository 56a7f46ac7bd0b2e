//! Cost of evaluating templates against a small run (a handful of outputs),
//! which is what every step pays before its call; the target is well under
//! 5 µs per evaluation.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use maestro::template::{Condition, Scope, Template, ValueTemplate};
use serde_json::{Value, json};

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

    let input = ValueTemplate::parse(&json!({
        "customer": {"id": "{{ .input.customer.id }}", "name": "{{ .input.customer.name }}"},
        "amount": "{{ .input.order.amount }}",
        "priority": "{{ .fraud_risk.level == 'high' ? 'urgent' : 'normal' }}",
        "lines": ["{{ .input.items[0].sku }}", "fixed"],
        "source": "maestro",
    }))
    .expect("value template");
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

criterion_group!(benches, bench);
criterion_main!(benches);
