"""The kept blocked flags and counts (``store/derived.py``) against a computation from scratch.

After random sequences of writes (creates with edges, edges added and removed, status changes,
closes, reopens, deletes, undeletes, imports of other files, edits of the workspace JSONL that
the next command imports, prefix renames, claims and lease expiries), ``ready``, ``blocked`` and
``stats`` answer what an independent model (``testing.model``) computes from the rows, and the
kept flags and counts equal a recount (``derived.problems``): in direct mode, through a real
daemon, and after the daemon restarts.
"""
from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testing.daemon import Daemon
from testing.model import Writer, answers, expected

from bdgit.backends.direct import DirectBackend
from bdgit.ops import claim
from bdgit.store import Store, derived
from bdgit.workspace import find
from bdgit.workspace.initialize import init_workspace


def _problems(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return derived.problems(conn)
    finally:
        conn.close()


def _check(db: Path, call: Any) -> None:
    assert _problems(db) == []
    assert answers(call) == expected(db)


def _edit_jsonl(path: Path, rnd: random.Random) -> None:
    """A hand edit (or a pull) of the workspace JSONL: one line gets another status, with a
    later ``updated_at`` and no versions, so the next command imports it and the edit wins."""
    lines = path.read_text().splitlines()
    if not lines:
        return
    k = rnd.randrange(len(lines))
    obj = json.loads(lines[k])
    if obj.get("status") == "tombstone":
        return
    obj.pop("_v", None)
    obj["status"] = rnd.choice(("open", "closed", "in_progress"))
    obj.pop("closed_at", None)
    obj["updated_at"] = "2099-01-01T00:00:00Z"
    lines[k] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")


def _workspace(root: Path) -> Path:
    root.mkdir(parents=True)
    init_workspace(root, "test", actor="tester")
    return root


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(5, 60))
def test_direct_mode_keeps_flags_and_counts_right(tmp_path: Path, seed: int, steps: int) -> None:
    root = _workspace(tmp_path / f"w{seed}-{steps}-{time.monotonic_ns()}")
    ws = find(cwd=root)
    b = DirectBackend(ws, "tester")
    rnd = random.Random(seed)
    try:
        w = Writer(b.call, rnd)
        for n in range(steps):
            if rnd.random() < 0.05:
                _edit_jsonl(ws.jsonl_path, rnd)  # imported by the next call
            elif rnd.random() < 0.05:
                claim.expire_due(b.store, at=time.time() + 10 ** 6)  # every lease ran out
            else:
                w.step()
            if n % 10 == 9:
                _check(ws.db_path, b.call)
        _check(ws.db_path, b.call)
    finally:
        b.close()


def test_a_migration_computes_every_flag_and_count(tmp_path: Path) -> None:
    """A database from before schema v3 gets its flags and counts from the migration."""
    root = _workspace(tmp_path / "w")
    ws = find(cwd=root)
    b = DirectBackend(ws, "tester")
    w = Writer(b.call, random.Random(7))
    for _ in range(80):
        w.step()
    b.close()
    conn = sqlite3.connect(ws.db_path, isolation_level=None)
    for name in derived.TRIGGERS:
        conn.execute(f"DROP TRIGGER {name}")
    for sql in ("DROP TABLE blocked_pending", "DROP TABLE issue_counts", "DROP INDEX idx_issues_ready",
                "DROP INDEX idx_issues_list", "DROP INDEX idx_issues_status_list", "DROP INDEX idx_issues_leased",
                "ALTER TABLE issues DROP COLUMN blocked", "ALTER TABLE issues DROP COLUMN closed_us",
                "CREATE INDEX idx_issues_status ON issues(status)",
                "CREATE INDEX idx_issues_priority ON issues(priority, created_us)",
                "DELETE FROM schema_migrations WHERE version = 3"):
        conn.execute(sql)
    conn.close()
    s = Store(ws.db_path)  # migrates
    s.close()
    b = DirectBackend(ws, "tester")
    try:
        _check(ws.db_path, b.call)
    finally:
        b.close()


def test_unsettled_flags_are_never_read(tmp_path: Path) -> None:
    """A writer that did not settle (an older bdgit, a hand edit with sqlite3) leaves seeds:
    readers then compute from the edges, and the next write settles them."""
    root = _workspace(tmp_path / "w")
    ws = find(cwd=root)
    b = DirectBackend(ws, "tester")
    try:
        a = b.call("create", {"title": "a"})["id"]
        c = b.call("create", {"title": "c", "dependencies": [a]})["id"]
        assert [r["id"] for r in b.call("blocked", {})] == [c]
        conn = sqlite3.connect(ws.db_path, isolation_level=None)
        conn.execute("UPDATE issues SET status = 'closed' WHERE id = ?", (a,))  # no settle
        conn.close()
        assert _problems(ws.db_path)  # the seed is there, the flag is stale
        assert answers(b.call) == expected(ws.db_path)
        b.call("create", {"title": "d"})
        assert _problems(ws.db_path) == []
        assert answers(b.call) == expected(ws.db_path)
    finally:
        b.close()


@pytest.mark.parametrize("seed", range(11, 21))
def test_the_daemon_keeps_flags_and_counts_right_across_a_restart(beads_repo: Path, seed: int) -> None:
    d = Daemon(beads_repo).start(flush_interval=0.05)
    rnd = random.Random(seed)
    try:
        with d.client() as c:
            w = Writer(lambda op, args: c.execute(op, args), rnd)
            for _ in range(50):
                w.step()
            _check(d.ws.db_path, lambda op, args: c.execute(op, args))
        d.stop()
        d.start(flush_interval=0.05)
        with d.client() as c:
            _check(d.ws.db_path, lambda op, args: c.execute(op, args))
            for _ in range(20):
                w.call = lambda op, args: c.execute(op, args)
                w.step()
            _check(d.ws.db_path, lambda op, args: c.execute(op, args))
    finally:
        d.stop()
