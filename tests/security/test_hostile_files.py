"""A clone or another local user cannot make bd write, read or talk outside the repository.

Real repositories, real bd processes, a real daemon and a real second local user (created with
useradd when the tests run as root; skipped with the reason otherwise).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import stat
import time
from pathlib import Path

import pytest

from testing.hostile import as_user, bd, clean_exit, ok, other_user, refused, shared_dir, start_as_user


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the workspace that a hostile clone would like bd to write."""
    f = tmp_path / "victim.txt"
    f.write_text("precious\n")
    return f


def _stop(repo: Path) -> None:
    bd("daemon", "stop", cwd=repo)


# --- 1. symbolic links, hard links and FIFOs in .beads/ -------------------------------------------

@pytest.mark.parametrize("name", ["bd.state", "bd.lock", "daemon.log", "daemon.lock", "daemon.json",
                                  "bd.hookstate"])
def test_symlinked_runtime_file_is_never_followed(beads_repo: Path, victim: Path, name: str) -> None:
    link = beads_repo / ".beads" / name
    if os.path.lexists(link):
        link.unlink()
    link.symlink_to(victim)
    try:
        runs = [bd("create", "Hello", cwd=beads_repo), bd("daemon", "start", cwd=beads_repo),
                bd("create", "Again", cwd=beads_repo), bd("list", cwd=beads_repo),
                bd("daemon", "status", cwd=beads_repo)]
    finally:
        _stop(beads_repo)
    assert victim.read_text() == "precious\n"
    for p in runs:
        clean_exit(p)
        if p.returncode != 0:
            assert name in p.stderr, p.stderr
    if name == "bd.lock":  # direct-mode writes need the lock: refused, naming it
        refused(runs[0], "bd.lock", "symbolic link")
    elif name in ("daemon.log", "daemon.lock", "bd.state"):  # the daemon needs it: it does not start
        refused(runs[1], name)
        ok(runs[0])


def test_symlinked_beads_directory_is_refused(beads_repo: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    (beads_repo / ".beads").rename(real)
    (beads_repo / ".beads").symlink_to(real)
    refused(bd("list", cwd=beads_repo), ".beads", "symbolic link")
    refused(bd("create", "X", cwd=beads_repo), "symbolic link")
    # naming the real directory explicitly is the way out
    ok(bd("create", "X", cwd=beads_repo, env={"BEADS_DIR": str(real)}))


def test_hard_link_in_place_of_the_state_or_lock(beads_repo: Path, victim: Path) -> None:
    beads = beads_repo / ".beads"
    for name in ("bd.state", "bd.lock"):
        if os.path.lexists(beads / name):
            (beads / name).unlink()
    os.link(victim, beads / "bd.lock")
    refused(bd("create", "X", cwd=beads_repo), "bd.lock", "hard link")
    (beads / "bd.lock").unlink()
    os.link(victim, beads / "bd.state")
    p = ok(bd("create", "X", cwd=beads_repo))
    assert "bd.state" in p.stderr
    assert victim.read_text() == "precious\n"


def test_fifo_in_place_of_the_lock_file(beads_repo: Path) -> None:
    lock = beads_repo / ".beads" / "bd.lock"
    if os.path.lexists(lock):
        lock.unlink()
    os.mkfifo(lock)
    t0 = time.monotonic()
    refused(bd("create", "X", cwd=beads_repo, timeout=20), "bd.lock", "FIFO")
    assert time.monotonic() - t0 < 15


def test_symlinked_database_and_wal_are_refused(beads_repo: Path, tmp_path: Path, victim: Path) -> None:
    beads = beads_repo / ".beads"
    wal = beads / "test.db-wal"
    if os.path.lexists(wal):
        wal.unlink()
    wal.symlink_to(victim)
    refused(bd("create", "X", cwd=beads_repo), "test.db-wal", "symbolic link")
    assert victim.read_text() == "precious\n"
    wal.unlink()
    db = beads / "test.db"
    db.rename(tmp_path / "real.db")
    db.symlink_to(tmp_path / "real.db")
    refused(bd("list", cwd=beads_repo), "test.db", "symbolic link")


def test_planted_temp_names_are_not_written_through(beads_repo: Path, victim: Path) -> None:
    beads = beads_repo / ".beads"
    here = os.getpid()
    for pid in range(here, here + 3000):  # the pids the next bd processes will likely get
        for name in (f".issues.jsonl.tmp.{pid}", f".issues.jsonl.tmp.{pid}.1", f".daemon.json.tmp.{pid}.1"):
            try:
                (beads / name).symlink_to(victim)
            except FileExistsError:
                pass
    ok(bd("create", "X", cwd=beads_repo))
    assert victim.read_text() == "precious\n"
    assert "X" in (beads / "issues.jsonl").read_text()


# --- 2. a symlinked JSONL from a clone ----------------------------------------------------------------

def test_symlinked_jsonl_is_not_imported(git_repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-project.jsonl"
    other.write_text(json.dumps({"id": "sec-1", "title": "private: the other project's secret",
                                 "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}) + "\n")
    (git_repo / ".beads").mkdir()
    (git_repo / ".beads" / "issues.jsonl").symlink_to(other)
    p = refused(bd("init", "--prefix", "test", "--quiet", cwd=git_repo), "issues.jsonl", "symbolic link")
    assert "secret" not in p.stdout + p.stderr
    assert not list((git_repo / ".beads").glob("*.db"))


def test_jsonl_swapped_for_a_symlink_later_is_refused(beads_repo: Path, tmp_path: Path) -> None:
    ok(bd("create", "Mine", cwd=beads_repo))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "test-9", "title": "secret", "created_at": "2025-01-01T00:00:00Z"}) + "\n")
    jl = beads_repo / ".beads" / "issues.jsonl"
    jl.unlink()
    jl.symlink_to(other)
    p = refused(bd("list", cwd=beads_repo), "issues.jsonl", "symbolic link")
    assert "secret" not in p.stdout


# --- 3. another user's socket -------------------------------------------------------------------------

def _listener(path: str, log: str) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o777)
    s.listen(16)
    with open(log, "ab", buffering=0) as out:
        while True:
            c, _ = s.accept()
            c.settimeout(2)
            try:
                out.write(c.recv(65536))
                c.sendall(b'{"success":true,"data":{"id":"forged-1","title":"forged"}}\n')
            except OSError:
                pass
            c.close()


def _wait_for(path: Path) -> None:
    end = time.monotonic() + 10
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.01)


def _digest(beads: Path) -> str:
    return hashlib.sha256(os.fsencode(str(beads.resolve()))).hexdigest()[:16]


def test_pointer_to_another_users_socket_is_not_followed(beads_repo: Path) -> None:
    uid, gid = other_user()
    with shared_dir(0o1777) as top:
        sock = top / f"bd-{os.geteuid()}" / "d" / "bd.sock"
        log = top / "received"

        def plant() -> None:
            sock.parent.mkdir(parents=True)
            os.chmod(sock.parent.parent, 0o777)
            log.write_bytes(b"")
        assert as_user(uid, gid, plant) == 0
        pid = start_as_user(uid, gid, _listener, str(sock), str(log))
        try:
            _wait_for(sock)
            (beads_repo / ".beads" / "bd.sock.path").write_text(f"{sock}\n")  # committed by a clone
            p = ok(bd("create", "my secret plan", "--description", "password=hunter2", "--json", cwd=beads_repo))
            assert json.loads(p.stdout)["id"] == "test-1"
            assert "bd.sock.path" in p.stderr  # said why it did not use the daemon
            shown = ok(bd("show", "test-1", "--json", cwd=beads_repo))
            assert "my secret plan" in shown.stdout and "forged" not in shown.stdout
            # a link named bd.sock to their socket is not dialed either
            (beads_repo / ".beads" / "bd.sock.path").unlink()
            (beads_repo / ".beads" / "bd.sock").symlink_to(sock)
            ok(bd("create", "second secret", cwd=beads_repo))
            time.sleep(0.2)
            assert log.read_bytes() == b""
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def test_short_socket_directory_made_by_another_user(tmp_path: Path) -> None:
    """Another user creates /tmp/bd-<our uid> (0777) first and listens where our daemon would:
    the daemon refuses to start there, and bd keeps working without it."""
    uid, gid = other_user()
    with shared_dir(0o1777) as top:
        deep = tmp_path / ("long-" * 12) / "project"
        deep.mkdir(parents=True)
        ok(bd("init", "--prefix", "test", "--quiet", cwd=deep))
        env = {"TMPDIR": str(top)}
        sock = top / f"bd-{os.geteuid()}" / _digest(deep / ".beads") / "bd.sock"
        log = top / "received"

        def plant() -> None:
            sock.parent.mkdir(parents=True)
            os.chmod(sock.parent.parent, 0o777)
            os.chmod(sock.parent, 0o777)
            log.write_bytes(b"")
        assert as_user(uid, gid, plant) == 0
        pid = start_as_user(uid, gid, _listener, str(sock), str(log))
        try:
            _wait_for(sock)
            refused(bd("daemon", "start", cwd=deep, env=env), f"bd-{os.geteuid()}")
            ok(bd("create", "secret", cwd=deep, env=env))
            time.sleep(0.2)
            assert log.read_bytes() == b""
        finally:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            bd("daemon", "stop", cwd=deep, env=env)


# --- 4. permissions whatever the umask --------------------------------------------------------------

def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_umask_000_leaves_nothing_open_to_other_users() -> None:
    uid, gid = other_user()
    with shared_dir(0o755) as top:
        repo = top / "repo"
        repo.mkdir()
        os.chmod(repo, 0o777)  # what a umask of 000 gives
        ok(bd("init", "--prefix", "test", "--quiet", cwd=repo, umask=0))
        ok(bd("create", "Private issue", cwd=repo, umask=0))
        ok(bd("daemon", "start", cwd=repo, umask=0))
        try:
            ok(bd("create", "Through the daemon", cwd=repo, umask=0))
            beads = repo / ".beads"
            assert _mode(beads) == 0o700
            for name in ("bd.lock", "bd.state", "daemon.lock", "daemon.json", "daemon.log", "bd.sock"):
                assert _mode(beads / name) == 0o600, name
            for name in ("issues.jsonl", "test.db"):
                assert _mode(beads / name) & 0o022 == 0, name

            def attack() -> None:
                for act in (lambda: os.listdir(beads), lambda: open(beads / "issues.jsonl").read(),
                            lambda: os.symlink("/etc/shadow", beads / "planted"),
                            lambda: os.rename(beads / "bd.state", beads / "x")):
                    try:
                        act()
                    except PermissionError:
                        continue
                    raise AssertionError("the other user got into .beads/")
            assert as_user(uid, gid, attack) == 0
        finally:
            _stop(repo)


def test_world_writable_beads_is_reported_and_fixed(beads_repo: Path) -> None:
    beads = beads_repo / ".beads"
    os.chmod(beads, 0o777)
    refused(bd("list", cwd=beads_repo), ".beads", "writable by every user")
    p = bd("doctor", cwd=beads_repo)
    assert p.returncode != 0 and "writable by every user" in p.stdout + p.stderr
    clean_exit(bd("doctor", "--fix", cwd=beads_repo))
    assert _mode(beads) == 0o700
    ok(bd("list", cwd=beads_repo))


def test_init_makes_a_cloned_beads_private(git_repo: Path) -> None:
    (git_repo / ".beads").mkdir(mode=0o755)
    ok(bd("init", "--prefix", "test", "--quiet", cwd=git_repo))
    assert _mode(git_repo / ".beads") == 0o700


# --- doctor, and what is left behind ----------------------------------------------------------------

def test_doctor_flags_links_special_files_and_tracked_runtime_files(beads_repo: Path, victim: Path) -> None:
    import subprocess
    beads = beads_repo / ".beads"
    ok(bd("create", "X", cwd=beads_repo))  # bd.state exists from now on
    (beads / "extra.txt").symlink_to(victim)
    os.mkfifo(beads / "bd.hookstate")
    subprocess.run(["git", "add", "-f", ".beads/bd.state", ".beads/.gitignore", ".beads/issues.jsonl"],
                   cwd=beads_repo, check=True, capture_output=True)
    p = clean_exit(bd("doctor", "--json", cwd=beads_repo))
    assert p.returncode != 0
    files = next(c for c in json.loads(p.stdout)["checks"] if c["name"] == "files")
    assert files["status"] == "error"
    unsafe = {Path(x["path"]).name: x["problem"] for x in files["details"]["unsafe"]}
    assert "symbolic link" in unsafe["extra.txt"] and "FIFO" in unsafe["bd.hookstate"]
    assert files["details"]["tracked"] == [".beads/bd.state"]
    (beads / "extra.txt").unlink()
    (beads / "bd.hookstate").unlink()
    p = clean_exit(bd("doctor", "--json", cwd=beads_repo))
    files = next(c for c in json.loads(p.stdout)["checks"] if c["name"] == "files")
    assert files["status"] == "warn" and "bd.state" in files["message"]
    assert victim.read_text() == "precious\n"


def test_stale_temp_files_are_cleaned_at_the_next_write(beads_repo: Path) -> None:
    beads = beads_repo / ".beads"
    gone_pid = 4_000_000  # above any pid_max: never alive
    (beads / f".issues.jsonl.tmp.{gone_pid}").write_bytes(b"x" * 100_000)  # a full disk's leftover
    (beads / f".daemon.json.tmp.{gone_pid}.2").write_text("{")
    ok(bd("create", "X", cwd=beads_repo))
    assert not [n for n in os.listdir(beads) if ".tmp." in n]
