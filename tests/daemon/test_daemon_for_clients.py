"""What the daemon does for beads' other clients: file watchers see each committed write in
the main database file, and beads' socket name reaches the same daemon."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from bdgit.rpc.client import Client


def test_each_committed_write_changes_the_main_db_file(daemon: dict) -> None:
    ws = daemon["ws"]
    before = os.stat(ws.db_path).st_mtime_ns
    time.sleep(0.01)
    with Client(str(ws.root)) as c:
        c.execute("create", {"title": "watched"})
    assert os.stat(ws.db_path).st_mtime_ns > before
    before = os.stat(ws.db_path).st_mtime_ns
    time.sleep(0.01)
    with Client(str(ws.root)) as c:
        c.execute("list", {})  # a read changes nothing
    assert os.stat(ws.db_path).st_mtime_ns == before


def test_a_direct_write_beside_a_daemon_changes_the_main_db_file(daemon: dict, bd) -> None:  # type: ignore[no-untyped-def]
    ws = daemon["ws"]
    before = os.stat(ws.db_path).st_mtime_ns
    time.sleep(0.01)
    code, _, err = bd("--no-daemon", "create", "beside the daemon")
    assert code == 0, err
    assert os.stat(ws.db_path).st_mtime_ns > before


def test_beads_sock_is_the_same_socket_and_goes_with_the_daemon(daemon: dict) -> None:
    ws = daemon["ws"]
    alias = ws.beads_dir / "beads.sock"
    main = ws.beads_dir / "bd.sock"
    assert alias.is_socket() and not alias.is_symlink()
    assert os.stat(alias).st_ino == os.stat(main).st_ino
    assert (os.stat(alias).st_mode & 0o777) == 0o600
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(str(alias))
    s.sendall(json.dumps({"operation": "ping", "args": {}, "cwd": str(ws.root)}).encode() + b"\n")
    reply = json.loads(s.makefile().readline())
    s.close()
    assert reply["success"] and reply["data"]["message"] == "pong"
    from bdgit.daemon import lifecycle as d
    d.stop(ws, wait=10)
    assert not alias.exists() and not main.exists()


def test_a_stale_beads_sock_does_not_block_a_start(beads_repo: Path) -> None:
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=beads_repo)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(ws.beads_dir / "beads.sock"))
    stale.close()  # a socket file nobody listens on: what a killed daemon leaves
    d.start(ws, {"flush_interval": 0.1})
    try:
        assert os.stat(ws.beads_dir / "beads.sock").st_ino == os.stat(ws.beads_dir / "bd.sock").st_ino
    finally:
        d.stop(ws, wait=10)
