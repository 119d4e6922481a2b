"""Core tracker benchmarks: import/export throughput, queries on 10,000 issues, CLI process cost.

    python bench/bench_core.py            # full run (~1.5 min on 2 cores, plus up to 2 x --wait)
    python bench/bench_core.py --quick    # fewer repetitions (~1 min)
    python bench/bench_core.py --json-out results.json

Targets (from the issue):
- import >= 10,000 issues/s (in-process, bdgit.jsonl.import_text into a fresh database);
- ``ready`` on 10,000 issues <= 30 ms in-process (bdgit.ops.run; the CLI's default limit 10);
- direct-mode ``bd list --json`` <= 8x a bare interpreter start (``python -c pass``), whole process.

Every figure is a median of several runs on this machine; ratios are computed within the run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TARGET_IMPORT_PER_S = 10_000
TARGET_READY_MS = 30.0
TARGET_LIST_RATIO = 8.0

RESULTS: dict[str, Any] = {"targets": {}}


def ms(t: float) -> float:
    return t * 1000


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- (a) import, (b) export ------------------------------------------------------------------

def bench_import_export(text: str, n: int, runs: int, proc_runs: int) -> Path:
    """Import throughput (in-process and as a process) and export throughput.

    Returns the path of a populated database copy for the query benchmarks."""
    from bdgit import jsonl
    from bdgit.workspace.initialize import init_workspace
    from bdgit.store import Store

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bdgit-bench-import-"))

    def fresh_store(k: int, prefix: str = C.PREFIX) -> tuple[Path, Store]:
        root = tmp / f"ws{k}"
        (root / ".beads").mkdir(parents=True)
        init_workspace(root, prefix, actor="bench")
        db = C.db_path(root)
        return root, Store(db)

    # in-process: import_text (plain `bd import` semantics: collisions fail, no 3-way base)
    samples, cpu = [], []
    for k in range(runs):
        _, st = fresh_store(k)
        c0, t0 = time.process_time(), time.perf_counter()
        res = jsonl.import_text(st, text, actor="bench")
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert len(res.created) == n, res.as_dict()
        st.close()
    t_imp = C.Timing(samples, cpu)
    rows.append(("import_text (fresh DB)", runs, ms(t_imp.median), ms(t_imp.min), ms(t_imp.cpu_median),
                 n / t_imp.median, n / t_imp.median / TARGET_IMPORT_PER_S))
    RESULTS["import_per_s"] = n / t_imp.median

    # in-process: workspace import (bd init in a fresh clone; auto-import after git pull)
    samples, cpu = [], []
    for k in range(runs):
        root, st = fresh_store(100 + k)
        path = root / ".beads" / "issues.jsonl"
        path.write_text(text, encoding="utf-8")
        c0, t0 = time.process_time(), time.perf_counter()
        res = jsonl.import_text(st, text, actor="bench", workspace=True, collisions="auto", path=path)
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert len(res.created) == n
        st.close()
    t_ws = C.Timing(samples, cpu)
    rows.append(("import_text workspace=True (3-way)", runs, ms(t_ws.median), ms(t_ws.min), ms(t_ws.cpu_median),
                 n / t_ws.median, n / t_ws.median / TARGET_IMPORT_PER_S))
    RESULTS["import_ws_per_s"] = n / t_ws.median

    # whole process: bd import -i FILE into a fresh workspace (includes start-up and the
    # auto-flush that rewrites .beads/issues.jsonl with all n issues)
    src = tmp / "input.jsonl"
    src.write_text(text, encoding="utf-8")
    bd = C.bd_command()
    samples, cpu = [], []
    for i in range(proc_runs):
        root, st = fresh_store(200 + i)  # untimed: a fresh workspace for each run
        st.close()
        t = C.time_processes([("import", bd + ["--no-daemon", "import", "-i", str(src)], root)], runs=1,
                             warmup=0)["import"]
        samples.append(t.samples[0])
        cpu.append(t.cpu_samples[0])
    t_cli = C.Timing(samples, cpu)
    rows.append(("bd --no-daemon import -i (process)", proc_runs, ms(t_cli.median), ms(t_cli.min),
                 ms(t_cli.cpu_median), n / t_cli.median, n / t_cli.median / TARGET_IMPORT_PER_S))
    RESULTS["import_cli_per_s"] = n / t_cli.median

    # export of the imported database
    _, st = fresh_store(300)
    jsonl.import_text(st, text, actor="bench")
    t_exp = C.time_call(lambda: jsonl.render(jsonl.export_lines(st)), runs=runs)
    rows.append(("export_lines + render (text)", runs, ms(t_exp.median), ms(t_exp.min), ms(t_exp.cpu_median),
                 n / t_exp.median, n / t_exp.median / TARGET_IMPORT_PER_S))
    out = tmp / "ws300" / ".beads" / "issues.jsonl"
    t_fl = C.time_call(lambda: jsonl.flush(st, out, full=True), runs=runs)
    rows.append(("flush(full=True) to file (fsync)", runs, ms(t_fl.median), ms(t_fl.min), ms(t_fl.cpu_median),
                 n / t_fl.median, n / t_fl.median / TARGET_IMPORT_PER_S))
    RESULTS["export_per_s"] = n / t_exp.median
    RESULTS["flush_full_per_s"] = n / t_fl.median
    st.close()

    C.print_table(["operation", "runs", "median ms", "min ms", "cpu ms", "issues/s", "x target"], rows,
                  f"(a, b) import / export of {n:,} issues (target: import >= {TARGET_IMPORT_PER_S:,} issues/s)")
    ok = RESULTS["import_per_s"] >= TARGET_IMPORT_PER_S
    RESULTS["targets"]["import"] = ok
    print(f"target import >= {TARGET_IMPORT_PER_S:,}/s: {verdict(ok)} ({RESULTS['import_per_s']:,.0f}/s in-process)")
    RESULTS["tables"] = {"import_export": rows}
    return tmp / "ws300"


# --- (c) queries in-process ---------------------------------------------------------------------

def bench_queries(root: Path, n: int, runs: int) -> None:
    from bdgit import ops
    from bdgit.store import Store

    st = Store(C.db_path(root))
    cases = [
        ("ready (limit 10, CLI default)", "ready", {"limit": 10}),
        ("ready (limit 0 = all)", "ready", {"limit": 0}),
        ("list (all)", "list", {}),
        ("list --limit 10", "list", {"limit": 10}),
        ("list --status open", "list", {"status": "open"}),
        ("blocked", "blocked", {}),
        ("stats", "stats", {}),
        ("show (one issue)", "show", {"id": f"{C.PREFIX}-{n // 2}"}),
    ]
    rows = []
    for label, op, args in cases:
        out: list[Any] = []
        t = C.time_call(lambda: out.append(ops.run(st, op, dict(args), "bench")), runs=runs, warmup=2,
                        budget=5.0)
        res = out[-1]
        size = len(res) if isinstance(res, list) else "-"
        rows.append((label, size, ms(t.median), ms(t.p95), ms(t.cpu_median), ms(t.median) / TARGET_READY_MS))
        RESULTS[f"q_{label}"] = ms(t.median)
    st.close()
    C.print_table(["ops.run (in-process)", "rows", "median ms", "p95 ms", "cpu ms", "x 30 ms"], rows,
                  f"(c) queries on {n:,} issues, {runs} runs each (target: ready <= {TARGET_READY_MS:g} ms)")
    r10 = RESULTS["q_ready (limit 10, CLI default)"]
    r0 = RESULTS["q_ready (limit 0 = all)"]
    ok = r10 <= TARGET_READY_MS
    RESULTS["targets"]["ready"] = ok
    print(f"target ready <= {TARGET_READY_MS:g} ms: {verdict(ok)} (limit 10: {r10:.1f} ms; "
          f"limit 0: {r0:.1f} ms, {verdict(r0 <= TARGET_READY_MS)})")
    RESULTS["tables"]["queries"] = rows


# --- (d) whole process ------------------------------------------------------------------------

def bench_processes(big: Path, small: Path, n: int, runs: int, wait: float = 30.0) -> None:
    py = sys.executable
    bd = C.bd_command()
    nd = ["--no-daemon"]

    def create(i: int) -> list[str]:
        return bd + nd + ["create", f"bench create {i}", "-p", "2", "-t", "task"]

    big_n = f"{n:,}"
    cases: list[tuple[str, Any, Path | None]] = [
        ("python -c pass  (baseline)", [py, "-c", "pass"], small),
        ("python -S -c pass  (no site, no .pth)", [py, "-S", "-c", "pass"], small),
        ("python -c 'import sqlite3, json'", [py, "-c", "import sqlite3, json"], small),
        ("bd version", bd + ["version"], small),
        ("bd list --json  [10 issues]", bd + nd + ["list", "--json"], small),
        ("bd ready --json  [10 issues]", bd + nd + ["ready", "--json"], small),
        ("bd create  [10 issues]", create, small),
        (f"bd list --json --limit 10  [{big_n}]", bd + nd + ["list", "--json", "--limit", "10"], big),
        (f"bd ready --json  [{big_n}]", bd + nd + ["ready", "--json"], big),
    ]
    # The same command with no site module at all (sys.path set by hand), to compare with
    # python -S -c pass: the strictest ratio, free of this interpreter's .pth start-up costs.
    nosite_main = (f"import sys; sys.path[:0] = [{str(C.ROOT)!r}, {sysconfig.get_path('purelib')!r}]; "
                   "from bdgit.cli.main import main; main()")
    cases.append(("python -S: bd list --json  [10 issues]", [py, "-S", "-c", nosite_main, "--no-daemon", "list",
                                                          "--json"], small))
    slow_cases: list[tuple[str, Any, Path | None]] = [
        (f"bd list --json  [{big_n}, all rows]", bd + nd + ["list", "--json"], big),
        (f"bd create  [{big_n}]", lambda i: create(10_000 + i), big),
    ]
    load = C.wait_quiet(max_wait=wait)
    print(f"\n1-min load average before the process runs: {load:.2f}")
    RESULTS["load_process"] = load
    t = C.time_processes(cases, runs)
    t.update(C.time_processes(slow_cases, max(3, runs // 4)))
    base = t["python -c pass  (baseline)"].median
    base_cpu = t["python -c pass  (baseline)"].cpu_median
    rows = [(label, tm.runs, ms(tm.median), ms(tm.p95), tm.median / base, ms(tm.cpu_median),
             tm.cpu_median / base_cpu) for label, tm in t.items()]
    C.print_table(["command (whole process, --no-daemon)", "runs", "median ms", "p95 ms", "x python -c pass",
                   "cpu ms", "cpu x"],
                  rows, "(d) process cost: median wall time (runs interleaved) and its ratio to a bare "
                        "interpreter start; cpu = the child's user+sys time, less sensitive to machine load")
    RESULTS["tables"]["process"] = rows
    RESULTS["process_ms"] = {k: ms(v.median) for k, v in t.items()}
    RESULTS["process_cpu_ms"] = {k: ms(v.cpu_median) for k, v in t.items()}
    small_ratio = t["bd list --json  [10 issues]"].median / base
    big_ratio = t[f"bd list --json --limit 10  [{big_n}]"].median / base
    ok = small_ratio <= TARGET_LIST_RATIO
    RESULTS["targets"]["list_ratio"] = ok
    print(f"target bd list --json <= {TARGET_LIST_RATIO:g}x python -c pass: {verdict(ok)} "
          f"({small_ratio:.2f}x with 10 issues; {big_ratio:.2f}x for --limit 10 on {big_n} issues, "
          f"{verdict(big_ratio <= TARGET_LIST_RATIO)}; by CPU time "
          f"{t['bd list --json  [10 issues]'].cpu_median / base_cpu:.2f}x)")
    nosite = t["python -S -c pass  (no site, no .pth)"].median
    strict = t["python -S: bd list --json  [10 issues]"].median / nosite
    RESULTS["list_ratio_nosite"] = strict
    print(f"note: site start-up (the .pth files of this interpreter's site-packages) is "
          f"{ms(base - nosite):.0f} ms of the {ms(base):.0f} ms baseline; bd list --json [10 issues] "
          f"costs {ms(t['bd list --json  [10 issues]'].median - base):.0f} ms more. With no site module on "
          f"either side, bd list --json is {strict:.2f}x python -S -c pass ({verdict(strict <= TARGET_LIST_RATIO)} "
          f"against {TARGET_LIST_RATIO:g}x)")


def bench_importtime(small: Path, top: int = 10, repeat: int = 5) -> None:
    """-X importtime for ``bd --no-daemon list --json`` in the small workspace: per module,
    the minimum over ``repeat`` runs (the least disturbed figure)."""
    cmd = C.bd_command() + ["--no-daemon", "list", "--json"]
    best: dict[str, tuple[int, int, int]] = {}
    for _ in range(repeat):
        for name, depth, self_us, cum_us in C.import_profile(cmd, cwd=small):
            old = best.get(name)
            best[name] = (depth, min(self_us, old[1]) if old else self_us, min(cum_us, old[2]) if old else cum_us)
    ranked = sorted(best.items(), key=lambda kv: -kv[1][2])[:top]
    C.print_table(["module (bd --no-daemon list --json, 10 issues)", "depth", "self ms", "cumulative ms"],
                  [(name, d, s / 1000, c / 1000) for name, (d, s, c) in ranked],
                  f"(e) python -X importtime: top {top} by cumulative time (min of {repeat} runs; "
                  f"depth 0 = imported by the bd script or site)")
    top_level = {name: c for name, (d, s, c) in best.items() if d == 0}
    ours = sum(c for name, c in top_level.items() if name.startswith("bdgit"))
    site = sum(c for name, c in top_level.items() if not name.startswith("bdgit"))
    print(f"depth-0 totals: bdgit.* {ours / 1000:.1f} ms (bdgit and the stdlib it pulls in); "
          f"site and everything else {site / 1000:.1f} ms")
    RESULTS["importtime"] = [(name, d, s / 1000, c / 1000) for name, (d, s, c) in ranked]
    RESULTS["importtime_bdgit_ms"] = ours / 1000
    RESULTS["importtime_other_ms"] = site / 1000
    heavy = [n for n in ("dataclasses", "hashlib", "filelock", "typer", "click", "pygit2", "inspect")
             if n in best]
    print(f"heavy modules on this path: {', '.join(heavy) if heavy else 'none'} "
          f"(checked: dataclasses, hashlib, filelock, typer, click, pygit2, inspect)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("-n", "--issues", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json-out", help="also write the figures as JSON here")
    ap.add_argument("--skip-process", action="store_true", help="only the in-process benchmarks")
    ap.add_argument("--wait", type=float, default=30.0,
                    help="wait up to this many seconds for the machine to be idle before each part")
    a = ap.parse_args()
    n = a.issues
    imp_runs, q_runs, p_runs, cli_imp_runs = (2, 10, 10, 2) if a.quick else (5, 25, 20, 3)
    t_start = time.perf_counter()
    print(f"bdgit core benchmarks ({'quick' if a.quick else 'full'})")
    print(f"machine: {C.machine()}")
    issues = C.generate_issues(n, a.seed)
    print(f"data: {C.describe(issues)}; seed {a.seed}")
    text = C.generate_jsonl(n, a.seed)
    print(f"      {len(text) / 1e6:.1f} MB of JSONL")
    RESULTS["machine"] = C.machine()
    RESULTS["data"] = C.describe(issues)
    load = C.wait_quiet(max_wait=a.wait)
    print(f"1-min load average at start: {load:.2f}")
    RESULTS["load_start"] = load

    populated = bench_import_export(text, n, imp_runs, cli_imp_runs)
    try:
        bench_queries(populated, n, q_runs)
    finally:
        import shutil
        shutil.rmtree(populated.parent, ignore_errors=True)
    if not a.skip_process:
        small_text = C.generate_jsonl(10, a.seed + 1)
        with C.workspace(text) as big, C.workspace(small_text) as small:
            bench_processes(big, small, n, p_runs, a.wait)
            bench_importtime(small)
    elapsed = time.perf_counter() - t_start
    RESULTS["load_end"] = os.getloadavg()[0]
    print("\nsummary: " + ", ".join(f"{k} {verdict(v)}" for k, v in RESULTS["targets"].items())
          + f"  (total {elapsed:.0f} s, of which {C.WAITED[0]:.0f} s waiting for an idle machine; "
            f"1-min load average now {RESULTS['load_end']:.2f})")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(RESULTS, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
