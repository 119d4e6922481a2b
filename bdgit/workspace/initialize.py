"""``bd init``: create ``.beads/`` with a database, its .gitignore and the JSONL.

In a fresh clone the JSONL is already there: init imports it (and takes the prefix from it),
so a new teammate gets every issue with one command.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from .. import BEADS_COMPAT_VERSION, __version__, jsonl
from ..errors import ConflictError
from ..store import Store
from ..validate import check_prefix
from . import BEADS_DIRNAME, _db_in, actor as default_actor

GITIGNORE = """\
# bd: machine-local state. Only issues.jsonl travels with git.
*.db
*.db-journal
*.db-wal
*.db-shm
bd.sock
bd.lock
bd.state
bd.hookstate
bd.sock.*
daemon.*
*.tmp.*
.*.tmp.*
"""


def derive_prefix(root: Path, jsonl_path: Path | None) -> str:
    if jsonl_path is not None and jsonl_path.exists():
        seen: Counter[str] = Counter()
        with open(jsonl_path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r'\s*\{\s*"id"\s*:\s*"([^"]+)-[^"-]+"', line)
                if m:
                    seen[m.group(1)] += 1
        if seen:
            return seen.most_common(1)[0][0]
    name = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "bd" if not name else f"bd-{name}"
    return name[:20].rstrip("-")


def init_workspace(cwd: Path, prefix: str | None, *, actor: str | None = None,
                   db: str | None = None) -> dict[str, Any]:
    """Create the workspace under ``cwd`` (or at ``db``). Raises ConflictError if one exists."""
    if db:
        db_path = Path(db).expanduser().resolve()
        beads_dir = db_path.parent
    else:
        beads_dir = cwd / BEADS_DIRNAME
        db_path = None  # decided once the prefix is known
    existing = _db_in(beads_dir)
    if existing is not None and (db_path is None or existing == db_path):
        raise ConflictError(f"already initialized: {existing}",
                            "use the existing database; 'bd info' shows its details")
    beads_dir.mkdir(parents=True, exist_ok=True)
    jsonl_path = beads_dir / "issues.jsonl"
    p = check_prefix(prefix) if prefix else derive_prefix(beads_dir.parent, jsonl_path)
    if db_path is None:
        db_path = beads_dir / f"{p}.db"
    gi = beads_dir / ".gitignore"
    if not gi.exists():
        gi.write_text(GITIGNORE)
    store = Store(db_path, create=True)
    try:
        with store.tx():
            store.set_config("issue_prefix", p)
            store.set_meta("bd_version", BEADS_COMPAT_VERSION)
            store.set_meta("bdgit_version", __version__)
        imported = 0
        if jsonl_path.exists():  # even empty: a clone must record it as imported
            res = jsonl.import_text(store, None,
                                    actor=actor or default_actor(), workspace=True, collisions="auto",
                                    path=jsonl_path)
            imported = len(res.created)
        else:
            jsonl.flush(store, jsonl_path, full=True)
        from ..replication.driver import register
        merge_driver = register(jsonl_path)  # in a git work tree: git merges the JSONL with bd's driver
    except BaseException:
        # e.g. a malformed JSONL in a clone: leave no half-made database behind, so that
        # 'bd init' can simply be run again once the file is fixed
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        raise
    store.close()
    return {"database": str(db_path), "prefix": p, "jsonl": str(jsonl_path), "imported": imported,
            "merge_driver": merge_driver}
