"""The N-clone convergence with a real daemon per clone (auto-commit; then sync-branch mode):
agents write through each daemon's socket while ``bd sync`` runs between them. After two passes
of ``bd sync`` everywhere and the daemons' last commits, every clone holds the same issues,
last-writer-wins per register, every comment, and (index mode) a clean ``git status``."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from bdgit.errors import BdError
from bdgit.gitsync.sync import sync

from testing import git, wait_for
from testing.clones import (Writes, call, export_text, id_to_key, make_clones, objects, random_op, states,
                            working_jsonl, ws)
from testing.daemon import Daemon


def settled(dm: Daemon, clone: Path, mode: str) -> bool:
    """Everything flushed and committed (the daemon has nothing pending)."""
    h = dm.health()
    if h.get("dirty", 0) or h.get("dirty_issues", 0):
        return False
    if objects(export_text(clone)) != objects(working_jsonl(clone)):
        return False
    ref = "HEAD" if mode == "auto-commit" else "beads-sync"
    committed = git(clone, "show", f"{ref}:.beads/issues.jsonl", check=False).stdout
    return objects(committed) == objects(working_jsonl(clone))


@pytest.mark.parametrize("mode", ["auto-commit", "sync-branch"])
def test_three_clones_with_daemons_converge(tmp_path: Path, mode: str) -> None:
    rng = random.Random(11 if mode == "auto-commit" else 12)
    _, clones = make_clones(tmp_path, 3)
    if mode == "sync-branch":
        for c in clones:
            call(c, "config_set", {"key": "sync.branch", "value": "beads-sync"})
    daemons = [Daemon(c).start(flush_interval=0.1, auto_commit=True) for c in clones]
    try:
        writes = Writes()
        for step in range(36):
            k = rng.randrange(len(clones))
            c, dm = clones[k], daemons[k]
            if rng.random() < 0.25:
                sync(ws(c))
                continue
            op = random_op(rng, c, step, f"c{k}")
            if op is None:
                continue
            before = states(c)
            try:
                with dm.client(actor=f"agent{k}") as cl:
                    cl.execute(*op)
            except BdError:
                continue
            writes.diff(before, states(c), id_to_key(c))
        for k, (c, dm) in enumerate(zip(clones, daemons)):  # let each daemon commit what it has
            assert wait_for(lambda: settled(dm, c, mode), timeout=30), f"clone {k} did not settle"
        for _ in range(2):
            for c in rng.sample(clones, len(clones)):
                sync(ws(c))
        for k, (c, dm) in enumerate(zip(clones, daemons)):
            assert wait_for(lambda: settled(dm, c, mode), timeout=30), f"clone {k} did not settle"
        texts = [export_text(c) for c in clones]
        assert all(objects(t) == objects(texts[0]) for t in texts)
        for c in clones:
            assert "<<<<<<<" not in working_jsonl(c)
            if mode == "auto-commit":
                assert git(c, "status", "--porcelain").stdout == ""
        final = states(clones[0])
        assert {k for (k, _) in writes.regs} <= set(final)
        writes.check(final, id_to_key(clones[0]))
    finally:
        for dm in daemons:
            dm.stop()
