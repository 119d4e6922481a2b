"""The shared-memory state ``.beads/bd.state``: seqlock reads, writers in several processes,
and the generations kept current by direct mode and by the daemon."""
from __future__ import annotations

import multiprocessing
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from testing import REPO_ROOT, run_bd, wait_for

from bdgit.workspace import statefile
from bdgit.workspace import find


def test_missing_short_or_foreign_file_reads_as_none(tmp_path: Path):
    p = tmp_path / "bd.state"
    assert statefile.read(p) is None
    p.write_bytes(b"BDST")
    assert statefile.read(p) is None
    p.write_bytes(b"JUNK" + bytes(60))
    assert statefile.read(p) is None
    assert statefile.read_raw(p) is None


def test_writer_creates_and_updates_in_place(tmp_path: Path):
    p = tmp_path / "bd.state"
    w = statefile.Writer(p)
    try:
        assert p.stat().st_size == statefile.SIZE
        assert statefile.read(p) == statefile.State()
        w.update(pid=1234, protocol=1, flags=statefile.FLAG_AUTO_COMMIT, started=1.5)
        w.bump_write()
        w.bump_write()
        st = statefile.read(p)
        assert (st.pid, st.protocol, st.flags, st.write_gen, st.export_gen, st.started) == \
            (1234, 1, statefile.FLAG_AUTO_COMMIT, 2, 0, 1.5)
        assert st.dirty
        w.mark_exported()
        assert not statefile.read(p).dirty
        w.bump_write()
        w.mark_exported(2)  # a flush that covered writes up to generation 2 only
        st = statefile.read(p)
        assert (st.write_gen, st.export_gen, st.dirty) == (3, 2, True)
        with pytest.raises(AttributeError):
            w.update(nonsense=1)
    finally:
        w.close()


def test_sequence_is_even_at_rest_and_advances_by_two_per_update(tmp_path: Path):
    p = tmp_path / "bd.state"
    w = statefile.Writer(p)
    try:
        seq0 = struct.unpack_from("<I", p.read_bytes(), 8)[0]
        w.bump_write()
        seq1 = struct.unpack_from("<I", p.read_bytes(), 8)[0]
        assert seq0 % 2 == 0 and seq1 == seq0 + 2
    finally:
        w.close()


def test_an_update_that_changes_nothing_leaves_the_bytes_alone(tmp_path: Path):
    """The hooks' shell fast path compares the file with a copy: no-op updates must not
    change it."""
    p = tmp_path / "bd.state"
    w = statefile.Writer(p)
    try:
        w.update(write_gen=5, export_gen=5)
        before = p.read_bytes()
        w.mark_exported()
        w.update(pid=0)
        w.note(wrote=False, dirty=False)
        assert p.read_bytes() == before
        w.note(wrote=True, dirty=False)
        assert p.read_bytes() != before
        st = statefile.read(p)
        assert (st.write_gen, st.export_gen) == (6, 6)
        w.note(wrote=False, dirty=True)  # an import left the database dirty
        st = statefile.read(p)
        assert st.dirty and st.write_gen == 7
        w.note(wrote=False, dirty=True)  # already dirty: unchanged
        assert statefile.read(p) == st
    finally:
        w.close()


def test_reader_never_sees_an_odd_sequence(tmp_path: Path):
    p = tmp_path / "bd.state"
    w = statefile.Writer(p)
    w.update(write_gen=0, export_gen=0)
    # a writer frozen mid-update: odd sequence, fields half written
    mm_seq = struct.unpack_from("<I", p.read_bytes(), 8)[0]
    with open(p, "r+b") as f:
        f.seek(8)
        f.write(struct.pack("<I", mm_seq + 1))
    assert statefile.read(p) is None  # gives up rather than return a torn copy
    with open(p, "r+b") as f:
        f.seek(8)
        f.write(struct.pack("<I", mm_seq + 2))
    assert statefile.read(p) is not None
    w.close()


def _hammer(path: str, n: int) -> None:
    w = statefile.Writer(path)
    for _ in range(n):
        w.bump_write()
    w.close()


def test_writers_in_several_processes_lose_no_bump(tmp_path: Path):
    p = tmp_path / "bd.state"
    statefile.Writer(p).close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(str(p), 500)) for _ in range(4)]
    for pr in procs:
        pr.start()
    seen_torn = False
    while any(pr.is_alive() for pr in procs):
        st = statefile.read(p)
        if st is not None and (st.pid or st.export_gen or st.write_gen > 2000):
            seen_torn = True
    for pr in procs:
        pr.join()
    assert not seen_torn
    assert statefile.read(p).write_gen == 2000


def test_state_is_a_light_import():
    """The hooks' Python path starts with the state file: no dataclasses, sqlite, typer or pygit2."""
    code = ("import sys; import bdgit.workspace.statefile; "
            "bad = [m for m in ('dataclasses', 'sqlite3', 'typer', 'click', 'pygit2', 'filelock') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO_ROOT).stdout.strip()
    assert out == ""


def test_state_equality_and_repr():
    a = statefile.State(pid=1, write_gen=2)
    assert a == statefile.State(1, 0, 0, 2)
    assert a != statefile.State(pid=1)
    assert "write_gen=2" in repr(a)
    assert not statefile.State(write_gen=3, export_gen=3).dirty


# --- direct mode -----------------------------------------------------------------------------

def test_direct_mode_write_bumps_and_marks_exported(beads_repo: Path):
    ws = find(cwd=beads_repo)
    run_bd("--no-daemon", "create", "one", check=True)
    st = statefile.read(ws.state_path)
    assert st is not None and st.write_gen == 1 and st.export_gen == 1 and st.pid == 0
    run_bd("--no-daemon", "create", "two", check=True)
    st = statefile.read(ws.state_path)
    assert (st.write_gen, st.export_gen) == (2, 2)


def test_direct_mode_read_changes_nothing(beads_repo: Path):
    ws = find(cwd=beads_repo)
    run_bd("--no-daemon", "create", "one", check=True)
    before = ws.state_path.read_bytes()
    run_bd("--no-daemon", "list", check=True)
    run_bd("--no-daemon", "show", "test-1", check=True)
    assert ws.state_path.read_bytes() == before


def test_direct_mode_without_auto_flush_leaves_it_dirty_until_a_flush(beads_repo: Path):
    ws = find(cwd=beads_repo)
    run_bd("--no-daemon", "--no-auto-flush", "create", "pending", check=True)
    st = statefile.read(ws.state_path)
    assert st.dirty
    assert "pending" not in ws.jsonl_path.read_text()
    run_bd("--no-daemon", "create", "flushes both", check=True)
    st = statefile.read(ws.state_path)
    assert not st.dirty
    assert "pending" in ws.jsonl_path.read_text()


def test_direct_mode_auto_import_that_leaves_dirt_bumps(beads_repo: Path):
    """A JSONL changed under us with an older copy of a newer local issue: the import keeps
    ours (dirty again), so the state must say dirty for a read-only command too."""
    ws = find(cwd=beads_repo)
    run_bd("--no-daemon", "create", "one", check=True)
    old = ws.jsonl_path.read_text()
    run_bd("--no-daemon", "--no-auto-flush", "update", "test-1", "--title", "newer", check=True)
    ws.jsonl_path.write_text(old + "\n")  # same lines, different bytes: a "changed" file
    run_bd("--no-daemon", "--no-auto-flush", "list", check=True)
    assert statefile.read(ws.state_path).dirty


# --- the daemon ----------------------------------------------------------------------------------

def test_daemon_sets_pid_and_generations(daemon):
    ws = daemon["ws"]
    st = statefile.read(ws.state_path)
    assert st.pid == daemon["pid"] and st.daemon_alive() and st.started > 0
    w0 = st.write_gen
    run_bd("create", "through the daemon", check=True)
    st = statefile.read(ws.state_path)
    assert st.write_gen == w0 + 1
    st = wait_for(lambda: (lambda s: s if not s.dirty else None)(statefile.read(ws.state_path)), timeout=10)
    assert st is not None and st.export_gen == st.write_gen
    assert "through the daemon" in ws.jsonl_path.read_text()


def test_daemon_clears_pid_when_it_stops(beads_repo: Path):
    from bdgit.daemon import lifecycle as d
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"flush_interval": 0.1, "idle_timeout": 300})
    try:
        assert statefile.read(ws.state_path).pid == st["pid"]
    finally:
        d.stop(ws)
    s = statefile.read(ws.state_path)
    assert s.pid == 0 and not s.daemon_alive()


def test_direct_mode_next_to_a_daemon_keeps_the_count(daemon):
    ws = daemon["ws"]
    run_bd("create", "daemon", check=True)
    run_bd("--no-daemon", "create", "direct", check=True)
    run_bd("create", "daemon again", check=True)
    st = wait_for(lambda: (lambda s: s if not s.dirty else None)(statefile.read(ws.state_path)), timeout=10)
    assert st is not None and st.write_gen >= 3


def test_dead_pid_is_not_alive():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not statefile.State(pid=p.pid).daemon_alive()
    assert statefile.State(pid=os.getpid()).daemon_alive()
    assert not statefile.State().daemon_alive()
