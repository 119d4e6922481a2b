"""``bd daemon [start|stop|status|restart|logs]`` (bare ``bd daemon`` starts, as in beads)."""
from __future__ import annotations

from typing import Annotated, Any

from ...errors import UsageError
from .. import render as r
from ..decl import Arg, Opt, command
from ..runtime import Globals, emit

_ACTIONS = ("start", "stop", "status", "restart", "logs")


@command("daemon", examples=["bd daemon start --auto-commit", "bd daemon status --json", "bd daemon logs -n 20",
                             "bd daemon start --foreground   # for a service manager"])
def daemon(
    g: Globals,
    action: Annotated[str | None, Arg(help="start (default), stop, status, restart or logs.")] = None,
    foreground: Annotated[bool, Opt("--foreground", help="Run in this process (for service managers).")] = False,
    interval: Annotated[float | None, Opt("--interval", help="Seconds between a write and its JSONL flush "
                                                             "(default 1).")] = None,
    idle_timeout: Annotated[float | None, Opt("--idle-timeout", help="Exit after this many idle seconds "
                                                                     "(0 = never; default 1800).")] = None,
    auto_commit: Annotated[bool, Opt("--auto-commit", help="Commit the JSONL to git in batches.")] = False,
    auto_push: Annotated[bool, Opt("--auto-push", help="Push those commits to the upstream.")] = False,
    stop: Annotated[bool, Opt("--stop", help="Same as 'bd daemon stop'.")] = False,
    status: Annotated[bool, Opt("--status", help="Same as 'bd daemon status'.")] = False,
    lines: Annotated[int, Opt("-n", "--lines", help="With logs: how many lines (0 = all).")] = 50,
) -> int:
    """Run the per-repository daemon: one writer for many agents, over .beads/bd.sock."""
    from ...workspace import find
    ws = find(g.db)
    act = action or ("stop" if stop else "status" if status else "start")
    if act == "run":  # an alias of start --foreground
        act, foreground = "start", True
    if act not in _ACTIONS:
        raise UsageError(f"unknown daemon action {act!r}: use {', '.join(_ACTIONS)}")
    opts: dict[str, Any] = {}
    if interval is not None:
        if interval < 0:
            raise UsageError("--interval must be >= 0 seconds")
        opts["flush_interval"] = interval
    if idle_timeout is not None:
        opts["idle_timeout"] = idle_timeout
    if auto_commit:
        opts["auto_commit"] = True
    if auto_push:
        opts["auto_push"] = True
    if act == "start" and foreground:
        import sys

        from ...daemon import lifecycle
        from ...daemon.process import run_foreground
        lifecycle.ECHO.append(sys.stderr)
        return run_foreground(ws, opts)
    if act == "logs":
        return _logs(ws, lines)
    return {"start": _start, "stop": _stop, "restart": _restart, "status": _status}[act](g, ws, opts)


def _start(g: Globals, ws: Any, opts: dict[str, Any]) -> int:
    from ...daemon import lifecycle as d
    st = d.start(ws, opts)
    if g.json:
        emit(st)
    elif st.get("already_running"):
        r.out(f"Daemon already running (PID {st.get('pid')}) for {ws.root}")
    else:
        r.out(f"{r.green('✓')} Daemon started (PID {st.get('pid')}); log: {st.get('log')}")
    return 0


def _stop(g: Globals, ws: Any, opts: dict[str, Any]) -> int:
    from ...daemon import lifecycle as d
    st = d.stop(ws)
    if g.json:
        emit(st)
    elif st.get("stopped"):
        r.out(f"{r.green('✓')} Daemon stopped (PID {st.get('pid')})")
    else:
        r.out("No daemon is running")
    if st.get("flush_error"):
        from ...errors import NotExportedError
        g.unexported = (NotExportedError(
            f"the daemon's final flush failed: {ws.jsonl_path} lacks {st.get('dirty', 0)} issue change(s): "
            f"{st['flush_error']}",
            "they are saved in the database; once the cause is fixed (e.g. disk space freed), the next bd "
            "write or 'bd doctor --fix' writes them"))  # reported by the boundary, exit 4
    return 0


def _restart(g: Globals, ws: Any, opts: dict[str, Any]) -> int:
    from ...daemon import lifecycle as d
    st = d.restart(ws, opts)
    if g.json:
        emit(st)
    else:
        r.out(f"{r.green('✓')} Daemon restarted (PID {st.get('pid')})")
    return 0


def _logs(ws: Any, lines: int) -> int:
    from ...daemon import lifecycle as d
    text = d.logs(ws, lines)
    if text:
        r.out(text)
    else:
        r.err(f"No daemon log yet: {d.log_path(ws)} is written once a daemon starts ('bd daemon start')")
    return 0


#: per-action help (``bd daemon start --help``): what each action does and which flags it takes
ACTION_HELP = {
    "start": ("Start the daemon for this workspace and return once it answers (one per workspace; a "
              "second start reports the running one).",
              ["--foreground", "--interval", "--idle-timeout", "--auto-commit", "--auto-push"],
              ["bd daemon start", "bd daemon start --auto-commit --interval 2", "bd daemon start --foreground"]),
    "stop": ("Stop the daemon; it flushes pending issue changes to the JSONL first.", [], ["bd daemon stop"]),
    "status": ("Show whether a daemon runs: pid, version, socket, uptime, requests, pending exports.", [],
               ["bd daemon status", "bd daemon status --json"]),
    "restart": ("Stop the daemon and start it again with the same options (or the ones given).",
                ["--interval", "--idle-timeout", "--auto-commit", "--auto-push"], ["bd daemon restart"]),
    "logs": ("Print the end of .beads/daemon.log.", ["-n/--lines"], ["bd daemon logs -n 100"]),
}


def action_help(action: str) -> str:
    """The help of ``bd daemon ACTION`` (flags named as in ``bd daemon --help``)."""
    text, flags, examples = ACTION_HELP[action]
    out = [f"Usage: bd daemon {action} [OPTIONS]", "", "  " + text, ""]
    if flags:
        out += ["Options (see 'bd daemon --help' for each):", "  " + ", ".join(flags), ""]
    out += ["Examples:", *[f"  {e}" for e in examples]]
    return "\n".join(out)


def _status(g: Globals, ws: Any, opts: dict[str, Any]) -> int:
    from ...daemon import lifecycle as d
    st = d.status(ws)
    if g.json:
        emit(st)
        return 0
    if not st["running"]:
        r.out("Daemon is not running")
        return 0
    h = st.get("health") or {}
    r.out(f"{r.green('✓')} Daemon is running (PID {st.get('pid')})")
    r.out(f"  Version: bd {st.get('version')} (bdgit {st.get('bdgit_version')})")
    r.out(f"  Socket: {st.get('socket')}")
    r.out(f"  Started: {st.get('started_at')}")
    if h:
        r.out(f"  Uptime: {h.get('uptime_seconds', 0):.0f}s, {h.get('requests', 0)} requests, "
              f"{h.get('dirty_issues', 0)} issue(s) waiting for export")
        for k in ("git", "git_waiting"):
            if h.get(k):
                r.out(f"  Git: {h[k]}")
    elif not st.get("responding"):
        r.out(f"  {r.yellow('!')} it does not answer on its socket")
    return 0
