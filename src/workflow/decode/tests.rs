//! The decoder on small workflows: defaults, merging, and the problems each
//! check reports, by position and wording.

use std::time::Duration;

use crate::resilience::{BackoffKind, BreakerConfig, RetryPolicy};
use crate::workflow::model::*;
use crate::workflow::{Diagnostic, load_str};

const SERVICES: &str = r#"
services:
  fast:
    type: grpc
    endpoint: "localhost:50051"
  api:
    type: http
    endpoint: "http://localhost:3000"
"#;

fn env(name: &str) -> Option<String> {
    (name == "API_PORT").then(|| "7002".to_string())
}

fn load(yaml: &str) -> Workflow {
    match load_str(yaml, "w.yaml", &env) {
        Ok(w) => w,
        Err(d) => panic!("expected a valid workflow:\n{d}"),
    }
}

/// `line:column: path: message` of every diagnostic.
fn problems(yaml: &str) -> Vec<String> {
    let diagnostics = load_str(yaml, "w.yaml", &env).expect_err("expected problems");
    diagnostics.iter().map(short).collect()
}

fn short(d: &Diagnostic) -> String {
    format!("{}:{}: {}: {}", d.line, d.column, d.path, d.message)
}

fn hints(yaml: &str) -> Vec<String> {
    let diagnostics = load_str(yaml, "w.yaml", &env).expect_err("expected problems");
    diagnostics.iter().filter_map(|d| d.hint.clone()).collect()
}

fn with_steps(steps: &str) -> String {
    format!("name: t\n{SERVICES}steps:\n{steps}")
}

#[test]
fn minimal_workflow_gets_documented_defaults() {
    let w = load(&with_steps(
        "  - id: a\n    service: fast\n    method: Process\n",
    ));
    assert_eq!(w.name, "t");
    assert_eq!(w.version, None);
    assert_eq!(w.timeout, None);
    assert_eq!(w.compensation_timeout, DEFAULT_COMPENSATION_TIMEOUT);
    assert!(w.output.is_none());
    let fast = w.service("fast").unwrap();
    assert_eq!(fast.retry, RetryPolicy::default());
    assert_eq!(fast.circuit_breaker, BreakerConfig::default());
    assert_eq!(fast.timeout, None);
    match &fast.kind {
        ServiceKind::Grpc(g) => {
            assert_eq!(g.pool_size, DEFAULT_POOL_SIZE);
            assert_eq!(g.endpoint.to_string(), "http://localhost:50051/");
            assert!(matches!(g.descriptors, DescriptorSource::Reflection));
        }
        other => panic!("expected gRPC, got {other:?}"),
    }
    let step = w.all_steps().next().unwrap();
    let call = step.call().unwrap();
    assert!(matches!(&call.call, Call::Grpc { method } if method == "Process"));
    assert_eq!(call.retry, RetryPolicy::default());
    assert!(step.output.is_none() && step.when.is_none() && call.compensate.is_none());
}

#[test]
fn step_retry_merges_over_the_services() {
    let yaml = r#"
name: t
services:
  api:
    type: http
    endpoint: "http://localhost:${API_PORT}"
    timeout: 2s
    retry: {attempts: 5, backoff: constant, initial_interval: 50ms}
    circuit_breaker: {failure_threshold: 2, reset_timeout: 1s}
steps:
  - id: a
    service: api
    method: "POST /a"
    retry: {attempts: 2}
  - id: b
    service: api
    method: "GET /b/{{ .input.id }}"
"#;
    let w = load(yaml);
    let api = w.service("api").unwrap();
    assert_eq!(api.timeout, Some(Duration::from_secs(2)));
    assert_eq!(api.circuit_breaker.failure_threshold, 2);
    assert_eq!(api.circuit_breaker.reset_timeout, Duration::from_secs(1));
    match &api.kind {
        ServiceKind::Http(h) => assert_eq!(h.endpoint.as_str(), "http://localhost:7002/"),
        other => panic!("expected HTTP, got {other:?}"),
    }
    let steps: Vec<&CallStep> = w.all_steps().filter_map(Step::call).collect();
    assert_eq!(steps[0].retry.attempts, 2);
    assert_eq!(steps[0].retry.backoff, BackoffKind::Constant);
    assert_eq!(steps[0].retry.initial_interval, Duration::from_millis(50));
    assert_eq!(steps[1].retry, api.retry);
    assert!(matches!(&steps[1].call, Call::Http { verb, .. } if verb == http::Method::GET));
}

#[test]
fn parallel_groups_and_compensations_decode() {
    let w = load(&with_steps(
        r#"  - id: a
    service: fast
    method: Process
    output: processed
    compensate:
      method: Undo
      input: {id: "{{ .processed.id }}"}
  - parallel:
      - {id: b, service: fast, method: Analyze, output: analysis, input: {x: "{{ .processed }}"}}
      - {id: c, service: api, method: "POST /enrich", output: enriched}
  - id: d
    when: "{{ .analysis.confidence > 0.8 }}"
    service: api
    method: "POST /submit"
    headers: {X-Request: "{{ .input.id }}"}
    compensate: {service: fast, method: Cancel}
output:
  all: "{{ .enriched }}"
"#,
    ));
    assert_eq!(w.steps.len(), 3);
    assert!(matches!(&w.steps[1], Node::Parallel(g) if g.branches.len() == 2));
    let d = w.all_steps().last().unwrap();
    assert!(d.when.is_some());
    assert_eq!(d.call().unwrap().headers[0].name.as_str(), "x-request");
    let comp = d.compensation().unwrap();
    assert_eq!(comp.service, "fast");
    let a = w.all_steps().next().unwrap();
    assert_eq!(a.compensation().unwrap().service, "fast");
}

#[test]
fn unknown_fields_suggest_the_closest_name() {
    let yaml = with_steps(
        "  - id: a\n    service: fast\n    method: Process\n    retires: {attempts: 2}\n",
    );
    assert_eq!(
        problems(&yaml),
        ["14:5: steps[0].retires: unknown field `retires`"]
    );
    assert_eq!(hints(&yaml), ["did you mean `retry`?"]);
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let yaml = r#"
name: t
timeout: 30
services:
  fast:
    type: grcp
    endpoint: "localhost"
    pool: {size: 0}
steps:
  - id: a
    service: fast
    method: Process
    retry: {attempts: 0, multiplier: 0.5, jitter: 2}
  - id: a
    service: nowhere
"#;
    assert_eq!(
        problems(yaml),
        [
            "3:10: timeout: expected a duration such as `30s`, found the number 30",
            "6:11: services.fast.type: unknown service type `grcp`",
            "13:23: steps[0].retry.attempts: must be at least 1, got 0",
            "13:38: steps[0].retry.multiplier: must be at least 1, got 0.5",
            "13:51: steps[0].retry.jitter: must be between 0 and 1, got 2",
            "14:5: steps[1]: missing field `method`",
            "14:9: steps[1].id: duplicate step id `a`",
            "15:14: steps[1].service: unknown service `nowhere`",
            "4:1: services: service `nowhere` is used but not defined",
        ]
    );
}

#[test]
fn data_must_exist_where_it_is_read() {
    let yaml = with_steps(
        r#"  - id: early
    service: fast
    method: Process
    input: {a: "{{ .analysis.score }}", b: "{{ .input.x }}", c: "{{ .missng }}"}
    output: first
  - parallel:
      - {id: b, service: fast, method: Analyze, output: analysis}
      - {id: c, service: fast, method: Enrich, input: {a: "{{ .analysis }}"}, output: missing}
  - id: d
    service: fast
    method: Submit
    output: result
    compensate: {method: Cancel, input: {id: "{{ .result.id }}", x: "{{ .later }}"}}
  - id: e
    service: fast
    method: Last
    output: later
output: {everything: "{{ .later }}"}
"#,
    );
    assert_eq!(
        problems(&yaml),
        [
            "14:16: steps[0].input.a: `.analysis.score` comes from step `b` (line 17), which runs later",
            "14:65: steps[0].input.c: `.missng`: no step outputs `missng`",
            "18:59: steps[1].parallel[1].input.a: `.analysis` comes from step `b` (line 17), which runs in the same parallel group",
            "23:69: steps[2].compensate.input.x: `.later` comes from step `e` (line 24), which runs later",
        ]
    );
    assert_eq!(hints(&yaml)[1], "did you mean `missing`?");
}

#[test]
fn the_run_itself_is_readable_by_its_fields() {
    let yaml = with_steps(
        r#"  - id: a
    service: api
    method: "POST /a/{{ .run.id }}"
    input: {w: "{{ .run.workflow }}", at: "{{ .run.started_at }}", bad: "{{ .run.workfow }}"}
    headers: {x-all: "{{ .run }}", x-deep: "{{ .run.id.x }}"}
  - {id: b, service: api, method: "POST /b", output: run}
"#,
    );
    assert_eq!(
        problems(&yaml),
        [
            "14:73: steps[0].input.bad: `.run.workfow`: the run has no `workfow`",
            "15:22: steps[0].headers.x-all: `.run` is an object; read one of its fields",
            "15:44: steps[0].headers.x-deep: `.run.id.x`: `.run.id` is a string",
            "16:54: steps[1].output: `run` is about the run itself and cannot be a step's output",
        ]
    );
    assert_eq!(hints(&yaml)[0], "did you mean `workflow`?");
}

#[test]
fn on_failure_continues_only_steps_with_nothing_to_undo() {
    let yaml = with_steps(
        r#"  - {id: a, service: api, method: "POST /a", on_failure: continue}
  - {id: b, service: api, method: "POST /b", on_failure: compensate}
  - {id: c, service: api, method: "POST /c", on_failure: contnue}
  - id: d
    service: api
    method: "POST /d"
    on_failure: continue
    compensate: {method: "POST /undo"}
"#,
    );
    assert_eq!(
        problems(&yaml),
        [
            "13:58: steps[2].on_failure: unknown `on_failure` `contnue`",
            "17:17: steps[3].on_failure: a step with a `compensate` cannot go on after failing",
        ]
    );
    assert_eq!(hints(&yaml)[0], "did you mean `continue`?");
    let valid = with_steps(
        r#"  - {id: a, service: api, method: "POST /a", on_failure: continue}
  - {id: b, service: api, method: "POST /b"}
"#,
    );
    let workflow = load(&valid);
    let steps: Vec<OnFailure> = workflow.all_steps().map(|s| s.on_failure).collect();
    assert_eq!(steps, [OnFailure::Continue, OnFailure::Compensate]);
}

#[test]
fn methods_are_checked_against_the_protocol() {
    let yaml = with_steps(
        r#"  - {id: a, service: fast, method: "POST /x"}
  - {id: b, service: api, method: Process}
  - {id: c, service: api, method: "post /x"}
  - {id: d, service: api, method: "POST x"}
  - {id: e, service: api, method: "POST /x/{{ .nothing }}"}
  - {id: f, service: fast, method: Process, compensate: {input: {}}}
  - {id: g, service: fast, method: Process, headers: {X-A: b}}
"#,
    );
    assert_eq!(
        problems(&yaml),
        [
            "11:36: steps[0].method: `POST /x` is not a gRPC method name",
            "12:35: steps[1].method: `Process` is not `VERB /path`",
            "13:35: steps[2].method: unknown HTTP verb `post`",
            "14:35: steps[3].method: the path `x` does not start with `/`",
            "15:35: steps[4].method: `.nothing`: no step outputs `nothing`",
            "16:57: steps[5].compensate: missing field `method`",
            "17:54: steps[6].headers: `headers` apply to http services only",
        ]
    );
}

#[test]
fn when_must_be_one_template() {
    let yaml = with_steps(
        r#"  - {id: a, service: fast, method: A, when: "yes {{ .input.x }}"}
  - {id: b, service: fast, method: B, when: true}
  - {id: c, service: fast, method: C, when: "{{ .input.x > }}"}
"#,
    );
    let found = problems(&yaml);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found[0].starts_with("11:45: steps[0].when: template `yes {{ .input.x }}` does not parse"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("12:45: steps[1].when: expected a `{{ }}` template string"),
        "{found:?}"
    );
    assert!(
        found[2].starts_with("13:45: steps[2].when: template `{{ .input.x > }}` does not parse"),
        "{found:?}"
    );
}

#[test]
fn endpoints_expand_the_environment() {
    let yaml = "name: t\nservices:\n  s:\n    type: grpc\n    endpoint: \"localhost:${NOPE}\"\nsteps:\n  - {id: a, service: s, method: A}\n";
    assert_eq!(
        problems(yaml),
        ["5:15: services.s.endpoint: environment variable `NOPE` is not set"]
    );
    let yaml = yaml.replace("${NOPE}", "${NOPE:-7001}");
    let w = load(&yaml);
    assert!(
        matches!(&w.services[0].kind, ServiceKind::Grpc(g) if g.endpoint.port_u16() == Some(7001))
    );
}

#[test]
fn yaml_errors_and_empty_files() {
    assert_eq!(
        problems("name: a\nname: b\n")[0],
        "2:1: : invalid YAML: duplicate mapping key `name` is not allowed here"
    );
    assert_eq!(problems("")[0], "1:1: : the file holds no workflow");
    assert_eq!(
        problems("- a\n")[0],
        "1:1: : expected a workflow (a mapping), found a list"
    );
}
