"""Many clones syncing at the same moment (agents in parallel CI jobs): how long until 8 clones
of one bare remote have converged, and how many pushes are retried per successful sync.

    python bench/bench_sync.py            # full run (~3 min on 2 cores)
    python bench/bench_sync.py --quick    # fewer trials
    python bench/bench_sync.py --json-out results.json

What is measured (real ``bd`` processes, real git, a real bare remote; medians over trials):

1. ``bd sync`` at once: each of 8 clones creates 2 issues and edits 1 it can see, then all 8
   run ``bd --no-daemon sync --json`` at the same moment; rounds of that (nothing new) until
   every clone's export is the same. Reported: seconds of syncing until converged, as a ratio
   to one uncontended ``bd sync`` of the same work; rounds; retries per successful sync (from
   the ``--json`` summaries); issues renumbered and the most renames any issue had. Also as a
   ratio to the same work synced one clone after another (rounds of 8 syncs in turn until
   converged: no contention, no retries). Sequential IDs and hash IDs.
2. The daemon's auto-push: the same work written through each clone's daemon (auto-commit,
   auto-push, pull every second); seconds from the first write until every clone has every
   issue, and the daemons' push retries per successful auto-push.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

sys.path.insert(0, str(C.ROOT / "tests"))
from testing.fleet import BD, Fleet, failures  # noqa: E402

RESULTS: dict[str, Any] = {}
N = 8


def _fleet(where: Path, hash_ids: bool) -> Fleet:
    where.mkdir(parents=True)
    fleet = Fleet(where, N, hash_ids=hash_ids)
    fleet.env = C.bench_env(PYTHONPATH=str(C.ROOT))
    return fleet


def _converged(fleet: Fleet, titles: int) -> bool:
    """Whether every clone's database holds the same ``titles`` issues (read in process: no
    process start-ups competing with the daemons while they are polled)."""
    from testing.clones import export_text
    texts = [export_text(c) for c in fleet.clones]
    return len(set(texts)) == 1 and len(texts[0].splitlines()) == titles


def one_sync(tmp: Path, hash_ids: bool) -> float:
    """Seconds of one uncontended ``bd sync`` carrying one clone's round of work."""
    fleet = _fleet(tmp, hash_ids)
    fleet.clones, fleet.n = fleet.clones[:1], 1
    fleet.work(random.Random(1), 0)
    t0 = time.monotonic()
    runs = fleet.sync_all()
    dt = time.monotonic() - t0
    if failures(runs):
        raise RuntimeError(failures(runs))
    return dt


def _one_by_one(fleet: Fleet) -> list[Any]:
    """Every clone's ``bd sync`` in turn (no two at once): the uncontended reference."""
    clones = fleet.clones
    runs = []
    try:
        for k, c in enumerate(clones):
            fleet.clones = [c]
            run = fleet.sync_all()[0]
            run.clone = k
            runs.append(run)
    finally:
        fleet.clones = clones
    return runs


def trial_sync(tmp: Path, seed: int, hash_ids: bool, at_once: bool = True) -> dict[str, Any]:
    fleet = _fleet(tmp, hash_ids)
    fleet.work(random.Random(seed), 0)
    titles = len(fleet.ids)
    syncing = 0.0
    rounds = retries = syncs = 0
    while True:
        rounds += 1
        t0 = time.monotonic()
        runs = fleet.sync_all() if at_once else _one_by_one(fleet)
        syncing += time.monotonic() - t0
        if failures(runs):
            raise RuntimeError(failures(runs))
        syncs += len(runs)
        retries += sum(r.report["retries"]["count"] for r in runs)
        if _converged(fleet, titles):
            break
        if rounds > 6:
            raise RuntimeError(f"{N} clones did not converge in 6 rounds")
    fleet.observe()
    renames = max((len(ids) - 1 for ids in fleet.ids.values()), default=0)
    return {"seconds": syncing, "rounds": rounds, "retries_per_sync": retries / syncs,
            "renumbered": len(fleet.renumbered()), "issues": titles, "max_renames": renames}


def bench_sync(tmp: Path, trials: int) -> None:
    rows = []
    for hash_ids in (False, True):
        mode = "hash" if hash_ids else "sequential"
        alone = statistics.median(one_sync(tmp / f"alone-{mode}-{t}", hash_ids) for t in range(3))
        serial = statistics.median(trial_sync(tmp / f"serial-{mode}-{t}", 100 + t, hash_ids, at_once=False)["seconds"]
                                   for t in range(max(trials // 2, 1)))
        got = [trial_sync(tmp / f"sync-{mode}-{t}", 100 + t, hash_ids) for t in range(trials)]
        secs = statistics.median(g["seconds"] for g in got)
        rows.append((f"{mode} IDs", trials, round(alone, 2), round(secs, 2), round(secs / alone, 1),
                     round(secs / serial, 2),
                     max(g["rounds"] for g in got), round(statistics.median(g["retries_per_sync"] for g in got), 2),
                     f"{sum(g['renumbered'] for g in got)} of {sum(g['issues'] for g in got)}",
                     max(g["max_renames"] for g in got)))
        RESULTS[f"sync_{mode}"] = {"alone_s": alone, "one_by_one_s": serial, "trials": got}
    C.print_table(["8 clones, bd sync at once", "trials", "one sync s", "converged s", "x one sync", "x one by one",
                   "rounds (max)", "retries / sync", "renumbered", "renames / issue (max)"], rows,
                  title="1. bd sync in 8 clones at the same moment")


def trial_daemons(tmp: Path, seed: int) -> dict[str, Any]:
    from testing.clones import call
    from testing.daemon import Daemon
    fleet = _fleet(tmp, False)
    rng = random.Random(seed)
    for c in fleet.clones:
        call(c, "config_set", {"key": "git.pull_interval", "value": "1"})
    daemons = [Daemon(c).start(flush_interval=0.05, auto_commit=True, auto_push=True, commit_interval=0.2)
               for c in fleet.clones]
    try:
        t0 = time.monotonic()
        procs = [subprocess.Popen([*BD, "create", f"c{k} i{i}", "-p", str(rng.randint(0, 4)), "--json"], cwd=c,
                                  env=fleet.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for k, c in enumerate(fleet.clones) for i in range(2)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            if p.returncode != 0:
                raise RuntimeError(err)
        titles = len(procs)
        deadline = time.monotonic() + 120
        while not _converged(fleet, titles):
            if time.monotonic() > deadline:
                raise RuntimeError("the daemons did not converge in 120 s")
            time.sleep(0.1)
        secs = time.monotonic() - t0
        states = [d.health()["git_state"]["push"] for d in daemons]
        pushes = sum(s.get("pushes", 0) for s in states)
        retries = sum(s.get("total_retries", 0) for s in states)
        return {"seconds": secs, "retries_per_push": retries / max(pushes, 1), "pushes": pushes}
    finally:
        for d in daemons:
            d.stop()


def bench_daemons(tmp: Path, trials: int) -> None:
    got = [trial_daemons(tmp / f"daemons-{t}", 200 + t) for t in range(trials)]
    alone = RESULTS["sync_sequential"]["alone_s"]
    secs = statistics.median(g["seconds"] for g in got)
    rows = [("sequential IDs", trials, round(secs, 2), round(secs / alone, 1),
             round(statistics.median(g["retries_per_push"] for g in got), 2),
             round(statistics.median(g["pushes"] for g in got) / N, 1))]
    C.print_table(["8 daemons, auto-push", "trials", "converged s", "x one bd sync", "retries / auto-push",
                   "auto-pushes / clone"], rows, title="2. the daemon's auto-push in 8 clones")
    RESULTS["daemons"] = got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    print(C.machine())
    trials = 2 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="bdgit-bench-sync-") as d:
        tmp = Path(d)
        bench_sync(tmp, trials)
        bench_daemons(tmp, trials)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(RESULTS, indent=2))


if __name__ == "__main__":
    main()
