//! Hostile and careless peers, as a user would meet them: services that
//! answer too much, credentials in endpoints and headers, and `proto:`
//! paths that reach for files outside the workflow's folder. Real
//! processes (`maestro execute`, `validate`, `serve`) against real servers
//! on 127.0.0.1.

mod protos;
mod responses;
mod secrets;

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Router;
use serde_json::Value;

/// A scratch folder under the system's temporary folder, removed when
/// dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("maestro-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        Scratch(dir)
    }

    /// Write `text` at `relative`, creating its folder; the full path.
    pub fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
        std::fs::write(&path, text).expect("a file");
        path
    }

    /// Every byte of every file under `relative` (a state folder: the
    /// database, its write-ahead log and anything else SQLite keeps).
    pub fn bytes_under(&self, relative: &str) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(self.0.join(relative)).expect("the folder") {
            let path = entry.expect("an entry").path();
            if path.is_file() {
                all.extend(std::fs::read(&path).expect("readable"));
            }
        }
        all
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a `maestro` process did.
pub struct Exit {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Exit {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// `maestro ARGS` in `dir`, with `env` set (and nothing else of the test's
/// environment that a workflow could read by accident).
pub fn maestro(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Exit {
    let output = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("maestro runs");
    Exit {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// [`maestro`] from async code, off the runtime's threads.
pub async fn maestro_async(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Exit {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        maestro(&dir, &args, &env)
    })
    .await
    .expect("the process ran")
}

/// An axum app on an ephemeral port of 127.0.0.1 for the rest of the test.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}
