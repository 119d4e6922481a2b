"""Reading workspace configuration without opening the Store (no migrations, no write lock)."""
from __future__ import annotations

import os
from pathlib import Path

from . import Workspace


def read_config(ws: Workspace, key: str) -> str | None:
    """One config value, read-only and without the Store (no migrations, no write lock): for
    decisions taken before or instead of opening the database. None when unset or unreadable."""
    import sqlite3  # lazily: the daemon-mode client path must not import it
    try:
        conn = sqlite3.connect(f"file:{ws.db_path}?mode=ro", uri=True, timeout=2)
        try:
            row = conn.execute("SELECT value FROM config WHERE key=?", (key,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


# --- settings that belong to the repository: .beads/config.yaml (tracked) ----------------------

REPO_CONFIG = "config.yaml"
#: how new issue IDs are made: "sequential" (prefix-N, the default) or "hash" (prefix-k3f9)
ID_MODES = ("sequential", "hash")


def repo_settings(beads_dir: str | os.PathLike[str]) -> dict[str, str]:
    """``key: value`` lines of ``.beads/config.yaml`` (the file beads keeps there too), read
    without a YAML library: scalars only, comments and blank lines skipped, quotes removed.
    A missing or unreadable file gives {}."""
    try:
        text = (Path(beads_dir) / REPO_CONFIG).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or ":" not in line or raw[:1].isspace():
            continue
        key, _, value = line.partition(":")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def set_repo_setting(beads_dir: str | os.PathLike[str], key: str, value: str) -> None:
    """Set ``key: value`` in ``.beads/config.yaml``, keeping every other line (and comments)."""
    from .files import atomic_write
    path = Path(beads_dir) / REPO_CONFIG
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    new = f'{key}: "{value}"'
    for n, raw in enumerate(lines):
        if not raw[:1].isspace() and raw.split(":", 1)[0].strip() == key and not raw.lstrip().startswith("#"):
            lines[n] = new
            break
    else:
        lines.append(new)
    atomic_write(path, "\n".join(lines) + "\n")


_MODE_CACHE: dict[str, tuple[tuple[int, int], str]] = {}


def id_mode(beads_dir: str | os.PathLike[str]) -> str:
    """The repository's ID mode (``id-mode`` in .beads/config.yaml): "sequential" unless it says
    "hash". Cheap to ask on every create: the file is read again only when its stat changes."""
    key = os.path.join(os.fspath(beads_dir), REPO_CONFIG)  # strings: this runs on every create
    try:
        st = os.stat(key)
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        return "sequential"
    hit = _MODE_CACHE.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    mode = "hash" if repo_settings(beads_dir).get("id-mode", "").strip().lower() == "hash" else "sequential"
    _MODE_CACHE[key] = (stamp, mode)
    return mode
