"""The daemon's writer commits queued writes as one group: each request in a savepoint of its
own, acknowledged only after the COMMIT. A failing request fails alone; what was acknowledged
survives kill -9, whenever the WAL was last checkpointed (checkpoints run off the request
path, on a thread of their own)."""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from testing import wait_for

from bdgit.daemon import lifecycle as d
from bdgit.errors import NotFoundError
from bdgit.rpc.client import Client
from bdgit.rpc.jobs import Job
from bdgit.rpc.server import Server
from bdgit.workspace import find


def rows(db_path: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def server(beads_repo: Path):
    """A Server on the workspace that is not serving: the test queues jobs and drains them."""
    ws = find(cwd=beads_repo)
    srv = Server(ws, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), flush_interval=3600)
    try:
        yield srv
    finally:
        srv.writer_store.close()
        srv.sock.close()


def job(op: str, args: dict) -> Job:
    return Job(op, args, "tester", time.monotonic() + 60)


def run_group(srv: Server, jobs: list[Job]) -> None:
    srv.jobs.extend(jobs)
    with srv._wlock:
        srv._drain()
    assert all(j.done.is_set() for j in jobs)


def test_a_failing_request_in_a_group_fails_alone_and_leaves_no_trace(server: Server):
    seen: list[dict] = []
    server.feed.publish = lambda changes: seen.extend(changes)  # type: ignore[method-assign]
    before = server.stats["groups"]
    good = [job("create", {"title": f"good {k}"}) for k in range(4)]
    # the failing create inserts its row before it finds that its dependency does not exist
    bad = job("create", {"title": "bad one", "dependencies": ["test-999999"]})
    group = good[:2] + [bad] + good[2:]
    run_group(server, group)
    assert server.stats["groups"] == before + 1  # one transaction for all five
    assert not bad.response["success"] and bad.response["kind"] == NotFoundError.kind
    ids = [j.response["data"]["id"] for j in good]
    assert all(j.response["success"] for j in good) and len(set(ids)) == 4
    db = server.ws.db_path
    assert sorted(r[0] for r in rows(db, "SELECT id FROM issues")) == sorted(ids)
    assert rows(db, "SELECT count(*) FROM issues WHERE title = 'bad one'") == [(0,)]
    assert rows(db, "SELECT count(*) FROM events WHERE event_type = 'created'") == [(4,)]
    assert sorted(r[0] for r in rows(db, "SELECT issue_id FROM dirty_issues")) == sorted(ids)
    # the change feed hears of the four that were committed, never of the one rolled back
    assert sorted(ch["issue_id"] for ch in seen) == sorted(ids)


def test_a_write_alone_commits_or_fails_by_itself(server: Server):
    ok = job("create", {"title": "alone"})
    run_group(server, [ok])
    assert ok.response["success"]
    bad = job("create", {"title": "alone and bad", "dependencies": ["test-999999"]})
    run_group(server, [bad])
    assert not bad.response["success"] and bad.response["kind"] == NotFoundError.kind
    db = server.ws.db_path
    assert [r[0] for r in rows(db, "SELECT title FROM issues")] == ["alone"]
    assert not server.writer_store.in_tx  # the writer is ready for the next group


def test_concurrent_requests_through_the_daemon_group_and_one_failure_stays_alone(daemon):
    sock = daemon["socket"]
    bulk = [{"operation": "create", "args": {"title": f"bulk {i}"}} for i in range(3000)]
    done: dict[str, object] = {}

    def hold_the_writer() -> None:
        with Client(sock, timeout=120) as c:
            done["bulk"] = c.execute("batch", {"operations": bulk})

    with Client(sock, timeout=30) as c:
        before = c.execute("health")
        holder = threading.Thread(target=hold_the_writer)
        holder.start()
        assert wait_for(lambda: c.execute("health")["queue_depth"] == 0 and holder.is_alive(), 10)
    results: dict[int, object] = {}
    go = threading.Barrier(8)

    def agent(k: int) -> None:
        args = {"title": f"agent {k}"}
        if k == 3:
            args["dependencies"] = ["test-999999"]
        with Client(sock, actor=f"agent-{k}", timeout=60) as c:
            c.connect()
            go.wait()
            try:
                results[k] = c.execute("create", args)["id"]
            except NotFoundError as e:
                results[k] = e

    agents = [threading.Thread(target=agent, args=(k,)) for k in range(8)]
    for t in agents:
        t.start()
    for t in agents + [holder]:
        t.join(120)
    assert isinstance(results[3], NotFoundError)
    ids = [v for k, v in results.items() if k != 3]
    assert all(isinstance(v, str) for v in ids) and len(set(ids)) == 7
    with Client(sock, timeout=30) as c:
        after = c.execute("health")
        titles = {i["title"] for i in c.execute("list", {"limit": 0})}
    assert {f"agent {k}" for k in range(8) if k != 3} <= titles and "agent 3" not in titles
    writes = after["writes"] - before["writes"]
    groups = after["groups"] - before["groups"]
    assert writes == 9 and groups < writes  # the queued creates shared a transaction


def test_acknowledged_writes_survive_kill_9_with_checkpoints_off_the_request_path(beads_repo: Path):
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"flush_interval": 0.2, "idle_timeout": 300})
    acked: list[str] = []
    lock = threading.Lock()

    def agent(k: int) -> None:
        with Client(st["socket"], actor=f"agent-{k}", timeout=30) as c:
            for i in range(150):
                issue = c.execute("create", {"title": f"agent {k} issue {i}"})
                with lock:
                    acked.append(issue["id"])

    try:
        agents = [threading.Thread(target=agent, args=(k,)) for k in range(4)]
        for t in agents:
            t.start()
        for t in agents:
            t.join(120)
        with Client(st["socket"], timeout=30) as c:
            assert wait_for(lambda: c.execute("health")["checkpoints"] >= 1, 30)
            acked.append(c.execute("create", {"title": "the last one"})["id"])
    finally:
        os.kill(st["pid"], signal.SIGKILL)
    assert wait_for(lambda: not d.lock_held(ws), 10)
    present = {r[0] for r in rows(ws.db_path, "SELECT id FROM issues")}
    assert len(acked) == 601 and set(acked) <= present
