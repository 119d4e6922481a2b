"""Choosing a transport: the daemon when one answers, direct mode otherwise.

Both expose ``call(op, args) -> data`` (raising BdError), ``notices`` and ``ws``. The daemon
client path imports only the socket client; direct mode is imported only when used.
"""
from __future__ import annotations

import os
from typing import Any

from .. import workspace
from ..workspace.config import read_config


def connect(g: Any) -> Any:
    """A backend for the CLI globals ``g`` (db, actor, no_daemon, ...). Raises NoDatabaseError."""
    ws = workspace.find(g.db)
    actor = workspace.actor(g.actor)
    notices: list[str] = []
    if not g.no_daemon:
        client = _try_daemon(ws, actor, g)
        if client is not None:
            return client
        if auto_start_wanted(ws):
            from ..daemon.lifecycle import start
            from ..errors import DaemonError
            try:
                start(ws)
                client = _try_daemon(ws, actor, g)
                if client is not None:
                    return client
            except DaemonError as e:
                notices.append(f"could not auto-start the daemon ({e}); running in direct mode")
    from .direct import DirectBackend
    b = DirectBackend(ws, actor, auto_flush=not g.no_auto_flush, auto_import=not g.no_auto_import)
    b.notices.extend(notices)
    return b


def auto_start_wanted(ws: workspace.Workspace) -> bool:
    """BEADS_AUTO_START_DAEMON (true/false) wins; else the ``daemon.auto_start`` config."""
    env = os.environ.get("BEADS_AUTO_START_DAEMON", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    value = read_config(ws, "daemon.auto_start") or ""
    return value.strip().lower() in ("1", "true", "yes", "on")


def _try_daemon(ws: workspace.Workspace, actor: str, g: Any) -> Any:
    """A connected daemon client, or None when no daemon answers on the socket."""
    from .daemon import DaemonBackend
    return DaemonBackend.try_connect(ws, actor, timeout=g.timeout)
