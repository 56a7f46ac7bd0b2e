//! The README's commands, run as written and in order, in a folder laid out
//! as a fresh clone after `make build` (`bin/maestro`, `examples/`), against
//! the example services that `make services` starts; and Ctrl-C stops those.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The README's shell blocks that call `./bin/maestro`, without the `make`
/// lines (the folder already holds what `make build` makes).
fn readme_commands() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let mut script = String::new();
    for block in readme.split("```bash\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        if !block.contains("./bin/maestro") {
            continue;
        }
        for line in block.lines().filter(|l| !l.starts_with("make ")) {
            script.push_str(line);
            script.push('\n');
        }
    }
    script
}

/// `scripts/services.sh` in its own process group, as a terminal runs it,
/// once its four services said they listen.
fn start_services() -> std::process::Child {
    let examples = Path::new(env!("CARGO_BIN_EXE_maestro"))
        .parent()
        .expect("target/debug")
        .join("examples");
    let mut child = Command::new("bash")
        .arg(repo().join("scripts/services.sh"))
        .env("EXAMPLES_BIN", examples)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let stdout = child.stdout.take().expect("piped");
    let ready = BufReader::new(stdout)
        .lines()
        .take(4)
        .filter(|l| l.as_ref().is_ok_and(|l| l.contains("listening")))
        .count();
    assert_eq!(ready, 4, "the four example services start");
    child
}

/// Ctrl-C, as a terminal sends it: SIGINT to the whole group.
fn interrupt(child: &mut std::process::Child) -> Option<i32> {
    let group = i32::try_from(child.id()).expect("a pid");
    // SAFETY: kill(2) with a negative pid signals that process group only.
    unsafe { libc::kill(-group, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("waitable") {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_readme_commands_work_as_written_in_order() {
    let script = readme_commands();
    assert!(script.contains("./bin/maestro execute"), "{script}");
    let clone = std::env::temp_dir().join(format!("maestro-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&clone);
    std::fs::create_dir_all(clone.join("bin")).expect("a folder");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_maestro"), clone.join("bin/maestro"))
        .expect("bin/maestro");
    std::os::unix::fs::symlink(repo().join("examples"), clone.join("examples")).expect("link");
    let mut services = start_services();
    let run = Command::new("timeout")
        .args(["120", "bash", "-c", &format!("set -euo pipefail\n{script}")])
        .current_dir(&clone)
        .output()
        .expect("bash runs");
    let stopped = interrupt(&mut services);
    let _ = std::fs::remove_dir_all(&clone);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(
        run.status.success(),
        "{script}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains(r#""status":"succeeded""#), "{stdout}");
    assert_eq!(stopped, Some(0), "Ctrl-C stops the services cleanly");
}

#[test]
fn the_readmes_point_at_make_services_not_at_build_folders() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    assert!(readme.contains("make services"), "README");
    let examples = std::fs::read_to_string(repo().join("examples/README.md")).expect("README");
    assert!(examples.contains("make services"), "examples/README.md");
    assert!(!examples.contains("target/debug"), "examples/README.md");
}
