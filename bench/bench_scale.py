"""Scale: the same operations on workspaces of 1,000, 10,000 and 100,000 issues, interleaved.

    python bench/bench_scale.py                       # 1k, 10k, 100k (~6 min on 2 cores)
    python bench/bench_scale.py --sizes 1000,10000    # other sizes
    python bench/bench_scale.py --rounds 2            # fewer repetitions

Each workspace is a generated, realistic one (``_common.generate_jsonl``: statuses,
priorities, labels, ~1.5 dependencies per issue, ~40% with descriptions), committed to a git
repository and cloned; ``bd init`` in the clone imports it (whole process, issues/s). Then, for
every size in turn, round after round (so that drifting load hits every size alike):

- direct mode, whole ``bd`` processes: ``create``, ``update``, ``ready``;
- through a daemon, requests on one socket connection: ``create``, ``update``, ``show``,
  ``ready`` (limit 10), ``stats``, ``blocked``, ``list --limit 10`` (p50 of every sample);
- 8 agent processes x 100 creates through the daemon (creates/s);
- the daemon's resident memory after the run and its peak (``VmRSS`` / ``VmHWM``).

The floor (``bench/_floor.py``: a SQLite WAL insert transaction with the store's pragmas plus a
socket round trip of a create's request line) is measured in the same run. Growth ratios are against the smallest size.
Nothing here asserts: it prints tables, ratios and which targets are met.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from _floor import AGENT, floor  # noqa: E402

#: targets (growth is against the smallest size; absolute figures at the largest)
GROWTH = {"create": 1.5, "update": 1.5, "show": 1.5, "list": 2.0, "ready": 3.0}
READY_MS, STATS_MS, IMPORT_PER_S, RSS_MB = 10.0, 25.0, 25_000, 200.0

DAEMON_OPS = ("create", "update", "show", "ready", "stats", "blocked", "list")
DIRECT_OPS = ("create", "update", "ready")


class Workspace:
    """One size: its clone (``bd init`` imported the generated file), issue IDs to address."""

    def __init__(self, tmp: Path, n: int, text: str) -> None:
        self.n = n
        self.src = tmp / f"src-{n}"
        (self.src / ".beads").mkdir(parents=True)
        (self.src / ".beads" / "issues.jsonl").write_text(text, encoding="utf-8")
        env = C.bench_env()
        C.sh(["git", "init", "-q", "-b", "main"], self.src, env)
        C.sh(["git", "add", "-A"], self.src, env)
        C.sh(["git", "commit", "-q", "-m", "issues"], self.src, env)
        self.root = self.src  # replaced by the first clone
        self.clones = 0
        self.rnd = random.Random(n)
        self.ids = [f"{C.PREFIX}-{k}" for k in range(1, n + 1)]
        self.daemon: dict[str, Any] | None = None
        self.client: Any = None

    def clone_and_init(self) -> tuple[float, float]:
        """A new clone and ``bd init`` in it: (wall seconds, child CPU seconds). The clone
        becomes this size's workspace; the previous one is removed."""
        self.clones += 1
        dest = self.src.parent / f"clone-{self.n}-{self.clones}"
        C.sh(["git", "clone", "-q", str(self.src), str(dest)], self.src.parent)
        t = C.time_processes([("init", C.bd_command() + ["init", "-q", "--no-hooks", "--prefix", C.PREFIX],
                               dest)], runs=1, warmup=0)["init"]
        if self.root != self.src:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = dest
        return t.samples[0], t.cpu_samples[0]

    def some_id(self) -> str:
        return self.rnd.choice(self.ids)


def _ws(root: Path) -> Any:
    from bdgit.workspace import find
    return find(cwd=root)


def start_daemon(w: Workspace) -> None:
    from bdgit.daemon import lifecycle as d
    from bdgit.rpc.client import Client
    w.daemon = d.start(_ws(w.root), {"flush_interval": 1.0, "idle_timeout": 3600})
    w.client = Client(w.daemon["socket"], actor="bench", timeout=120)
    w.client.execute("ping")


def stop_daemon(w: Workspace) -> dict[str, float]:
    """Stop the daemon; its memory just before (MB): ``rss`` and ``peak``."""
    from bdgit.daemon import lifecycle as d
    mem = daemon_memory(w)
    w.client.close()
    d.stop(_ws(w.root))
    return mem


def daemon_memory(w: Workspace) -> dict[str, float]:
    from bdgit.daemon import lifecycle as d
    pid = d.status(_ws(w.root)).get("pid")
    out = {"rss": float("nan"), "peak": float("nan")}
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    out["rss"] = int(ln.split()[1]) / 1024
                elif ln.startswith("VmHWM:"):
                    out["peak"] = int(ln.split()[1]) / 1024
    except OSError:
        pass
    return out


def daemon_round(w: Workspace, samples: dict[str, list[float]], per_op: int) -> None:
    """``per_op`` requests of every daemon operation on the one connection."""
    c = w.client
    k = iter(range(10 ** 9))
    args = {
        "create": lambda: {"title": f"scale create {next(k)}", "priority": 2},
        "update": lambda: {"id": w.some_id(), "notes": f"n{next(k)}"},
        "show": lambda: {"id": w.some_id()},
        "ready": lambda: {"limit": 10},
        "stats": lambda: {},
        "blocked": lambda: {},
        "list": lambda: {"limit": 10},
    }
    for op in DAEMON_OPS:
        mk = args[op]
        t = C.time_call(lambda: c.execute(op, mk()), per_op, warmup=2, budget=30.0)
        samples[op].extend(t.samples)


def direct_round(ws: list[Workspace], runs: int) -> dict[tuple[str, int], list[float]]:
    """Whole ``bd`` processes in direct mode, interleaved across sizes."""
    bd = C.bd_command()
    cases: list[tuple[Any, ...]] = []
    for w in ws:
        cases.append((("create", w.n), bd + ["--no-daemon", "create", "scale direct", "--json"], w.root))
        cases.append((("update", w.n), lambda i, w=w: bd + ["--no-daemon", "update", w.some_id(), "--notes",
                                                           f"d{i}"], w.root))
        cases.append((("ready", w.n), bd + ["--no-daemon", "ready", "--json"], w.root))
    got = C.time_processes(cases, runs=runs, warmup=1, budget=120.0)
    return {label: t.samples for label, t in got.items()}


def throughput(w: Workspace) -> float:
    """8 agent processes x 100 creates through this size's daemon: creates/s."""
    assert w.daemon is not None
    go = time.time() + 1.0 + 8 * 0.15
    procs = [subprocess.Popen([sys.executable, "-c", AGENT, w.daemon["socket"], "100", str(go)],
                              stdout=subprocess.PIPE, text=True, env=C.bench_env()) for _ in range(8)]
    res = [json.loads(p.communicate(timeout=600)[0]) for p in procs]
    span = max(r["end"] for r in res) - min(r["start"] for r in res)
    return sum(r["n"] for r in res) / span


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated issue counts")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds (default 4)")
    ap.add_argument("--per-op", type=int, default=40, help="daemon requests per operation per round")
    ap.add_argument("--imports", type=int, default=2, help="clones + bd init per size (default 2)")
    a = ap.parse_args()
    sizes = sorted(int(x) for x in a.sizes.split(","))
    print(f"bench_scale on {C.machine()}")
    print(f"load average before measuring: {C.wait_quiet():.2f}; uptime: {_uptime()}")
    tmp = Path(tempfile.mkdtemp(prefix="bdgit-bench-scale-"))
    try:
        run(tmp, sizes, a)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nuptime after the run: {_uptime()}")


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(tmp: Path, sizes: list[int], a: argparse.Namespace) -> None:
    ws = []
    for n in sizes:
        text = C.generate_jsonl(n)
        w = Workspace(tmp, n, text)
        ws.append(w)
        print(f"{n:>7,} issues: {C.describe(C.generate_issues(n))}, {len(text) / 1e6:.1f} MB JSONL")
    imports: dict[int, list[tuple[float, float]]] = {w.n: [] for w in ws}
    for _ in range(a.imports):
        for w in ws:
            imports[w.n].append(w.clone_and_init())
    direct: dict[tuple[str, int], list[float]] = {}
    for _ in range(a.rounds):
        for label, xs in direct_round(ws, runs=2).items():
            direct.setdefault(label, []).extend(xs)
    t_sql, t_sock = floor()
    samples: dict[int, dict[str, list[float]]] = {w.n: {op: [] for op in DAEMON_OPS} for w in ws}
    mem: dict[int, dict[str, float]] = {}
    agents: dict[int, float] = {}
    for w in ws:
        start_daemon(w)
    try:
        for _ in range(a.rounds):
            for w in ws:
                daemon_round(w, samples[w.n], a.per_op)
        for w in ws:
            agents[w.n] = throughput(w)
    finally:
        for w in ws:
            mem[w.n] = stop_daemon(w)
    report(ws, imports, direct, samples, mem, agents, t_sql, t_sock)


def report(ws: list[Workspace], imports: dict[int, list[tuple[float, float]]],
           direct: dict[tuple[str, int], list[float]], samples: dict[int, dict[str, list[float]]],
           mem: dict[int, dict[str, float]], agents: dict[int, float], t_sql: float, t_sock: float) -> None:
    sizes = [w.n for w in ws]
    small, large = sizes[0], sizes[-1]
    fl = t_sql + t_sock
    p50 = {n: {op: C.percentile(xs, 50) for op, xs in samples[n].items()} for n in sizes}
    d50 = {(op, n): C.percentile(xs, 50) for (op, n), xs in direct.items()}
    C.print_table(["floor part", "median us"], [("SQLite WAL insert txn (sync=NORMAL)", t_sql * 1e6),
                                               ("unix-socket JSON round trip", t_sock * 1e6),
                                               ("floor (sum)", fl * 1e6)], "The floor (this run)")
    head = ["operation"] + [f"{n:,}" for n in sizes] + [f"growth {n:,}/{small:,}" for n in sizes[1:]]
    rows: list[list[Any]] = []
    for op in DAEMON_OPS:
        v = [p50[n][op] * 1e3 for n in sizes]
        rows.append([f"daemon {op} p50 ms"] + v + [x / v[0] for x in v[1:]])
    for op in DIRECT_OPS:
        v = [d50[(op, n)] * 1e3 for n in sizes]
        rows.append([f"direct bd {op} (process) ms"] + v + [x / v[0] for x in v[1:]])
    rate = {n: n / min(t for t, _ in imports[n]) for n in sizes}
    cpu_rate = {n: n / min(c for _, c in imports[n]) for n in sizes}
    rows.append(["bd init in a clone, issues/s (best wall)"] + [rate[n] for n in sizes] + [""] * (len(sizes) - 1))
    rows.append(["bd init in a clone, issues/CPU-s"] + [cpu_rate[n] for n in sizes] + [""] * (len(sizes) - 1))
    rows.append(["daemon create / floor"] + [p50[n]["create"] / fl for n in sizes] + [""] * (len(sizes) - 1))
    rows.append(["8 agents x 100 creates, creates/s"] + [agents[n] for n in sizes]
                + [agents[n] / agents[small] for n in sizes[1:]])
    rows.append(["daemon RSS after the run MB"] + [mem[n]["rss"] for n in sizes]
                + [mem[n]["rss"] / mem[small]["rss"] for n in sizes[1:]])
    rows.append(["daemon peak RSS MB"] + [mem[n]["peak"] for n in sizes]
                + [mem[n]["peak"] / mem[small]["peak"] for n in sizes[1:]])
    C.print_table(head, rows, "By workspace size (p50 over every round; growth = value / value at the smallest size)")
    checks: list[tuple[str, str, bool]] = []
    for op, limit in GROWTH.items():
        g = p50[large][op] / p50[small][op]
        checks.append((f"daemon {op} growth {large:,}/{small:,} <= {limit}", f"{g:.2f}", g <= limit))
        if op in DIRECT_OPS:
            g = d50[(op, large)] / d50[(op, small)]
            checks.append((f"direct bd {op} growth {large:,}/{small:,} <= {limit}", f"{g:.2f}", g <= limit))
    checks += [
        (f"daemon ready at {large:,} <= {READY_MS:.0f} ms", f"{p50[large]['ready'] * 1e3:.2f} ms",
         p50[large]["ready"] * 1e3 <= READY_MS),
        (f"daemon stats at {large:,} <= {STATS_MS:.0f} ms", f"{p50[large]['stats'] * 1e3:.2f} ms",
         p50[large]["stats"] * 1e3 <= STATS_MS),
        (f"bd init import at {large:,} >= {IMPORT_PER_S:,}/s", f"{rate[large]:,.0f}/s", rate[large] >= IMPORT_PER_S),
        (f"daemon peak RSS at {large:,} < {RSS_MB:.0f} MB", f"{mem[large]['peak']:.0f} MB",
         mem[large]["peak"] < RSS_MB),
        ("daemon create <= 2.5x floor (smallest size)", f"{p50[small]['create'] / fl:.1f}x",
         p50[small]["create"] <= 2.5 * fl),
        ("8 agents x 100 creates >= 5,000/s (smallest size)", f"{agents[small]:,.0f}/s", agents[small] >= 5000),
    ]
    C.print_table(["target", "measured", "met"], [(x, y, "yes" if ok else "NO") for x, y, ok in checks], "Targets")


if __name__ == "__main__":
    main()
