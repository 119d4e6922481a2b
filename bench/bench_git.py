"""Git benchmarks for the daemon's auto-commit: batching, write-to-commit latency, and how
often a user who runs git in a tight loop meets a lock of ours.

    python bench/bench_git.py             # full run (~2-3 min on 2 cores)
    python bench/bench_git.py --quick     # shorter (~1 min)
    python bench/bench_git.py --json-out results.json
    python bench/bench_git.py --sections 3 --commands 10000   # only the user loop, longer

What is measured (a real daemon, real repositories in a temp dir, agents over the socket):

1. commits per 1,000 writes, in a burst (as fast as 4 agents go) and paced (spread over
   several commit intervals): one commit per interval whatever the number of writes;
2. write-to-commit latency: from a create's acknowledgement to the first commit whose JSONL
   holds it (p50/p95), against the commit interval;
3. the user's git loop (``git add``/``git commit``/``git status`` as fast as it goes) while agents
   write: failed user commands that met our ``index.lock`` (or a ref that moved under a
   ``git commit``), per 1,000 git commands - in index mode and in sync-branch mode (where
   nothing of ours touches the index or HEAD). Target: 0 in sync-branch mode, < 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

RESULTS: dict[str, Any] = {}


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, text=True, capture_output=True, check=check,
                          env=_git_env())


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com", GIT_COMMITTER_NAME="Bench",
               GIT_COMMITTER_EMAIL="bench@example.com", GIT_CONFIG_NOSYSTEM="1")
    return env


class Repo:
    """A temp git repository with bd initialised and committed, and a daemon on demand."""

    def __init__(self, tmp: Path, name: str) -> None:
        from bdgit.workspace.initialize import init_workspace
        from bdgit.workspace import find
        self.root = tmp / name
        self.root.mkdir()
        git(self.root, "init", "-q", "-b", "main")
        git(self.root, "config", "user.name", "Bench")
        git(self.root, "config", "user.email", "bench@example.com")
        git(self.root, "config", "commit.gpgsign", "false")
        (self.root / "README.md").write_text("bench\n")
        init_workspace(self.root, C.PREFIX, actor="bench")
        git(self.root, "add", "README.md", ".beads")
        git(self.root, "commit", "-q", "-m", "initial")
        self.ws = find(cwd=self.root)

    def config(self, key: str, value: str) -> None:
        from bdgit.store import Store
        s = Store(self.ws.db_path)
        try:
            with s.tx():
                s.set_config(key, value)
        finally:
            s.close()

    def start(self, interval: float) -> None:
        from bdgit.daemon import lifecycle as daemon
        os.environ.pop("GIT_INDEX_FILE", None)
        daemon.start(self.ws, {"flush_interval": interval, "auto_commit": True, "idle_timeout": 600})

    def stop(self) -> None:
        from bdgit.daemon import lifecycle as daemon
        daemon.stop(self.ws)

    def health(self) -> dict[str, Any]:
        from bdgit.rpc.client import Client
        with Client(self.ws.beads_dir, timeout=10) as c:
            return c.execute("health")

    def commits(self, ref: str = "HEAD") -> int:
        return int(git(self.root, "rev-list", "--count", ref).stdout)


def agents(repo: Repo, n_agents: int, per_agent: int, rate: float | None, acks: list[tuple[str, float]],
           errors: list[str], stop: threading.Event | None = None) -> list[threading.Thread]:
    """Agents creating issues; ``rate`` = total writes/s (None: as fast as they go)."""
    from bdgit.rpc.client import Client

    def run(k: int) -> None:
        gap = n_agents / rate if rate else 0.0
        nxt = time.monotonic() + (gap * k / n_agents if gap else 0)
        try:
            with Client(repo.ws.beads_dir, actor=f"agent-{k}", timeout=60) as c:
                for i in range(per_agent):
                    if stop is not None and stop.is_set():
                        return
                    if gap:
                        time.sleep(max(nxt - time.monotonic(), 0))
                        nxt += gap
                    iid = c.execute("create", {"title": f"agent {k} issue {i}"})["id"]
                    acks.append((iid, time.monotonic()))
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
    ts = [threading.Thread(target=run, args=(k,)) for k in range(n_agents)]
    for t in ts:
        t.start()
    return ts


class CommitWatcher(threading.Thread):
    """Polls a ref; records when each issue id first appears in a commit's JSONL."""

    def __init__(self, repo: Repo, ref: str = "HEAD") -> None:
        super().__init__(daemon=True)
        import pygit2
        self.repo = pygit2.Repository(str(repo.root))
        self.ref = ref
        self.seen: dict[str, float] = {}
        self.stop_event = threading.Event()
        self.rel = ".beads/issues.jsonl"

    def run(self) -> None:
        last = None
        while not self.stop_event.is_set():
            try:
                target = self.repo.revparse_single(self.ref).id
            except KeyError:
                target = None
            if target is not None and target != last:
                last = target
                now = time.monotonic()
                try:
                    text = self.repo[self.repo[target].tree[self.rel].id].data.decode()
                except KeyError:
                    text = ""
                for ln in text.splitlines():
                    if ln.startswith('{"id":"'):
                        iid = ln[7:ln.index('"', 7)]
                        self.seen.setdefault(iid, now)
            time.sleep(0.005)


def bench_batching(tmp: Path, interval: float, writes: int) -> None:
    rows = []
    for mode, rate in (("burst (4 agents, full speed)", None), ("paced", writes / (interval * 8))):
        repo = Repo(tmp, f"batch-{'burst' if rate is None else 'paced'}")
        repo.start(interval)
        before = repo.commits()
        acks: list[tuple[str, float]] = []
        errors: list[str] = []
        t0 = time.monotonic()
        for t in agents(repo, 4, writes // 4, rate, acks, errors):
            t.join()
        elapsed = time.monotonic() - t0
        ids = {i for i, _ in acks}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            text = git(repo.root, "show", "HEAD:.beads/issues.jsonl", check=False).stdout
            if all(f'"id":"{i}"' in text for i in ids):
                break
            time.sleep(0.05)
        made = repo.commits() - before
        repo.stop()
        per_1000 = made * 1000 / max(len(acks), 1)
        spanned = max(math.ceil(elapsed / interval), 1)  # commit intervals the writes touched
        rows.append([mode, len(acks), round(elapsed, 2), made, round(per_1000, 1), spanned,
                     round(made / spanned, 2), len(errors)])
        RESULTS.setdefault("batching", []).append({"mode": mode, "writes": len(acks), "seconds": elapsed,
                                                   "commits": made, "commits_per_1000_writes": per_1000,
                                                   "errors": len(errors)})
    C.print_table(["writes", "n", "seconds", "commits", "commits/1000 writes", "intervals", "commits/interval",
                   "errors"],
                  rows, f"1. Batching (commit interval {interval:g}s; target: about one commit per interval)")


def bench_latency(tmp: Path, interval: float, writes: int) -> None:
    repo = Repo(tmp, "latency")
    repo.start(interval)
    watcher = CommitWatcher(repo)
    watcher.start()
    acks: list[tuple[str, float]] = []
    errors: list[str] = []
    rate = 20.0
    for t in agents(repo, 2, writes // 2, rate, acks, errors):
        t.join()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(i in watcher.seen for i, _ in acks):
        time.sleep(0.05)
    watcher.stop_event.set()
    watcher.join()
    repo.stop()
    lat = [watcher.seen[i] - t for i, t in acks if i in watcher.seen]
    p50, p95, mx = C.percentile(lat, 50), C.percentile(lat, 95), max(lat)
    RESULTS["latency"] = {"interval": interval, "writes": len(acks), "p50_s": p50, "p95_s": p95, "max_s": mx,
                          "missing": len(acks) - len(lat)}
    C.print_table(["writes", "rate/s", "p50 ms", "p95 ms", "max ms", "p50 / interval", "p95 / interval", "missing"],
                  [[len(acks), rate, p50 * 1000, p95 * 1000, mx * 1000, round(p50 / interval, 2),
                    round(p95 / interval, 2), len(acks) - len(lat)]],
                  f"2. Write-to-commit latency (interval {interval:g}s: a write waits for the debounced "
                  "flush, then the commit)")


def user_loop(repo: Path, n_commands: int, out: dict[str, Any]) -> None:
    """git add / git commit / git status, as fast as it goes, ``n_commands`` commands in all.
    A command that fails on a lock is counted and retried (a user would retry too)."""
    env = _git_env()
    n = 0
    t0 = time.monotonic()
    while out["commands"] < n_commands:
        n += 1
        (repo / f"user{n % 7}.txt").write_text(f"{n}\n")
        for args in (["add", f"user{n % 7}.txt"], ["commit", "-q", "-m", f"user {n}"], ["status", "--porcelain"]):
            while True:
                p = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env)
                out["commands"] += 1
                if p.returncode == 0:
                    break
                if "index.lock" in p.stderr:
                    out["index_lock"] += 1
                elif "cannot lock ref" in p.stderr:
                    out["ref_lock"] += 1
                else:
                    out["other"] += 1
                    break
    out["seconds"] = time.monotonic() - t0


LOOP_MODES = ("no daemon (baseline)", "index mode", "index mode, git.busy_wait=0", "sync-branch mode")


def bench_user_loop(tmp: Path, interval: float, n_commands: int, modes: tuple[str, ...] = LOOP_MODES) -> None:
    rows = []
    for mode in modes:
        repo = Repo(tmp, "loop-" + mode.split()[0] + ("-nowait" if "busy_wait" in mode else ""))
        if mode.startswith("sync"):
            repo.config("sync.branch", "beads-sync")
        if "busy_wait" in mode:
            repo.config("git.busy_wait", "0")
        stop = threading.Event()
        acks: list[tuple[str, float]] = []
        errors: list[str] = []
        ts: list[threading.Thread] = []
        if not mode.startswith("no"):
            repo.start(interval)
            ts = agents(repo, 4, 10**6, 40.0, acks, errors, stop)
        out: dict[str, Any] = {"commands": 0, "index_lock": 0, "ref_lock": 0, "other": 0}
        user_loop(repo.root, n_commands, out)
        stop.set()
        for t in ts:
            t.join()
        h: dict[str, Any] = {}
        if not mode.startswith("no"):
            h = repo.health().get("git_state", {})
            repo.stop()
        ours = h.get("commits", 0)
        met = out["index_lock"] + out["ref_lock"]
        per_1000 = met * 1000 / max(out["commands"], 1)
        rows.append([mode, out["commands"], round(out["seconds"], 1), len(acks), ours, out["index_lock"],
                     out["ref_lock"], round(per_1000, 2), h.get("deferrals", 0), h.get("max_index_lock_hold_ms", 0.0),
                     out["other"] + len(errors)])
        RESULTS.setdefault("user_loop", []).append({
            "mode": mode, "commands": out["commands"], "seconds": out["seconds"], "agent_writes": len(acks),
            "daemon_commits": ours, "index_lock": out["index_lock"], "ref_lock": out["ref_lock"],
            "per_1000": per_1000, "deferrals": h.get("deferrals", 0),
            "max_hold_ms": h.get("max_index_lock_hold_ms", 0.0), "errors": out["other"] + len(errors)})
    C.print_table(["mode", "git cmds", "seconds", "agent writes", "our commits", "index.lock", "ref moved",
                   "met /1000 cmds", "deferrals", "max hold ms", "errors"], rows,
                  f"3. The user's git loop while 4 agents write 40/s (interval {interval:g}s; "
                  "target: 0 in sync-branch mode, < 1 per 1,000 otherwise)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--commands", type=int, help="git commands per user-loop run (default 3000; --quick 600)")
    ap.add_argument("--sections", default="1,2,3", help="which sections to run, e.g. 3")
    ap.add_argument("--modes", help="section 3 only: comma-separated mode numbers 1-4 (baseline, index, "
                                    "index with git.busy_wait=0, sync-branch)")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    sections = {x.strip() for x in a.sections.split(",")}
    print(f"bench_git on {C.machine()}")
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bdgit-bench-git-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["HOME"] = str(home)
        os.environ["BEADS_AUTO_START_DAEMON"] = "false"
        for k in ("BEADS_DB", "BEADS_DIR"):
            os.environ.pop(k, None)
        if "1" in sections:
            bench_batching(Path(tmp), a.interval, 1000)
        if "2" in sections:
            bench_latency(Path(tmp), a.interval, 100 if a.quick else 200)
        if "3" in sections:
            modes = tuple(LOOP_MODES[int(x) - 1] for x in a.modes.split(",")) if a.modes else LOOP_MODES
            bench_user_loop(Path(tmp), a.interval, a.commands or (600 if a.quick else 3000), modes)
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(RESULTS, indent=2))


if __name__ == "__main__":
    main()
