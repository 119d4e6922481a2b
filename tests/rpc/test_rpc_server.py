"""The daemon's wire protocol against a real daemon process on a real socket: framing,
bad input that must not take it down, every operation, atomic batches and deadlines."""
from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from testing import run_bd, wait_for

from bdgit.rpc.client import Client


class Raw:
    """A raw protocol connection: send bytes, read one response line."""

    def __init__(self, path: str) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(path)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def req(self, obj: dict) -> dict:
        self.send(json.dumps(obj).encode() + b"\n")
        return self.line()

    def line(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        self.s.close()


@pytest.fixture
def raw(daemon):
    r = Raw(daemon["socket"])
    yield r
    r.close()


@pytest.fixture
def client(daemon):
    with Client(daemon["socket"], actor="tester", timeout=20) as c:
        yield c


def test_ping_and_health(raw):
    r = raw.req({"operation": "ping"})
    assert r["success"] and r["data"]["message"] == "pong"
    h = raw.req({"operation": "health", "args": {}, "client_version": "9.9.9"})
    assert h["data"]["status"] == "healthy" and h["data"]["compatible"] is False


def test_request_id_is_echoed_and_connection_is_persistent(raw):
    for i in range(5):
        r = raw.req({"operation": "ping", "request_id": f"r{i}"})
        assert r["request_id"] == f"r{i}"


def test_garbage_gets_an_error_and_the_connection_stays_usable(raw):
    raw.send(b"this is not json\n")
    r = raw.line()
    assert not r["success"] and "invalid request" in r["error"]
    raw.send(b"[1, 2, 3]\n")
    assert "expected a JSON object" in raw.line()["error"]
    raw.send(b"\xff\xfe\xfd\n")
    assert not raw.line()["success"]
    assert raw.req({"operation": "ping"})["success"]


@pytest.mark.parametrize("req, fragment", [
    ({"operation": "no_such_op"}, "unknown operation"),
    ({"args": {}}, "'operation' must be a string"),
    ({"operation": "create", "args": "title"}, "expected an object"),
    ({"operation": "create", "args": {"title": 42}}, "title must be a string"),
    ({"operation": "create", "args": {"title": "x", "priority": "high"}}, "invalid priority"),
    ({"operation": "create", "args": {"title": "x", "labels": 7}}, "labels must be a list"),
    ({"operation": "list", "args": {"limit": "lots"}}, "limit must be an integer"),
    ({"operation": "show", "args": {"id": "test-999"}}, "not found"),
    ({"operation": "ping", "timeout_ms": -1}, "timeout_ms"),
    ({"operation": "create", "args": {"title": "x"}, "actor": 5}, "'actor' must be a string"),
])
def test_bad_requests_are_answered_with_errors(raw, req, fragment):
    r = raw.req(req)
    assert r["success"] is False
    assert fragment in r["error"]
    assert raw.req({"operation": "ping"})["success"]


def test_cwd_outside_the_repository_is_refused(raw, tmp_path: Path, beads_repo: Path):
    r = raw.req({"operation": "list", "cwd": str(tmp_path)})
    assert not r["success"] and "outside" in r["error"]
    r = raw.req({"operation": "list", "cwd": str(beads_repo / "sub" / "dir")})
    assert r["success"]


def test_client_version_mismatch_is_refused_but_ping_is_not(raw):
    r = raw.req({"operation": "list", "client_version": "0.0.1"})
    assert not r["success"] and r["kind"] == "version_mismatch"
    assert raw.req({"operation": "ping", "client_version": "0.0.1"})["success"]
    assert raw.req({"operation": "list"})["success"]  # no version (beads-mcp): accepted


def test_oversized_line_is_refused_and_the_daemon_survives(beads_repo: Path, monkeypatch):
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    monkeypatch.setenv("BD_DAEMON_MAX_LINE", str(64 * 1024))
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"flush_interval": 0.1})
    try:
        r = Raw(st["socket"])
        r.send(b'{"operation": "create", "args": {"title": "' + b"x" * 200_000 + b'"}}\n')
        resp = r.line()
        assert not resp["success"] and "longer than" in resp["error"]
        assert r.req({"operation": "ping"})["success"]
        r.close()
        assert run_bd("list", "--json", check=True).stdout.strip() == "[]"
    finally:
        d.stop(ws)


def test_half_written_request_and_disconnect_do_not_hurt(daemon, client):
    r = Raw(daemon["socket"])
    r.send(b'{"operation": "create", "args": {"title": "never fin')
    r.close()
    stalled = Raw(daemon["socket"])
    stalled.send(b'{"operation": "create", "ar')  # a stalled client keeps its connection open
    try:
        created = client.execute("create", {"title": "others still work"})
        assert created["id"] == "test-1"
        assert [i["title"] for i in client.execute("list")] == ["others still work"]
    finally:
        stalled.close()


def test_every_operation_through_the_daemon(client):
    a = client.execute("create", {"title": "A", "priority": 1, "labels": ["x", "y"], "external_ref": "gh-1",
                                  "description": "first"})
    assert a["labels"] == ["x", "y"] and a["external_ref"] == "gh-1"
    b = client.execute("create", {"title": "B", "dependencies": [f"blocks:{a['id']}"], "issue_type": "bug"})
    assert b["dependencies"][0]["id"] == a["id"]
    assert [i["id"] for i in client.execute("ready")] == [a["id"]]
    assert client.execute("blocked")[0]["blocked_by"] == [a["id"]]
    st = client.execute("stats")
    assert (st["total_issues"], st["blocked_issues"], st["ready_issues"]) == (2, 1, 1)
    assert client.execute("update", {"id": a["id"], "status": "in_progress"})["status"] == "in_progress"
    assert client.execute("show", {"id": b["id"]})["dependencies"][0]["id"] == a["id"]
    tree = client.execute("dep_tree", {"id": b["id"]})
    assert [n["id"] for n in tree] == [b["id"], a["id"]]
    assert client.execute("dep_cycles") == []
    c = client.execute("create", {"title": "C"})
    assert client.execute("dep_add", {"from_id": c["id"], "to_id": a["id"], "dep_type": "related"})["status"] == "added"
    assert client.execute("dep_remove", {"from_id": c["id"], "to_id": a["id"]})["status"] == "removed"
    assert client.execute("label_add", {"id": c["id"], "label": "z"})["status"] == "added"
    assert client.execute("label_list", {"id": c["id"]}) == ["z"]
    assert {x["label"] for x in client.execute("label_list_all")} == {"x", "y", "z"}
    assert client.execute("label_remove", {"id": c["id"], "label": "z"})["status"] == "removed"
    cm = client.execute("comment_add", {"id": c["id"], "text": "hello"})
    assert cm["author"] == "tester" and isinstance(cm["id"], str)
    assert [x["text"] for x in client.execute("comment_list", {"id": c["id"]})] == ["hello"]
    assert client.execute("close", {"id": a["id"], "reason": "done"})["status"] == "closed"
    assert client.execute("reopen", {"id": a["id"]})["status"] == "open"
    assert {e["event_type"] for e in client.execute("events", {"id": a["id"]})} >= {"created", "closed", "reopened"}
    assert client.execute("list", {"label": "x"})[0]["id"] == a["id"]
    exported = client.execute("export")
    assert exported["count"] == 3
    preview = client.execute("delete", {"id": c["id"]})
    assert preview["preview"]
    assert client.execute("delete", {"id": c["id"], "force": True})["deleted"] == c["id"]
    res = client.execute("import", {"text": exported["text"]})
    assert res["created"] == 0  # an older export (C still live in it) never brings C back
    from bdgit.errors import NotFoundError
    with pytest.raises(NotFoundError):
        client.execute("show", {"id": c["id"]})
    assert client.execute("undelete", {"id": c["id"]})["title"] == "C"  # only an undelete does
    assert all(e["actor"] == "tester" for e in client.execute("events", {"id": b["id"]}))


def test_show_of_an_unknown_id_is_an_error_not_null(client):
    from bdgit.errors import NotFoundError
    with pytest.raises(NotFoundError):
        client.execute("show", {"id": "test-404"})


def test_atomic_batch_failure_leaves_nothing_behind(client):
    from bdgit.errors import BdError
    with pytest.raises(BdError) as exc:
        client.batch([("create", {"title": "one"}), ("create", {"title": "two"}),
                      ("create", {"title": ""}), ("create", {"title": "four"})])
    results = exc.value.results
    assert results[2]["success"] is False and "title" in results[2]["error"]
    assert results[0].get("rolled_back") and results[3].get("skipped")
    assert client.execute("list") == []
    # the numbers consumed by the rolled-back creates are not burnt either
    assert client.execute("create", {"title": "after"})["id"] == "test-1"


def test_atomic_batch_raw_response_shape(raw):
    r = raw.req({"operation": "batch", "args": {"operations": [
        {"operation": "create", "args": {"title": "ok"}},
        {"operation": "update", "args": {"id": "test-404", "status": "closed"}}]}})
    assert r["success"] is False
    assert "operation 1 (update)" in r["error"]
    assert [x["success"] for x in r["data"]["results"]] == [False, False]


def test_non_atomic_batch_keeps_earlier_operations(client):
    results = client.batch([("create", {"title": "kept"}), ("update", {"id": "nope-1", "title": "x"}),
                            ("create", {"title": "never run"})], atomic=False)
    assert [r["success"] for r in results] == [True, False]
    assert [i["title"] for i in client.execute("list")] == ["kept"]


def test_batch_refers_to_ids_created_earlier_in_it(client):
    results = client.batch([("create", {"title": "parent", "issue_type": "epic"}),
                            ("create", {"title": "child", "dependencies": ["parent-child:$0"]}),
                            ("label_add", {"id": "$1", "label": "from-batch"})])
    assert all(r["success"] for r in results)
    assert results[2]["data"]["issue_id"] == results[1]["data"]["id"]
    child = client.execute("show", {"id": results[1]["data"]["id"]})
    assert child["dependencies"][0]["id"] == results[0]["data"]["id"]


def test_a_request_whose_deadline_passes_in_the_queue_is_cancelled_not_run(daemon, client):
    big = [{"operation": "create", "args": {"title": f"bulk {i}"}} for i in range(3000)]
    done = {}

    def bulk():
        with Client(daemon["socket"], timeout=120) as c:
            done["r"] = c.execute("batch", {"operations": big})

    t = threading.Thread(target=bulk)
    t.start()
    # wait until the writer is busy with the bulk batch, then send a request with 1 ms to live
    assert wait_for(lambda: client.execute("health")["queue_depth"] == 0 and t.is_alive(), 10)
    raw = Raw(daemon["socket"])
    try:
        resp = raw.req({"operation": "create", "args": {"title": "too late"}, "timeout_ms": 1})
    finally:
        raw.close()
    t.join(120)
    titles = {i["title"] for i in client.execute("list")}
    if not resp["success"]:
        assert resp["kind"] == "timeout" and "cancelled" in resp["error"]
        assert "too late" not in titles
    else:  # the bulk batch finished first on a fast machine: then it simply ran
        assert "too late" in titles
    assert len([x for x in titles if x.startswith("bulk")]) == 3000
