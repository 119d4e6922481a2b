"""N clones of one bare remote doing random work of every kind, ``bd sync`` in random orders.

After two passes of ``bd sync`` everywhere: every clone's export and working JSONL are the same
objects; every issue is there exactly once; every register holds the value of its
greatest-versioned write (an edit is only ever replaced by one that beat it) and every comment
survives; no conflict markers; ``git status`` clean. Several seeds, 3 and 5 clones, sequential
IDs (collisions renumbered) and hash IDs. In-process operations and sync (the code path of
``bd --no-daemon`` and ``bd sync``), real git."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from bdgit.errors import BdError
from bdgit.gitsync.sync import sync

from testing import git
from testing.clones import (Writes, call, export_text, id_to_key, make_clones, objects, random_op, states,
                            working_jsonl, ws)

def run_scenario(tmp_path: Path, n_clones: int, seed: int, steps: int, hash_ids: bool = False) -> None:
    rng = random.Random(seed)
    _, clones = make_clones(tmp_path, n_clones, hash_ids=hash_ids)
    writes = Writes()
    for step in range(steps):
        k = rng.randrange(n_clones)
        c = clones[k]
        if rng.random() < 0.25:
            sync(ws(c))
            continue
        op = random_op(rng, c, step, f"c{k}")
        if op is None:
            continue
        before = states(c)
        try:
            call(c, *op, actor=f"agent{k}")
        except BdError:
            continue  # refused (a cycle, a duplicate edge, a missing edge): nothing written
        writes.diff(before, states(c), id_to_key(c))
    for _ in range(2):
        for c in rng.sample(clones, len(clones)):
            sync(ws(c))
    texts = [export_text(c) for c in clones]
    assert all(t == texts[0] for t in texts)
    for c in clones:
        assert objects(working_jsonl(c)) == objects(texts[0])
        assert "<<<<<<<" not in working_jsonl(c)
        assert git(c, "status", "--porcelain").stdout == ""
    final = states(clones[0])
    keys = [o.get("external_ref") for o in objects(texts[0]).values()]
    assert len(keys) == len(set(keys)) == len(final)  # every issue once
    created = {k for (k, _) in writes.regs}
    assert created <= set(final)  # nothing lost
    writes.check(final, id_to_key(clones[0]))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_clones_converge(tmp_path: Path, seed: int) -> None:
    run_scenario(tmp_path, 3, seed, 45)


@pytest.mark.parametrize("seed", [4, 5])
def test_five_clones_converge(tmp_path: Path, seed: int) -> None:
    run_scenario(tmp_path, 5, seed, 50)


def test_five_clones_with_hash_ids_converge(tmp_path: Path) -> None:
    run_scenario(tmp_path, 5, 6, 50, hash_ids=True)
