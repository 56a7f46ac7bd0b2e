#!/usr/bin/env python3
"""Shares of a server's CPU samples by the code they were taken in.

Reads `perf script -F comm,tid,ip,sym` of a `perf record --call-graph dwarf`
of `maestro serve` (the profiling build) or of the bench's glue server. A
sample belongs to the first frame, from the leaf out, that one of the
classes below names (a memcpy called by h2 is h2's); a sample in no task
is the scheduler's. Orchestration is split by the task it ran in.

    perf script -i serve.data -F comm,tid,ip,sym | scripts/cpu_by_task.py
"""
import sys
from collections import Counter

ENCODING = "the calls' own code: requests built, JSON to protobuf and back"
ORCHESTRATION = "orchestration"
H2 = "HTTP/2 client connections (gRPC: h2, tonic)"
H1 = "HTTP/1.1 client connections (reqwest, hyper)"
SERVER = "HTTP server: connections, routing, JSON bodies (hyper, axum)"
SCHEDULER = "scheduler: parking, waking, stealing, timers, I/O driver"
UNWOUND = "stack not unwound to its task"

# Frame words, checked from the leaf out; hyper and axum are the server's
# in a server connection's task, a client's elsewhere.
BY_FRAME = [
    (ENCODING, ["maestro::transport", "common::pb", "prost::"]),
    (ORCHESTRATION, ["maestro::", "glue_server::", "common::glue", "ractor::"]),
    (H2, ["h2::", "tonic::", "tower::buffer"]),
    (H1, ["reqwest::", "hyper_util::client", "hyper::client"]),
    (SERVER, ["hyper::", "axum::", "hyper_util::", "tower_http::"]),
]
SERVER_TASKS = ["maestro::server::listen", "axum::serve::handle_connection"]
WORKER = "BlockingTask<tokio::runtime::scheduler::multi_thread::worker"

# Orchestration by the task it ran in: the type of the task's future.
TASKS = [
    ("run actor", ["RunActor"]),
    ("service actors and their supervisor", ["ServiceActor", "ractor::"]),
    ("step tasks", ["runtime::run::step", "runtime::attempt"]),
    ("call tasks", ["runtime::service::carry"]),
    ("the server's task per run", ["maestro::server::runs"]),
    ("HTTP handlers", SERVER_TASKS),
]


def samples(lines):
    frames = []
    for line in lines:
        if not line.strip():
            if frames:
                yield frames
            frames = []
        elif line.startswith("\t"):
            address, _, symbol = line.strip().partition(" ")
            frames.append((address, symbol))
    if frames:
        yield frames


def task_of(symbols):
    """The type of the innermost task's future, None outside any task."""
    task = next((f[len("poll_future<"):] for f in symbols if f.startswith("poll_future<")), None)
    if task is None or WORKER in task.split(",")[0]:
        return None
    return task.split(",")[0]


def classify(frames):
    """(class, task class) of one sample; `frames` go from the leaf out."""
    symbols = [symbol for _, symbol in frames]
    task = task_of(symbols)
    if task is None:
        whole = symbols[-1] in ("clone3", "_start") or "start_thread" in symbols[-1]
        return (SCHEDULER if whole else UNWOUND), None
    in_server = any(w in task for w in SERVER_TASKS)
    for symbol in symbols:
        if symbol.startswith("tokio::runtime::task::core::Core"):
            break
        for name, words in BY_FRAME:
            if any(w in symbol for w in words):
                if name == SERVER and not in_server:
                    name = H2 if any("h2" in s for s in symbols) else H1
                return name, task_class(task) if name == ORCHESTRATION else None
    return "other", None


def task_class(task):
    return next((name for name, words in TASKS if any(w in task for w in words)), "other tasks")


def main():
    classes, tasks, kernel, total = Counter(), Counter(), 0, 0
    for frames in samples(sys.stdin):
        total += 1
        name, task = classify(frames)
        classes[name] += 1
        if task:
            tasks[task] += 1
        # Kernel addresses are the top of the 64-bit space.
        kernel += frames[0][0].startswith("ffffffff")
    print(f"{total} samples, {100 * kernel / total:.0f}% of them in the kernel")
    for name, n in classes.most_common():
        print(f"{100 * n / total:5.1f}%  {name}")
    for name, n in tasks.most_common():
        print(f"        {100 * n / total:5.1f}%  {ORCHESTRATION}: {name}")


if __name__ == "__main__":
    main()
