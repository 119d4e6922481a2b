"""Parallel agents in CI: 8 clones of one bare remote, each creating and editing issues, all
running ``bd sync`` at the same moment (real processes), three rounds; then the same with each
clone's daemon auto-committing and auto-pushing. No sync fails; afterwards every clone has
every issue exactly once with the same content (``bd export`` compared across clones); no
issue is renumbered more than once, and with hash IDs none at all."""
from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from testing import wait_for
from testing.clones import call, export_text
from testing.daemon import Daemon
from testing.fleet import Fleet, announced, failures

N = 8
ROUNDS = 3


def check_converged(fleet: Fleet, expected: set[str]) -> list[str]:
    texts = fleet.exports()
    assert all(t == texts[0] for t in texts), "the clones' exports differ"
    titles = Counter(json.loads(ln)["title"] for ln in texts[0].splitlines())
    assert set(titles) == expected and all(v == 1 for v in titles.values()), titles
    for k in range(fleet.n):
        assert fleet.git(k, "status", "--porcelain") == "", f"clone {k} is not clean"
    return texts


@pytest.mark.stress
@pytest.mark.parametrize("hash_ids", [False, True], ids=["sequential", "hash"])
def test_eight_clones_sync_at_the_same_moment(tmp_path: Path, hash_ids: bool) -> None:
    rng = random.Random(14 + hash_ids)
    fleet = Fleet(tmp_path, N, hash_ids=hash_ids)
    expected: set[str] = set()
    retries = 0
    said: set[frozenset[str]] = set()
    for rnd in range(ROUNDS):
        fleet.work(rng, rnd)
        expected |= {f"c{k} r{rnd} i{i}" for k in range(N) for i in range(2)}
        runs = fleet.sync_all()
        assert not failures(runs), failures(runs)
        retries += sum(r.report["retries"]["count"] for r in runs)
        said |= announced(runs)
        fleet.observe()
    runs = fleet.sync_all()  # one more at the same moment, nothing new: everyone takes the rest
    assert not failures(runs), failures(runs)
    said |= announced(runs)
    texts = check_converged(fleet, expected)
    fleet.observe(texts)
    assert not fleet.renumbered_more_than_once(), fleet.renumbered_more_than_once()
    # every renumbering was announced in a bd sync --json summary, and nothing else was
    assert said == {frozenset(ids) for ids in fleet.renumbered().values()}
    assert all(n <= 1 for n in fleet.renamed_events().values()), fleet.renamed_events()
    if hash_ids:
        assert not fleet.renumbered(), fleet.renumbered()
        assert not fleet.renamed_events()
    else:
        assert fleet.renumbered(), "8 clones numbering sequentially must have collided"
    print(f"\n{N} clones x {ROUNDS} rounds ({'hash' if hash_ids else 'sequential'} IDs): {retries} retries, "
          f"{len(fleet.renumbered())} of {len(expected)} issues renumbered (once each)")


def _at_once(calls: list[tuple[Daemon, str, dict[str, Any]]]) -> list[Any]:
    """Run each (daemon, op, args) from its own thread over its own connection (agents writing
    through their clone's daemon at the same moment); the answers, in order."""
    def one(c: tuple[Daemon, str, dict[str, Any]]) -> Any:
        with c[0].client(actor="agent") as cl:
            return cl.execute(c[1], c[2])
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


@pytest.mark.stress
@pytest.mark.parametrize("hash_ids", [False, True], ids=["sequential", "hash"])
def test_eight_clones_with_auto_pushing_daemons(tmp_path: Path, hash_ids: bool) -> None:
    rng = random.Random(41 + hash_ids)
    fleet = Fleet(tmp_path, N, hash_ids=hash_ids)
    for c in fleet.clones:
        call(c, "config_set", {"key": "git.pull_interval", "value": "1"})
    daemons = [Daemon(c).start(flush_interval=0.05, auto_commit=True, auto_push=True, commit_interval=0.2)
               for c in fleet.clones]
    try:
        expected: set[str] = set()
        for rnd in range(ROUNDS):
            titles = [f"c{k} r{rnd} i{i}" for k in range(N) for i in range(2)]
            made = _at_once([(daemons[k], "create", {"title": f"c{k} r{rnd} i{i}"})
                             for k in range(N) for i in range(2)])
            for title, got in zip(titles, made):
                fleet.ids.setdefault(title, set()).add(got["id"])
            expected |= set(titles)
            edits = []
            for k, d in enumerate(daemons):
                with d.client() as cl:
                    live = cl.execute("list", {})
                edits.append((d, "update", {"id": rng.choice(live)["id"], "notes": f"edited by c{k} in round {rnd}"}))
            _at_once(edits)

            def landed() -> bool:
                text = subprocess.run(["git", "show", "main:.beads/issues.jsonl"], cwd=fleet.remote, text=True,
                                      capture_output=True).stdout
                return {json.loads(ln)["title"] for ln in text.splitlines()} >= expected
            assert wait_for(landed, timeout=120, interval=0.2), f"round {rnd}: not every issue reached the remote"
            fleet.observe()

        def settled() -> bool:
            texts = [export_text(c) for c in fleet.clones]
            heads = {fleet.git(k, "rev-parse", "HEAD") for k in range(N)}
            remote = subprocess.run(["git", "rev-parse", "main"], cwd=fleet.remote, text=True,
                                    capture_output=True).stdout
            return len(set(texts)) == 1 and heads == {remote} and all(
                (d.health()["git_state"]["push"] or {}).get("ok") for d in daemons)
        assert wait_for(settled, timeout=120, interval=0.5), [d.health()["git_state"]["push"] for d in daemons]
        for k, d in enumerate(daemons):
            st = d.health()["git_state"]["push"]
            assert st["ok"], (k, st)
            log = (fleet.clones[k] / ".beads" / "daemon.log").read_text()
            assert "auto-push failed" not in log, (k, log[-2000:])
        texts = check_converged(fleet, expected)
        fleet.observe(texts)
        assert not fleet.renumbered_more_than_once(), fleet.renumbered_more_than_once()
        assert all(n <= 1 for n in fleet.renamed_events().values()), fleet.renamed_events()
        if hash_ids:
            assert not fleet.renumbered(), fleet.renumbered()
            assert not fleet.renamed_events()
        total = sum(d.health()["git_state"]["push"].get("total_retries", 0) for d in daemons)
        print(f"\n{N} daemons x {ROUNDS} rounds: {total} push retries, {len(fleet.renumbered())} issues renumbered")
    finally:
        for d in daemons:
            d.stop()
