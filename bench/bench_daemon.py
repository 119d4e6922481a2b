"""Daemon vs direct mode: per-operation latency, agent throughput, and whole-process cost.

    python bench/bench_daemon.py [--quick]

In process, a *direct* operation is all one direct-mode command does (open the store, take
the lock, run, flush the JSONL, close); a *daemon* operation is one request on a persistent
connection. The *floor*, measured in the same run, is ``bench/_floor.py``'s: a SQLite WAL insert
transaction with the store's pragmas plus a unix-socket round trip of a create's request line
to another process. Nothing here asserts: it prints
tables (absolute figures and ratios) and which targets are met.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from _floor import AGENT, floor
from _common import (bd_command, bench_env, generate_jsonl, machine, print_table, time_call, time_process,
                     wait_quiet, workspace)

QUICK = "--quick" in sys.argv
N_OPS = 200 if QUICK else 600
N_PROC = 8 if QUICK else 20

def in_process(root: Path) -> list[tuple[str, float, float, float, float]]:
    """(op, direct median, daemon median, daemon p50, daemon p95) in seconds."""
    from bdgit.daemon import lifecycle as d
    from bdgit.backends.direct import DirectBackend
    from bdgit.rpc.client import Client
    from bdgit.workspace import find
    ws = find(cwd=root)

    def direct(op: str, args: dict) -> None:
        b = DirectBackend(ws, "bench")
        try:
            b.call(op, args)
        finally:
            b.close()

    counter = iter(range(10**9))
    ops = [
        ("create", lambda: {"title": f"bench create {next(counter)}", "priority": 2}),
        ("update", lambda: {"id": "bench-1", "notes": f"n{next(counter)}"}),
        ("list", lambda: {"limit": 50}),
        ("ready", lambda: {"limit": 10}),
        ("ping", lambda: {}),
    ]
    rows = []
    direct_t = {}
    for name, mk in ops:
        direct_t[name] = time_call(lambda: direct(name, mk()), max(N_OPS // 4, 30), warmup=3).median
    st = d.start(ws, {"flush_interval": 1.0, "idle_timeout": 600})
    try:
        with Client(st["socket"], actor="bench", timeout=30) as c:
            for name, mk in ops:
                t = time_call(lambda: c.execute(name, mk()), N_OPS, warmup=20)
                rows.append((name, direct_t[name], t.median, t.p50, t.p95))
    finally:
        d.stop(ws)
    return rows


def throughput(root: Path) -> list[tuple[int, int, float]]:
    """(agents, creates, creates/s) for 1, 4, 8, 16 agent processes x 100 creates."""
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=root)
    st = d.start(ws, {"flush_interval": 1.0, "idle_timeout": 600})
    out = []
    try:
        for n in (1, 4, 8, 16):
            go = time.time() + 1.0 + n * 0.15
            procs = [subprocess.Popen([sys.executable, "-c", AGENT, st["socket"], "100", str(go)],
                                      stdout=subprocess.PIPE, text=True, env=bench_env()) for _ in range(n)]
            res = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
            span = max(r["end"] for r in res) - min(r["start"] for r in res)
            total = sum(r["n"] for r in res)
            out.append((n, total, total / span))
    finally:
        d.stop(ws)
    return out


def processes(root: Path) -> list[tuple[str, float, float]]:
    """(command, direct median, daemon median) whole-process wall seconds."""
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=root)
    bd = bd_command()
    cmds = [("create", ["create", "process bench", "--json"]), ("update", ["update", "bench-1", "--notes", "x"]),
            ("list", ["list", "--json", "--limit", "50"]), ("ready", ["ready", "--json"]),
            ("show", ["show", "bench-1", "--json"])]
    direct = {name: time_process(bd + args + ["--no-daemon"], N_PROC, cwd=root).median for name, args in cmds}
    st = d.start(ws, {"flush_interval": 1.0, "idle_timeout": 600})
    try:
        rows = [(name, direct[name], time_process(bd + args, N_PROC, cwd=root).median) for name, args in cmds]
    finally:
        d.stop(ws)
    del st
    return rows


def main() -> None:
    print(f"bench_daemon on {machine()}{' (quick)' if QUICK else ''}")
    print(f"load average before measuring: {wait_quiet():.2f}")
    t_sql, t_sock = floor()
    fl = t_sql + t_sock
    print_table(["floor part", "median us"], [("SQLite WAL insert txn (sync=NORMAL)", t_sql * 1e6),
                                             ("unix-socket JSON round trip", t_sock * 1e6),
                                             ("floor (sum)", fl * 1e6)], "The floor")
    with workspace(generate_jsonl(200)) as root:
        rows = in_process(root)
    print_table(["op", "direct ms", "daemon ms", "daemon p95 ms", "direct/daemon", "daemon/floor"],
                [(op, dm * 1e3, dd * 1e3, p95 * 1e3, dm / dd, dd / fl) for op, dm, dd, _p50, p95 in rows],
                "In process: one direct-mode command vs one request on a persistent connection")
    with workspace(generate_jsonl(200)) as root:
        tp = throughput(root)
    print_table(["agents", "creates", "creates/s"], tp, "Throughput: N agent processes x 100 creates")
    base = time_process([sys.executable, "-c", "pass"], N_PROC).median
    with workspace(generate_jsonl(200)) as root:
        pr = processes(root)
    print_table(["command", "direct ms", "daemon ms", "direct/daemon", "daemon / python -c pass"],
                [(c, dm * 1e3, dd * 1e3, dm / dd, dd / base) for c, dm, dd in pr],
                f"Whole bd processes (python -c pass = {base * 1e3:.1f} ms)")
    create = next(r for r in rows if r[0] == "create")
    eight = next(r for r in tp if r[0] == 8)
    lst = next(r for r in pr if r[0] == "list")
    checks = [
        ("create via daemon p50 <= 1 ms", f"{create[3] * 1e3:.2f} ms", create[3] <= 1e-3),
        ("create via daemon <= 5x floor", f"{create[3] / fl:.1f}x", create[3] <= 5 * fl),
        ("8 agents x 100 creates >= 2,000/s", f"{eight[2]:,.0f}/s", eight[2] >= 2000),
        ("daemon-mode bd list --json <= 5x python -c pass", f"{lst[2] / base:.2f}x", lst[2] <= 5 * base),
        ("daemon faster than direct, in process (every op)",
         ", ".join(f"{op} {dm / dd:.1f}x" for op, dm, dd, _a, _b in rows), all(dd < dm for _o, dm, dd, _a, _b in rows)),
        ("daemon faster than direct, as processes (every op)",
         ", ".join(f"{c} {dm / dd:.2f}x" for c, dm, dd in pr), all(dd < dm for _c, dm, dd in pr)),
    ]
    print_table(["target", "measured", "met"], [(a, b, "yes" if c else "NO") for a, b, c in checks], "Targets")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
