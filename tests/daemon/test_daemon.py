"""Daemon lifecycle with real processes: start/stop/status, one per workspace, stale files,
idle exit, a vanished workspace, SIGTERM flushing, and the CLI routing through it."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

from testing import run_bd, wait_for

from bdgit.daemon import lifecycle as d
from bdgit.workspace import find


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _daemon_pids(db_path: Path) -> list[int]:
    """Live processes running a daemon for ``db_path`` (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if "daemon" in args and "--foreground" in args and str(db_path) in args and _alive(int(entry)):
            pids.append(int(entry))
    return sorted(pids)


def test_start_status_stop_cycle_through_the_cli(beads_repo: Path):
    p = run_bd("daemon", "start", "--json", check=True)
    st = json.loads(p.stdout)
    assert st["running"] and st["pid"]
    try:
        p = run_bd("daemon", "status", "--json", check=True)
        info = json.loads(p.stdout)
        assert info["running"] and info["responding"] and info["pid"] == st["pid"]
        assert info["health"]["bdgit_version"]
        # beads' spellings: bare `bd daemon` starts, --status / --stop flags
        p = run_bd("daemon", "--status", check=True)
        assert "Daemon is running" in p.stdout
        p = run_bd("daemon", check=True)
        assert "already running" in p.stdout
    finally:
        p = run_bd("daemon", "--stop", check=True)
    assert "stopped" in p.stdout
    assert wait_for(lambda: not _alive(st["pid"]), 10)
    assert json.loads(run_bd("daemon", "status", "--json", check=True).stdout)["running"] is False
    assert not (beads_repo / ".beads" / "bd.sock").exists()
    assert not (beads_repo / ".beads" / "daemon.json").exists()


def test_socket_is_private(daemon):
    sock = Path(daemon["socket"])
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600


def test_status_file_records_pid_version_socket_and_start_time(daemon):
    st = json.loads((daemon["ws"].beads_dir / "daemon.json").read_text())
    assert st["pid"] == daemon["pid"]
    assert st["bdgit_version"] and st["version"]
    assert st["socket"] == daemon["socket"]
    assert st["started_at"]


def test_second_start_reports_the_running_one(daemon):
    st = d.start(daemon["ws"])
    assert st["already_running"] and st["pid"] == daemon["pid"]


def test_ten_simultaneous_starts_leave_exactly_one_daemon(beads_repo: Path):
    procs = [subprocess.Popen([sys.executable, "-m", "bdgit", "daemon", "start", "--json"], cwd=beads_repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(10)]
    outs = [p.communicate(timeout=60) for p in procs]
    try:
        assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
        pids = {json.loads(o[0])["pid"] for o in outs}
        assert len(pids) == 1
        (pid,) = pids
        assert _alive(pid)
        # and no other daemon process for this workspace survived
        assert _daemon_pids(find(cwd=beads_repo).db_path) == [pid]
    finally:
        run_bd("daemon", "stop")


def test_stale_files_after_kill_9_do_not_block_a_new_start(beads_repo: Path):
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"flush_interval": 0.1})
    os.kill(st["pid"], signal.SIGKILL)
    assert wait_for(lambda: not d.status(ws)["running"], 10)
    # the socket and status file are still there, stale
    assert (ws.beads_dir / "bd.sock").exists()
    assert (ws.beads_dir / "daemon.json").exists()
    st2 = d.start(ws, {"flush_interval": 0.1})
    try:
        assert st2["pid"] != st["pid"] and st2.get("started")
        p = run_bd("create", "after the crash", "--json", check=True)
        assert json.loads(p.stdout)["id"] == "test-1"
    finally:
        d.stop(ws)


def test_long_workspace_path_uses_a_short_socket_directory_with_a_pointer(tmp_path: Path, monkeypatch):
    from bdgit.workspace.initialize import init_workspace
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    init_workspace(deep, "long")
    monkeypatch.chdir(deep)
    ws = find()
    assert d.start(ws, {"flush_interval": 0.1}).get("started")
    try:
        pointer = ws.beads_dir / "bd.sock.path"
        assert pointer.exists()
        sock = Path(pointer.read_text().strip())
        assert len(str(sock)) < 100 and stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        p = run_bd("create", "deep", "--json", check=True)
        assert json.loads(p.stdout)["id"] == "long-1"
        assert json.loads(run_bd("info", "--json", check=True).stdout)["mode"] == "daemon"
    finally:
        d.stop(ws)
    assert not (ws.beads_dir / "bd.sock.path").exists()


def test_idle_daemon_exits_by_itself(beads_repo: Path):
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"idle_timeout": 1, "flush_interval": 0.1})
    assert wait_for(lambda: not _alive(st["pid"]), 15)
    assert "idle" in d.logs(ws)


def test_daemon_exits_when_its_workspace_disappears(beads_repo: Path):
    import shutil
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"flush_interval": 0.1})
    shutil.rmtree(ws.beads_dir)
    assert wait_for(lambda: not _alive(st["pid"]), 15)


def test_sigterm_flushes_before_exit(beads_repo: Path):
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"flush_interval": 3600})  # no flush would happen by itself
    run_bd("create", "flush me on the way out", check=True)
    assert "flush me" not in ws.jsonl_path.read_text()
    os.kill(st["pid"], signal.SIGTERM)
    assert wait_for(lambda: not _alive(st["pid"]), 15)
    assert "flush me on the way out" in ws.jsonl_path.read_text()


def test_restart_keeps_options_and_gives_a_new_pid(daemon):
    p = run_bd("daemon", "restart", "--json", check=True)
    st = json.loads(p.stdout)
    assert st["pid"] != daemon["pid"]
    assert st["options"]["flush_interval"] == 0.1
    daemon["pid"] = st["pid"]


def test_logs_show_the_start(daemon):
    p = run_bd("daemon", "logs", check=True)
    assert "daemon started" in p.stdout


def test_foreground_start_refuses_when_one_runs(daemon, beads_repo: Path):
    p = run_bd("daemon", "start", "--foreground")
    assert p.returncode == d.EXIT_ALREADY_RUNNING
    assert "already running" in p.stderr


def test_cli_routes_through_the_daemon_and_no_daemon_forces_direct(daemon):
    assert json.loads(run_bd("info", "--json", check=True).stdout)["mode"] == "daemon"
    assert json.loads(run_bd("info", "--json", "--no-daemon", check=True).stdout)["mode"] == "direct"
    created = json.loads(run_bd("create", "through the daemon", "--actor", "agent-7", "--json", check=True).stdout)
    evs = json.loads(run_bd("events", created["id"], "--json", check=True).stdout)
    assert evs[0]["actor"] == "agent-7"


def test_daemon_mode_client_path_imports_neither_sqlite_nor_pygit2(daemon, beads_repo: Path):
    code = ("import sys; from bdgit.cli.main import run; rc = run(['list', '--json']); "
            "print('MODS', 'sqlite3' in sys.modules, 'pygit2' in sys.modules, 'typer' in sys.modules, rc)")
    p = subprocess.run([sys.executable, "-c", code], cwd=beads_repo, capture_output=True, text=True, check=True)
    assert p.stdout.strip().splitlines()[-1] == "MODS False False False 0"


def test_auto_start_starts_one_daemon_for_concurrent_clients(beads_repo: Path):
    env = {"BEADS_AUTO_START_DAEMON": "true"}
    procs = [subprocess.Popen([sys.executable, "-m", "bdgit", "create", f"auto {i}", "--json"], cwd=beads_repo,
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    ws = find(cwd=beads_repo)
    try:
        assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
        ids = {json.loads(o[0])["id"] for o in outs}
        assert len(ids) == 4
        st = d.status(ws)
        assert st["running"]
    finally:
        d.stop(ws)


def test_auto_start_can_be_turned_on_by_config(beads_repo: Path):
    run_bd("config", "set", "daemon.auto_start", "true", check=True)
    ws = find(cwd=beads_repo)
    try:
        p = run_bd("info", "--json", env={"BEADS_AUTO_START_DAEMON": ""}, check=True)
        assert json.loads(p.stdout)["mode"] == "daemon"
    finally:
        d.stop(ws)


def test_stop_without_a_daemon_says_so(beads_repo: Path):
    p = run_bd("daemon", "stop", check=True)
    assert "No daemon is running" in p.stdout


def test_start_failure_reports_the_reason(tmp_path: Path):
    p = run_bd("daemon", "start", cwd=tmp_path)
    assert p.returncode != 0
    assert "bd init" in p.stderr


def test_a_daemon_of_another_version_is_replaced_by_the_client(beads_repo: Path):
    ws = find(cwd=beads_repo)
    old = subprocess.Popen(
        [sys.executable, "-c", "import sys, bdgit; bdgit.__version__ = '0.0.9'\n"
         "from bdgit.cli.main import main; sys.argv[0] = 'bd'; main()",
         "daemon", "start", "--foreground"],
        cwd=beads_repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: (d.status(ws).get("health") or {}).get("bdgit_version") == "0.0.9", 15)
        p = run_bd("create", "after the upgrade", "--json", check=True)
        assert json.loads(p.stdout)["title"] == "after the upgrade"
        assert "restarted the daemon" in p.stderr
        st = d.status(ws)
        assert st["running"] and st["health"]["bdgit_version"] != "0.0.9" and st["pid"] != old.pid
        assert old.wait(15) == 0
    finally:
        d.stop(ws)
        if old.poll() is None:
            old.kill()
