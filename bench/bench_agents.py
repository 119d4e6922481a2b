"""Many agents, one queue: claims per second, the change feed's latency and the cost of idle
subscribers.

    python bench/bench_agents.py [--quick] [--part=claims|feed]

1. Claims: 16 agent processes loop claim / close over N ready issues through the daemon, with
   ``ready --claim`` (one request picks and takes) and with the loop agents used before it
   (``ready``, then ``update --claim`` of the first; a lost race is a conflict: read again).
   Cycles/s = issues / (last agent's end - first agent's start); the retries the old loop
   needed and the requests per issue. Direct mode (a smaller N) for comparison.
2. Feed latency: a subscriber process receives the events of a writer process; latency = the
   time it received an event minus the event's ``at`` (taken by the operation before its
   COMMIT, so an upper bound of commit-to-delivery). One writer paced at ~200 writes/s, then
   16 writers at full speed; with 1 and with 100 subscribers.
3. Idle subscribers: the daemon's CPU time over 10 s with 0 and with 100 idle subscriptions,
   its memory (RSS) and threads, and write throughput with 0 / 100 idle / 1 stalled subscriber.

Nothing here asserts: it prints tables (absolute figures and ratios).
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import bench_env, machine, percentile, print_table, wait_quiet, workspace

QUICK = "--quick" in sys.argv
PART = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--part=")), "all")  # claims | feed
N_ISSUES = 600 if QUICK else 2000
N_DIRECT = 150 if QUICK else 400
AGENTS = 16

AGENT = textwrap.dedent("""
    import json, sys, time
    from bdgit.errors import ConflictError
    mode, target, name, go = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    if mode == "direct":
        from bdgit.backends.direct import DirectBackend
        from bdgit.workspace import find
        call = DirectBackend(find(cwd=target), name, lock_timeout=300).call
        style = "claim"
    else:
        from bdgit.rpc.client import Client
        call = Client(target, actor=name, timeout=300).execute
        style = mode
        call("ping")
    while time.time() < go:
        time.sleep(0.0005)
    t0 = time.time()
    done = retries = requests = 0
    while True:
        if style == "claim":
            requests += 1
            got = call("ready", {"claim": True})
            if not got:
                break
            issue_id = got[0]["id"]
        else:
            issue_id = None
            while issue_id is None:
                requests += 1
                ready = call("ready", {"limit": 10, "unassigned": True})
                if not ready:
                    break
                try:
                    requests += 1
                    call("update", {"id": ready[0]["id"], "claim": True})
                    issue_id = ready[0]["id"]
                except ConflictError:
                    retries += 1
            if issue_id is None:
                break
        requests += 1
        call("close", {"id": issue_id})
        done += 1
    print(json.dumps({"start": t0, "end": time.time(), "done": done, "retries": retries, "requests": requests}))
""")

WRITER = textwrap.dedent("""
    import sys, time
    from bdgit.rpc.client import Client
    sock, n, pace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with Client(sock, actor="writer") as c:
        for i in range(n):
            c.execute("create", {"title": f"feed item {i}"})
            if pace:
                time.sleep(pace)
""")

SUBSCRIBER = textwrap.dedent("""
    import json, sys, time
    from bdgit.model import ts_micros
    from bdgit.rpc.client import Client
    sock, n = sys.argv[1], int(sys.argv[2])
    lat = []
    with Client(sock).subscribe() as sub:
        print("ready", flush=True)
        while len(lat) < n:
            ev = sub.get(timeout=60)
            if ev is None:
                break
            lat.append(time.time() - ts_micros(ev["at"]) / 1e6)
    print(json.dumps(lat))
""")


def seed(call: Any, n: int) -> None:
    for start in range(0, n, 500):
        call("batch", {"operations": [{"operation": "create", "args": {"title": f"work {i}", "priority": i % 5}}
                                      for i in range(start, min(n, start + 500))]})


def run_agents(mode: str, target: str, n_agents: int) -> dict[str, float]:
    go = time.time() + 1.0 + n_agents * 0.15
    procs = [subprocess.Popen([sys.executable, "-c", AGENT, mode, target, f"agent{k}", str(go)],
                              stdout=subprocess.PIPE, text=True, env=bench_env()) for k in range(n_agents)]
    res = [json.loads(p.communicate(timeout=1800)[0]) for p in procs]
    span = max(r["end"] for r in res) - min(r["start"] for r in res)
    done = sum(r["done"] for r in res)
    return {"done": done, "per_s": done / span, "retries": sum(r["retries"] for r in res),
            "requests": sum(r["requests"] for r in res), "seconds": span}


def claims() -> list[tuple[str, dict[str, float]]]:
    from bdgit.backends.direct import DirectBackend
    from bdgit.daemon import lifecycle as d
    from bdgit.rpc.client import Client
    from bdgit.workspace import find
    out = []
    for mode in ("claim", "race"):
        with workspace() as root:
            ws = find(cwd=root)
            st = d.start(ws, {"flush_interval": 1.0, "idle_timeout": 600})
            try:
                with Client(st["socket"], actor="planner", timeout=300) as c:
                    seed(c.execute, N_ISSUES)
                wait_quiet(20)
                out.append((f"daemon, {'ready --claim' if mode == 'claim' else 'ready + update --claim'}",
                            run_agents(mode, st["socket"], AGENTS)))
            finally:
                d.stop(ws)
    with workspace() as root:
        ws = find(cwd=root)
        b = DirectBackend(ws, "planner")
        seed(b.call, N_DIRECT)
        b.close()
        wait_quiet(20)
        out.append(("direct, ready --claim", run_agents("direct", str(root), AGENTS)))
    return out


def proc_stat(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, threads) of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return cpu, rss, threads


def open_subscribers(path: str, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b'{"operation":"subscribe","args":{}}\n')
        socks.append(s)
    for s in socks:
        s.settimeout(10)
        s.recv(4096)  # the answer: subscribed
    return socks


def write_rate(path: str, n: int) -> float:
    from bdgit.rpc.client import Client
    with Client(path, actor="w") as c:
        t0 = time.perf_counter()
        for i in range(n):
            c.execute("create", {"title": f"rate {i}"})
        return n / (time.perf_counter() - t0)


def feed() -> tuple[list[tuple[str, float, float, int]], list[tuple[str, Any, Any]], list[tuple[str, float]]]:
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    lat_rows: list[tuple[str, float, float, int]] = []
    idle_rows: list[tuple[str, Any, Any]] = []
    rate_rows: list[tuple[str, float]] = []
    with workspace() as root:
        ws = find(cwd=root)
        st = d.start(ws, {"flush_interval": 1.0, "idle_timeout": 600})
        path, pid = st["socket"], st["pid"]
        try:
            # --- idle subscribers: CPU, memory, threads
            wait_quiet(20)
            cpu0, rss0, thr0 = proc_stat(pid)
            time.sleep(10)
            cpu1, _, _ = proc_stat(pid)
            socks = open_subscribers(path, 100)
            time.sleep(1)
            cpu2, rss1, thr1 = proc_stat(pid)
            time.sleep(10)
            cpu3, rss2, thr2 = proc_stat(pid)
            idle_rows.append(("daemon CPU over 10 s idle", f"{(cpu1 - cpu0) * 1e3:.0f} ms",
                              f"{(cpu3 - cpu2) * 1e3:.0f} ms"))
            idle_rows.append(("RSS", f"{rss0 / 2**20:.1f} MiB", f"{rss2 / 2**20:.1f} MiB "
                              f"(+{(rss2 - rss0) / 2**10 / 100:.0f} KiB each)"))
            idle_rows.append(("threads", thr0, thr1))
            # --- write throughput: no subscriber, 100 idle ones, one that never reads; the three
            # interleaved (3 rounds, median) so that the machine's drifting load hits all alike
            for s in socks:
                s.close()
            n = 600 if QUICK else 1500
            rates: dict[str, list[float]] = {
                "no subscriber": [], "1 subscriber that reads (another process)": [],
                "100 idle subscribers (each gets every event)": [],
                "1 stalled subscriber (never reads; buffers full)": []}
            for _ in range(3):
                for label in rates:
                    held: list[socket.socket] = []
                    reader = None
                    if label.startswith("100"):
                        held = open_subscribers(path, 100)
                    elif label.startswith("1 subscriber"):
                        reader = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, path, str(n)],
                                                  stdout=subprocess.PIPE, text=True, env=bench_env())
                        assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
                    elif label.startswith("1 stalled"):
                        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        stalled.connect(path)
                        stalled.sendall(b'{"operation":"subscribe","args":{}}\n')
                        held = [stalled]
                        write_rate(path, 3000)  # untimed: fill its buffers (daemon's and kernel's)
                    time.sleep(0.3)
                    rates[label].append(write_rate(path, n))
                    if reader is not None:
                        reader.communicate(timeout=120)
                    for s in held:
                        s.close()
                    time.sleep(0.3)
            rate_rows.extend((label, statistics.median(v)) for label, v in rates.items())
            # --- latency: paced writer, then 16 at full speed; 1 and 100 subscribers
            for n_subs in (1, 100):
                extra = open_subscribers(path, n_subs - 1)
                for label, writers, count, pace in (("1 writer, ~200/s", 1, 400, 0.005),
                                                    ("16 writers, full speed", 16, 100, 0.0)):
                    sub = subprocess.Popen([sys.executable, "-c", SUBSCRIBER, path, str(writers * count)],
                                           stdout=subprocess.PIPE, text=True, env=bench_env())
                    assert sub.stdout is not None and sub.stdout.readline().strip() == "ready"
                    ws_procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, str(count), str(pace)],
                                                 env=bench_env()) for _ in range(writers)]
                    for p in ws_procs:
                        p.wait(timeout=600)
                    lat = json.loads(sub.communicate(timeout=120)[0])
                    lat_rows.append((f"{label}, {n_subs} subscriber{'s' if n_subs > 1 else ''}",
                                     percentile(lat, 50) * 1e3, percentile(lat, 95) * 1e3, len(lat)))
                for s in extra:
                    s.close()
        finally:
            d.stop(ws)
    return lat_rows, idle_rows, rate_rows


def main() -> None:
    print(f"bench_agents on {machine()}{' (quick)' if QUICK else ''}; load {os.getloadavg()[0]:.2f}")
    if PART in ("all", "claims"):
        rows = claims()
        base = rows[0][1]["per_s"]
        print_table(["16 agents, claim + close", "issues", "issues/s", "retries", "requests/issue", "seconds",
                     "vs ready --claim"],
                    [(label, r["done"], r["per_s"], int(r["retries"]), r["requests"] / r["done"], r["seconds"],
                      f"{base / r['per_s']:.2f}x slower" if r["per_s"] < base else f"{r['per_s'] / base:.2f}x")
                     for label, r in rows], title="Claims")
    if PART not in ("all", "feed"):
        return
    lat, idle, rate = feed()
    print_table(["feed latency (event at -> received)", "p50 ms", "p95 ms", "events"], lat, title="Change feed")
    print_table(["daemon", "0 subscribers", "100 idle subscribers"], idle, title="Idle subscribers")
    r0 = rate[0][1]
    print_table(["write throughput (1 client, creates/s)", "creates/s", "vs none"],
                [(label, v, f"{v / r0:.2f}x") for label, v in rate], title="Writers and subscribers")
    print(f"\nload at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
