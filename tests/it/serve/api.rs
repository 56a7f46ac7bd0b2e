//! Every endpoint of the API, its OpenAPI document, the token, and bad
//! requests: each gets a 4xx with a JSON error body and the server stays up.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::process::{ServeProcess, fleet};

/// `(METHOD, /path)` of every operation in an OpenAPI document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_endpoint_is_served_and_nothing_else() {
    let fleet = fleet();
    let server = ServeProcess::spawn(&fleet, &["--enable-fault-injection"]);
    let run_id = server.submit("loan_processing", &json!({})).await;
    server
        .wait_final(&run_id, std::time::Duration::from_secs(30))
        .await;

    let (status, doc) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    let documented = operations(&doc);
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/v1/workflows/{name}/runs"),
        ("GET", "/v1/runs"),
        ("GET", "/v1/runs/{id}"),
        ("DELETE", "/v1/runs/{id}"),
        ("POST", "/v1/runs/{id}/signals/{name}"),
        ("POST", "/v1/runs/{id}/retry"),
        ("GET", "/v1/workflows"),
        ("GET", "/v1/workflows/{name}"),
        ("GET", "/v1/services"),
        ("GET", "/v1/schedules"),
        ("GET", "/v1/events"),
        ("GET", "/v1/workflows/{name}/graph.svg"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/v1/admin/services/{name}/kill"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(documented, expected);
    // The guard's refusals are documented where they can happen.
    for (method, path) in &documented {
        let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
        let health = path == "/healthz" || path == "/readyz";
        for status in ["403", "408", "413"] {
            assert!(responses[status].is_object(), "{method} {path}: {status}");
        }
        assert_eq!(
            responses["503"].is_object(),
            !health || path == "/readyz",
            "{method} {path}"
        );
        assert!(
            responses["401"].is_null(),
            "no token, no 401: {method} {path}"
        );
    }

    // Each documented operation is routed: it never gets the router's own
    // "no such endpoint" or "method not allowed".
    for (method, path) in &documented {
        let concrete = path
            .replace(
                "{name}",
                if path.contains("admin") {
                    "credit_bureau"
                } else {
                    "loan_processing"
                },
            )
            .replace("{id}", &run_id);
        let request = server
            .client
            .request(method.parse().unwrap(), server.url(&concrete));
        let request = if method == "POST" {
            request.json(&json!({}))
        } else {
            request
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        // An event stream stays open: its status says it is served.
        let streams = path == "/v1/events";
        let body = if streams {
            String::new()
        } else {
            response.text().await.unwrap_or_default()
        };
        assert!(
            !body.contains("no such endpoint") && status != 405,
            "{method} {concrete} is documented but not served: {status} {body}"
        );
    }
    let (status, body) = server.get("/v1/nothing/here").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // A finished run's body has every property its schema requires.
    let (_, run) = server.get(&format!("/v1/runs/{run_id}")).await;
    let schemas = &doc["components"]["schemas"];
    for schema in ["RunReport", "StepRecord"] {
        let required = schemas[schema]["required"]
            .as_array()
            .expect("required list");
        let instance = if schema == "RunReport" {
            &run
        } else {
            &run["steps"][0]
        };
        for field in required {
            let field = field.as_str().unwrap();
            assert!(
                instance.get(field).is_some(),
                "{schema}.{field} missing from {instance}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_workflows_services_health_and_metrics_answer() {
    let fleet = fleet();
    let server = ServeProcess::spawn(&fleet, &[]);

    let (status, body) = server
        .post(
            "/v1/workflows/loan_processing/runs?wait=true",
            &json!({ "input": {} }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["output"]["approval"]["status"], "approved");
    let steps = body["steps"].as_array().expect("steps");
    assert!(
        steps
            .iter()
            .any(|s| s["id"] == "credit_check" && s["outcome"] == "ok")
    );

    let response = server
        .client
        .post(server.url("/v1/workflows/loan_processing/runs"))
        .json(&json!({ "input": {} }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/runs/{}", accepted["run_id"].as_str().unwrap())
    );
    let id = accepted["run_id"].as_str().unwrap();
    let finished = server
        .wait_final(id, std::time::Duration::from_secs(30))
        .await;
    assert_eq!(finished["status"], "succeeded");

    let (_, list) = server
        .get("/v1/runs?workflow=loan_processing&status=succeeded&limit=1")
        .await;
    let runs = list["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_id"], id, "newest first");
    let (_, none) = server.get("/v1/runs?workflow=order_checkout").await;
    assert_eq!(none["runs"], json!([]));

    let (_, workflows) = server.get("/v1/workflows").await;
    let loan = workflows["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "loan_processing")
        .expect("listed");
    assert!(
        loan["graph"].as_str().unwrap().contains("flowchart"),
        "{loan}"
    );

    let (_, services) = server.get("/v1/services").await;
    let kyc = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "kyc_service")
        .expect("kyc_service listed");
    assert_eq!(kyc["alive"], true);
    assert_eq!(kyc["breaker"], "closed");
    assert_eq!(kyc["restarts"], 0);
    assert_eq!(kyc["pool_size"], 5);

    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.get("/readyz").await.0, 200);
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    for line in [
        "maestro_runs_total{workflow=\"loan_processing\",status=\"succeeded\"} 2",
        "maestro_run_duration_seconds_count{workflow=\"loan_processing\"} 2",
        "maestro_runs_in_flight 0",
        "maestro_breaker_state{service=\"kyc_service\"",
        "maestro_service_actor_restarts_total{service=\"kyc_service\"",
    ] {
        assert!(text.contains(line), "/metrics lacks `{line}`:\n{text}");
    }
    // Without --enable-fault-injection there is no kill endpoint.
    let (status, _) = server
        .post("/v1/admin/services/kyc_service/kill", &json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_4xx_json_error_and_the_server_stays_up() {
    let fleet = fleet();
    let server = ServeProcess::spawn(&fleet, &["--max-body-bytes", "65536"]);
    let runs = server.url("/v1/workflows/loan_processing/runs");
    let send = |body: String, content_type: Option<&'static str>| {
        let mut request = server.client.post(runs.clone()).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        async move {
            let response = request.send().await.expect("answered");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("a JSON error body");
            (
                status,
                body["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }
    };
    let json = Some("application/json");
    let deep = format!("{{\"input\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
    let huge = format!("{{\"input\":{{\"blob\":\"{}\"}}}}", "x".repeat(100_000));
    let cases: Vec<(&str, String, Option<&'static str>, u16)> = vec![
        ("malformed JSON", "{\"input\":".into(), json, 400),
        ("input not an object", "{\"input\":[1,2]}".into(), json, 422),
        ("unknown field", "{\"inputs\":{}}".into(), json, 422),
        ("fields as an array", "[{\"a\":1}]".into(), json, 422),
        ("deep nesting", deep, json, 400),
        ("body over the limit", huge, json, 413),
        ("no content type", "{}".into(), None, 415),
    ];
    for (what, body, content_type, expected) in cases {
        let (status, code) = send(body, content_type).await;
        assert_eq!(status, expected, "{what}: got {status} {code}");
        assert!(!code.is_empty(), "{what}: error body has a code");
    }
    for (path, expected) in [
        ("/v1/workflows/nope/runs", 404),
        ("/v1/runs/not-a-run", 404),
        ("/v1/runs?limit=lots", 400),
        ("/v1/runs?status=sleeping", 400),
        ("/v1/runs?limt=3", 400),
        ("/v1/runs/%FF%FE", 400),
        ("/v1/workflows/loan_processing/runs?wiat=true", 400),
    ] {
        let (status, body) = if path.starts_with("/v1/workflows/") {
            server.post(path, &json!({})).await
        } else {
            server.get(path).await
        };
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["error"]["message"].is_string(), "{path}: {body}");
    }
    let (status, body) = server.get("/v1/runs?limit=99999999999999999999999").await;
    assert_eq!(
        status, 200,
        "a limit past any integer means the most: {body}"
    );
    let wrong_method = server
        .client
        .put(server.url("/v1/runs"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);
    let (status, body) = server.delete("/v1/runs/not-a-run").await;
    assert_eq!(status, 404, "{body}");

    assert_eq!(server.get("/healthz").await.0, 200);
    let (status, body) = server
        .post(
            "/v1/workflows/loan_processing/runs?wait=true",
            &json!({ "input": {} }),
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("succeeded")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_guards_every_endpoint_but_health() {
    let fleet = fleet();
    let server = ServeProcess::spawn(&fleet, &["--token", "s3cret-token-of-16+"]);
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("s3cret-token-of-16+"),
        Some("Bearer s3cret-token-of-16+X"),
    ] {
        let mut request = server.client.get(server.url("/v1/workflows"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{auth:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    for path in ["/v1/workflows", "/v1/runs", "/metrics", "/openapi.json"] {
        let response = server
            .client
            .get(server.url(path))
            .bearer_auth("s3cret-token-of-16+")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    let (status, _) = server
        .post("/v1/workflows/loan_processing/runs", &json!({}))
        .await;
    assert_eq!(status, 401, "submitting needs the token too");
    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.get("/readyz").await.0, 200);
}

#[test]
fn unsafe_or_invalid_configurations_refuse_to_start() {
    let open = ServeProcess::try_spawn(
        &[],
        &["--bind", "0.0.0.0", "--workflows", "examples/workflows"],
    )
    .err()
    .expect("a non-loopback bind without a token is refused");
    assert_eq!(open.code, Some(2));
    assert!(open.stderr.contains("without a token"), "{}", open.stderr);

    let invalid =
        ServeProcess::try_spawn(&[], &["--workflows", "tests/invalid/unknown_service.yaml"])
            .err()
            .expect("an invalid workflow is refused");
    assert_eq!(invalid.code, Some(2));
    assert!(
        invalid.stderr.contains("unknown_service.yaml:"),
        "names the file: {}",
        invalid.stderr
    );

    let twice = ServeProcess::try_spawn(
        &[],
        &[
            "--workflows",
            "examples/workflows/loan_processing.yaml",
            "examples/workflows/loan_processing.yaml",
        ],
    )
    .err()
    .expect("two workflows with one name are refused");
    assert_eq!(twice.code, Some(2));
    assert!(
        twice
            .stderr
            .contains("two workflows are named `loan_processing`"),
        "{}",
        twice.stderr
    );
}
