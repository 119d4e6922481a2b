"""The change feed against a real daemon on a real socket: every committed change once and in
order, resumed across reconnects and restarts, gaps past the backlog, slow and idle subscribers."""
from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testing import wait_for

from bdgit.daemon import lifecycle as d
from bdgit.errors import BdError, DaemonError
from bdgit.rpc.client import Client, Subscription
from bdgit.workspace import Workspace, find

AGENT = str(Path(__file__).parent.parent / "stress" / "agent.py")


def drain(sub: Subscription, n: int, timeout: float = 20) -> list[dict[str, Any]]:
    """The next ``n`` events (fewer if ``timeout`` seconds pass without one)."""
    out = []
    while len(out) < n:
        ev = sub.get(timeout=timeout)
        if ev is None:
            break
        out.append(ev)
    return out


def audit(ws: Workspace) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(ws.db_path)
    try:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT event_type, issue_id, actor FROM events ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture
def feed_daemon(beads_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start a daemon whose feed keeps ``backlog`` events and buffers ``buffer`` bytes per
    subscriber: ``feed_daemon(backlog, buffer)`` -> its status dict (stopped at teardown)."""
    ws = find(cwd=beads_repo)

    def start(backlog: int, buffer: int = 1024) -> dict[str, Any]:
        monkeypatch.setenv("BD_FEED_BACKLOG", str(backlog))
        monkeypatch.setenv("BD_FEED_BUFFER", str(buffer))
        st = d.start(ws, {"flush_interval": 0.1, "idle_timeout": 300})
        st["ws"] = ws
        return st

    yield start
    d.stop(ws, wait=10)


def test_every_committed_change_is_delivered_once_in_commit_order(daemon):
    ws = daemon["ws"]
    with Client(daemon["socket"], actor="watcher") as c, c.subscribe() as sub:
        assert sub.stream and sub.seq == 0

        def agent(k: int) -> None:
            with Client(daemon["socket"], actor=f"agent{k}") as a:
                for i in range(25):
                    issue = a.execute("create", {"title": f"{k}-{i}"})
                    a.execute("update", {"id": issue["id"], "priority": i % 5})
                    a.execute("list", {"limit": 3})  # reads publish nothing
                    with pytest.raises(BdError):  # neither do failed writes...
                        a.execute("close", {"id": "test-99999"})
                    with pytest.raises(BdError):  # ...nor rolled-back batches
                        a.batch([("close", {"id": issue["id"]}), ("close", {"id": "test-99999"})])
                    if i % 5 == 0:
                        a.execute("close", {"id": issue["id"], "reason": "done"})

        threads = [threading.Thread(target=agent, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # per agent: 25 creates, 20 updates (5 set the priority it had: no change), 5 closes
        events = drain(sub, 4 * 50)
        assert sub.get(timeout=0.5) is None
    assert [e["seq"] for e in events] == list(range(1, 201))
    # exactly the audit trail, in the order the single writer committed it
    assert [(e["type"], e["issue_id"], e["actor"]) for e in events] == audit(ws)
    first_update = next(e for e in events if e["type"] == "updated")
    assert first_update["changes"] == ["priority"]
    closed = next(e for e in events if e["type"] == "closed")
    assert closed["status"] == "closed" and set(closed["changes"]) == {"status"}


def test_a_forced_reconnect_resumes_where_it_stopped(daemon):
    with Client(daemon["socket"], actor="writer") as c, c.subscribe() as sub:
        failed: list[BaseException] = []

        def write() -> None:
            try:
                with Client(daemon["socket"], actor="writer") as w:
                    for i in range(300):
                        w.execute("create", {"title": f"item {i}"})
            except BaseException as e:  # say why, rather than leave the reader waiting
                failed.append(e)

        t = threading.Thread(target=write)
        t.start()
        seen: list[int] = []
        cuts = 0
        while len(seen) < 300:
            ev = sub.get(timeout=60)
            assert ev is not None and ev["type"] == "created", (ev, failed, seen[-3:], c.execute("health")["feed"])
            seen.append(ev["seq"])
            if len(seen) % 70 == 0:
                # the connection drops under it, with whatever it had received but not handed out
                assert sub._sock is not None
                sub._sock.shutdown(socket.SHUT_RDWR)
                sub._buf = b""
                cuts += 1
        t.join()
        assert sub.reconnects == cuts == 4
    assert seen == list(range(1, 301))  # none missed, none twice
    # and a new subscription resumes from any seq it is given
    with Client(daemon["socket"]).subscribe(250, stream=sub.stream) as again:
        assert [e["seq"] for e in drain(again, 50)] == list(range(251, 301))
        assert again.get(timeout=0.2) is None


def test_resuming_from_before_the_backlog_gets_a_gap_then_everything_after(feed_daemon):
    with Client(feed_daemon(20)["socket"], actor="w") as c:
        for i in range(50):
            c.execute("create", {"title": f"i{i}"})
        with c.subscribe(5) as sub:
            events = drain(sub, 21)
    gap = events[0]
    assert (gap["type"], gap["from_seq"], gap["to_seq"], gap["reason"], gap["seq"]) == ("gap", 6, 30, "backlog", 30)
    assert [e["seq"] for e in events[1:]] == list(range(31, 51))


def test_after_a_daemon_restart_a_resumed_subscription_gets_a_gap(daemon):
    ws = daemon["ws"]
    with Client(daemon["socket"], actor="w") as c, c.subscribe() as sub:
        c.execute("create", {"title": "before"})
        assert drain(sub, 1)[0]["seq"] == 1
        old = sub.stream
        d.stop(ws, wait=10)
        st = d.start(ws, {"flush_interval": 0.1, "idle_timeout": 300})
        daemon["pid"] = st["pid"]
        with Client(st["socket"], actor="w") as c2:
            gap = sub.get(timeout=20)  # the subscription reconnected by itself
            assert gap is not None and (gap["type"], gap["reason"]) == ("gap", "restart")
            assert gap["stream"] != old and sub.stream == gap["stream"]
            c2.execute("create", {"title": "after"})
            ev = sub.get(timeout=20)
        assert ev is not None and (ev["type"], ev["issue_id"], ev["seq"]) == ("created", "test-2", gap["seq"] + 1)


def test_a_slow_subscriber_never_holds_writers_back(feed_daemon):
    """A subscriber that stops reading: writers finish regardless; when it reads again it gets
    what its buffers held, a gap (overrun) and then the rest, in order. A reading one (backlog
    larger than its lag) misses nothing."""
    n = 1500
    path = feed_daemon(500)["socket"]
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(path)
    slow.sendall(b'{"operation":"subscribe","args":{}}\n')
    fast = Client(path).subscribe()
    got: list[dict[str, Any]] = []
    reader = threading.Thread(target=lambda: got.extend(drain(fast, n, timeout=60)))
    reader.start()
    # the writer is another process, as agents are: this one only reads
    writer = subprocess.run([sys.executable, AGENT, path, "writer", "create", str(n)], capture_output=True,
                            text=True, timeout=300)
    assert writer.returncode == 0, writer.stderr
    assert len(writer.stdout.splitlines()) == n  # every write acknowledged while nobody read `slow`
    reader.join(timeout=60)
    fast.close()
    assert [e["seq"] for e in got] == list(range(1, n + 1))
    slow.settimeout(10)
    f = slow.makefile("rb")
    assert json.loads(f.readline())["success"]
    lines = []
    while not lines or lines[-1]["seq"] < n:
        lines.append(json.loads(f.readline()))
    slow.close()
    gaps = [e for e in lines if e.get("type") == "gap"]
    assert gaps and all(g["reason"] == "overrun" for g in gaps)
    seqs = [e["seq"] for e in lines]
    assert seqs == sorted(seqs) and seqs[-1] == n and len(lines) - len(gaps) < n
    covered: set[int] = set()  # the events and the ranges the gaps stand for: every seq once
    for e in lines:
        span = set(range(e["from_seq"], e["to_seq"] + 1)) if e.get("type") == "gap" else {e["seq"]}
        assert not covered & span
        covered |= span
    assert covered == set(range(1, n + 1))


def test_idle_subscribers_share_one_thread_and_all_hear_a_change(daemon):
    def threads() -> int:
        for line in Path(f"/proc/{daemon['pid']}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        raise AssertionError("no thread count")

    with Client(daemon["socket"], actor="w") as c:
        c.execute("ping")
        subs = [c.subscribe() for _ in range(3)]
        base = threads()
        subs += [c.subscribe() for _ in range(50)]
        assert wait_for(lambda: c.execute("health")["feed"]["subscribers"] == 53, 10)
        assert threads() <= base + 1  # no thread per subscriber
        c.execute("create", {"title": "news"})
        for sub in subs:
            ev = sub.get(timeout=20)
            assert ev is not None and ev["issue_id"] == "test-1"
            sub.close()
        assert wait_for(lambda: c.execute("health")["feed"]["subscribers"] == 0, 10)


@pytest.mark.parametrize("args, fragment", [({"since": -1}, "since must be"), ({"since": "x"}, "since must be"),
                                            ({"since": 1, "stream": 5}, "stream must be")])
def test_bad_subscribe_args_are_refused(daemon, args: dict[str, Any], fragment: str):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(daemon["socket"])
    s.sendall(json.dumps({"operation": "subscribe", "args": args, "request_id": "r1"}).encode() + b"\n")
    resp = json.loads(s.makefile().readline())
    assert (resp["success"], resp["request_id"]) == (False, "r1") and fragment in resp["error"]
    assert s.recv(10) == b""  # and the connection is closed
    s.close()


def test_subscribe_without_a_daemon_is_a_clear_error(beads_repo: Path):
    with pytest.raises(DaemonError, match="no daemon answers"):
        Client(beads_repo / ".beads" / "bd.sock").subscribe(reconnect=False)


def test_the_plain_socket_client_of_the_docs(daemon):
    """docs/DAEMON.md's client without bdgit: socket + JSON lines, resuming with (since, stream)."""
    def watch(sock_path: str, since: int | None = None, stream: str | None = None) -> Iterator[tuple[str, dict]]:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(sock_path)
        args = {} if since is None else {"since": since, "stream": stream}
        s.sendall(json.dumps({"operation": "subscribe", "args": args}).encode() + b"\n")
        lines = s.makefile("rb")
        hello = json.loads(lines.readline())
        if not hello["success"]:
            raise RuntimeError(hello["error"])
        stream = hello["data"]["stream"]
        for line in lines:
            event = json.loads(line)
            if event["type"] == "gap":
                stream = event["stream"]
            yield stream, event

    with Client(daemon["socket"], actor="w") as c:
        c.execute("create", {"title": "a"})
        stream, first = next(watch(daemon["socket"], 0))  # from the first event this daemon kept
        c.execute("create", {"title": "b"})
        c.execute("close", {"id": "test-1"})
        resumed = watch(daemon["socket"], first["seq"], stream)
        assert [(e["seq"], e["type"]) for _, e in (next(resumed), next(resumed))] == [(2, "created"), (3, "closed")]
