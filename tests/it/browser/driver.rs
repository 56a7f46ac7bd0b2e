//! Headless Chromium over WebDriver (`chromedriver`), by a small client over
//! reqwest; Debian's packages installed when missing and this user may (root
//! or passwordless sudo). Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the driver may take to start, and any one WebDriver call.
const START: Duration = Duration::from_secs(20);
const CALL: Duration = Duration::from_secs(30);
/// The W3C name of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether Chromium and its driver are here, after installing them when
/// this user may. `Err` says in one line why the browser tests cannot run.
pub fn available() -> Result<(), String> {
    let present = || Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file();
    if present() {
        return Ok(());
    }
    let quiet = Stdio::null;
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() == 0 };
    let sudo = !root
        && Command::new("sudo")
            .args(["-n", "true"])
            .stdin(quiet())
            .stdout(quiet())
            .stderr(quiet())
            .status()
            .is_ok_and(|s| s.success());
    if !root && !sudo {
        return Err("no Chromium (apt-get install chromium chromium-driver) and no root or sudo to install it".into());
    }
    // Each test is a process of its own: one installs, the others wait for
    // it here and find the browser when they get the lock.
    let _lock = InstallLock::take();
    if present() {
        return Ok(());
    }
    eprintln!("installing Debian's chromium and chromium-driver packages for the browser tests");
    for args in [
        &["-qq", "update"][..],
        &["-qq", "install", "-y", "chromium", "chromium-driver"],
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
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            return Err(format!(
                "apt-get {} failed: Chromium cannot be installed here",
                args[1]
            ));
        }
    }
    present()
        .then_some(())
        .ok_or_else(|| "Chromium installed, but not found at /usr/bin".into())
}

/// An exclusive lock on a file in the temporary folder, held until dropped
/// (closing the file releases it, a crashed holder's too).
struct InstallLock {
    _file: Option<std::fs::File>,
}

impl InstallLock {
    fn take() -> InstallLock {
        use std::os::fd::AsRawFd;
        let path = std::env::temp_dir().join("maestro-it-chromium-install.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ok();
        if let Some(file) = &file {
            // SAFETY: a valid open descriptor; flock only blocks.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        }
        InstallLock { _file: file }
    }
}

/// A browser session; the driver and browser end when it is dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
    /// Chromium's profile, fresh for each session.
    _profile: tempfile_dir::TempDir,
}

/// A temporary folder removed when dropped, without another crate.
mod tempfile_dir {
    use std::path::PathBuf;

    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> TempDir {
            let unique = format!("{prefix}-{}-{}", std::process::id(), uuid::Uuid::now_v7());
            let path = std::env::temp_dir().join(unique);
            std::fs::create_dir_all(&path).expect("a temporary folder");
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn start_driver() -> (Child, u16) {
    use std::os::unix::process::CommandExt;
    let mut driver = Command::new(CHROMEDRIVER)
        .arg("--port=0")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let stdout = driver.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line
                .rsplit("on port ")
                .next()
                .and_then(|p| p.trim_end_matches('.').parse::<u16>().ok())
                && port != 0
            {
                let _ = tx.send(port);
            }
        }
    });
    let port = rx.recv_timeout(START).expect("chromedriver says its port");
    (driver, port)
}

impl Browser {
    /// A headless Chromium, its window `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let (driver, port) = start_driver();
        let profile = tempfile_dir::TempDir::new("maestro-chromium");
        let client = reqwest::Client::builder().timeout(CALL).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.0.display()));
        args.push(format!("--window-size={width},{height}"));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("a session")
            .json()
            .await
            .expect("JSON");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Browser {
            driver,
            base,
            session,
            client,
            _profile: profile,
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("WebDriver answers")
            .json()
            .await
            .expect("JSON");
        if answer["value"]["error"].is_string() {
            panic!("WebDriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    pub async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Make the window `width` x `height` (a taller screenshot).
    pub async fn resize(&self, width: u32, height: u32) {
        let rect = json!({"width": width, "height": height});
        self.command(reqwest::Method::POST, "/window/rect", Some(rect))
            .await;
    }

    /// Run `script` (a function body; `arguments[i]` are `args`) in the page.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.command(reqwest::Method::POST, "/execute/sync", Some(body))
            .await
    }

    /// Poll `script` until it returns something other than null or false,
    /// at most `limit`; panics with `what` past it.
    pub async fn wait(&self, what: &str, script: &str, args: Value, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.run(script, args.clone()).await;
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The WebDriver reference of the element `selector` names.
    async fn element(&self, selector: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": selector})),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no {selector}"))
            .to_string()
    }

    /// Click the element `selector` names, as a user would.
    pub async fn click(&self, selector: &str) {
        let id = self.element(selector).await;
        let path = format!("/element/{id}/click");
        self.command(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    /// Type `text` into the element `selector` names.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let id = self.element(selector).await;
        let path = format!("/element/{id}/value");
        self.command(reqwest::Method::POST, &path, Some(json!({"text": text})))
            .await;
    }

    /// Save a screenshot to `docs/NAME` when MAESTRO_SCREENSHOTS is set
    /// (`scripts/screenshots.sh`); a plain test run writes nothing.
    pub async fn screenshot(&self, name: &str) {
        if std::env::var_os("MAESTRO_SCREENSHOTS").is_none() {
            return;
        }
        let shot = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("base64"))
            .expect("a PNG");
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "docs", name].iter().collect();
        std::fs::write(&path, png).expect("the screenshot is written");
    }
}

impl Browser {
    /// End the session (the browser closes), then the driver.
    pub async fn quit(self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.client.delete(url).send().await;
    }
}

impl Drop for Browser {
    /// The driver and every browser process it started share its process
    /// group: all end, even when a test panicked before `quit`.
    fn drop(&mut self) {
        let group = self.driver.id() as i32;
        // SAFETY: a signal to the group this test created for the driver.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}
