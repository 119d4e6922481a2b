"""A fleet of clones of one bare remote that sync at the same moment, as agents in parallel CI
jobs do: real ``bd`` processes started together, real git, a real bare remote. Shared by the
acceptance tests (tests/replication/test_many_clones.py) and bench/bench_sync.py.

Issues are known by their title (unique by construction, ``c<k> r<round> i<n>``): the
identity that survives renumbering. ``observe`` records every ID each issue has had in any
clone, so a test can tell how often an issue was renumbered.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clones import call, make_clones

BD = [sys.executable, "-m", "bdgit"]


@dataclass
class SyncRun:
    """One ``bd sync --json`` process's outcome."""

    clone: int
    returncode: int
    report: dict[str, Any]
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.report.get("ok"))


@dataclass
class Fleet:
    tmp: Path
    n: int
    hash_ids: bool = False
    prefix: str = "ci"
    remote: Path = field(init=False)
    clones: list[Path] = field(init=False)
    #: title -> every ID the issue has had, in any clone
    ids: dict[str, set[str]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.remote, self.clones = make_clones(self.tmp, self.n, prefix=self.prefix, hash_ids=self.hash_ids)
        self.env = {**os.environ, "BEADS_AUTO_START_DAEMON": "false"}

    # --- work ----------------------------------------------------------------------------------

    def work(self, rng: random.Random, rnd: int, creates: int = 2, edits: int = 1) -> None:
        """Each clone creates ``creates`` issues and edits ``edits`` issues it can see (its own or
        another clone's, pulled earlier), in process (the code path of ``bd --no-daemon``)."""
        for k, c in enumerate(self.clones):
            for i in range(creates):
                title = f"c{k} r{rnd} i{i}"
                got = call(c, "create", {"title": title, "priority": rng.randint(0, 4)}, actor=f"agent{k}")
                self.ids.setdefault(title, set()).add(got["id"])
            live = [o for o in call(c, "list", {}) if o.get("status") != "closed"]
            for e in range(edits):
                if not live:
                    break
                target = rng.choice(live)
                call(c, "update", {"id": target["id"], "notes": f"edited by c{k} in round {rnd} ({e})"},
                     actor=f"agent{k}")

    # --- syncing at once -------------------------------------------------------------------------

    def sync_all(self, *args: str, timeout: float = 300) -> list[SyncRun]:
        """Start ``bd --no-daemon sync --json ARGS`` in every clone at the same moment; wait."""
        t0 = time.monotonic()
        procs = [subprocess.Popen([*BD, "--no-daemon", "sync", "--json", *args], cwd=c, env=self.env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in self.clones]
        out = []
        for k, p in enumerate(procs):
            stdout, stderr = p.communicate(timeout=timeout)
            try:
                rep = json.loads(stdout)
            except ValueError:
                rep = {"unparsed": stdout}
            out.append(SyncRun(k, p.returncode, rep, stderr, time.monotonic() - t0))
        return out

    # --- looking -------------------------------------------------------------------------------

    def export(self, k: int) -> str:
        """``bd export`` of clone ``k`` (a real process)."""
        p = subprocess.run([*BD, "--no-daemon", "export"], cwd=self.clones[k], env=self.env, text=True,
                           capture_output=True, check=True)
        return p.stdout

    def exports(self) -> list[str]:
        return [self.export(k) for k in range(self.n)]

    def observe(self, texts: list[str] | None = None) -> None:
        """Record the ID every issue has in every clone now (read in process unless given)."""
        from .clones import export_text
        for text in texts if texts is not None else [export_text(c) for c in self.clones]:
            for o in map(json.loads, text.splitlines()):
                self.ids.setdefault(o["title"], set()).add(o["id"])

    def renumbered_more_than_once(self) -> dict[str, set[str]]:
        return {t: ids for t, ids in self.ids.items() if len(ids) > 2}

    def renumbered(self) -> dict[str, set[str]]:
        return {t: ids for t, ids in self.ids.items() if len(ids) > 1}

    def renamed_events(self) -> dict[str, int]:
        """How many ``renamed`` events each issue (by its current ID) has, over every clone."""
        from bdgit.store import Store
        from bdgit.workspace import find
        out: dict[str, int] = {}
        for c in self.clones:
            s = Store(find(cwd=c).db_path)
            try:
                for r in s.conn.execute("SELECT issue_id FROM events WHERE event_type='renamed'"):
                    out[r["issue_id"]] = out.get(r["issue_id"], 0) + 1
            finally:
                s.close()
        return out

    def git(self, k: int, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.clones[k], text=True, capture_output=True).stdout


def announced(runs: list[SyncRun]) -> set[frozenset[str]]:
    """The renumberings the runs' ``--json`` summaries announced, each as {old, new}."""
    return {frozenset(pair) for r in runs for pair in r.report.get("renumbered", {}).items()}


def failures(runs: list[SyncRun]) -> list[str]:
    """What went wrong in the runs that failed (empty when every one succeeded)."""
    return [f"clone {r.clone}: exit {r.returncode}: {r.stderr.strip()[-400:]}" for r in runs if not r.ok]
