"""Stress: a real daemon, many real client processes at once (run under pytest-xdist).

The original's five (8x100 creates, 4x50 batches, 6x50 mixed, timeouts, 10x100 unique IDs)
plus: failing batches leave nothing, daemon and direct-mode writers at once, kill -9 of the
daemon during a create storm, ten simultaneous starts. Every test checks counts against the
database and the JSONL, not only exit codes.
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

import pytest
from testing import run_bd, wait_for

from bdgit.daemon import lifecycle as d
from bdgit.workspace import find

AGENT = str(Path(__file__).with_name("agent.py"))
pytestmark = pytest.mark.stress


def agents(sock: str, mode: str, n: int, count: int) -> list[list[dict]]:
    procs = [subprocess.Popen([sys.executable, AGENT, sock, f"agent{k}", mode, str(count)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(n)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        out.append([json.loads(x) for x in stdout.splitlines() if x.strip()])
    return out


def db_ids(ws) -> list[str]:
    conn = sqlite3.connect(ws.db_path)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM issues")]
    finally:
        conn.close()


def jsonl_ids(ws) -> list[str]:
    return [json.loads(x)["id"] for x in ws.jsonl_path.read_text().splitlines() if x.strip()]


def settled(ws, expected: int) -> bool:
    """The daemon flushed: the JSONL holds ``expected`` issues, as the database does."""
    return len(jsonl_ids(ws)) == expected and len(db_ids(ws)) == expected


def acks(results: list[list[dict]]) -> list[str]:
    return [x["ack"] for r in results for x in r if "ack" in x]


def errors(results: list[list[dict]]) -> list[str]:
    return [x["error"] for r in results for x in r if "error" in x]


def test_8_agents_x_100_creates(daemon):
    ws = daemon["ws"]
    res = agents(daemon["socket"], "create", 8, 100)
    ids = acks(res)
    assert errors(res) == []
    assert len(ids) == 800 and len(set(ids)) == 800
    assert wait_for(lambda: settled(ws, 800), 30)
    assert sorted(db_ids(ws)) == sorted(ids) == sorted(jsonl_ids(ws))


def test_4_agents_x_50_batches(daemon):
    ws = daemon["ws"]
    res = agents(daemon["socket"], "batch", 4, 50)
    ids = acks(res)
    assert errors(res) == [] and len(set(ids)) == 400
    assert wait_for(lambda: settled(ws, 400), 30)
    # every second issue of a batch depends on the first one of the same batch
    conn = sqlite3.connect(ws.db_path)
    assert conn.execute("SELECT count(*) FROM dependencies").fetchone()[0] == 200


def test_6_agents_x_50_mixed_operations(daemon):
    ws = daemon["ws"]
    res = agents(daemon["socket"], "mixed", 6, 50)
    assert errors(res) == []
    assert sum(1 for r in res for x in r if "op" in x) == 300
    ids = acks(res)
    assert len(ids) == 60
    assert wait_for(lambda: settled(ws, 60), 30)


def test_timeouts(daemon):
    from bdgit.errors import DeadlineExceeded
    from bdgit.rpc.client import Client
    with Client(daemon["socket"], timeout=5) as c:
        assert c.execute("ping")["message"] == "pong"
    with Client(daemon["socket"], timeout=1e-9) as c:
        with pytest.raises(DeadlineExceeded):
            c.execute("create", {"title": "never"})
    assert wait_for(lambda: True)
    with Client(daemon["socket"], timeout=5) as c:
        c.set_timeout(10)
        assert all(i["title"] != "never" for i in c.execute("list"))


def test_10_agents_x_100_creates_give_1000_distinct_ids(daemon):
    ws = daemon["ws"]
    res = agents(daemon["socket"], "create", 10, 100)
    ids = acks(res)
    assert errors(res) == [] and len(ids) == 1000 and len(set(ids)) == 1000
    assert wait_for(lambda: settled(ws, 1000), 30)
    assert sorted(ids, key=lambda x: int(x.split("-")[1])) == [f"test-{n}" for n in range(1, 1001)]


def test_failing_batches_leave_nothing_behind(daemon):
    ws = daemon["ws"]
    res = agents(daemon["socket"], "failing-batch", 4, 25)
    assert errors(res) == []
    assert sum(1 for r in res for x in r if "rolled_back" in x) == 100
    ok = agents(daemon["socket"], "create", 1, 5)
    assert acks(ok) == [f"test-{n}" for n in range(1, 6)]  # no number was burnt either
    assert wait_for(lambda: settled(ws, 5), 30)


def test_daemon_and_direct_mode_writers_at_once(daemon, beads_repo: Path):
    ws = daemon["ws"]
    direct = [subprocess.Popen(
        [sys.executable, "-c",
         "import sys, json; from bdgit.cli.main import run\n"
         "for i in range(15):\n"
         "    rc = run(['--no-daemon', 'create', f'direct {sys.argv[1]} {i}', '--json'])\n"
         "    assert rc == 0, rc\n", str(k)],
        cwd=beads_repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(3)]
    res = agents(daemon["socket"], "create", 4, 50)
    direct_ids = []
    for p in direct:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        direct_ids += [json.loads(chunk)["id"] for chunk in out.replace("}\n{", "}\x00{").split("\x00")]
    ids = acks(res) + direct_ids
    assert errors(res) == []
    assert len(ids) == 245 and len(set(ids)) == 245
    assert wait_for(lambda: settled(ws, 245), 30)
    assert sorted(jsonl_ids(ws)) == sorted(ids)


def test_kill_9_during_a_create_storm_loses_no_acknowledged_write(beads_repo: Path):
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"flush_interval": 0.2})
    procs = [subprocess.Popen([sys.executable, AGENT, st["socket"], f"storm{k}", "create", "400"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(4)]
    time.sleep(0.3)
    assert wait_for(lambda: len(db_ids(ws)) >= 50, 30)
    os.kill(st["pid"], signal.SIGKILL)
    acked: list[str] = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        acked += [json.loads(x)["ack"] for x in out.splitlines() if x.strip() and "ack" in json.loads(x)]
    assert acked, "no create was acknowledged before the kill"
    st2 = d.start(ws, {"flush_interval": 0.1})
    try:
        present = set(db_ids(ws))
        assert set(acked) <= present
        assert len(present) == len(set(present))
        # the restarted daemon exports what the crash left dirty
        assert wait_for(lambda: set(jsonl_ids(ws)) == set(db_ids(ws)), 30)
        assert json.loads(run_bd("create", "after", "--json", check=True).stdout)["id"] not in present
    finally:
        d.stop(ws)
    assert st2["pid"] != st["pid"]
