"""Faults and floods: a full disk, a stopped daemon, idle connection floods, Ctrl-C at any moment.

The disk-full tests mount a small tmpfs (root only; skipped with the reason otherwise) and fill
it for real. Processes are real: bd subprocesses and a real daemon.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from testing.hostile import BD, bd, clean_exit, fill, ok, small_tmpfs, temp_files

from bdgit.rpc import peer


def _init(repo: Path) -> None:
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    ok(bd("init", "--prefix", "test", "--quiet", cwd=repo))


def _titles(repo: Path) -> list[str]:
    return [i["title"] for i in json.loads(ok(bd("list", "--json", cwd=repo)).stdout)]


def _jsonl_titles(repo: Path) -> list[str]:
    text = (repo / ".beads" / "issues.jsonl").read_text()
    return [json.loads(ln)["title"] for ln in text.splitlines() if ln.strip()]


def _big_jsonl(repo: Path, n: int = 60) -> None:
    """A JSONL of about 500 KB: rewriting it needs far more room than a SQLite commit."""
    big = [{"id": f"test-{k}", "title": f"Big {k}", "description": "d" * 8000, "created_at": "2025-01-01T00:00:00Z"}
           for k in range(1, n + 1)]
    (repo / "big.jsonl").write_text("".join(json.dumps(b) + "\n" for b in big))
    ok(bd("import", "-i", "big.jsonl", cwd=repo))


def _leave_free(mnt: Path, keep: int) -> Path:
    """Fill the tmpfs, then free ``keep`` bytes: room for a SQLite commit, not for the JSONL."""
    filler = fill(mnt)
    size = filler.stat().st_size
    with open(filler, "r+b") as f:
        f.truncate(max(size - keep, 0))
    return filler


# --- 5. a full disk ---------------------------------------------------------------------------------

def test_disk_full_in_direct_mode_saves_says_so_and_leaves_no_temp() -> None:
    with small_tmpfs("4m") as mnt:
        repo = mnt / "repo"
        _init(repo)
        _big_jsonl(repo)
        filler = _leave_free(mnt, 200 * 1024)  # room for the commit, not for the JSONL
        p = clean_exit(bd("create", "Saved anyway", cwd=repo))
        assert p.returncode == 4, p.stderr  # the documented status: saved, not exported
        assert "saved" in p.stderr.lower() and "issues.jsonl" in p.stderr
        assert "No space left on device" in p.stderr and "do not run the command again" in p.stderr
        assert temp_files(repo / ".beads") == []
        assert "Saved anyway" in _titles(repo) and "Saved anyway" not in _jsonl_titles(repo)
        filler.unlink()
        ok(bd("create", "After", cwd=repo))
        assert {"Saved anyway", "After"} <= set(_jsonl_titles(repo))  # the next write exported both
        assert _titles(repo).count("Saved anyway") == 1


def test_disk_full_for_the_commit_itself_is_a_clean_error() -> None:
    with small_tmpfs("4m") as mnt:
        repo = mnt / "repo"
        _init(repo)
        filler = fill(mnt)
        p = clean_exit(bd("create", "Nowhere", cwd=repo))
        assert p.returncode == 1 and "disk is full" in p.stderr and "nothing was saved" in p.stderr
        assert temp_files(repo / ".beads") == []
        filler.unlink()
        assert "Nowhere" not in _titles(repo)


def test_disk_full_with_a_daemon_keeps_it_dirty_retries_and_stop_reports() -> None:
    with small_tmpfs("4m") as mnt:
        repo = mnt / "repo"
        _init(repo)
        _big_jsonl(repo)
        ok(bd("daemon", "start", "--interval", "0.1", cwd=repo))
        try:
            filler = _leave_free(mnt, 200 * 1024)
            first = clean_exit(bd("create", "Via daemon", cwd=repo))
            assert first.returncode in (0, 4), first.stderr  # committed (the flush comes later)
            time.sleep(1.0)  # a few flush attempts, all failing
            later = clean_exit(bd("create", "Second", cwd=repo))
            assert later.returncode == 4 and "No space left on device" in later.stderr, later.stderr
            assert temp_files(repo / ".beads") == []
            health = json.loads(ok(bd("daemon", "status", "--json", cwd=repo)).stdout)["health"]
            assert health["flush_error"] and health["dirty_issues"] >= 2
            stop = clean_exit(bd("daemon", "stop", cwd=repo))
            assert stop.returncode == 4, stop.stderr
            assert "final flush failed" in stop.stderr and "issues.jsonl" in stop.stderr
            filler.unlink()
            ok(bd("create", "After", cwd=repo))
            assert {"Via daemon", "Second", "After"} <= set(_jsonl_titles(repo))
        finally:
            bd("daemon", "stop", cwd=repo)


def test_daemon_that_cannot_start_says_why_on_stderr() -> None:
    with small_tmpfs("1m") as mnt:
        repo = mnt / "repo"
        _init(repo)
        filler = fill(mnt)
        try:
            p = bd("daemon", "start", cwd=repo, timeout=60)
            clean_exit(p)
            if p.returncode == 0:
                pytest.fail(f"a daemon started on a full disk: {p.stdout}")
            assert "No space left on device" in p.stderr, p.stderr
            assert temp_files(repo / ".beads") == []
        finally:
            filler.unlink()
            bd("daemon", "stop", cwd=repo)


# --- 6. a request the client gave up on never runs ---------------------------------------------------

def test_timed_out_write_never_runs_later(daemon: dict, beads_repo: Path) -> None:
    pid = daemon["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        p = bd("--timeout", "3", "create", "Ghost", cwd=beads_repo, timeout=30)
        took = time.monotonic() - t0
    finally:
        os.kill(pid, signal.SIGCONT)
    clean_exit(p)
    assert p.returncode != 0 and "timed out" in p.stderr.lower()
    assert took < 15
    time.sleep(1.0)
    assert "Ghost" not in _titles(beads_repo)


def test_write_whose_client_hung_up_is_dropped(daemon: dict, beads_repo: Path) -> None:
    pid = daemon["pid"]
    sock_path = peer.find_socket(beads_repo / ".beads")
    os.kill(pid, signal.SIGSTOP)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(sock_path))  # the listen backlog takes it while the daemon is stopped
        s.sendall(json.dumps({"operation": "create", "args": {"title": "Abandoned"},
                              "timeout_ms": 600_000}).encode() + b"\n")
        s.close()
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(1.0)
    assert "Abandoned" not in _titles(beads_repo)


# --- 7. idle connection floods --------------------------------------------------------------------

def test_idle_connection_flood_does_not_lock_the_cli_out(daemon: dict, beads_repo: Path) -> None:
    sock_path = str(peer.find_socket(beads_repo / ".beads"))
    flood = []
    try:
        for _ in range(520):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock_path)
            flood.append(s)
        for _ in range(3):
            ok(bd("list", cwd=beads_repo))
            ok(bd("create", "Despite the flood", cwd=beads_repo))
    finally:
        for s in flood:
            s.close()
    assert _titles(beads_repo).count("Despite the flood") == 3


# --- 11. Ctrl-C ------------------------------------------------------------------------------------

def _interrupt(repo: Path, delay_ms: int, *, held: bool) -> tuple[int, str]:
    def hold() -> None:  # a parent holding SIGINT back across exec: only bd's own handler takes it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    proc = subprocess.Popen([*BD, "list"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=hold if held else None)
    time.sleep(delay_ms / 1000)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


@pytest.mark.parametrize("delay_ms", [0, 5, 10, 20, 30, 45, 60, 80, 120])
def test_ctrl_c_at_any_moment_prints_one_line(beads_repo: Path, delay_ms: int) -> None:
    code, err = _interrupt(beads_repo, delay_ms, held=True)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert len(err.strip().splitlines()) <= 1, err
    if code == -signal.SIGINT:  # after bd finished, while the interpreter shut down: no word
        assert err.strip() in ("", "Interrupted"), err
    elif code != 0:
        assert code == 130 and err.strip() == "Interrupted", (code, err)


@pytest.mark.parametrize("delay_ms", [0, 10, 20, 40, 60, 90])
def test_ctrl_c_never_shows_a_traceback_from_bd(beads_repo: Path, delay_ms: int) -> None:
    """Without a parent holding SIGINT back, the interpreter's own first milliseconds (site,
    .pth files) run before any bd code can take SIGINT over; from then on, one line."""
    code, err = _interrupt(beads_repo, delay_ms, held=False)
    if "Traceback" in err:  # only before bd's first line ran: the interpreter's start, site, .pth files
        ours = [ln for ln in err.splitlines() if "/bdgit/" in ln and "/bdgit/__init__.py" not in ln]
        assert not ours, err
    else:
        assert len(err.strip().splitlines()) <= 1, err


def test_interrupted_daemon_start_leaves_no_unreported_daemon(beads_repo: Path) -> None:
    for delay in ("0.25", "0.4", "0.6"):  # (the interpreter's own start: see the tests above)
        p = subprocess.run(["timeout", "-s", "INT", delay, *BD, "daemon", "start"], cwd=beads_repo,
                           capture_output=True, text=True, timeout=60)
        clean_exit(p)
        time.sleep(0.5)
        st = json.loads(ok(bd("daemon", "status", "--json", cwd=beads_repo)).stdout)
        if st.get("running"):
            assert str(st["pid"]) in p.stdout + p.stderr, (delay, p.stdout, p.stderr)
        ok(bd("daemon", "stop", cwd=beads_repo))
