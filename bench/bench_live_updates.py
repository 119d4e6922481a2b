"""What making the main database file change after each write costs (live updates).

File-watching clients (beads-ui) watch ``.beads/<prefix>.db`` itself; in WAL mode a commit
writes only the ``-wal`` file. bdgit sets the main file's mtime after each committed write
group (``Store.mark_changed``). This compares, per create in one transaction each:

- commit only (the floor),
- commit + ``os.utime`` of the main file (what bdgit does),
- commit + ``PRAGMA wal_checkpoint(PASSIVE)`` (the alternative: copy WAL pages into the file).

Figures are ratios to the floor, measured in one run on this machine. Run:
``python bench/bench_live_updates.py [--runs N]``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    args = ap.parse_args()
    from bdgit import ops
    from bdgit.store import Store

    rows = []
    with C.workspace() as root:
        store = Store(C.db_path(root))

        def create() -> None:
            ops.run(store, "create", {"title": "live update probe"}, "bench")

        def with_touch() -> None:
            create()
            store.mark_changed()

        def with_checkpoint() -> None:
            create()
            store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

        cases = [("commit only", create), ("commit + utime (bdgit)", with_touch),
                 ("commit + PASSIVE checkpoint", with_checkpoint)]
        results = {}
        for _ in range(2):  # interleave the cases twice so drift hits all alike
            for name, fn in cases:
                t = C.time_call(fn, runs=args.runs // 2, warmup=50)
                results.setdefault(name, []).extend(t.samples)
        base = C.percentile(results["commit only"], 50)
        for name, _fn in cases:
            p50 = C.percentile(results[name], 50)
            rows.append((name, f"{p50 * 1e6:.0f} us", f"{C.percentile(results[name], 95) * 1e6:.0f} us",
                         f"{p50 / base:.2f}x"))
        store.close()
    C.print_table(["per create", "p50", "p95", "vs commit only"], rows,
                  title=f"Live updates: making the main db file change ({C.machine()})")


if __name__ == "__main__":
    main()
