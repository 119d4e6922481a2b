"""Many agents, one queue: real agent processes loop claim / work / close, through a real daemon
and again in direct mode; agents killed mid-work with a short lease.

The daemon test always runs at full size (16 agents over 2,000 ready issues). In direct mode
every write takes the workspace's file lock and rewrites the JSONL, so 2,000 issues there take
about a minute on two cores: the default run uses 300, BD_AGENTS_FULL=1 the full 2,000. The
checks are the same at any size.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from testing import wait_for

from bdgit.backends.direct import DirectBackend
from bdgit.daemon import lifecycle as d
from bdgit.rpc.client import Client
from bdgit.workspace import Workspace, find

AGENT = str(Path(__file__).with_name("claim_agent.py"))
FULL = os.environ.get("BD_AGENTS_FULL", "").strip().lower() in ("1", "true", "yes")
AGENTS = 16
DAEMON_ISSUES = 2000
DIRECT_ISSUES = 2000 if FULL else 300
pytestmark = pytest.mark.stress


def seed(call: Any, n: int) -> list[str]:
    """``n`` ready issues (mixed priorities), created in batches."""
    ids: list[str] = []
    for start in range(0, n, 500):
        ops = [{"operation": "create", "args": {"title": f"work item {i}", "priority": i % 5}}
               for i in range(start, min(n, start + 500))]
        res = call("batch", {"operations": ops})
        ids += [r["data"]["id"] for r in res["results"]]
    return ids


def spawn(mode: str, target: str, name: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, AGENT, mode, target, name, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def collect(procs: list[subprocess.Popen[str]], timeout: float = 500) -> list[list[dict[str, Any]]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        lines = [json.loads(x) for x in stdout.splitlines() if x.strip()]
        assert p.returncode == 0, (stderr, lines[-3:])
        out.append(lines)
    return out


def events(ws: Workspace) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(ws.db_path)
    try:
        return [tuple(r) for r in conn.execute(
            "SELECT issue_id, event_type, actor FROM events ORDER BY id")]  # type: ignore[misc]
    finally:
        conn.close()


def statuses(ws: Workspace) -> dict[str, str]:
    conn = sqlite3.connect(ws.db_path)
    try:
        return dict(conn.execute("SELECT id, status FROM issues"))
    finally:
        conn.close()


def check_every_issue_once(ws: Workspace, ids: list[str], results: list[list[dict[str, Any]]],
                           names: list[str]) -> None:
    """Each issue claimed once and closed once, by the same agent; nobody retried or failed."""
    claimed = [x["claimed"] for r in results for x in r if "claimed" in x]
    closed = [x["closed"] for r in results for x in r if "closed" in x]
    assert [x for r in results for x in r if "error" in x or "retry" in x] == []
    assert sorted(claimed) == sorted(ids) and len(set(claimed)) == len(ids)
    assert sorted(closed) == sorted(ids)
    assert set(statuses(ws).values()) == {"closed"}
    by: dict[str, dict[str, list[str]]] = {}
    for issue_id, kind, actor in events(ws):
        by.setdefault(issue_id, {}).setdefault(kind, []).append(actor)
    for issue_id in ids:
        assert len(by[issue_id]["claimed"]) == 1, (issue_id, by[issue_id])
        assert by[issue_id]["claimed"] == by[issue_id]["closed"], (issue_id, by[issue_id])
    assert sum(x["done"] for r in results for x in r if "done" in x) == len(ids)
    # the work spread over the agents (each did some): nobody was starved by the others
    assert sum(1 for r in results if any("claimed" in x for x in r)) > len(names) // 2


def test_16_agents_claim_and_close_every_issue_once_through_the_daemon(daemon):
    ws = daemon["ws"]
    with Client(daemon["socket"], actor="planner", timeout=120) as c:
        ids = seed(c.execute, DAEMON_ISSUES)
    names = [f"agent{k}" for k in range(AGENTS)]
    results = collect([spawn("daemon", daemon["socket"], n, "--lease", "5m") for n in names])
    check_every_issue_once(ws, ids, results, names)


def test_16_agents_claim_and_close_every_issue_once_in_direct_mode(beads_repo: Path):
    ws = find(cwd=beads_repo)
    b = DirectBackend(ws, "planner")
    try:
        ids = seed(b.call, DIRECT_ISSUES)
    finally:
        b.close()
    names = [f"agent{k}" for k in range(AGENTS)]
    results = collect([spawn("direct", str(beads_repo), n, "--lease", "5m") for n in names])
    check_every_issue_once(ws, ids, results, names)
    lines = [json.loads(x) for x in ws.jsonl_path.read_text().splitlines() if x.strip()]
    assert {x["status"] for x in lines} == {"closed"} and "lease" not in lines[0]


def _killed_agent_gives_its_issue_back(mode: str, target: str, ws: Workspace, call: Any) -> None:
    """An agent claims with a short lease and is killed mid-work; after the lease another agent
    claims that issue; the audit trail shows both claims and the abandonment."""
    [first] = seed(call, 1)
    hung = spawn(mode, target, "crasher", "--lease", "1s", "--hang")
    try:
        line = hung.stdout.readline() if hung.stdout else ""
        assert json.loads(line) == {"claimed": first}
        hung.kill()
        hung.wait(timeout=10)
    finally:
        if hung.poll() is None:
            hung.kill()
    assert statuses(ws)[first] == "in_progress"
    time.sleep(1.2)  # the lease runs out: nothing else touches the issue meanwhile
    [res] = collect([spawn(mode, target, "rescuer")])
    assert [x for x in res if "claimed" in x] == [{"claimed": first}]
    trail = [(k, a) for i, k, a in events(ws) if i == first]
    assert trail == [("created", "planner"), ("claimed", "crasher"), ("lease_expired", "crasher"),
                     ("claimed", "rescuer"), ("closed", "rescuer")]


def test_an_agent_killed_mid_work_through_the_daemon_loses_its_issue_to_another(daemon):
    with Client(daemon["socket"], actor="planner", timeout=30) as c:
        _killed_agent_gives_its_issue_back("daemon", daemon["socket"], daemon["ws"], c.execute)
        # the daemon returned it by itself (a timer), before anyone asked
        with c.subscribe(0) as sub:
            kinds = []
            while len(kinds) < 5 and (ev := sub.get(timeout=5)) is not None:
                kinds.append(ev["type"])
        assert kinds == ["created", "claimed", "lease_expired", "claimed", "closed"]


def test_an_agent_killed_mid_work_in_direct_mode_loses_its_issue_to_another(beads_repo: Path):
    ws = find(cwd=beads_repo)
    b = DirectBackend(ws, "planner")
    try:
        _killed_agent_gives_its_issue_back("direct", str(beads_repo), ws, b.call)
    finally:
        b.close()


def test_the_daemon_returns_an_expired_lease_on_its_own_timer(daemon):
    """No request after the claim: the daemon's timer wakes at the expiry and returns it."""
    ws = daemon["ws"]
    with Client(daemon["socket"], actor="agent", timeout=30) as c:
        [issue_id] = seed(c.execute, 1)
        with c.subscribe() as sub:
            c.execute("ready", {"claim": True, "lease": "500ms"})
            got = [sub.get(timeout=10), sub.get(timeout=10)]
        assert [(e["type"], e["issue_id"]) for e in got if e] == [("claimed", issue_id), ("lease_expired", issue_id)]
    assert wait_for(lambda: statuses(ws)[issue_id] == "open", 5)
    assert wait_for(lambda: not any("lease" in json.loads(x) for x in ws.jsonl_path.read_text().splitlines()),
                    5)  # flushed as usual (the versions still name the field: it was cleared)


def test_a_killed_daemon_client_does_not_keep_its_lease_past_a_daemon_restart(daemon):
    """The lease is data: a daemon started after the holder's lease ran out returns the issue."""
    ws = daemon["ws"]
    with Client(daemon["socket"], actor="agent", timeout=30) as c:
        [issue_id] = seed(c.execute, 1)
        c.execute("ready", {"claim": True, "lease": "1s"})
    os.kill(daemon["pid"], signal.SIGKILL)
    assert wait_for(lambda: not d.lock_held(ws), 10)
    time.sleep(1.1)
    st = d.start(ws, {"flush_interval": 0.1, "idle_timeout": 300})
    daemon["pid"] = st["pid"]
    assert wait_for(lambda: statuses(ws)[issue_id] == "open", 5)
