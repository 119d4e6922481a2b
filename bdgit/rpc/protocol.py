"""Wire format: newline-delimited JSON over a unix socket (beads' protocol, extended).

Request  ``{"operation", "args", "actor"?, "request_id"?, "cwd"?, "client_version"?, "timeout_ms"?}``
Response ``{"success", "data"?, "error"?, "kind"?, "request_id"?}`` (``request_id`` echoed).

Light on purpose (os, json): the CLI's daemon path imports it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .peer import POINTER_NAME, find_socket, short_dir_name

__all__ = ["POINTER_NAME", "encode", "find_socket", "socket_path_for"]

PROTOCOL_VERSION = 1
#: A request line longer than this is answered with an error and discarded.
MAX_LINE = 64 * 1024 * 1024
#: unix socket paths longer than this (sun_path is 108 bytes on Linux) use a short directory.
MAX_SOCKET_PATH = 100


def encode(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def socket_path_for(beads_dir: Path) -> Path:
    """Where the daemon of ``beads_dir`` listens: ``.beads/bd.sock``, or a short private
    directory when that path is too long for a unix socket (a pointer in ``.beads`` says so)."""
    p = beads_dir / "bd.sock"
    if len(os.fsencode(str(p))) <= MAX_SOCKET_PATH:
        return p
    import hashlib
    import tempfile
    digest = hashlib.sha256(os.fsencode(str(beads_dir.resolve()))).hexdigest()[:16]
    base = Path(tempfile.gettempdir()) / short_dir_name()
    return base / digest / "bd.sock"


