"""Core tracker benchmarks: import/export throughput, queries on 10,000 issues, CLI process cost.

    python bench/bench_core.py            # full run (~2 min on 2 cores)
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
import sys
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
    from bdgit.init import init_workspace
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
    samples = []
    for k in range(runs):
        _, st = fresh_store(k)
        t0 = time.perf_counter()
        res = jsonl.import_text(st, text, actor="bench")
        samples.append(time.perf_counter() - t0)
        assert len(res.created) == n, res.as_dict()
        st.close()
    t_imp = C.Timing(samples)
    rows.append(("import_text (fresh DB)", runs, ms(t_imp.median), ms(t_imp.min), n / t_imp.median,
                 n / t_imp.median / TARGET_IMPORT_PER_S))
    RESULTS["import_per_s"] = n / t_imp.median

    # in-process: workspace import (bd init in a fresh clone; auto-import after git pull)
    samples = []
    for k in range(runs):
        root, st = fresh_store(100 + k)
        path = root / ".beads" / "issues.jsonl"
        path.write_text(text, encoding="utf-8")
        t0 = time.perf_counter()
        res = jsonl.import_text(st, text, actor="bench", workspace=True, collisions="auto", path=path)
        samples.append(time.perf_counter() - t0)
        assert len(res.created) == n
        st.close()
    t_ws = C.Timing(samples)
    rows.append(("import_text workspace=True (3-way)", runs, ms(t_ws.median), ms(t_ws.min), n / t_ws.median,
                 n / t_ws.median / TARGET_IMPORT_PER_S))
    RESULTS["import_ws_per_s"] = n / t_ws.median

    # whole process: bd import -i FILE into a fresh workspace (includes start-up and the
    # auto-flush that rewrites .beads/issues.jsonl with all n issues)
    src = tmp / "input.jsonl"
    src.write_text(text, encoding="utf-8")
    bd = C.bd_command()
    roots: list[Path] = []

    def before(i: int) -> None:
        root, st = fresh_store(200 + i)
        st.close()
        roots.append(root)

    samples = []
    for i in range(proc_runs):
        before(i)
        t = C.time_process(bd + ["--no-daemon", "import", "-i", str(src)], runs=1, warmup=0, cwd=roots[-1])
        samples.append(t.samples[0])
    t_cli = C.Timing(samples)
    rows.append(("bd --no-daemon import -i (process)", proc_runs, ms(t_cli.median), ms(t_cli.min),
                 n / t_cli.median, n / t_cli.median / TARGET_IMPORT_PER_S))
    RESULTS["import_cli_per_s"] = n / t_cli.median

    # export of the imported database
    _, st = fresh_store(300)
    jsonl.import_text(st, text, actor="bench")
    t_exp = C.time_call(lambda: jsonl.render(jsonl.export_lines(st)), runs=runs)
    rows.append(("export_lines + render (text)", runs, ms(t_exp.median), ms(t_exp.min), n / t_exp.median,
                 n / t_exp.median / TARGET_IMPORT_PER_S))
    out = tmp / "ws300" / ".beads" / "issues.jsonl"
    t_fl = C.time_call(lambda: jsonl.flush(st, out, full=True), runs=runs)
    rows.append(("flush(full=True) to file (fsync)", runs, ms(t_fl.median), ms(t_fl.min), n / t_fl.median,
                 n / t_fl.median / TARGET_IMPORT_PER_S))
    RESULTS["export_per_s"] = n / t_exp.median
    RESULTS["flush_full_per_s"] = n / t_fl.median
    st.close()

    C.print_table(["operation", "runs", "median ms", "min ms", "issues/s", "x target"], rows,
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
        rows.append((label, size, ms(t.median), ms(t.p95), ms(t.median) / TARGET_READY_MS))
        RESULTS[f"q_{label}"] = ms(t.median)
    st.close()
    C.print_table(["ops.run (in-process)", "rows", "median ms", "p95 ms", "x 30 ms"], rows,
                  f"(c) queries on {n:,} issues, {runs} runs each (target: ready <= {TARGET_READY_MS:g} ms)")
    r10 = RESULTS["q_ready (limit 10, CLI default)"]
    r0 = RESULTS["q_ready (limit 0 = all)"]
    ok = r10 <= TARGET_READY_MS
    RESULTS["targets"]["ready"] = ok
    print(f"target ready <= {TARGET_READY_MS:g} ms: {verdict(ok)} (limit 10: {r10:.1f} ms; "
          f"limit 0: {r0:.1f} ms, {verdict(r0 <= TARGET_READY_MS)})")
    RESULTS["tables"]["queries"] = rows


# --- (d) whole process ------------------------------------------------------------------------

def bench_processes(big: Path, small: Path, n: int, runs: int) -> None:
    py = sys.executable
    bd = C.bd_command()
    nd = ["--no-daemon"]
    counter = iter(range(10**6))
    cases: list[tuple[str, list[str], Path | None]] = [
        ("python -c pass  (baseline)", [py, "-c", "pass"], None),
        ("python -S -c pass  (no site/.pth)", [py, "-S", "-c", "pass"], None),
        ("python -c 'import sqlite3, json'", [py, "-c", "import sqlite3, json"], None),
        ("bd version", bd + ["version"], None),
        ("bd list --json  [10 issues]", bd + nd + ["list", "--json"], small),
        ("bd list --json --limit 10  [10 issues]", bd + nd + ["list", "--json", "--limit", "10"], small),
        ("bd ready --json  [10 issues]", bd + nd + ["ready", "--json"], small),
        ("bd create  [10 issues]", None, small),  # type: ignore[list-item]
        (f"bd list --json --limit 10  [{n:,}]", bd + nd + ["list", "--json", "--limit", "10"], big),
        (f"bd ready --json  [{n:,}]", bd + nd + ["ready", "--json"], big),
        (f"bd list --json  [{n:,}, all rows]", bd + nd + ["list", "--json"], big),
        (f"bd create  [{n:,}]", None, big),  # type: ignore[list-item]
    ]
    rows = []
    base = None
    timings: dict[str, float] = {}
    for label, cmd, cwd in cases:
        r = runs
        if cmd is None:  # bd create: a new title each run (direct mode, auto-flush of the JSONL)
            k = next(counter)
            cmd = bd + nd + ["create", f"bench create {k}", "-p", "2", "-t", "task"]
            r = max(3, runs // 3) if cwd == big else runs
        if "all rows" in label:
            r = max(3, runs // 3)
        t = C.time_process(cmd, runs=r, cwd=cwd or small, warmup=1)
        if base is None:
            base = t.median
        timings[label] = t.median
        rows.append((label, r, ms(t.median), ms(t.p95), t.median / base))
    C.print_table(["command (whole process, direct mode)", "runs", "median ms", "p95 ms", "x python -c pass"],
                  rows, "(d) process cost: median wall time and ratio to a bare interpreter start")
    RESULTS["tables"]["process"] = rows
    RESULTS["process_ms"] = {k: ms(v) for k, v in timings.items()}
    small_ratio = timings["bd list --json  [10 issues]"] / base
    big_ratio = timings[f"bd list --json --limit 10  [{n:,}]"] / base
    ok = small_ratio <= TARGET_LIST_RATIO
    RESULTS["targets"]["list_ratio"] = ok
    print(f"target bd list --json <= {TARGET_LIST_RATIO:g}x python -c pass: {verdict(ok)} "
          f"({small_ratio:.2f}x with 10 issues; {big_ratio:.2f}x for --limit 10 on {n:,} issues, "
          f"{verdict(big_ratio <= TARGET_LIST_RATIO)})")
    nosite = timings["python -S -c pass  (no site/.pth)"]
    print(f"note: this interpreter's site start-up (.pth files) costs {ms(base - nosite):.0f} ms of the "
          f"{ms(base):.0f} ms baseline; against python -S the list ratio is "
          f"{timings['bd list --json  [10 issues]'] / nosite:.1f}x")


def bench_importtime(small: Path, top: int = 10, repeat: int = 3) -> None:
    """-X importtime for ``bd --no-daemon list --json`` in the small workspace: min over runs."""
    cmd = C.bd_command() + ["--no-daemon", "list", "--json"]
    best: dict[str, tuple[int, int]] = {}
    totals = []
    for _ in range(repeat):
        rows, total = C.import_profile(cmd, cwd=small, top=60)
        totals.append(total)
        for name, self_us, cum_us in rows:
            if name not in best or cum_us < best[name][1]:
                best[name] = (self_us, cum_us)
    ranked = sorted(best.items(), key=lambda kv: -kv[1][1])[:top]
    C.print_table(["module (bd list --json, 10 issues)", "self ms", "cumulative ms"],
                  [(name, s / 1000, c / 1000) for name, (s, c) in ranked],
                  f"(e) python -X importtime: top {top} by cumulative time (min of {repeat} runs)")
    print(f"all top-level imports: {min(totals) / 1000:.1f} ms (min of {repeat})")
    RESULTS["importtime"] = [(name, s / 1000, c / 1000) for name, (s, c) in ranked]
    RESULTS["importtime_total_ms"] = min(totals) / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("-n", "--issues", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json-out", help="also write the figures as JSON here")
    ap.add_argument("--skip-process", action="store_true", help="only the in-process benchmarks")
    a = ap.parse_args()
    n = a.issues
    imp_runs, q_runs, p_runs, cli_imp_runs = (2, 10, 10, 2) if a.quick else (5, 30, 25, 3)
    t_start = time.perf_counter()
    print(f"bdgit core benchmarks ({'quick' if a.quick else 'full'})")
    print(f"machine: {C.machine()}")
    issues = C.generate_issues(n, a.seed)
    print(f"data: {C.describe(issues)}; seed {a.seed}")
    text = C.generate_jsonl(n, a.seed)
    print(f"      {len(text) / 1e6:.1f} MB of JSONL")
    RESULTS["machine"] = C.machine()
    RESULTS["data"] = C.describe(issues)

    populated = bench_import_export(text, n, imp_runs, cli_imp_runs)
    bench_queries(populated, n, q_runs)
    if not a.skip_process:
        small_text = C.generate_jsonl(10, a.seed + 1)
        with C.workspace(text) as big, C.workspace(small_text) as small:
            bench_process_and_profile(big, small, n, p_runs)
    elapsed = time.perf_counter() - t_start
    print(f"\nsummary: " + ", ".join(f"{k} {verdict(v)}" for k, v in RESULTS["targets"].items())
          + f"  (total {elapsed:.0f} s)")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(RESULTS, indent=2, default=str))
    import shutil
    shutil.rmtree(populated.parent, ignore_errors=True)
    return 0


def bench_process_and_profile(big: Path, small: Path, n: int, runs: int) -> None:
    bench_processes(big, small, n, runs)
    bench_importtime(small)


if __name__ == "__main__":
    sys.exit(main())
