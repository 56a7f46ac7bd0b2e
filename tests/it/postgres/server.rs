//! A throwaway PostgreSQL server for this test process: `initdb` runs once
//! into a cached template, each process copies it, starts `postgres` on a
//! free port of 127.0.0.1, and the server dies and its folder goes with it.

mod binaries;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use binaries::{Runner, as_runner, bindir, give, runner};

/// The superuser `initdb` makes; the tests log in as it with a password
/// generated with the template.
const ROLE: &str = "maestro";
/// How long `initdb`, or a server's start, may take on a loaded machine.
const LIMIT: Duration = Duration::from_secs(60);
/// Ports tried when another process takes the free one first.
const PORT_ATTEMPTS: u32 = 5;
/// Changes when the template's layout or `initdb` flags do.
const LAYOUT: &str = "1";

/// The URL of database `postgres` on this process's server, started on
/// first use.
pub fn admin_url() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(start)
}

/// A new folder with exactly `mode`, whatever the umask, owned by `runner`.
fn make_dir(path: &Path, mode: u32, runner: Option<Runner>) -> io::Result<()> {
    fs::DirBuilder::new().mode(mode).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    give(path, runner)
}

/// This user's folder for templates and servers, in the temporary
/// directory: short socket paths, and reachable by the `postgres` user when
/// running as root (0711: it may pass, not list).
fn base_dir() -> PathBuf {
    // SAFETY: geteuid cannot fail.
    let uid = unsafe { libc::geteuid() };
    let base = std::env::temp_dir().join(format!("maestro-test-pg-{uid}"));
    if let Err(e) = make_dir(&base, 0o711, None)
        && e.kind() != io::ErrorKind::AlreadyExists
    {
        panic!("cannot create {}: {e}", base.display());
    }
    let meta = fs::symlink_metadata(&base).expect("the base folder");
    assert!(
        meta.is_dir() && meta.uid() == uid,
        "{} is not a folder of user {uid}: remove it",
        base.display()
    );
    base
}

/// A lock on `path`, held until dropped: test processes start in parallel.
fn lock(path: &Path) -> File {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    file
}

/// A template data folder and its superuser's password, made by `initdb`
/// once per binaries: a copy costs a fraction of an `initdb`.
fn template(base: &Path, bin: &Path, runner: Option<Runner>) -> PathBuf {
    let postgres = fs::metadata(bin.join("postgres")).expect("the postgres binary");
    let key = format!(
        "{LAYOUT}-{}-{}-{}",
        bin.display(),
        postgres.len(),
        postgres.mtime()
    );
    let dir = base.join(format!("template-{:016x}", fnv(&key)));
    let complete = ["password", "data/PG_VERSION", "data/global/pg_control"];
    if complete.iter().all(|f| dir.join(f).is_file()) {
        return dir;
    }
    let _ = fs::remove_dir_all(&dir);
    let tmp = base.join("template.tmp");
    let _ = fs::remove_dir_all(&tmp);
    make_dir(&tmp, 0o711, None).expect("a template folder");
    make_dir(&tmp.join("data"), 0o700, runner).expect("a data folder");
    let password = tmp.join("password");
    fs::write(&password, random_hex()).expect("the password file");
    fs::set_permissions(&password, fs::Permissions::from_mode(0o600)).unwrap();
    give(&password, runner).expect("the password file's owner");
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("--pgdata")
        .arg(tmp.join("data"))
        .arg(format!("--pwfile={}", password.display()))
        .args([
            "--username",
            ROLE,
            "--auth=scram-sha-256",
            "--encoding=UTF8",
        ])
        // No fsync: a template lost in a crash is made again. 1 MiB WAL
        // segments instead of 16: less to copy for each server.
        .args(["--locale=C", "--no-sync", "--wal-segsize=1"]);
    let out = as_runner(&mut initdb, runner, &tmp)
        .output()
        .expect("initdb starts");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::rename(&tmp, &dir).expect("the template in place");
    dir
}

/// FNV-1a: a name for the template that stays the same across builds.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copy folder `from` to a new folder `to`, everything owned by `runner`.
fn copy_tree(from: &Path, to: &Path, runner: Option<Runner>) -> io::Result<()> {
    make_dir(to, 0o700, runner)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target, runner)?;
        } else {
            fs::copy(entry.path(), &target)?;
            give(&target, runner)?;
        }
    }
    Ok(())
}

/// Remove the folders of test processes that died without removing them
/// (SIGKILL): nobody holds their owner lock any more.
fn sweep(base: &Path) {
    for entry in fs::read_dir(base).into_iter().flatten().flatten() {
        if !entry.file_name().to_string_lossy().starts_with("run-") {
            continue;
        }
        let owner = File::open(entry.path().join("owner.lock"));
        if owner.is_err() || owner.is_ok_and(|f| f.try_lock().is_ok()) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Set once the server has exited.
#[derive(Default)]
struct Exited {
    done: Mutex<bool>,
    changed: Condvar,
}

impl Exited {
    fn set(&self) {
        *self.done.lock().unwrap() = true;
        self.changed.notify_all();
    }

    fn wait(&self, limit: Duration) -> bool {
        let done = self.done.lock().unwrap();
        let (done, _) = self
            .changed
            .wait_timeout_while(done, limit, |d| !*d)
            .unwrap();
        *done
    }
}

/// What the exit hook stops and removes.
struct Running {
    pid: libc::pid_t,
    dir: PathBuf,
    exited: Arc<Exited>,
}

static RUNNING: OnceLock<Running> = OnceLock::new();

/// At the process's exit: an immediate shutdown, then the folder goes.
extern "C" fn stop_at_exit() {
    if let Some(running) = RUNNING.get() {
        if !running.exited.wait(Duration::ZERO) {
            // SAFETY: the pid is the server's, not yet reaped (it has not exited).
            unsafe { libc::kill(running.pid, libc::SIGQUIT) };
            running.exited.wait(Duration::from_secs(5));
        }
        let _ = fs::remove_dir_all(&running.dir);
    }
}

/// Spawn `command` from a thread that lives as long as the child: the
/// parent-death signal follows the thread that forked, not the process.
fn spawn(mut command: Command) -> io::Result<(libc::pid_t, Arc<Exited>)> {
    // SAFETY: prctl is async-signal-safe. The hook runs after std has set
    // the runner's ids: setting them later would clear the signal.
    unsafe {
        command.pre_exec(
            || match libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGQUIT) {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            },
        );
    }
    let exited = Arc::new(Exited::default());
    let flag = exited.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("postgres-parent".into())
        .spawn(move || match command.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id() as libc::pid_t));
                let _ = child.wait();
                flag.set();
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        })?;
    let pid = rx.recv().expect("the spawning thread answers")?;
    Ok((pid, exited))
}

/// Wait until the server in `data` accepts connections (`postmaster.pid`
/// says `ready`), or has exited (false).
fn wait_ready(data: &Path, exited: &Exited) -> bool {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if exited.wait(Duration::from_millis(5)) {
            return false;
        }
        let pid_file = fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        if pid_file.lines().nth(7).is_some_and(|s| s.trim() == "ready") {
            return true;
        }
    }
    panic!(
        "PostgreSQL in {} is not ready after {LIMIT:?}",
        data.display()
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// Start `postgres` on `data` at a free port; the port and the server.
fn launch(bin: &Path, dir: &Path, runner: Option<Runner>) -> (u16, Running) {
    let data = dir.join("data");
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(dir.join("log"))
        .expect("the server's log");
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let from = log.seek(SeekFrom::End(0)).expect("the log's end");
        let mut command = Command::new(bin.join("postgres"));
        command
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stdout(log.try_clone().expect("the log"))
            .stderr(log.try_clone().expect("the log"));
        as_runner(&mut command, runner, &data);
        let (pid, exited) = spawn(command).expect("postgres starts");
        if wait_ready(&data, &exited) {
            let dir = dir.to_path_buf();
            return (port, Running { pid, dir, exited });
        }
        let mut text = String::new();
        log.seek(SeekFrom::Start(from)).expect("the log");
        log.read_to_string(&mut text).expect("the log");
        assert!(
            text.contains("could not create any TCP/IP sockets"),
            "PostgreSQL did not start; its log:\n{text}"
        );
    }
    panic!("PostgreSQL found no free port in {PORT_ATTEMPTS} attempts");
}

/// Start this process's server; its admin URL.
fn start() -> String {
    let began = Instant::now();
    let base = base_dir();
    let (bin, runner, template, dir, owner) = {
        let _guard = lock(&base.join("lock"));
        sweep(&base);
        let bin = bindir();
        let runner = runner();
        let template = template(&base, &bin, runner);
        let dir = base.join(format!("run-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        make_dir(&dir, 0o711, None).expect("the server's folder");
        let owner = lock(&dir.join("owner.lock"));
        (bin, runner, template, dir, owner)
    };
    let copied = Instant::now();
    copy_tree(&template.join("data"), &dir.join("data"), runner).expect("a copy of the template");
    let copied = copied.elapsed();
    let (port, running) = launch(&bin, &dir, runner);
    let password = fs::read_to_string(template.join("password")).expect("the password");
    // The lock lives as long as the process: the folder is not swept.
    std::mem::forget(owner);
    if RUNNING.set(running).is_ok() {
        // SAFETY: registers a plain function with no arguments.
        unsafe { libc::atexit(stop_at_exit) };
    }
    eprintln!(
        "PostgreSQL for the tests on 127.0.0.1:{port} in {}, started in {:?} (copy {copied:?})",
        dir.display(),
        began.elapsed(),
    );
    format!(
        "postgres://{ROLE}:{}@127.0.0.1:{port}/postgres",
        password.trim()
    )
}
