"""``bd init``: create ``.beads/`` with a database, its .gitignore and the JSONL.

In a fresh clone the JSONL is already there: init imports it (and takes the prefix from it),
so a new teammate gets every issue with one command.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from .. import BEADS_COMPAT_VERSION, __version__, jsonl
from ..errors import ConflictError
from ..intake import max_input
from ..store import Store
from ..validate import check_prefix
from . import BEADS_DIRNAME, actor as default_actor, db_in, safefs
from .files import atomic_write

GITIGNORE = """\
# bd: machine-local state. Only issues.jsonl travels with git.
*.db
*.db-journal
*.db-wal
*.db-shm
bd.sock
beads.sock
bd.lock
bd.state
bd.hookstate
bd.sock.*
daemon.*
*.tmp.*
.*.tmp.*
"""


def derive_prefix(root: Path, jsonl_text: str | None) -> str:
    """The prefix most IDs of ``jsonl_text`` use, else one made from the directory name."""
    if jsonl_text:
        seen: Counter[str] = Counter()
        for line in jsonl_text.splitlines():
            m = re.match(r'\s*\{\s*"id"\s*:\s*"([^"]+)-[^"-]+"', line)
            if m:
                seen[m.group(1)] += 1
        if seen:
            return seen.most_common(1)[0][0]
    name = re.sub(r"[^a-z0-9]+", "-", root.name.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "bd" if not name else f"bd-{name}"
    return name[:20].rstrip("-")


def enclosing_workspace(cwd: Path) -> Path | None:
    """The database of a workspace that ``cwd`` is inside (in a parent directory), if any."""
    start = cwd.resolve()
    home = Path.home().resolve()
    for d in start.parents:
        if d == home:
            continue  # ~/.beads holds beads' global files (default.db, registry), not a workspace
        found = db_in(d / BEADS_DIRNAME)
        if found is not None:
            return found
    return None


def init_workspace(cwd: Path, prefix: str | None, *, actor: str | None = None,
                   db: str | None = None, nested: bool = False) -> dict[str, Any]:
    """Create the workspace under ``cwd`` (or at ``db``). Raises ConflictError if one exists,
    or (unless ``nested``) if ``cwd`` is inside another workspace: bd commands run here already
    use that one, and a second database would silently split the issues in two."""
    if not db and not nested:
        outer = enclosing_workspace(cwd)
        if outer is not None:
            raise ConflictError(f"{cwd} is inside the workspace of {outer.parent.parent}, whose database "
                                f"is {outer}",
                                "bd commands here already use it; to keep a separate tracker for this "
                                "directory anyway, run 'bd init --nested'")
    if db:
        db_path = Path(db).expanduser().resolve()
        beads_dir = db_path.parent
    else:
        beads_dir = cwd / BEADS_DIRNAME
        db_path = None  # decided once the prefix is known
    existing = db_in(beads_dir)
    if existing is not None and (db_path is None or existing == db_path):
        raise ConflictError(f"already initialized: {existing}",
                            "use the existing database; 'bd info' shows its details")
    beads_dir.parent.mkdir(parents=True, exist_ok=True)
    if not safefs.ensure_dir(beads_dir) and beads_dir.name == BEADS_DIRNAME:
        safefs.make_private(beads_dir)  # a clone's .beads/ (git made it 0755): it holds the database
    jsonl_path = beads_dir / "issues.jsonl"
    # read (and check: a clone may commit it as a link to another project's file) before
    # anything is created, so that a refusal leaves nothing behind
    text = safefs.read_text(jsonl_path, limit=max_input()) if os.path.lexists(jsonl_path) else None
    p = check_prefix(prefix) if prefix else derive_prefix(beads_dir.parent, text)
    if db_path is None:
        db_path = beads_dir / f"{p}.db"
    gi = beads_dir / ".gitignore"
    if not os.path.lexists(gi):
        atomic_write(gi, GITIGNORE, mode=safefs.shared_mode(beads_dir.parent), exact_mode=True)
    store = Store(db_path, create=True)
    try:
        with store.tx():
            store.set_config("issue_prefix", p)
            store.set_meta("bd_version", BEADS_COMPAT_VERSION)
            store.set_meta("bdgit_version", __version__)
        imported = 0
        if text is not None:  # even empty: a clone must record it as imported
            res = jsonl.import_text(store, text, actor=actor or default_actor(), workspace=True,
                                    collisions="auto", path=jsonl_path)
            imported = len(res.created)
        else:
            jsonl.flush(store, jsonl_path, full=True)
        from ..replication.driver import register
        merge_driver = register(jsonl_path)  # in a git work tree: git merges the JSONL with bd's driver
    except BaseException:
        # e.g. a malformed JSONL in a clone: leave no half-made database behind, so that
        # 'bd init' can simply be run again once the file is fixed
        store.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        raise
    store.close()
    return {"database": str(db_path), "prefix": p, "jsonl": str(jsonl_path), "imported": imported,
            "merge_driver": merge_driver}
