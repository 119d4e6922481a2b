"""The safe-filesystem layer on real files: links, FIFOs, other users' files, umask, full disks."""
from __future__ import annotations

import errno
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from bdgit.workspace import safefs
from bdgit.workspace.files import atomic_write
from bdgit.errors import LockTimeoutError, UnsafePathError

from testing.hostile import as_user, fill, other_user, shared_dir, small_tmpfs, temp_files


@pytest.fixture
def beads(tmp_path: Path) -> Path:
    d = tmp_path / "repo" / ".beads"
    d.parent.mkdir()
    safefs.ensure_dir(d)
    return d


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the workspace that an attacker would like bd to overwrite."""
    f = tmp_path / "precious.txt"
    f.write_text("do not touch\n")
    return f


def test_symlink_is_refused_for_read_write_and_lock(beads: Path, outside: Path) -> None:
    for name in ("bd.state", "bd.lock", "daemon.log", "issues.jsonl"):
        (beads / name).symlink_to(outside)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        safefs.open_file(beads / "bd.state", os.O_RDWR | os.O_CREAT)
    with pytest.raises(UnsafePathError, match="symbolic link") as e:
        safefs.read_bytes(beads / "issues.jsonl")
    assert e.value.path == str(beads / "issues.jsonl") and str(outside) in e.value.message
    with pytest.raises(UnsafePathError, match="symbolic link"):
        safefs.FileLock(beads / "bd.lock", timeout=1).acquire()
    with pytest.raises(UnsafePathError, match="symbolic link"):
        atomic_write(beads / "issues.jsonl", "x\n", mode=0o600, exact_mode=True, check_target=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        safefs.lstat_file(beads / "daemon.log")
    assert outside.read_text() == "do not touch\n"
    assert (beads / "issues.jsonl").is_symlink()


def test_dangling_symlink_is_not_created_through(beads: Path, tmp_path: Path) -> None:
    target = tmp_path / "created-elsewhere"
    (beads / "bd.state").symlink_to(target)
    with pytest.raises(UnsafePathError):
        safefs.open_file(beads / "bd.state", os.O_RDWR | os.O_CREAT)
    assert not target.exists()


def test_fifo_never_blocks(beads: Path) -> None:
    os.mkfifo(beads / "bd.lock")
    os.mkfifo(beads / "bd.state")
    t0 = time.monotonic()
    with pytest.raises(UnsafePathError, match="FIFO"):
        safefs.FileLock(beads / "bd.lock", timeout=1).acquire()
    with pytest.raises(UnsafePathError, match="FIFO"):
        safefs.read_bytes(beads / "bd.state")
    with pytest.raises(UnsafePathError, match="FIFO"):
        safefs.open_file(beads / "bd.state", os.O_WRONLY | os.O_CREAT)
    assert time.monotonic() - t0 < 1


def test_hard_link_is_refused(beads: Path, outside: Path) -> None:
    os.link(outside, beads / "bd.state")
    with pytest.raises(UnsafePathError, match="2 hard links"):
        safefs.open_file(beads / "bd.state", os.O_RDWR)
    assert outside.read_text() == "do not touch\n"


def test_directory_in_place_of_a_file(beads: Path) -> None:
    (beads / "bd.lock").mkdir()
    with pytest.raises(UnsafePathError, match="directory"):
        safefs.FileLock(beads / "bd.lock").acquire(timeout=0)


def test_another_users_file_is_refused(beads: Path) -> None:
    uid, gid = other_user()
    f = beads / "daemon.json"
    f.write_text("{}")
    os.chown(f, uid, gid)
    with pytest.raises(UnsafePathError, match=f"uid {uid}"):
        safefs.read_bytes(f)


def test_modes_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        d = tmp_path / ".beads"
        assert safefs.ensure_dir(d)
        fd = safefs.open_file(d / "bd.lock", os.O_RDWR | os.O_CREAT)
        os.close(fd)
        atomic_write(d / "daemon.json", "{}\n", mode=0o600, exact_mode=True, check_target=True)
        atomic_write(d / "issues.jsonl", "", mode=safefs.shared_mode(tmp_path), exact_mode=True, check_target=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d / "bd.lock").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "daemon.json").st_mode) == 0o600
    root_mode = stat.S_IMODE(os.stat(tmp_path).st_mode)
    assert stat.S_IMODE(os.stat(d / "issues.jsonl").st_mode) == 0o600 | (root_mode & 0o044)


def test_shared_mode_never_gives_write_to_others(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    for mode, want in ((0o777, 0o644), (0o755, 0o644), (0o750, 0o640), (0o700, 0o600)):
        os.chmod(root, mode)
        assert safefs.shared_mode(root) == want


def test_open_for_writing_tightens_an_existing_file(beads: Path) -> None:
    f = beads / "bd.state"
    f.write_bytes(b"x")
    os.chmod(f, 0o666)
    os.close(safefs.open_file(f, os.O_RDWR))
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600


def test_check_dir(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        safefs.check_dir(link)
    os.chmod(real, 0o777)
    with pytest.raises(UnsafePathError, match="writable by every user") as e:
        safefs.check_dir(real)
    assert "chmod 700" in (e.value.hint or "")
    os.chmod(real, 0o755)
    safefs.check_dir(real)
    with pytest.raises(UnsafePathError, match="open to other users"):
        safefs.check_dir(real, private=True)
    assert safefs.make_private(real) and not safefs.make_private(real)
    safefs.check_dir(real, private=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(UnsafePathError, match="not a directory"):
        safefs.check_dir(tmp_path / "file")
    with pytest.raises(FileNotFoundError):
        safefs.check_dir(tmp_path / "missing")


def test_another_users_directory_is_refused() -> None:
    uid, gid = other_user()
    with shared_dir(0o1777) as top:
        theirs = top / "bd-x"

        def make() -> None:
            os.mkdir(theirs, 0o777)
            os.chmod(theirs, 0o777)
        assert as_user(uid, gid, make) == 0
        with pytest.raises(UnsafePathError, match="belongs to"):
            safefs.ensure_dir(theirs, private=True)
        with pytest.raises(UnsafePathError, match="belongs to"):
            safefs.make_private(theirs)


def test_atomic_write_replaces_and_leaves_no_temp(beads: Path) -> None:
    target = beads / "issues.jsonl"
    atomic_write(target, "one\n", mode=0o600, exact_mode=True, check_target=True)
    atomic_write(target, b"two\n", mode=0o600, exact_mode=True, check_target=True)
    assert target.read_text() == "two\n"
    assert temp_files(beads) == []


def test_atomic_write_skips_planted_temp_names(beads: Path, outside: Path) -> None:
    # an attacker plants links under the next temp names: bd must not write through them
    pid = os.getpid()
    for n in range(safefs._tmp_seq + 1, safefs._tmp_seq + 6):
        (beads / f".issues.jsonl.tmp.{pid}.{n}").symlink_to(outside)
    atomic_write(beads / "issues.jsonl", "mine\n", mode=0o600, exact_mode=True, check_target=True)
    assert outside.read_text() == "do not touch\n"
    assert (beads / "issues.jsonl").read_text() == "mine\n"


def test_atomic_write_on_a_full_disk_removes_its_temp() -> None:
    with small_tmpfs("256k") as mnt:
        d = mnt / ".beads"
        safefs.ensure_dir(d)
        target = d / "issues.jsonl"
        atomic_write(target, "old\n", mode=0o600, exact_mode=True, check_target=True)
        fill(mnt)
        with pytest.raises(OSError) as e:
            atomic_write(target, "x" * 200_000, mode=0o600, exact_mode=True, check_target=True)
        assert e.value.errno == errno.ENOSPC
        assert temp_files(d) == []
        assert target.read_text() == "old\n"


def test_clean_stale_temps(beads: Path, outside: Path) -> None:
    dead = multiprocessing.get_context("fork").Process(target=lambda: None)
    dead.start()
    dead.join()
    assert dead.pid is not None
    (beads / f".issues.jsonl.tmp.{dead.pid}").write_text("partial")
    (beads / f".daemon.json.tmp.{dead.pid}.3").write_text("partial")
    (beads / f".bd.state.tmp.{dead.pid}.1").symlink_to(outside)
    live = beads / f".issues.jsonl.tmp.{os.getppid()}.1"
    live.write_text("being written")
    (beads / "notes.tmp.txt").write_text("not ours")
    removed = safefs.clean_stale_temps(beads)
    assert sorted(removed) == sorted([f".issues.jsonl.tmp.{dead.pid}", f".daemon.json.tmp.{dead.pid}.3",
                                      f".bd.state.tmp.{dead.pid}.1"])
    assert live.exists() and (beads / "notes.tmp.txt").exists()
    assert outside.read_text() == "do not touch\n"


def _hold(path: str, ready: object, release: object) -> None:
    lock = safefs.FileLock(path)
    with lock:
        ready.set()  # type: ignore[attr-defined]
        release.wait(10)  # type: ignore[attr-defined]


def test_file_lock_excludes_other_processes_and_is_reentrant(beads: Path) -> None:
    path = str(beads / "bd.lock")
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold, args=(path, ready, release))
    p.start()
    try:
        assert ready.wait(10)
        t0 = time.monotonic()
        with pytest.raises(LockTimeoutError, match="bd.lock"):
            safefs.FileLock(path).acquire(timeout=0.2)
        assert time.monotonic() - t0 >= 0.2
    finally:
        release.set()
        p.join(10)
    lock = safefs.FileLock(path, timeout=5)
    with lock.acquire():
        with lock:
            assert lock.is_locked
        assert lock.is_locked
    assert not lock.is_locked
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
