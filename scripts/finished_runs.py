#!/usr/bin/env python3
"""Memory of finished runs kept by `maestro serve`: examples/workflows/
fan_out.yaml against the example services, N runs with `?wait=true` from C
clients (default 16), and the server's resident memory after a warm-up of
200 runs and once the last has ended.

    cargo build --release --bin maestro --examples
    scripts/finished_runs.py 20000 [target/release] [-- serve flags...]

With `-- --keep-finished 1` the same load keeps no finished run: the
difference is what the kept ones cost. Bounded: N is at most 200,000.
"""
import http.client
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS, EXTRA = (sys.argv[1:], [])
if "--" in ARGS:
    at = ARGS.index("--")
    ARGS, EXTRA = ARGS[:at], ARGS[at + 1:]
N = min(int(ARGS[0]) if ARGS else 20000, 200_000)
BUILD = os.path.join(ROOT, ARGS[1] if len(ARGS) > 1 else "target/release")
CLIENTS = int(os.environ.get("CLIENTS", "16"))
BODY = json.dumps({"input": {"payload": "Quarterly revenue grew strongly"}})


def rss_mb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def ready_line(process):
    return json.loads(process.stdout.readline().decode())["listening"]


def spawn(args, env=None):
    return subprocess.Popen(args, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)


def runs(addr, n, last):
    host, port = addr.rsplit(":", 1)
    client = http.client.HTTPConnection(host, int(port), timeout=30)
    for _ in range(n):
        client.request("POST", "/v1/workflows/fan_out/runs?wait=true", BODY,
                       {"content-type": "application/json"})
        run = json.loads(client.getresponse().read())
        if run["status"] != "succeeded":
            raise SystemExit(f"a run did not succeed: {run}")
        last.append(run["run_id"])


def main():
    core = spawn([os.path.join(BUILD, "examples/core_grpc"), "--port", "0", "--admin-port", "0"])
    web = spawn([os.path.join(BUILD, "examples/web_http"), "--port", "0", "--admin-port", "0"])
    env = dict(os.environ, MAESTRO_CORE_GRPC=ready_line(core),
               MAESTRO_WEB_HTTP=f"http://{ready_line(web)}", RUST_LOG="error")
    server = spawn([os.path.join(BUILD, "maestro"), "serve", "--port", "0", "--workflows",
                    os.path.join(ROOT, "examples/workflows/fan_out.yaml")] + EXTRA, env)
    try:
        addr = ready_line(server)
        idle = rss_mb(server.pid)
        ids = []
        runs(addr, 200, ids)
        warm = rss_mb(server.pid)
        started = time.monotonic()
        clients = [threading.Thread(target=runs, args=(addr, N // CLIENTS, ids))
                   for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=600)
        took = time.monotonic() - started
        print(f"{N // CLIENTS * CLIENTS} runs at {CLIENTS} in {took:.1f} s; RSS idle {idle:.1f} MB, "
              f"after 200 runs {warm:.1f} MB, after all {rss_mb(server.pid):.1f} MB, "
              f"peak {rss_mb(server.pid, 'VmHWM'):.1f} MB")
    finally:
        for process in (server, core, web):
            process.kill()


main()
