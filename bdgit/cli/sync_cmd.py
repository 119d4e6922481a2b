"""Bodies of ``bd sync`` and ``bd merge-driver`` (the logic lives in ``bdgit.sync``)."""
from __future__ import annotations

import sys

from ..errors import BdError
from . import render as r
from .commands import Globals, emit


def sync(g: Globals, message: str | None, dry_run: bool, no_push: bool, no_pull: bool) -> int:
    from ..gitsync.sync import sync as run_sync
    from ..workspace import actor, find
    ws = find(g.db)
    progress = (lambda s: None) if g.json else (lambda s: r.out(f"→ {s}"))
    report = run_sync(ws, message=message, dry_run=dry_run, pull=not no_pull, push=not no_push,
                      actor=actor(g.actor), progress=progress)
    if g.json:
        emit(g, report)
    elif dry_run:
        r.out(f"{r.green('✓')} Dry run complete: nothing was changed")
    else:
        r.out(f"{r.green('✓')} Sync complete")
    return 0


def merge_driver(g: Globals, base: str, ours: str, theirs: str, path: str | None) -> int:
    """git's merge driver for the JSONL: ``bd merge-driver %O %A %B %P``. Needs no database."""
    from ..gitsync.sync import merge_files
    name = path or ours
    try:
        res = merge_files(base, ours, theirs)
    except BdError as e:
        sys.stderr.write(f"bd merge-driver: cannot merge {name}: {e}; leaving the conflict to git\n")
        return 1
    for side, mapping in (("local", res.renumbered_ours), ("incoming", res.renumbered_theirs)):
        if mapping:
            pairs = ", ".join(f"{a} -> {b}" for a, b in mapping.items())
            sys.stderr.write(f"bd merge-driver: {name}: renumbered {side} issue(s) that collided: {pairs}\n")
    return 0
