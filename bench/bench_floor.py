"""The daemon against its floor: what a request costs beyond the work nobody can avoid.

    python bench/bench_floor.py [--quick]

The *floor* (``bench/_floor.py``) is one SQLite WAL insert transaction on a file opened with the pragmas of bdgit's
store (WAL, synchronous=NORMAL, foreign keys, temp_store=MEMORY, busy_timeout) plus one
unix-socket round trip of a newline-JSON request of a create's size to an echo process that
parses it and answers a line of a create answer's size. Both are measured interleaved with
the daemon's requests, in rounds, so that the machine's load drifts over all of them alike.

Printed: the floor; daemon ``create`` / ``update`` / ``show`` p50 on one persistent connection
and their ratio to the floor; 8 agent processes x 100 creates (one connection each) in
creates/s; and whole ``bd <read> --json`` processes with and without the daemon (direct /
daemon: above 1 means the daemon is faster). Nothing here asserts; targets are shown as met
or not.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _floor import AGENT, Floor
from _common import (bd_command, bench_env, generate_jsonl, machine, print_table, time_processes, wait_quiet,
                     workspace)

QUICK = "--quick" in sys.argv
ROUNDS = 6 if QUICK else 15
PER_ROUND = 40 if QUICK else 80
REPS_8X100 = 2 if QUICK else 5
PROC_RUNS = 8 if QUICK else 20

READS = [("list", ["list", "--json", "--limit", "50"]), ("ready", ["ready", "--json"]),
         ("blocked", ["blocked", "--json"]), ("show", ["show", "bench-1", "--json"]),
         ("stats", ["stats", "--json"]), ("dep tree", ["dep", "tree", "bench-150", "--json"]),
         ("search", ["search", "daemon", "--json"])]


def sample(fn, n: int, out: list[float]) -> None:
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


def latency(root: Path) -> dict[str, float]:
    """p50 seconds of the floor's parts and of daemon create/update/show, sampled in rounds."""
    from bdgit import __version__
    from bdgit.daemon import lifecycle as d
    from bdgit.rpc.client import Client
    from bdgit.workspace import find
    ws = find(cwd=root)
    st = d.start(ws, {"flush_interval": 1.0, "idle_timeout": 600})
    samples: dict[str, list[float]] = {k: [] for k in ("sql", "socket", "create", "update", "show")}
    try:
        with Client(st["socket"], actor="bench", timeout=30) as c, tempfile.TemporaryDirectory() as tmp:
            created = c.execute("create", {"title": "bench create 0", "priority": 2})
            # the line a create sends (``Client.request``'s fields)
            request = json.dumps({"operation": "create", "args": {"title": "bench create 0", "priority": 2},
                                  "request_id": "1-1", "actor": "bench", "client_version": __version__,
                                  "timeout_ms": 30000, "deadline": round(time.time() + 30, 3)},
                                 ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            answer = len(json.dumps({"success": True, "data": created}, ensure_ascii=False,
                                    separators=(",", ":")))
            fl = Floor(tmp, request, max(answer - 40, 0))
            k = iter(range(1, 10**9))
            calls = {
                "sql": fl.insert, "socket": fl.round_trip,
                "create": lambda: c.execute("create", {"title": f"bench create {next(k)}", "priority": 2}),
                "update": lambda: c.execute("update", {"id": "bench-1", "notes": f"note {next(k)}"}),
                "show": lambda: c.execute("show", {"id": "bench-1"}),
            }
            for fn in calls.values():  # warm up every path
                sample(fn, 20, [])
            try:
                for _ in range(ROUNDS):
                    for name, fn in calls.items():
                        sample(fn, PER_ROUND, samples[name])
            finally:
                fl.close()
    finally:
        d.stop(ws)
    return {k: p50(v) for k, v in samples.items()}


def eight_by_hundred(root: Path) -> list[float]:
    """creates/s of 8 agent processes x 100 creates, one connection each, ``REPS_8X100`` times."""
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=root)
    st = d.start(ws, {"flush_interval": 1.0, "idle_timeout": 600})
    out = []
    try:
        for _ in range(REPS_8X100):
            go = time.time() + 1.5
            procs = [subprocess.Popen([sys.executable, "-c", AGENT, st["socket"], "100", str(go)],
                                      stdout=subprocess.PIPE, text=True, env=bench_env()) for _ in range(8)]
            res = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
            span = max(r["end"] for r in res) - min(r["start"] for r in res)
            out.append(sum(r["n"] for r in res) / span)
    finally:
        d.stop(ws)
    return out


def reads(root: Path) -> dict[str, tuple[float, float]]:
    """(direct, daemon) median whole-process seconds of each read command, interleaved."""
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=root)
    bd = bd_command()
    cases = []
    for name, args in READS:
        cases.append((f"{name} direct", bd + args + ["--no-daemon"], root))
        cases.append((f"{name} daemon", bd + args, root))
    st = d.start(ws, {"flush_interval": 1.0, "idle_timeout": 600})
    try:
        t = time_processes(cases, PROC_RUNS, warmup=2)
    finally:
        d.stop(ws)
    del st
    return {name: (t[f"{name} direct"].median, t[f"{name} daemon"].median) for name, _ in READS}


def main() -> None:
    print(f"bench_floor on {machine()}{' (quick)' if QUICK else ''}")
    print(f"load average before measuring: {wait_quiet():.2f}")
    with workspace(generate_jsonl(200)) as root:
        lat = latency(root)
        load_lat = os.getloadavg()[0]
        tp = eight_by_hundred(root)
        load_tp = os.getloadavg()[0]
    with workspace(generate_jsonl(200)) as root:
        rd = reads(root)
    load_rd = os.getloadavg()[0]
    floor = lat["sql"] + lat["socket"]
    print_table(["floor part", "p50 us"], [("SQLite WAL insert transaction (bdgit's pragmas)", lat["sql"] * 1e6),
                                          ("unix-socket newline-JSON round trip", lat["socket"] * 1e6),
                                          ("floor (sum)", floor * 1e6)], "The floor")
    print_table(["daemon request (one connection)", "p50 ms", "x floor"],
                [(op, lat[op] * 1e3, lat[op] / floor) for op in ("create", "update", "show")],
                f"Daemon requests against the floor ({ROUNDS} interleaved rounds; load {load_lat:.2f})")
    print_table(["8 agents x 100 creates", "creates/s"],
                [(f"run {i + 1}", x) for i, x in enumerate(tp)] + [("median", statistics.median(tp))],
                f"Throughput (load {load_tp:.2f})")
    print_table(["bd <read> --json", "direct ms", "daemon ms", "direct/daemon"],
                [(name, a * 1e3, b * 1e3, a / b) for name, (a, b) in rd.items()],
                f"Whole processes, interleaved (load {load_rd:.2f})")
    eight = statistics.median(tp)
    checks = [
        ("daemon create <= 2.5x floor", f"{lat['create'] / floor:.1f}x", lat["create"] <= 2.5 * floor),
        ("8 agents x 100 creates >= 5,000/s", f"{eight:,.0f}/s", eight >= 5000),
        ("every read faster through the daemon (whole process)",
         ", ".join(f"{n} {a / b:.2f}" for n, (a, b) in rd.items()), all(b < a for a, b in rd.values())),
    ]
    print_table(["target", "measured", "met"], [(a, b, "yes" if c else "NO") for a, b, c in checks], "Targets")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
