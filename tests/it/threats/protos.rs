//! `proto:` and `import_paths` read only the workflow file's folder (or
//! `--proto-root`), as `maestro validate` shows: paths out of it, by `..`,
//! absolutely or through a link, are refused, and a file that does not
//! compile is located by file, line and column without a word of its text.

use std::path::Path;

use super::{Exit, Scratch, maestro};

const VALID_PROTO: &str =
    "syntax = \"proto3\";\npackage p;\nmessage M {}\nservice S { rpc X(M) returns (M); }\n";

/// A workflow whose one gRPC service reads `proto`.
fn workflow(proto: &str) -> String {
    format!(
        "name: t\nservices:\n  s:\n    type: grpc\n    endpoint: \"localhost:1\"\n    proto: [\"{proto}\"]\nsteps:\n  - {{id: a, service: s, method: X}}\n"
    )
}

fn validate(dir: &Path, file: &str, extra: &[&str]) -> Exit {
    let args = [&["validate", file][..], extra].concat();
    maestro(dir, &args, &[])
}

/// Refused with exit 2, the message at the `proto` entry (line 6, column
/// 13), and not one line of /etc/passwd in the output.
fn refused(exit: &Exit, message: &str) {
    assert_eq!(exit.code, 2, "{}", exit.stdout);
    let at = format!("w.yaml:6:13: services.s.proto[0]: {message}");
    assert!(
        exit.stderr.contains(&at),
        "expected `{at}` in:\n{}",
        exit.stderr
    );
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines().filter(|l| !l.is_empty()) {
        let word = line.split(':').next().unwrap_or(line);
        assert!(
            !exit.stderr.contains(&format!("`{word}`")) && !exit.stderr.contains(line),
            "the output quotes /etc/passwd:\n{}",
            exit.stderr
        );
    }
}

#[test]
fn a_proto_path_out_of_the_workflows_folder_is_refused() {
    let scratch = Scratch::new("proto-escape");
    let wf = scratch.0.join("wf");
    // Enough `..` to reach / from the workflow's folder.
    let depth = wf.components().count() - 1;
    let climb = format!("{}etc/passwd", "../".repeat(depth));
    for proto in ["../../etc/passwd", climb.as_str(), "/etc/passwd"] {
        scratch.write("wf/w.yaml", &workflow(proto));
        let exit = validate(&wf, "w.yaml", &[]);
        refused(
            &exit,
            &format!("`{proto}` is outside the workflow's folder"),
        );
    }
}

#[test]
fn a_link_out_of_the_workflows_folder_is_refused() {
    let scratch = Scratch::new("proto-link");
    let wf = scratch.0.join("wf");
    scratch.write("wf/w.yaml", &workflow("passwd.proto"));
    std::os::unix::fs::symlink("/etc/passwd", wf.join("passwd.proto")).unwrap();
    let exit = validate(&wf, "w.yaml", &[]);
    refused(
        &exit,
        "`passwd.proto` leads, through a symbolic link, outside the workflow's folder",
    );
}

#[test]
fn a_malformed_proto_is_located_without_quoting_it() {
    let scratch = Scratch::new("proto-malformed");
    let wf = scratch.0.join("wf");
    let secret = "db_password: correct-horse-battery-staple";
    scratch.write("wf/w.yaml", &workflow("notes.proto"));
    scratch.write(
        "wf/notes.proto",
        &format!("syntax = \"proto3\";\n\n{secret}\n"),
    );
    let exit = validate(&wf, "w.yaml", &[]);
    assert_eq!(exit.code, 2, "{}", exit.stdout);
    assert!(
        exit.stderr.contains(
            "the .proto files do not compile: notes.proto:3:1: not valid protobuf syntax"
        ),
        "{}",
        exit.stderr
    );
    for word in secret.split([' ', ':', '-']).filter(|w| w.len() > 2) {
        assert!(
            !exit.stderr.contains(word),
            "`{word}` quoted:\n{}",
            exit.stderr
        );
    }
}

#[test]
fn proto_root_allows_a_folder_outside_the_workflows() {
    let scratch = Scratch::new("proto-root");
    let wf = scratch.0.join("wf");
    scratch.write("shared/s.proto", VALID_PROTO);
    scratch.write("wf/w.yaml", &workflow("../shared/s.proto"));
    let exit = validate(&wf, "w.yaml", &[]);
    refused(
        &exit,
        "`../shared/s.proto` is outside the workflow's folder",
    );
    let exit = validate(&wf, "w.yaml", &["--proto-root", "../shared"]);
    assert_eq!(exit.code, 0, "{}", exit.stderr);
    assert!(
        exit.stdout.contains("w.yaml: ok: workflow t"),
        "{}",
        exit.stdout
    );
    let shared = scratch.0.join("shared");
    let exit = validate(&wf, "w.yaml", &["--proto-root", shared.to_str().unwrap()]);
    assert_eq!(exit.code, 0, "{}", exit.stderr);
}
