#!/usr/bin/env python3
"""Memory of runs waiting for a signal: `maestro serve` of
examples/workflows/account_approval.yaml against the example HTTP service,
N runs submitted one after another (each creates an account, then waits),
and the server's resident memory before and once the last one waits.

    cargo build --release --bin maestro --examples   # or a debug build
    scripts/waiting_runs.py 10000 [target/release] [--state-dir]

With `--state-dir` the server journals to a fresh state directory, and a
waiting run is parked: its actor stops and only its entry stays in memory.

Bounded: N is at most 100,000 and the wait for the last run at most 120 s.
"""
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
N = min(int(ARGS[0]) if ARGS else 10000, 100_000)
BUILD = os.path.join(ROOT, ARGS[1] if len(ARGS) > 1 else "target/debug")
STATE = tempfile.mkdtemp() if "--state-dir" in sys.argv else None


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def submit(client, body, n):
    last = None
    for _ in range(n):
        client.request("POST", "/v1/workflows/account_approval/runs", body,
                       {"content-type": "application/json"})
        last = json.loads(client.getresponse().read())["run_id"]
    return last


def ready_line(process):
    return json.loads(process.stdout.readline().decode())["listening"]


web = subprocess.Popen(
    [os.path.join(BUILD, "examples/web_http"), "--port", "0", "--admin-port", "0"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
env = dict(os.environ, MAESTRO_WEB_HTTP=f"http://{ready_line(web)}", RUST_LOG="error")
limit = str(N + 10)
server = subprocess.Popen(
    [os.path.join(BUILD, "maestro"), "serve", "--port", "0", "--workflows",
     os.path.join(ROOT, "examples/workflows/account_approval.yaml"),
     "--max-running", limit, "--max-queued", limit]
    + (["--state-dir", STATE] if STATE else []),
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
try:
    host, port = ready_line(server).rsplit(":", 1)
    client = http.client.HTTPConnection(host, int(port), timeout=30)
    body = json.dumps({"input": {"email": "a@example.com", "name": "A"}})
    # A few runs first, so that the code they run is paged in before the
    # baseline: only what the waiting runs hold is counted.
    submit(client, body, 50)
    time.sleep(2)
    before = rss_kib(server.pid)
    before_anon = rss_kib(server.pid, "RssAnon")
    last = submit(client, body, N)
    deadline = time.time() + 120
    while time.time() < deadline:
        client.request("GET", f"/v1/runs/{last}")
        run = json.loads(client.getresponse().read())
        if any(s["id"] == "manager_approval" and s["outcome"] == "waiting" for s in run["steps"]):
            break
        time.sleep(0.5)
    # Long enough for the allocator to hand back the pages of runs that
    # parked (jemalloc's dirty pages decay over 10 s).
    time.sleep(12)
    after = rss_kib(server.pid)
    after_anon = rss_kib(server.pid, "RssAnon")
    journal = "journaled, parked" if STATE else "in memory"
    print(f"runs waiting ({journal}): {N}; RSS before {before} KiB, with them {after} KiB; "
          f"{(after - before) * 1024 // N} bytes per waiting run "
          f"({(after_anon - before_anon) * 1024 // N} of them anonymous memory)")
finally:
    server.terminate()
    web.terminate()
