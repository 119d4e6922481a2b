"""Git hook cost: the no-op pre-commit against a bare ``python -c pass``, and the busy paths.

    python bench/bench_hooks.py              # ~1 minute
    python bench/bench_hooks.py --runs 20    # quicker
    python bench/bench_hooks.py --json-out hooks.json

Targets (from the issue):
- a no-op pre-commit costs <= 1.5x ``python -c pass`` (whole process, median);
- a pre-commit with pending writes finishes well under a second (direct mode and daemon).

The hooks are the installed scripts (``bd hooks install``) run the way git runs them: from the
top of the work tree with ``GIT_INDEX_FILE`` set. Cases are interleaved round-robin so that
machine load drifts over all of them alike; figures are medians (and p95) of one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _common as C

TARGET_NOOP_RATIO = 1.5
TARGET_BUSY_S = 1.0
BD = C.bd_command()


def sh(cmd: Sequence[str], cwd: Path) -> None:
    C.sh(cmd, cwd)


def make_repo(base: Path, name: str, n_issues: int) -> Path:
    repo = base / name
    repo.mkdir()
    sh(["git", "init", "-q", "-b", "main"], repo)
    (repo / "README.md").write_text("bench\n")
    sh([*BD, "init", "-q", "-p", "bench", "--hooks"], repo)
    if n_issues:
        lines = "\n".join(f"## Issue {i}\n\nBody {i}\n" for i in range(n_issues))
        (repo / "issues.md").write_text(lines)
        sh([*BD, "--no-daemon", "create", "-f", "issues.md"], repo)
        (repo / "issues.md").unlink()
    sh(["git", "add", "README.md", ".beads"], repo)
    sh(["git", "commit", "-q", "-m", "start"], repo)  # runs the pre-commit once: stamps bd.state
    return repo


def row(label: str, xs: C.Timing, base: float | None = None) -> list[Any]:
    return [label, round(xs.median * 1000, 2), round(xs.p95 * 1000, 2), round(xs.median / base, 2) if base else "",
            xs.runs]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--busy-runs", type=int, default=15)
    ap.add_argument("--issues", type=int, default=200, help="issues in the workspace")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    results: dict[str, Any] = {"machine": f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, "
                                          f"Python {platform.python_version()}, {sys.executable}"}
    print(results["machine"])
    with tempfile.TemporaryDirectory(prefix="bdgit-bench-hooks-") as tmp:
        base = Path(tmp)
        repo = make_repo(base, "repo", a.issues)
        plain = base / "plain"  # a repository without .beads/, same hooks
        plain.mkdir()
        sh(["git", "init", "-q", "-b", "main"], plain)
        sh(["git", "commit", "-q", "--allow-empty", "-m", "x"], plain)
        sh([*BD, "hooks", "install"], plain)
        hook = str(repo / ".git" / "hooks" / "pre-commit")
        idx = {"GIT_INDEX_FILE": ".git/index"}
        assert (repo / ".beads" / "bd.hookstate").read_bytes() == (repo / ".beads" / "bd.state").read_bytes()

        # 1. no-op hooks vs the interpreter floor
        t = C.time_processes([
            ("python -c pass", [sys.executable, "-c", "pass"], repo, {}, None),
            ("python -I -S -c pass (no site)", [sys.executable, "-I", "-S", "-c", "pass"], repo, {}, None),
            ("pre-commit, no-op (beads repo)", [hook], repo, idx, None),
            ("pre-commit, no .beads/ (plain repo)", [str(plain / ".git" / "hooks" / "pre-commit")], plain, idx, None),
            ("post-checkout, .beads unchanged", [str(repo / ".git" / "hooks" / "post-checkout"), "HEAD~0", "HEAD", "1"],
             repo, {}, None),
        ], a.runs)
        py = t["python -c pass"].median
        rows = [row(k, v, py) for k, v in t.items()]
        C.print_table(["case", "median ms", "p95 ms", "x python", "runs"], rows,
                      "No-op hooks (whole process) against python -c pass")
        noop_ratio = t["pre-commit, no-op (beads repo)"].median / py
        results["noop_ratio_vs_no_site"] = (t["pre-commit, no-op (beads repo)"].median
                                            / t["python -I -S -c pass (no site)"].median)
        results["noop"] = {k: {"median_ms": v.median * 1000, "p95_ms": v.p95 * 1000}
                           for k, v in t.items()}
        results["noop_ratio"] = noop_ratio

        # 2. git commit with the no-op hook vs with no hooks at all
        c = C.time_processes([
            ("git commit, no hooks", ["git", "-c", f"core.hooksPath={base / 'none'}", "commit", "-q",
                                      "--allow-empty", "-m", "x"], repo, {}, None),
            ("git commit, bd hooks (no-op)", ["git", "commit", "-q", "--allow-empty", "-m", "x"], repo, {}, None),
        ], max(a.runs // 2, 5))
        nohooks = c["git commit, no hooks"].median
        C.print_table(["case", "median ms", "p95 ms", "x no hooks", "runs"],
                      [row(k, v, nohooks) for k, v in c.items()], "A whole git commit")
        results["commit"] = {k: v.median * 1000 for k, v in c.items()}

        # 3. busy pre-commit: a pending write to flush and stage (direct mode, then a daemon)
        n = [0]

        def pending_direct() -> None:
            n[0] += 1
            sh([*BD, "--no-daemon", "--no-auto-flush", "create", f"pending {n[0]}"], repo)

        busy = C.time_processes([("pre-commit, pending write (direct mode)", [hook], repo, idx, pending_direct)],
                                a.busy_runs, warmup=1)
        sh([*BD, "daemon", "start", "--interval", "60"], repo)
        try:
            def pending_daemon() -> None:
                n[0] += 1
                sh([*BD, "create", f"via daemon {n[0]}"], repo)

            busy.update(C.time_processes([("pre-commit, pending write (daemon)", [hook], repo, idx, pending_daemon)],
                                         a.busy_runs, warmup=1))
        finally:
            sh([*BD, "daemon", "stop"], repo)
        C.print_table(["case", "median ms", "p95 ms", "x python", "runs"], [row(k, v, py) for k, v in busy.items()],
                      "Busy pre-commit (flush + stage)")
        results["busy"] = {k: {"median_ms": v.median * 1000, "p95_ms": v.p95 * 1000}
                           for k, v in busy.items()}
        staged = subprocess.run(["git", "show", ":.beads/issues.jsonl"], cwd=repo, capture_output=True,
                                text=True).stdout
        assert f"via daemon {n[0]}" in staged, "the busy hook did not stage the last write"

    worst_busy = max(v["p95_ms"] for v in results["busy"].values()) / 1000
    ok_noop = noop_ratio <= TARGET_NOOP_RATIO
    ok_busy = worst_busy < TARGET_BUSY_S
    print(f"\nno-op pre-commit: {noop_ratio:.2f}x python -c pass (target <= {TARGET_NOOP_RATIO}x): "
          f"{'PASS' if ok_noop else 'FAIL'}; {results['noop_ratio_vs_no_site']:.2f}x python -I -S -c pass")
    print(f"busy pre-commit: worst p95 {worst_busy * 1000:.0f} ms (target < {TARGET_BUSY_S * 1000:.0f} ms): "
          f"{'PASS' if ok_busy else 'FAIL'}")
    results["targets"] = {"noop_ratio": ok_noop, "busy": ok_busy}
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok_noop and ok_busy else 1


if __name__ == "__main__":
    sys.exit(main())
