//! The decoder's guards against greedy services, leaked secrets and files
//! read from anywhere: `max_response_bytes`, `${NAME}` in headers, and
//! `proto` confined to the workflow's folder.

use std::path::Path;

use serde_json::json;

use crate::template::Scope;
use crate::workflow::model::*;
use crate::workflow::{Diagnostic, load_str, load_within};

fn env(name: &str) -> Option<String> {
    match name {
        "TOKEN" => Some("s3cret".into()),
        "BROKEN" => Some("line\nbreak".into()),
        _ => None,
    }
}

fn short(d: &Diagnostic) -> String {
    format!("{}:{}: {}: {}", d.line, d.column, d.path, d.message)
}

fn problems(yaml: &str) -> Vec<String> {
    let diagnostics = load_str(yaml, "w.yaml", &env).expect_err("expected problems");
    diagnostics.iter().map(short).collect()
}

fn http_workflow(service_extra: &str, step_extra: &str) -> String {
    format!(
        "name: t\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n{service_extra}steps:\n  - id: a\n    service: api\n    method: \"POST /a\"\n{step_extra}"
    )
}

#[test]
fn max_response_bytes_takes_bytes_or_binary_units() {
    let yaml = http_workflow("", "");
    let w = load_str(&yaml, "w.yaml", &env).unwrap();
    assert_eq!(w.services[0].max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
    for (written, bytes) in [
        ("4096", 4096),
        ("\"512KiB\"", 512 * 1024),
        ("8 MiB", 8 << 20),
        ("1GiB", 1 << 30),
        ("\"100 B\"", 100),
    ] {
        let yaml = http_workflow(&format!("    max_response_bytes: {written}\n"), "");
        let w = load_str(&yaml, "w.yaml", &env).unwrap_or_else(|d| panic!("{written}: {d}"));
        assert_eq!(
            w.services[0].max_response_bytes,
            ByteSize(bytes),
            "{written}"
        );
    }
}

#[test]
fn max_response_bytes_out_of_bounds_or_ambiguous_is_reported_where_written() {
    let cases = [
        ("0", "must be at least 1 byte"),
        ("2GiB", "2 GiB is more than 1 GiB"),
        ("8MB", "`8MB`: write `8MiB`; sizes use binary units"),
        ("-1", "`-1` is not a whole number of bytes"),
        ("lots", "`lots` is not a size"),
        ("[1]", "expected a size such as `8MiB`, found a list"),
    ];
    for (written, message) in cases {
        let yaml = http_workflow(&format!("    max_response_bytes: {written}\n"), "");
        assert_eq!(
            problems(&yaml),
            [format!("6:25: services.api.max_response_bytes: {message}")],
            "{written}"
        );
    }
}

#[test]
fn header_variables_are_expanded_at_load_and_never_shown() {
    let yaml = http_workflow(
        "    headers:\n      X-Key: \"${TOKEN}\"\n",
        "    headers:\n      Authorization: \"Bearer ${TOKEN} {{ .input.user }}\"\n",
    );
    let w = load_str(&yaml, "w.yaml", &env).unwrap();
    let ServiceKind::Http(http) = &w.services[0].kind else {
        panic!("an HTTP service")
    };
    let scope = Scope::new(json!({"user": "ada"}));
    assert_eq!(
        http.headers[0].value.render_string(&scope).unwrap(),
        "s3cret"
    );
    let step = w.all_steps().next().unwrap();
    let value = &step.call().unwrap().headers[0].value;
    assert_eq!(value.render_string(&scope).unwrap(), "Bearer s3cret ada");
    assert_eq!(value.source(), "Bearer ${TOKEN} {{ .input.user }}");
    let shown = format!("{w:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn unset_or_unsendable_header_variables_are_reported_where_written() {
    let yaml = http_workflow(
        "    headers:\n      X-Key: \"${MISSING}\"\n",
        "    headers:\n      A: \"Bearer ${BROKEN}\"\n      B: \"{{ .input.x ${TOKEN} }}\"\n    compensate:\n      method: \"POST /undo\"\n      headers: {C: \"${ALSO_MISSING}\"}\n",
    );
    assert_eq!(
        problems(&yaml),
        [
            "7:14: services.api.headers.X-Key: environment variable `MISSING` is not set",
            "13:10: steps[0].headers.A: environment variable `BROKEN` holds characters a header cannot carry",
            "14:10: steps[0].headers.B: `${TOKEN}` is inside `{{ }}`, where it is not expanded",
            "17:20: steps[0].compensate.headers.C: environment variable `ALSO_MISSING` is not set",
        ]
    );
    let with_default = http_workflow("    headers:\n      X-Key: \"${MISSING:-none}\"\n", "");
    assert!(load_str(&with_default, "w.yaml", &env).is_ok());
}

/// A folder with `wf/` (the workflow's) and `outside/`, each with a valid
/// `.proto`, removed when dropped.
struct Folders(std::path::PathBuf);

impl Folders {
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("maestro-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["wf", "outside"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(
                root.join(dir).join("ok.proto"),
                "syntax = \"proto3\";\npackage p;\nmessage M {}\nservice S { rpc X(M) returns (M); }\n",
            )
            .unwrap();
        }
        Self(root)
    }

    fn load(&self, proto: &str, proto_root: Option<&Path>) -> Result<Workflow, Vec<String>> {
        let yaml = format!(
            "name: t\nservices:\n  s:\n    type: grpc\n    endpoint: \"localhost:1\"\n    proto: [\"{proto}\"]\nsteps:\n  - {{id: a, service: s, method: X}}\n"
        );
        load_within(&yaml, &self.0.join("wf/w.yaml"), proto_root, &env)
            .map_err(|d| d.iter().map(short).collect())
    }
}

impl Drop for Folders {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn proto_files_stay_in_the_workflows_folder_unless_a_root_allows_more() {
    let folders = Folders::new("proto-roots");
    assert!(folders.load("ok.proto", None).is_ok());
    let outside =
        "6:13: services.s.proto[0]: `../outside/ok.proto` is outside the workflow's folder";
    assert_eq!(
        folders.load("../outside/ok.proto", None).unwrap_err(),
        [outside]
    );
    let absolute = folders.0.join("outside/ok.proto");
    let absolute = absolute.to_str().unwrap();
    assert_eq!(
        folders.load(absolute, None).unwrap_err(),
        [format!(
            "6:13: services.s.proto[0]: `{absolute}` is outside the workflow's folder"
        )]
    );
    let root = folders.0.join("outside");
    assert!(folders.load("../outside/ok.proto", Some(&root)).is_ok());
    assert!(folders.load("ok.proto", Some(&root)).is_ok());
}
