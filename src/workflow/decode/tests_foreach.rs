//! `foreach` steps: decoded into the model with their body, and every rule
//! of the loop (its fields, its element, what its body and the steps after
//! it may read) reported at the line and column to fix.

use crate::workflow::load_str;
use crate::workflow::model::{Action, Foreach, MAX_FOREACH_CONCURRENCY, Node, Step, Workflow};

/// Six lines: a step's first line is line 7.
const HEAD: &str =
    "name: t\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\nsteps:\n";

fn load(steps: &str) -> Workflow {
    let yaml = format!("{HEAD}{steps}");
    match load_str(&yaml, "w.yaml", &|_: &str| None) {
        Ok(w) => w,
        Err(d) => panic!("expected a valid workflow:\n{d}"),
    }
}

/// `line:column: path: message` of every diagnostic.
fn problems(steps: &str) -> Vec<String> {
    let yaml = format!("{HEAD}{steps}");
    let diagnostics = load_str(&yaml, "w.yaml", &|_: &str| None).expect_err("expected problems");
    diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}: {}", d.line, d.column, d.path, d.message))
        .collect()
}

fn hints(steps: &str) -> Vec<String> {
    let yaml = format!("{HEAD}{steps}");
    let diagnostics = load_str(&yaml, "w.yaml", &|_: &str| None).expect_err("expected problems");
    diagnostics.iter().filter_map(|d| d.hint.clone()).collect()
}

fn foreach(step: &Step) -> &Foreach {
    match &step.action {
        Action::Foreach(each) => each,
        other => panic!("expected a foreach, got {other:?}"),
    }
}

const RESERVE_ALL: &str = r#"  - id: reserve_all
    foreach: "{{ .input.items }}"
    concurrency: 4
    steps:
      - id: reserve
        service: api
        method: "POST /reserve/{{ .item.sku }}"
        input: {qty: "{{ .item.qty }}", at: "{{ .item_index }}", run: "{{ .run.id }}"}
        output: reservation
        compensate: {method: "POST /release", input: {id: "{{ .reservation.id }}", sku: "{{ .item.sku }}"}}
      - parallel:
          - id: note
            service: api
            method: "POST /note"
            input: {id: "{{ .reservation.id }}"}
          - id: tag
            service: api
            method: "POST /tag"
    output: reservations
  - id: confirm
    service: api
    method: "POST /confirm"
    input: {all: "{{ .reservations }}", first: "{{ .reservations[0].reservation.id }}"}
"#;

#[test]
fn a_loop_decodes_with_its_body_and_defaults() {
    let w = load(RESERVE_ALL);
    let top: Vec<&Step> = w.all_steps().collect();
    assert_eq!(top.len(), 2, "a body's steps are not top-level steps");
    let each = foreach(top[0]);
    assert_eq!(each.items.source(), "{{ .input.items }}");
    assert_eq!((each.alias.as_str(), each.concurrency.get()), ("item", 4));
    assert_eq!(each.index_name(), "item_index");
    assert_eq!(top[0].output.as_deref(), Some("reservations"));
    assert_eq!(top[0].label(), "foreach {{ .input.items }}");
    assert!(matches!(&each.body[..], [Node::Step(s), Node::Parallel(g)]
        if s.id == "reserve" && s.compensation().is_some() && g.branches.len() == 2));
    let deep: Vec<&str> = w.deep_steps().iter().map(|s| s.id.as_str()).collect();
    assert_eq!(deep, ["reserve_all", "reserve", "note", "tag", "confirm"]);
}

#[test]
fn loops_nest_and_name_their_elements() {
    let w = load(
        r#"  - id: orders
    foreach: "{{ .input.orders }}"
    as: order
    steps:
      - id: lines
        foreach: "{{ .order.lines }}"
        as: line
        concurrency: 1000
        steps:
          - id: ship
            service: api
            method: "POST /ship"
            input: {order: "{{ .order.id }}", n: "{{ .order_index }}", line: "{{ .line }}", i: "{{ .line_index }}"}
"#,
    );
    let outer = foreach(w.all_steps().next().unwrap());
    assert_eq!(
        (outer.alias.as_str(), outer.concurrency.get()),
        ("order", 1)
    );
    let Node::Step(inner) = &outer.body[0] else {
        panic!("expected a step")
    };
    let inner = foreach(inner);
    assert_eq!(
        (inner.alias.as_str(), inner.concurrency.get()),
        ("line", MAX_FOREACH_CONCURRENCY)
    );
    assert_eq!(w.deep_steps().len(), 3);
}

#[test]
fn the_list_is_one_template_and_the_fields_are_checked() {
    let steps = r#"  - id: a
    foreach: [1, 2]
    steps: [{id: a1, service: api, method: "POST /x"}]
  - id: b
    foreach: "items: {{ .input.items }}"
    as: "my item"
    concurrency: 0
    steps: []
  - id: c
    foreach: "{{ .input.items"
    as: input
    concurrency: 1001
  - id: d
    foreach: "{{ .input.items }}"
    as: run
    concurrency: four
    steps: {id: d1}
"#;
    assert_eq!(
        problems(steps),
        [
            "8:14: steps[0].foreach: expected a `{{ }}` template giving a list, found a list",
            "11:14: steps[1].foreach: `items: {{ .input.items }}` is not one `{{ }}` template: \
             the list comes from the run's data",
            "12:9: steps[1].as: `my item` is not an identifier",
            "13:18: steps[1].concurrency: must be at least 1, got 0",
            "14:12: steps[1].steps: a `foreach` needs at least one step",
            "15:5: steps[2]: missing field `steps`",
            "16:14: steps[2].foreach: template `{{ .input.items` does not parse: the `{{` at column 1 is never closed with `}}`",
            "17:9: steps[2].as: `input` is the run's input and cannot name a loop's element",
            "18:18: steps[2].concurrency: must be at most 1000, got 1001",
            "21:9: steps[3].as: `run` is about the run itself and cannot name a loop's element",
            "22:18: steps[3].concurrency: expected a whole number, found the string `four`",
            "23:12: steps[3].steps: expected a list of steps, found a mapping",
        ]
    );
}

#[test]
fn a_loop_takes_no_field_of_a_call_and_a_call_none_of_a_loop() {
    let steps = r#"  - id: a
    foreach: "{{ .input.items }}"
    service: api
    method: "POST /x"
    input: {}
    timeout: 5s
    retry: {attempts: 2}
    steps: [{id: a1, service: api, method: "POST /x"}]
  - id: b
    foreach: "{{ .input.items }}"
    wait: go
    steps: [{id: b1, service: api, method: "POST /x"}]
  - id: c
    service: api
    method: "POST /x"
    as: thing
    concurrency: 2
    steps: [{id: c1, service: api, method: "POST /x"}]
  - id: d
    sleep: 1s
    steps: [{id: d1, service: api, method: "POST /x"}]
"#;
    assert_eq!(
        problems(steps),
        [
            "9:5: steps[0].service: a `foreach` step calls no service: `service` has no place here",
            "10:5: steps[0].method: a `foreach` step calls no service: `method` has no place here",
            "11:5: steps[0].input: a `foreach` step calls no service: `input` has no place here",
            "12:5: steps[0].timeout: a `foreach` step takes no `timeout`",
            "13:5: steps[0].retry: a `foreach` step calls no service: `retry` has no place here",
            "16:5: steps[1].foreach: a step cannot hold both `wait` and `foreach`",
            "22:5: steps[2].as: `as` belongs to a `foreach` step",
            "23:5: steps[2].concurrency: `concurrency` belongs to a `foreach` step",
            "24:5: steps[2].steps: `steps` belongs to a `foreach` step",
            "27:5: steps[3].steps: `steps` belongs to a `foreach` step",
        ]
    );
}

#[test]
fn ids_are_unique_across_bodies_and_free_of_path_characters() {
    let steps = r#"  - id: a
    foreach: "{{ .input.items }}"
    steps:
      - id: a
        service: api
        method: "POST /x"
      - id: "b[0]"
        service: api
        method: "POST /x"
  - id: "c/d"
    service: api
    method: "POST /x"
"#;
    assert_eq!(
        problems(steps),
        [
            "10:13: steps[0].steps[0].id: duplicate step id `a`",
            "13:13: steps[0].steps[1].id: step id `b[0]` holds `[`",
            "16:9: steps[1].id: step id `c/d` holds `/`",
        ]
    );
}

#[test]
fn a_body_reads_its_element_and_what_came_before_and_only_the_list_leaves_the_loop() {
    let steps = r#"  - id: before
    service: api
    method: "POST /a"
    output: first
  - id: loop
    foreach: "{{ .item }}"
    when: "{{ .first.ok }}"
    steps:
      - id: early
        service: api
        method: "POST /b"
        input: {x: "{{ .later.x }}", l: "{{ .done }}", i: "{{ .item_index.x }}", f: "{{ .first }}"}
        output: shared
      - id: later
        service: api
        method: "POST /c"
        input: {s: "{{ .shared }}", e: "{{ .item }}", i: "{{ .item_index }}", r: "{{ .run.id }}"}
        output: later
    output: done
  - id: after
    service: api
    method: "POST /d"
    input: {s: "{{ .shared.id }}", i: "{{ .item }}", d: "{{ .done[0].shared }}"}
output: {s: "{{ .later }}", d: "{{ .done }}", f: "{{ .first }}"}
"#;
    assert_eq!(
        problems(steps),
        [
            "12:14: steps[1].foreach: `.item` is the element of foreach `loop` (line 11), which \
             only its `steps` can read",
            "18:20: steps[1].steps[0].input.x: `.later.x` comes from step `later` (line 20), \
             which runs later",
            "18:41: steps[1].steps[0].input.l: `.done` is the output of foreach `loop` (line 11), \
             which holds this step: the list exists once every element is done",
            "18:59: steps[1].steps[0].input.i: `.item_index.x`: `.item_index` is a number",
            "29:16: steps[2].input.s: `.shared.id` comes from step `early` (line 15), inside \
             foreach `loop`: it holds one value per element",
            "29:39: steps[2].input.i: `.item` is the element of foreach `loop` (line 11), which \
             only its `steps` can read",
            "30:13: output.s: `.later` comes from step `later` (line 20), inside foreach `loop`: \
             it holds one value per element",
        ]
    );
    let hints = hints(steps);
    assert!(
        hints.contains(
            &"after the loop, read the foreach's output: `.done[i].shared` is element i's"
                .to_string()
        ),
        "{hints:?}"
    );
}

#[test]
fn loops_side_by_side_and_groups_in_a_body_keep_their_outputs_apart() {
    let steps = r#"  - parallel:
      - id: a
        foreach: "{{ .input.a }}"
        steps:
          - id: a1
            service: api
            method: "POST /a"
            output: from_a
      - id: b
        foreach: "{{ .input.b }}"
        steps:
          - parallel:
              - id: b1
                service: api
                method: "POST /b"
                input: {x: "{{ .from_a }}"}
                output: from_b
              - id: b2
                service: api
                method: "POST /b"
                input: {x: "{{ .from_b }}"}
                output: first
      - id: c
        service: api
        method: "POST /c"
        output: first
"#;
    assert_eq!(
        problems(steps),
        [
            "22:28: steps[0].parallel[1].steps[0].parallel[0].input.x: `.from_a` comes from step \
             `a1` (line 11), inside foreach `a`: it holds one value per element",
            "27:28: steps[0].parallel[1].steps[0].parallel[1].input.x: `.from_b` comes from step \
             `b1` (line 19), which runs in the same parallel group",
            "32:17: steps[0].parallel[2].output: output `first` is already produced by step `b2`",
        ]
    );
}

#[test]
fn an_element_cannot_hide_an_output_or_an_enclosing_element() {
    let steps = r#"  - id: pre
    service: api
    method: "POST /a"
    output: item
  - id: one
    foreach: "{{ .input.a }}"
    steps:
      - id: one_a
        service: api
        method: "POST /a"
  - id: two
    foreach: "{{ .input.b }}"
    as: sku
    steps:
      - id: inner
        foreach: "{{ .sku.parts }}"
        as: sku
        steps:
          - id: leaf
            service: api
            method: "POST /a"
            output: sku_index
  - id: three
    foreach: "{{ .input.c }}"
    as: part
    steps:
      - id: three_a
        service: api
        method: "POST /a"
        input: {p: "{{ .part }}", q: "{{ .item }}"}
  - id: post
    service: api
    method: "POST /a"
    output: part
"#;
    assert_eq!(
        problems(steps),
        [
            "12:14: steps[1].foreach: the element reads as `.item`, which names the output of \
             step `pre` (line 7) too",
            "19:9: steps[2].as: the element's position reads as `.sku_index`, which names the \
             output of step `leaf` (line 25) too",
            "23:13: steps[2].steps[0].as: the element reads as `.sku`, as does the element of \
             the enclosing foreach `two` (line 17)",
        ]
    );
}
