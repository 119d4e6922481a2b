"""Shared helpers for the benchmarks in bench/ (not tests: nothing here asserts).

- ``generate_jsonl``: a realistic, deterministic N-issue beads JSONL (seeded random).
- ``workspace``: a throw-away bd workspace (``bdgit.workspace.initialize.init_workspace`` in a temp dir).
- timing: ``time_call`` (in-process, median/p50/p95 over N runs, wall and CPU time),
  ``time_process`` (whole-process wall time of a command, run N times via subprocess) and
  ``time_processes`` (several commands interleaved round-robin, with the child's CPU time).
- ``bench_env`` (the environment for bd processes: bytecode cached outside the tree, no daemon
  auto-start), ``wait_quiet`` (wait for an idle machine), ``import_profile`` (``-X importtime``).
- ``print_table``: a plain-text table printer.

Run any benchmark from the repository root: ``python bench/<name>.py``.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, UTC
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

PREFIX = "bench"

# --- a realistic JSONL ---------------------------------------------------------------------

_STATUSES = (("open", 55), ("in_progress", 12), ("blocked", 5), ("closed", 28))
_PRIORITIES = ((0, 5), (1, 20), (2, 45), (3, 20), (4, 10))
_TYPES = (("task", 45), ("bug", 25), ("feature", 18), ("chore", 7), ("epic", 5))
_DEP_TYPES = (("blocks", 60), ("parent-child", 22), ("related", 12), ("discovered-from", 6))
_LABELS = ("backend", "frontend", "cli", "daemon", "sync", "docs", "perf", "security", "ux", "api",
           "tests", "infra", "db", "good-first-issue", "needs-triage", "p0-incident", "tech-debt",
           "windows", "macos", "linux")
_ASSIGNEES = ("alice", "bob", "carol", "dave", "erin", "mallory", "agent-1", "agent-2", "agent-3")
_ZONES = (timezone(timedelta(hours=-7)), timezone(timedelta(hours=-8)), UTC,
          timezone(timedelta(hours=1)), timezone(timedelta(hours=5, minutes=30)))
_VERBS = ("Fix", "Add", "Refactor", "Document", "Investigate", "Speed up", "Remove", "Support",
          "Test", "Harden")
_NOUNS = ("the export path", "JSONL import", "daemon restart", "socket timeouts", "ready queue",
          "dependency cycles", "label filters", "the CLI fast path", "WAL checkpoints", "merge driver",
          "hook chaining", "prefix rename", "comment rendering", "stats counters", "lock handling")
_WORDS = ("the", "issue", "when", "agent", "daemon", "sqlite", "we", "should", "import", "export",
          "fails", "after", "merge", "lock", "timeout", "retry", "cache", "index", "query", "slow",
          "json", "line", "hash", "ready", "blocked", "close", "reopen", "update", "priority", "edge")


def _pick(rng: random.Random, weighted: Sequence[tuple[Any, int]]) -> Any:
    values, weights = zip(*weighted)
    return rng.choices(values, weights)[0]


def _ts(dt: datetime, rng: random.Random) -> str:
    """RFC 3339 with microseconds and one of several zone offsets (``Z`` for UTC sometimes)."""
    s = dt.astimezone(rng.choice(_ZONES)).isoformat(timespec="microseconds")
    return s[:-6] + "Z" if s.endswith("+00:00") and rng.random() < 0.5 else s


def _text(rng: random.Random, n_chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < n_chars:
        w = rng.choice(_WORDS)
        words.append(w)
        size += len(w) + 1
    text = " ".join(words).capitalize() + "."
    if rng.random() < 0.3:
        text += "\n\nSteps:\n1. run `bd ready --json`\n2. compare with <expected> & report"
    return text


def generate_issues(n: int, seed: int = 42, prefix: str = PREFIX) -> list[dict[str, Any]]:
    """``n`` issues as beads JSON objects (the key order beads writes), deterministic in ``seed``.

    Mixed statuses/priorities/types; 0-3 labels; ~1.5 outgoing dependencies per issue
    (blocks, parent-child, related, discovered-from), always to an *older* issue, so the
    graph is a DAG; ~40% have a description of a few hundred characters; timestamps in
    several zones; closed issues carry closed_at.
    """
    rng = random.Random(seed)
    base = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
    epics: list[int] = []
    issues = []
    for k in range(1, n + 1):
        iid = f"{prefix}-{k}"
        created = base + timedelta(minutes=7 * k, microseconds=rng.randrange(1_000_000))
        updated = created + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        status = _pick(rng, _STATUSES)
        itype = _pick(rng, _TYPES)
        o: dict[str, Any] = {
            "id": iid,
            "title": f"{rng.choice(_VERBS)} {rng.choice(_NOUNS)} ({k})",
            "description": _text(rng, rng.randrange(120, 600)) if rng.random() < 0.4 else "",
        }
        if rng.random() < 0.1:
            o["design"] = _text(rng, rng.randrange(80, 300))
        if rng.random() < 0.1:
            o["acceptance_criteria"] = _text(rng, rng.randrange(40, 160))
        if rng.random() < 0.05:
            o["notes"] = _text(rng, rng.randrange(40, 160))
        o["status"] = status
        o["priority"] = _pick(rng, _PRIORITIES)
        o["issue_type"] = itype
        if status == "in_progress" or rng.random() < 0.3:
            o["assignee"] = rng.choice(_ASSIGNEES)
        if rng.random() < 0.2:
            o["estimated_minutes"] = rng.choice((15, 30, 60, 120, 240, 480))
        o["created_at"] = _ts(created, rng)
        o["updated_at"] = _ts(updated, rng)
        if status == "closed":
            o["closed_at"] = _ts(updated, rng)
        if rng.random() < 0.03:
            o["external_ref"] = f"gh-{rng.randrange(1, 5000)}"
        n_labels = rng.choices((0, 1, 2, 3), (35, 35, 20, 10))[0]
        if n_labels:
            o["labels"] = sorted(rng.sample(_LABELS, n_labels))
        # ~1.5 deps per issue on average: 0..3 with mean 1.5, targets strictly older (a DAG)
        n_deps = rng.choices((0, 1, 2, 3), (15, 35, 35, 15))[0] if k > 1 else 0
        targets: set[int] = set()
        deps = []
        for _ in range(n_deps):
            dtype = _pick(rng, _DEP_TYPES)
            if dtype == "parent-child" and epics:
                t = rng.choice(epics[-20:])
            else:
                t = rng.randrange(max(1, k - 300), k)
            if t in targets or t >= k:
                continue
            targets.add(t)
            deps.append({"issue_id": iid, "depends_on_id": f"{prefix}-{t}", "type": dtype,
                         "created_at": _ts(created + timedelta(seconds=rng.randrange(1, 3600)), rng),
                         "created_by": rng.choice(_ASSIGNEES)})
        if deps:
            o["dependencies"] = deps
        if rng.random() < 0.05:
            o["comments"] = [{"author": rng.choice(_ASSIGNEES), "text": _text(rng, 80),
                              "created_at": _ts(updated, rng)}]
        if itype == "epic":
            epics.append(k)
        issues.append(o)
    return issues


def generate_jsonl(n: int, seed: int = 42, prefix: str = PREFIX) -> str:
    """The issues of ``generate_issues`` as JSONL text (compact, one object per line, by id)."""
    lines = [json.dumps(o, ensure_ascii=False, separators=(",", ":")) for o in generate_issues(n, seed, prefix)]
    return "".join(sorted(ln + "\n" for ln in lines))


def describe(issues: list[dict[str, Any]]) -> str:
    n = len(issues)
    deps = sum(len(o.get("dependencies", ())) for o in issues)
    desc = sum(1 for o in issues if o.get("description"))
    labels = sum(len(o.get("labels", ())) for o in issues)
    return (f"{n} issues, {deps} deps ({deps / n:.2f}/issue), {labels} labels, "
            f"{desc} with descriptions")


# --- workspaces ----------------------------------------------------------------------------

@contextlib.contextmanager
def workspace(jsonl_text: str | None = None, prefix: str = PREFIX) -> Iterator[Path]:
    """A fresh bd workspace in a temp dir; yields its root (the directory holding .beads/).

    With ``jsonl_text`` the file is put in place first and ``init`` imports it (as in a fresh
    clone), so the database and the JSONL agree and no command auto-imports.
    """
    from bdgit.workspace.initialize import init_workspace
    with tempfile.TemporaryDirectory(prefix="bdgit-bench-") as tmp:
        root = Path(tmp) / "proj"
        beads = root / ".beads"
        beads.mkdir(parents=True)
        if jsonl_text:
            (beads / "issues.jsonl").write_text(jsonl_text, encoding="utf-8")
        init_workspace(root, prefix, actor="bench")
        yield root


def db_path(root: Path) -> Path:
    return next((root / ".beads").glob("*.db"))


# --- timing --------------------------------------------------------------------------------

@dataclass
class Timing:
    """Seconds per run over ``runs`` runs: wall time, and CPU time where measured (the CPU
    the work itself used: for a process, user + system time of the child)."""
    samples: list[float]
    cpu_samples: list[float] = field(default_factory=list)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_samples) if self.cpu_samples else float("nan")

    @property
    def runs(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)

    @property
    def min(self) -> float:
        return min(self.samples)


def percentile(samples: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (``pct`` in 0..100)."""
    xs = sorted(samples)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * pct / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def time_call(fn: Callable[[], Any], runs: int, warmup: int = 1,
              setup: Callable[[], Any] | None = None, budget: float | None = None) -> Timing:
    """Run ``fn`` ``warmup`` + ``runs`` times; ``setup`` (untimed) runs before each call.

    ``budget`` (seconds): stop early, keeping what was measured (at least one timed run),
    once the calls so far have taken that long, so a pathological case cannot stall a run.
    """
    samples: list[float] = []
    cpu: list[float] = []
    spent = 0.0
    i = 0
    while len(samples) < runs:
        if setup is not None:
            setup()
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        spent += dt
        if i >= warmup:
            samples.append(dt)
            cpu.append(dc)
        i += 1
        if budget is not None and spent > budget:
            if samples:
                break
            warmup = i  # out of budget while warming up: time the next call, then stop
    return Timing(samples, cpu)


_PYCACHE = tempfile.mkdtemp(prefix="bdgit-bench-pycache-")
atexit.register(shutil.rmtree, _PYCACHE, True)


def bench_env(bytecode_cache: bool = True, **extra: str) -> dict[str, str]:
    """The environment for bd processes: no daemon auto-start, no inherited workspace.

    ``bytecode_cache``: let Python cache bdgit's compiled modules (in a private temp
    directory, via PYTHONPYCACHEPREFIX, so nothing is written to the source tree), as an
    installed package has them. Without it (PYTHONDONTWRITEBYTECODE=1, set in some sandboxes)
    every ``bd`` process compiles bdgit from source first.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("BEADS_DB", "BEADS_DIR", "BD_NO_FAST_PATH", "BD_TIMEOUT", "PYTHONPROFILEIMPORTTIME",
                        "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "GIT_DIR", "GIT_INDEX_FILE",
                        "GIT_WORK_TREE", "BD_SKIP_HOOKS")}
    if bytecode_cache:
        env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["BEADS_AUTO_START_DAEMON"] = "false"
    env["BD_ACTOR"] = "bench"
    for who in ("AUTHOR", "COMMITTER"):  # commits made by benchmarks (hooks, the daemon's git agent)
        env.setdefault(f"GIT_{who}_NAME", "bench")
        env.setdefault(f"GIT_{who}_EMAIL", "bench@example.com")
    env.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    env.update(extra)
    return env


WAITED = [0.0]  #: seconds spent in wait_quiet so far


def wait_quiet(max_wait: float = 30.0, threshold: float = 1.0) -> float:
    """Wait (up to ``max_wait`` s) for the 1-minute load average to drop below ``threshold``
    (other work on a 2-core machine skews timings); returns the load at the end."""
    t0 = time.monotonic()
    deadline = t0 + max_wait
    load = os.getloadavg()[0]
    while load >= threshold and time.monotonic() < deadline:
        time.sleep(2)
        load = os.getloadavg()[0]
    WAITED[0] += time.monotonic() - t0
    return load


def time_processes(cases: Sequence[tuple[Any, ...]], runs: int, warmup: int = 1,
                   env: dict[str, str] | None = None, budget: float = 20.0) -> dict[str, Timing]:
    """Whole-process wall times of several commands, interleaved round-robin (run 1 of
    every command, then run 2, ...), so that drifting machine load hits all alike.

    ``cases``: (label, cmd, cwd[, extra_env[, before]]); ``cmd`` is a list, or a
    callable(run_index) -> list for a command that must differ per run; ``extra_env`` is added
    to ``env`` for that case; ``before()`` runs untimed before each of its runs. A case whose
    runs take more than ``budget`` seconds in total stops early (keeping >= 1 run).
    """
    env = env or bench_env()
    samples: dict[str, list[float]] = {c[0]: [] for c in cases}
    cpu: dict[str, list[float]] = {c[0]: [] for c in cases}
    spent: dict[str, float] = {c[0]: 0.0 for c in cases}
    for i in range(warmup + runs):
        for case in cases:
            label, cmd, cwd = case[:3]
            extra = case[3] if len(case) > 3 and case[3] else {}
            before = case[4] if len(case) > 4 else None
            if i >= warmup and samples[label] and spent[label] > budget:
                continue
            if before is not None:
                before()
            argv = list(cmd(i) if callable(cmd) else cmd)
            c0 = _children_cpu()
            t0 = time.perf_counter()
            p = subprocess.run(argv, cwd=cwd, env={**env, **extra}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            dt = time.perf_counter() - t0
            dc = _children_cpu() - c0
            if p.returncode != 0:
                raise RuntimeError(f"{label}: {' '.join(argv)} exited {p.returncode}: {p.stderr.decode()[-2000:]}")
            spent[label] += dt
            if i >= warmup:
                samples[label].append(dt)
                cpu[label].append(dc)
    return {label: Timing(v, cpu[label]) for label, v in samples.items()}


def sh(cmd: Sequence[str], cwd: Path | str, env: dict[str, str] | None = None) -> str:
    """Run a set-up command (untimed); its stdout. Raises RuntimeError when it fails."""
    p = subprocess.run(list(cmd), cwd=cwd, env=env or bench_env(), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return p.stdout


def _children_cpu() -> float:
    """User + system CPU seconds of all waited-for children so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_process(cmd: Sequence[str], runs: int, cwd: Path | str | None = None, warmup: int = 1,
                 env: dict[str, str] | None = None, check: bool = True,
                 before: Callable[[int], Any] | None = None, budget: float | None = None) -> Timing:
    """Whole-process wall time of ``cmd`` (spawn to exit, output discarded), ``runs`` times.

    ``before(i)`` runs untimed before each run (e.g. to vary arguments via a closure).
    ``budget`` (seconds) stops early once that much time went by (keeping >= 1 timed run).
    """
    env = env or bench_env()
    samples: list[float] = []
    start = time.perf_counter()
    for i in range(warmup + runs):
        if budget is not None and samples and time.perf_counter() - start > budget:
            break
        if before is not None:
            before(i)
        t0 = time.perf_counter()
        p = subprocess.run(list(cmd), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-2000:]}")
        if i >= warmup:
            samples.append(dt)
    return Timing(samples)


def bd_command() -> list[str]:
    """The installed ``bd`` console script of this interpreter (not a pyenv shim: its bash +
    ``pyenv exec`` wrapper costs tens of ms that are not bd's). Falls back to ``-m bdgit``."""
    script = Path(sysconfig.get_path("scripts")) / "bd"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bdgit"]


def import_profile(cmd: Sequence[str], cwd: Path | str | None = None,
                   env: dict[str, str] | None = None) -> list[tuple[str, int, int, int]]:
    """``-X importtime`` of ``cmd`` (a Python program): every import as
    (module, depth, self_us, cumulative_us), in the order Python reports them."""
    env = dict(env or bench_env())
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    p = subprocess.run(list(cmd), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    rows: list[tuple[str, int, int, int]] = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append((name.strip(), depth, int(self_us), int(cum_us)))
    return rows


# --- output --------------------------------------------------------------------------------

def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
    """Left-align the first column, right-align the rest."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    if title:
        print(f"\n{title}")
    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for r in cells[1:]:
        print(line(r))
    sys.stdout.flush()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v >= 100:
            return f"{v:,.0f}"
        if v >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import sqlite3
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs; "
            f"Python {platform.python_version()} ({sys.executable}); SQLite {sqlite3.sqlite_version}")
