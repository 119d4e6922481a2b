"""The floor of a daemon request, declared once for every benchmark that compares with it.

The floor is what no implementation of a write through the daemon can skip: one SQLite WAL
insert transaction on a file opened with the store's pragmas, plus one unix-socket round trip
of a newline-JSON request to another process that parses it and answers a line of a create
answer's size. ``Floor`` samples the two parts one call at a time (so a benchmark can
interleave them with the daemon's own requests); ``floor()`` gives their medians.
``AGENT`` is the agent process of the "8 agents x 100 creates" figures.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

#: an echo process: parse each request line, answer a line of a create answer's size
ECHO = textwrap.dedent("""
    import json, socket, sys
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)
    pad = "x" * int(sys.argv[2])
    print("ready", flush=True)
    c, _ = s.accept(); buf = b""
    while True:
        chunk = c.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
        while b"\\n" in buf:
            line, buf = buf.split(b"\\n", 1)
            req = json.loads(line)
            c.sendall(json.dumps({"success": True, "data": {"id": "x-1", "pad": pad},
                                  "request_id": req.get("request_id")},
                                 ensure_ascii=False, separators=(",", ":")).encode() + b"\\n")
""")

#: one agent process: ``python -c AGENT SOCKET N START_AT`` creates N issues on one connection
AGENT = textwrap.dedent("""
    import json, sys, time
    from bdgit.rpc.client import Client
    sock, n, go = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with Client(sock, actor="bench") as c:
        c.execute("ping")
        while time.time() < go:
            time.sleep(0.0005)
        t0 = time.time()
        for i in range(n):
            c.execute("create", {"title": f"agent issue {i}"})
        t1 = time.time()
    print(json.dumps({"start": t0, "end": t1, "n": n}))
""")

#: the pragmas bdgit's store opens its database with
STORE_PRAGMAS = ("busy_timeout=30000", "journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                 "temp_store=MEMORY")


def create_request(title: str = "an issue title") -> bytes:
    """The line ``Client.execute("create", ...)`` sends, with the client's fields."""
    return json.dumps({"operation": "create", "args": {"title": title, "priority": 2},
                       "request_id": "1-1", "actor": "bench", "client_version": "0",
                       "timeout_ms": 30000, "deadline": round(time.time() + 30, 3)},
                      ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class Floor:
    """The two parts of the floor, ready to be sampled one call at a time.

    ``tmp`` is a directory the caller removes; ``close()`` ends the echo process.
    """

    def __init__(self, tmp: str, request: bytes | None = None, answer_size: int = 200) -> None:
        self.conn = sqlite3.connect(os.path.join(tmp, "floor.db"), isolation_level=None)
        for pragma in STORE_PRAGMAS:
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, title TEXT, created TEXT)")
        self.n = 0
        path = os.path.join(tmp, "echo.sock")
        self.echo = subprocess.Popen([sys.executable, "-c", ECHO, path, str(answer_size)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.echo.stdout is not None
        self.echo.stdout.readline()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.request = request if request is not None else create_request()
        self.buf = b""

    def insert(self) -> None:
        self.n += 1
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO t(id, title, created) VALUES (?, ?, ?)",
                          (f"floor-{self.n}", "an issue title", "2026-01-01T00:00:00.000000+00:00"))
        self.conn.execute("COMMIT")

    def round_trip(self) -> None:
        self.sock.sendall(self.request)
        while b"\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        line, self.buf = self.buf.split(b"\n", 1)
        json.loads(line)

    def close(self) -> None:
        self.sock.close()
        self.echo.wait(10)
        self.conn.close()


def floor(n: int = 600, warmup: int = 20) -> tuple[float, float]:
    """(SQLite WAL insert transaction, socket round trip): medians in seconds of ``n`` samples."""
    with tempfile.TemporaryDirectory() as tmp:
        fl = Floor(tmp)
        try:
            out: dict[str, list[float]] = {"sql": [], "socket": []}
            for name, fn in (("sql", fl.insert), ("socket", fl.round_trip)):
                for i in range(warmup + n):
                    t0 = time.perf_counter()
                    fn()
                    if i >= warmup:
                        out[name].append(time.perf_counter() - t0)
        finally:
            fl.close()
    return statistics.median(out["sql"]), statistics.median(out["socket"])
