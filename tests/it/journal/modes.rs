//! A state directory holds runs' inputs and outputs: Maestro creates it
//! 0700 and its files 0600 under any umask, and tightens the files of a
//! folder it did not create without changing the folder's own mode.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use maestro::journal::SyncMode;
use maestro::journal::sqlite::SqliteJournal;

use super::StateDir;
use crate::support::{Fault, ServiceProcess, env_for};

/// `path`'s mode in octal, as `ls -l` would count it.
fn mode(path: &Path) -> String {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("{:o}", meta.permissions().mode() & 0o777)
}

/// Every file in `dir`, with its mode in octal.
fn file_modes(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("the state directory")
        .map(|entry| {
            let entry = entry.expect("an entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, mode(&entry.path()))
        })
        .collect();
    files.sort();
    files
}

fn all_private(files: &[(String, String)]) -> bool {
    files.iter().all(|(_, mode)| mode == "600")
}

/// `maestro execute` of the loan workflow journaled in `dir`, under umask 0
/// so that only the modes Maestro asks for protect the files.
fn execute(core: &ServiceProcess, dir: &StateDir) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", r#"umask 000 && exec "$0" "$@""#])
        .arg(env!("CARGO_BIN_EXE_maestro"))
        .args(["execute", "examples/workflows/loan_processing.yaml"])
        .args(["--input", "{}", "--state-dir", dir.arg()])
        .envs(env_for(&[core]))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_creates_its_state_directory_0700_and_its_files_0600() {
    let core = ServiceProcess::spawn("core_grpc", &[]);
    // The run stays in flight, so SQLite's -wal and -shm files exist.
    core.set_fault(Fault::delay("GenerateContract", 5000).times(1));
    let dir = StateDir::new("modes");
    let mut running = execute(&core, &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("maestro execute");
    core.wait_active("GenerateContract");
    let in_flight = file_modes(dir.path());
    running.kill().expect("kill -9");
    let _ = running.wait();
    assert_eq!(mode(dir.path()), "700", "the state directory");
    let names: Vec<&str> = in_flight.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["maestro.lock", "runs.db", "runs.db-shm", "runs.db-wal"] {
        assert!(names.contains(&expected), "{expected} in {in_flight:?}");
    }
    assert!(all_private(&in_flight), "{in_flight:?}");

    // The next start resumes the run and leaves its files as private.
    let output = execute(&core, &dir).output().expect("maestro execute");
    assert!(output.status.success(), "{output:?}");
    let after = file_modes(dir.path());
    assert!(after.iter().any(|(n, _)| n == "runs.db"), "{after:?}");
    assert!(all_private(&after), "{after:?}");
    assert_eq!(mode(dir.path()), "700");
}

#[test]
fn an_existing_folder_keeps_its_mode_and_its_journal_files_are_tightened() {
    let dir = StateDir::new("existing");
    // The folder as the user made it, the files as an older version left
    // them (an empty file is an empty SQLite database).
    std::fs::create_dir(dir.path()).unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    for name in ["runs.db", "maestro.lock", "runs.db-wal", "runs.db-shm"] {
        let path = dir.path().join(name);
        std::fs::write(&path, []).unwrap();
        std::fs::set_permissions(&path, PermissionsExt::from_mode(0o644)).unwrap();
    }
    let journal = SqliteJournal::open(dir.path(), SyncMode::Full).expect("opens");
    assert_eq!(mode(dir.path()), "755", "the user's folder is left alone");
    let files = file_modes(dir.path());
    assert!(all_private(&files), "{files:?}");
    drop(journal);
}
