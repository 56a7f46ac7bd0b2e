//! Where the PostgreSQL binaries are (installing Debian's package when none
//! are found and this user may), and whom they run as: `initdb` and
//! `postgres` refuse root.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Who runs `initdb` and `postgres` when the tests run as root: the
/// `postgres` user (Debian's package makes it), else `nobody`.
#[derive(Clone, Copy)]
pub struct Runner {
    uid: u32,
    gid: u32,
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The user to run PostgreSQL as, or `None` for this one.
pub fn runner() -> Option<Runner> {
    if !is_root() {
        return None;
    }
    // SAFETY: getpwnam returns static data or null, read at once on the one
    // thread that starts the server.
    unsafe {
        for name in [c"postgres", c"nobody"] {
            let entry = libc::getpwnam(name.as_ptr());
            if !entry.is_null() {
                let (uid, gid) = ((*entry).pw_uid, (*entry).pw_gid);
                return Some(Runner { uid, gid });
            }
        }
    }
    panic!("running as root with no `postgres` or `nobody` user to run PostgreSQL as");
}

/// Hand `path` to `runner`, if any.
pub fn give(path: &Path, runner: Option<Runner>) -> io::Result<()> {
    match runner {
        Some(r) => std::os::unix::fs::chown(path, Some(r.uid), Some(r.gid)),
        None => Ok(()),
    }
}

/// `command` run as `runner`, from `cwd`: the caller's own folder may be
/// closed to the runner.
pub fn as_runner<'a>(
    command: &'a mut Command,
    runner: Option<Runner>,
    cwd: &Path,
) -> &'a mut Command {
    if let Some(r) = runner {
        command.uid(r.uid).gid(r.gid);
    }
    command
        .current_dir(cwd)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
}

/// The folder holding `initdb` and `postgres`: `pg_config --bindir`, the
/// newest of Debian's versions, or `PATH`.
fn find_bindir() -> Option<PathBuf> {
    let complete = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let from_pg_config = || {
        let out = Command::new("pg_config").arg("--bindir").output().ok()?;
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        (out.status.success() && complete(&dir)).then_some(dir)
    };
    let newest_debian = || {
        let version =
            |name: &str| -> Option<Vec<u32>> { name.split('.').map(|n| n.parse().ok()).collect() };
        fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .filter_map(|e| Some((version(e.file_name().to_str()?)?, e.path().join("bin"))))
            .filter(|(_, dir)| complete(dir))
            .max()
            .map(|(_, dir)| dir)
    };
    let on_path = || std::env::split_paths(&std::env::var_os("PATH")?).find(|d| complete(d));
    from_pg_config().or_else(newest_debian).or_else(on_path)
}

/// [`find_bindir`], after installing Debian's `postgresql` package when
/// nothing is found and this user may (root, or sudo without a password).
/// Panics with one line naming what to install otherwise.
pub fn bindir() -> PathBuf {
    const HINT: &str = "no PostgreSQL server binaries (initdb, postgres) found: install \
                        Debian's `postgresql` package, or set MAESTRO_TEST_POSTGRES to the \
                        URL of a server whose role may create databases";
    if let Some(dir) = find_bindir() {
        return dir;
    }
    let quiet = Stdio::null;
    let sudo = !is_root()
        && Command::new("sudo")
            .args(["-n", "true"])
            .stdin(quiet())
            .stdout(quiet())
            .stderr(quiet())
            .status()
            .is_ok_and(|s| s.success());
    if !is_root() && !sudo {
        panic!("{HINT}");
    }
    eprintln!("installing Debian's postgresql package for the tests");
    for args in [
        &["-qq", "update"][..],
        &["-qq", "install", "-y", "postgresql"],
    ] {
        let mut apt = Command::new(if sudo { "sudo" } else { "env" });
        if sudo {
            apt.args(["-n", "env"]);
        }
        let out = apt
            .args(["DEBIAN_FRONTEND=noninteractive", "apt-get"])
            .args(args)
            .stdin(quiet())
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("{HINT} (apt-get {}: {})", args[1], last_line(&out.stderr)),
            Err(e) => panic!("{HINT} (apt-get: {e})"),
        }
    }
    find_bindir().unwrap_or_else(|| panic!("{HINT}"))
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().rfind(|l| !l.trim().is_empty());
    line.unwrap_or_default().trim().to_string()
}
