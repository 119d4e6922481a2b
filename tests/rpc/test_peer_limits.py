"""Socket trust (pointer, private directory, SO_PEERCRED) with a real second user; request
deadlines, hang-up detection and idle eviction on real sockets."""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from bdgit.errors import UnsafePathError
from bdgit.rpc import limits, peer

from testing.hostile import as_user, other_user, shared_dir, start_as_user


def _short(top: Path) -> Path:
    return top / peer.short_dir_name() / "0123456789abcdef" / "bd.sock"


def test_pointer_into_our_private_directory_is_followed(tmp_path: Path) -> None:
    beads = tmp_path / ".beads"
    beads.mkdir()
    assert peer.find_socket(beads) == beads / "bd.sock"
    sock = _short(tmp_path)
    peer.prepare_short_dir(sock)
    assert oct(os.stat(sock.parent.parent).st_mode & 0o777) == oct(0o700)
    (beads / peer.POINTER_NAME).write_text(f"{sock}\n")
    assert peer.find_socket(beads) == sock


@pytest.mark.parametrize("target", ["/tmp/elsewhere/bd.sock", "relative/bd.sock", "/tmp/bd-{uid}/x/other.sock",
                                    "/tmp/bd-{uid}/../bd-{uid}/x/bd.sock"])
def test_pointer_outside_our_directory_is_refused(tmp_path: Path, target: str) -> None:
    beads = tmp_path / ".beads"
    beads.mkdir()
    (beads / peer.POINTER_NAME).write_text(target.format(uid=os.geteuid()))
    with pytest.raises(UnsafePathError, match="bd.sock.path"):
        peer.find_socket(beads)


def test_pointer_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    beads = tmp_path / ".beads"
    beads.mkdir()
    sock = _short(tmp_path)
    peer.prepare_short_dir(sock)
    real = tmp_path / "ptr"
    real.write_text(str(sock))
    (beads / peer.POINTER_NAME).symlink_to(real)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        peer.find_socket(beads)


def test_pointer_into_an_open_directory_is_refused(tmp_path: Path) -> None:
    beads = tmp_path / ".beads"
    beads.mkdir()
    sock = _short(tmp_path)
    sock.parent.mkdir(parents=True)
    os.chmod(sock.parent.parent, 0o755)
    (beads / peer.POINTER_NAME).write_text(str(sock))
    with pytest.raises(UnsafePathError, match="open to other users"):
        peer.find_socket(beads)


def _listen_forever(path: str, log: str) -> None:
    """The other user: a listener that records whatever a victim sends it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o777)
    s.listen(8)
    with open(log, "ab", buffering=0) as out:
        while True:
            c, _ = s.accept()
            c.settimeout(2)
            try:
                data = c.recv(65536)
                out.write(data)
                c.sendall(b'{"success":true,"data":{"id":"forged"}}\n')
            except OSError:
                pass
            c.close()


def test_another_users_socket_directory_and_listener() -> None:
    """The other user makes /tmp/bd-<our uid> (0777) and listens in it: the daemon side refuses
    the directory, the pointer is refused, and a direct dial is caught by SO_PEERCRED before
    anything is sent."""
    uid, gid = other_user()
    with shared_dir(0o1777) as top:
        sock = _short(top)
        log = top / "received"

        def plant() -> None:
            sock.parent.mkdir(parents=True)
            os.chmod(sock.parent.parent, 0o777)
            os.chmod(sock.parent, 0o777)
            log.write_bytes(b"")
            os.chmod(log, 0o666)
        assert as_user(uid, gid, plant) == 0
        pid = start_as_user(uid, gid, _listen_forever, str(sock), str(log))
        try:
            deadline = time.monotonic() + 10
            while not sock.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            with pytest.raises(UnsafePathError, match="belongs to"):
                peer.prepare_short_dir(sock)
            beads = top / "victim" / ".beads"
            beads.mkdir(parents=True)
            (beads / peer.POINTER_NAME).write_text(str(sock))
            with pytest.raises(UnsafePathError, match="belongs to"):
                peer.find_socket(beads)
            with pytest.raises(UnsafePathError, match="belongs to"):
                peer.check_socket(sock)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(str(sock))
            with pytest.raises(UnsafePathError, match=f"uid {uid}"):
                peer.check_peer(c, sock)
            c.close()
            time.sleep(0.2)
            assert log.read_bytes() == b""
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def test_our_own_peer_passes(tmp_path: Path) -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    assert peer.peer_uid(a) == os.geteuid()
    peer.check_peer(a, "pair")
    a.close()
    b.close()


def test_check_socket(tmp_path: Path) -> None:
    path = tmp_path / "bd.sock"
    with pytest.raises(FileNotFoundError):
        peer.check_socket(path)
    path.write_text("")
    with pytest.raises(UnsafePathError, match="not a socket"):
        peer.check_socket(path)
    path.unlink()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(tmp_path / "real.sock"))
    path.symlink_to(tmp_path / "real.sock")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        peer.check_socket(path)
    peer.check_socket(tmp_path / "real.sock")
    s.close()


# --- deadlines -------------------------------------------------------------------------------

def test_absolute_deadline_wins_over_the_relative_timeout() -> None:
    now_wall = time.time()
    # a request written 10 s ago with a 3 s timeout, read only now: already expired
    d = limits.request_deadline({"timeout_ms": 3000, "deadline": now_wall - 7}, received=100.0, wall=now_wall)
    assert isinstance(d, float) and d == pytest.approx(93.0)
    assert limits.request_deadline({"timeout_ms": 3000}, received=100.0) == pytest.approx(103.0)
    assert limits.request_deadline({}, received=100.0) == pytest.approx(100.0 + limits.DEFAULT_WAIT)
    for bad in ({"timeout_ms": -1}, {"timeout_ms": True}, {"timeout_ms": "3"}, {"deadline": "soon"},
                {"deadline": float("nan")}, {"timeout_ms": float("inf")}):
        assert isinstance(limits.request_deadline(bad, received=0.0), str)


def test_hung_up() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    a.settimeout(600)  # a timeout on the socket must not make the check wait
    assert not limits.hung_up(a)
    b.sendall(b"more requests\n")
    assert not limits.hung_up(a)
    b.close()
    t0 = time.monotonic()
    assert limits.hung_up(a)
    assert time.monotonic() - t0 < 0.5
    a.close()


def test_conn_table_evicts_the_longest_idle() -> None:
    table = limits.ConnTable(3, b'{"kind":"evicted"}\n')
    pairs = [socket.socketpair(socket.AF_UNIX) for _ in range(5)]
    conns = []
    for server_side, _ in pairs[:3]:
        c = table.admit(server_side)
        assert c is not None
        conns.append(c)
        time.sleep(0.01)
    assert conns[0].begin()  # the oldest is busy: the next oldest goes
    c4 = table.admit(pairs[3][0])
    assert c4 is not None and len(table) == 3 and table.evictions == 1
    assert conns[1].evicted and not conns[1].begin()
    client = pairs[1][1]
    client.settimeout(2)
    assert client.recv(100) == b'{"kind":"evicted"}\n'
    assert client.recv(100) == b""  # then closed
    for c in (conns[2], c4):
        assert c.begin()
    assert table.admit(pairs[4][0]) is None  # everyone busy: refuse
    conns[0].end()
    assert table.admit(pairs[4][0]) is not None
    for a, b in pairs:
        a.close()
        b.close()
