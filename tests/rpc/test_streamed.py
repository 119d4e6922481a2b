"""Long list answers sent as they are rendered (``rpc.stream``, ``ops.answer``): the bytes on the
wire are the ones the whole answer encodes to, a large answer is one line, and a client that
hangs up mid-answer or a failure mid-answer leaves no complete line and a working daemon."""
from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from bdgit import ops
from bdgit.ops import answer
from bdgit.rpc.client import Client
from bdgit.rpc.protocol import encode
from bdgit.rpc.stream import StreamBroken, Streamed
from bdgit.store import Store


def raw_line(path: str, req: dict[str, Any]) -> bytes:
    """One request on a new connection; the response line as sent (newline included)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 16)
            assert chunk, "connection closed before the newline"
            buf += chunk
        return buf


def populate(c: Client) -> None:
    """Issues with what list output shows: labels, links of each kind, comments, non-ASCII text,
    closed ones, blocked ones (directly and through a parent)."""
    ids = []
    for k in range(40):
        ids.append(c.execute("create", {"title": f"issue {k} \u00e9\u2603 \"q\"", "priority": k % 5,
                                        "description": "d\u00fcr\n" * (k % 3), "labels": [f"l{k % 4}", "x"]})["id"])
    for k in range(1, 40, 3):
        c.execute("dep_add", {"from_id": ids[k], "to_id": ids[k - 1]})
    for k in range(5, 40, 7):
        c.execute("dep_add", {"from_id": ids[k], "to_id": ids[2], "dep_type": "parent-child"})
    for k in range(0, 40, 5):
        c.execute("comment_add", {"id": ids[k], "text": f"note {k}"})
    for k in range(0, 40, 6):
        c.execute("close", {"id": ids[k]})


REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("list", {}), ("list", {"status": "all", "sort": "title", "reverse": True}), ("list", {"limit": 7}),
    ("list", {"labels": ["x"], "sort": "id"}), ("ready", {}), ("ready", {"sort": "oldest", "limit": 3}),
    ("blocked", {}), ("list", {"status": "no-such-status-here"}), ("list", {"ids": []}),
]


def test_streamed_bytes_equal_the_whole_answer(daemon, monkeypatch) -> None:
    with Client(daemon["socket"], actor="tester", timeout=30) as c:
        populate(c)
    monkeypatch.setattr(answer, "CHUNK", 3)  # in-process reads below: many chunk boundaries
    store = Store(daemon["ws"].db_path)
    try:
        for n, (op, args) in enumerate(REQUESTS):
            wire = raw_line(daemon["socket"], {"operation": op, "args": args, "request_id": n})
            try:
                whole: dict[str, Any] = {"success": True, "data": ops.run(store, op, args, "tester")}
            except Exception as e:  # the invalid filter: an error both ways
                assert json.loads(wire)["success"] is False, (op, args, e)
                continue
            whole["request_id"] = n
            assert wire == encode(whole), (op, args)
            # the same answer streamed in chunks of 3, in process
            with store.read_snapshot():
                got: list[bytes] = []
                s = Streamed(ops.run_stream(store, op, args, "tester"), [], lambda: None)
                s.tail["request_id"] = n
                s.send(got.append)
            assert b"".join(got) == wire, (op, args)
    finally:
        store.close()


def test_blocked_answer_is_not_empty_and_has_blockers(daemon) -> None:
    with Client(daemon["socket"], actor="tester", timeout=30) as c:
        populate(c)
        rows = c.execute("blocked")
    assert rows and all(r["blocked_by_count"] == len(r["blocked_by"]) > 0 for r in rows)


def test_tail_keys_follow_data_in_the_encoders_order() -> None:
    items = [{"id": f"t-{k}", "title": "\u00e9\u2028", "n": k} for k in range(7)]
    rows = answer.Rows([i["id"] for i in items], lambda chunk: [i for i in items if i["id"] in chunk])
    s = Streamed(rows, ["a notice"], lambda: None)
    s.tail["request_id"] = "r-1"
    got: list[bytes] = []
    s.send(got.append)
    assert b"".join(got) == encode({"success": True, "data": items, "notices": ["a notice"], "request_id": "r-1"})


def test_failure_mid_answer_leaves_no_complete_line(monkeypatch) -> None:
    monkeypatch.setattr(answer, "CHUNK", 2)

    def render(chunk: list[str]) -> list[dict[str, Any]]:
        if chunk[0] == "t-4":
            raise RuntimeError("disk went away")
        return [{"id": i} for i in chunk]
    closed: list[bool] = []
    s = Streamed(answer.Rows([f"t-{k}" for k in range(8)], render), [], lambda: closed.append(True))
    got: list[bytes] = []
    logged: list[str] = []
    with pytest.raises(StreamBroken):
        s.send(got.append, logged.append)
    s.close()
    s.close()  # once is what happens
    sent = b"".join(got)
    assert closed == [True] and logged and b"\n" not in sent
    with pytest.raises(ValueError):
        json.loads(sent)


def test_failure_in_the_first_chunk_is_an_error_before_any_byte(monkeypatch) -> None:
    def render(chunk: list[str]) -> list[dict[str, Any]]:
        raise RuntimeError("unreadable")
    with pytest.raises(RuntimeError):
        Streamed(answer.Rows(["t-1"], render), [], lambda: None)


def _jsonl(n: int) -> str:
    lines = []
    for k in range(1, n + 1):
        lines.append(json.dumps({
            "id": f"test-{k}", "title": f"bulk issue {k}", "description": "x" * (k % 50), "status": "open",
            "priority": k % 5, "issue_type": "task", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "labels": [f"l{k % 3}"],
            "dependencies": [{"issue_id": f"test-{k}", "depends_on_id": f"test-{k - 1}", "type": "blocks",
                              "created_at": "2026-01-01T00:00:00Z", "created_by": "t"}] if k % 4 == 0 else []}))
    return "\n".join(lines) + "\n"


N = 5000


@pytest.fixture
def big(daemon) -> dict[str, Any]:
    with Client(daemon["socket"], actor="tester", timeout=120) as c:
        c.execute("import", {"text": _jsonl(N)})
    return daemon


def test_large_answer_is_one_line_with_every_issue(big) -> None:
    wire = raw_line(big["socket"], {"operation": "list", "args": {}, "request_id": 7})
    assert wire.count(b"\n") == 1
    resp = json.loads(wire)
    assert resp["success"] and resp["request_id"] == 7 and list(resp) == ["success", "data", "request_id"]
    assert len(resp["data"]) == N and len({j["id"] for j in resp["data"]}) == N
    blocked = json.loads(raw_line(big["socket"], {"operation": "blocked"}))["data"]
    assert len(blocked) == N // 4
    with Client(big["socket"], actor="tester", timeout=60) as c:  # the client library reads it too
        assert len(c.execute("list", {"status": "all"})) == N


def test_client_hanging_up_mid_answer_does_not_harm_the_daemon(big) -> None:
    for _ in range(5):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(big["socket"])
            s.sendall(b'{"operation":"list","args":{}}\n')
            assert s.recv(100).startswith(b'{"success":true,"data":[')
        # closed after a few bytes, with most of the answer unsent
    with Client(big["socket"], actor="tester", timeout=60) as c:
        assert c.execute("health")["status"] == "healthy"
        assert len(c.execute("list", {})) == N
        assert c.execute("create", {"title": "after the hang-ups"})["id"]
