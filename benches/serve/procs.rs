//! The processes of a load test: the example services, `maestro serve` and
//! the glue server (this binary again, in its other mode). Each prints a
//! JSON ready line, read with a bound; each is killed when dropped; peak
//! memory is read from /proc.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A child process that printed its ready line.
pub struct Proc {
    pub addr: SocketAddr,
    /// The example services' admin listener (`/calls`).
    pub admin: Option<SocketAddr>,
    child: Child,
}

/// Resident memory of a process, in kB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kb: u64,
    /// Peak resident memory since the process started (`VmHWM`).
    pub peak_kb: u64,
}

impl Memory {
    pub fn peak_mb(&self) -> f64 {
        self.peak_kb as f64 / 1024.0
    }

    pub fn rss_mb(&self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }
}

impl Proc {
    /// Start `command` and wait for its ready line.
    pub fn start(name: &str, mut command: Command) -> Proc {
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Read the ready line, then keep draining so the child never blocks.
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
        let ready: Value = match serde_json::from_str(line.trim()) {
            Ok(ready) => ready,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("{name} printed no ready line within {READY_TIMEOUT:?} ({status:?})");
            }
        };
        let address = |key: &str| ready[key].as_str().and_then(|a| a.parse().ok());
        Proc {
            addr: address("listening").expect("the ready line names the address"),
            admin: address("admin"),
            child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn admin_url(&self, path: &str) -> String {
        let admin = self
            .admin
            .expect("an example process has an admin listener");
        format!("http://{admin}{path}")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn memory(&self) -> Memory {
        memory(self.pid())
    }

    /// CPU time the process has used so far, user and system.
    pub fn cpu(&self) -> Duration {
        cpu(self.pid())
    }

    /// SIGKILL, and reap it: a crash, nothing flushed or released.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    /// SIGTERM first, so a profiler wrapping the process writes its data;
    /// SIGKILL after 20 s.
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` and `VmHWM` of a process (zero when it is gone).
pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kb: field("VmRSS:"),
        peak_kb: field("VmHWM:"),
    }
}

/// `utime + stime` of a process from `/proc/PID/stat` (zero when it is
/// gone); counted in the kernel's clock ticks, 10 ms each on Linux.
pub fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name, in parentheses, may hold spaces: count from after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Fields 14 and 15 of the line; 12 and 13 after the name and the state.
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros((ticks(11) + ticks(12)) * 1_000_000 / per_second)
}

/// `target/<profile>/examples/NAME`, beside this binary's `deps/` folder.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("this binary knows its path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a bench binary lives in target/<profile>/deps");
    profile.join("examples").join(name)
}

/// An example service process on free ports, with `args` (`--delay-ms`).
pub fn example(name: &str, args: &[String]) -> Proc {
    let binary = example_binary(name);
    assert!(
        binary.is_file(),
        "{} is not built: run `make bench-serve` (or `cargo build --release --examples`)",
        binary.display()
    );
    let mut command = Command::new(binary);
    command
        .args(["--port", "0", "--admin-port", "0"])
        .args(args)
        .stderr(Stdio::null());
    Proc::start(name, command)
}

/// The endpoints of the example services, as the example workflows read them.
pub fn endpoints(core: &Proc, web: &Proc) -> [(&'static str, String); 2] {
    [
        ("MAESTRO_CORE_GRPC", core.addr.to_string()),
        ("MAESTRO_WEB_HTTP", format!("http://{}", web.addr)),
    ]
}

/// `maestro serve` (the binary of this build profile) with the example
/// `workflow`, its default log level, and `args`; its log goes to `log`.
/// `MAESTRO_BENCH_WRAP_SERVE` (say `valgrind --tool=dhat`) is put in front
/// of the command, to profile the server under load.
pub fn serve(workflow: &Path, env: &[(&str, String)], args: &[String], log: &Path) -> Proc {
    let log = std::fs::File::create(log).expect("a log file for maestro serve");
    let wrapper = std::env::var("MAESTRO_BENCH_WRAP_SERVE").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(env!("CARGO_BIN_EXE_maestro"));
            command
        }
        None => Command::new(env!("CARGO_BIN_EXE_maestro")),
    };
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("serve")
        .args(["--port", "0", "--workflows"])
        .arg(workflow)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .env_remove("RUST_LOG")
        .env_remove("MAESTRO_TOKEN")
        .stderr(log);
    Proc::start("maestro serve", command)
}

/// This binary as the glue server, calling the same services.
pub fn glue_server(core: &Proc, web: &Proc) -> Proc {
    let exe = std::env::current_exe().expect("this binary knows its path");
    let mut command = Command::new(exe);
    command
        .arg("--glue-server")
        .args(["--grpc", &format!("http://{}", core.addr)])
        .args(["--http", &format!("http://{}", web.addr)])
        .stderr(Stdio::inherit());
    Proc::start("glue server", command)
}
