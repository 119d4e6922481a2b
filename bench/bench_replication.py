"""Replication benchmarks: the merge driver and the import on 10,000 issues, the size the
versions add to the JSONL, and how many rounds of ``bd sync`` N clones need to converge.

    python bench/bench_replication.py            # full run (~2 min on 2 cores)
    python bench/bench_replication.py --quick    # fewer repetitions, smaller convergence runs
    python bench/bench_replication.py --json-out results.json

What is measured (every time a median of several runs, compared as ratios within the run):

1. JSONL size: a 10,000-issue workspace where a third of the issues were edited a few times
   through bdgit (fields, labels, status, comments), with versions (``_v``) and without;
   and a workspace made by bdgit from scratch (every line carries ``_v``). Aim: <= 1.3x.
2. The merge driver (``merge_texts``) on 10,000 issues with 1% changed on each side, as a ratio
   to a plain ``bd import`` of the same file into a fresh database; also as a whole
   ``bd merge-driver`` process.
3. The workspace import of that merged file into a database that holds one side (100 issues
   change), as a ratio to the same plain import.
4. Convergence: N clones of one bare remote (real git, ``bd sync``), each with its own edits
   (including edits of the same fields of the same issues); rounds of "every clone syncs once,
   in a random order" until every clone's export and JSONL are the same.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

RESULTS: dict[str, Any] = {}
N = 10_000
TARGET_SIZE_RATIO = 1.3


def ms(t: float) -> float:
    return t * 1000


def _ops(store: Any, op: str, **args: Any) -> Any:
    from bdgit import ops
    return ops.run(store, op, args, "bench")


def edit_some(store: Any, ids: list[str], rng: random.Random, share: float, tag: str) -> list[str]:
    """Edit ``share`` of the issues through the operations (one to three edits each)."""
    picked = rng.sample(ids, int(len(ids) * share))
    for i in picked:
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(["title", "priority", "notes", "assignee", "label", "close", "comment"])
            try:
                if kind == "title":
                    _ops(store, "update", id=i, title=f"{tag} retitled {rng.random():.6f}")
                elif kind == "priority":
                    _ops(store, "update", id=i, priority=rng.randint(0, 4))
                elif kind == "notes":
                    _ops(store, "update", id=i, notes=f"{tag} note {rng.random():.6f}")
                elif kind == "assignee":
                    _ops(store, "update", id=i, assignee=rng.choice(["ann", "bob", "agent-7"]))
                elif kind == "label":
                    _ops(store, "label_add", id=i, label=f"{tag}-{rng.randint(0, 5)}")
                elif kind == "close":
                    _ops(store, "close", id=i)
                else:
                    _ops(store, "comment_add", id=i, text=f"{tag} says {rng.random():.6f}")
            except Exception:
                pass
    return picked


def export(store: Any) -> str:
    from bdgit import jsonl
    return jsonl.render(jsonl.export_lines(store))


def strip_versions(text: str) -> str:
    from bdgit.model import dumps_compact
    out = []
    for line in text.splitlines():
        o = json.loads(line)
        o.pop("_v", None)
        out.append(dumps_compact(o) + "\n")
    return "".join(out)


class Fixture:
    """The 10,000-issue base, the two sides (1% edited each), and database copies."""

    def __init__(self, tmp: Path, quick: bool) -> None:
        from bdgit.store import Store
        from bdgit.workspace.initialize import init_workspace
        self.tmp = tmp
        rng = random.Random(7)
        plain = C.generate_jsonl(N)
        root = tmp / "base"
        (root / ".beads").mkdir(parents=True)
        (root / ".beads" / "issues.jsonl").write_text(plain, encoding="utf-8")
        init_workspace(root, C.PREFIX, actor="bench")
        self.base_db = next((root / ".beads").glob("*.db"))
        s = Store(self.base_db)
        ids = [r["id"] for r in s.conn.execute("SELECT id FROM issues ORDER BY id")]
        edit_some(s, ids, rng, 0.33, "hist")  # a history: a third of the issues edited before
        self.base = export(s)
        s.close()
        self.sides = []
        for tag in ("ours", "theirs"):
            db = tmp / f"{tag}.db"
            self.copy_db(self.base_db, db)
            st = Store(db)
            edit_some(st, ids, rng, 0.01, tag)
            self.sides.append(export(st))
            st.close()
            setattr(self, f"{tag}_db", db)
        self.ours, self.theirs = self.sides

    @staticmethod
    def copy_db(src: Path, dst: Path) -> None:
        a = sqlite3.connect(str(src))
        b = sqlite3.connect(str(dst))
        with b:
            a.backup(b)
        a.close()
        b.close()


def bench_size(fx: Fixture, quick: bool) -> None:
    from bdgit.store import Store
    rows = []
    with_v, without = len(fx.base.encode()), len(strip_versions(fx.base).encode())
    rows.append(("10,000 from beads, a third edited in bdgit", with_v, without, round(with_v / without, 3)))
    # a workspace bdgit made from scratch: every line has _v
    n = 2000 if quick else 5000
    tmp = fx.tmp / "fresh"
    (tmp / ".beads").mkdir(parents=True)
    from bdgit.workspace.initialize import init_workspace
    init_workspace(tmp, "fresh", actor="bench")
    s = Store(next((tmp / ".beads").glob("*.db")))
    src = C.generate_issues(n, seed=3)
    for o in src:
        _ops(s, "create", title=o["title"], description=o.get("description", ""), priority=o["priority"],
             issue_type=o["issue_type"], labels=o.get("labels", []))
    ids = [r["id"] for r in s.conn.execute("SELECT id FROM issues")]
    edit_some(s, ids, random.Random(5), 0.33, "fresh")
    text = export(s)
    s.close()
    a, b = len(text.encode()), len(strip_versions(text).encode())
    rows.append((f"{n:,} made by bdgit, a third edited", a, b, round(a / b, 3)))
    C.print_table(["JSONL", "bytes with _v", "bytes without", "ratio (aim <= 1.3)"], rows,
                  title="1. the size of the versions")
    RESULTS["size"] = [dict(zip(("case", "with", "without", "ratio"), r)) for r in rows]


def bench_merge_and_import(fx: Fixture, runs: int) -> None:
    from bdgit import jsonl
    from bdgit.replication.filemerge import merge_texts
    from bdgit.store import Store
    from bdgit.workspace.initialize import init_workspace
    k = [0]

    def fresh_store() -> Store:
        k[0] += 1
        root = fx.tmp / f"plain{k[0]}"
        (root / ".beads").mkdir(parents=True)
        init_workspace(root, C.PREFIX, actor="bench")
        return Store(next((root / ".beads").glob("*.db")))

    stores: list[Store] = []

    def setup_plain() -> None:
        stores.append(fresh_store())

    t_plain = C.time_call(lambda: jsonl.import_text(stores[-1], fx.ours, actor="bench"), runs, setup=setup_plain)
    for s in stores:
        s.close()
    t_merge = C.time_call(lambda: merge_texts(fx.base, fx.ours, fx.theirs), runs)
    merged = merge_texts(fx.base, fx.ours, fx.theirs)
    # the merge driver as git runs it: a process with three files
    files = {name: fx.tmp / f"{name}.jsonl" for name in ("O", "A", "B")}

    def setup_files() -> None:
        files["O"].write_text(fx.base)
        files["A"].write_text(fx.ours)
        files["B"].write_text(fx.theirs)

    cmd = [*C.bd_command(), "merge-driver", str(files["O"]), str(files["A"]), str(files["B"]), ".beads/issues.jsonl"]
    t_proc = C.time_call(lambda: subprocess.run(cmd, check=True, capture_output=True, env=C.bench_env(),
                                                cwd=fx.tmp), max(3, runs // 2), setup=setup_files)
    assert files["A"].read_text() == merged.text
    # the import of the merged file into a workspace that holds "ours"
    work = fx.tmp / "work"

    def setup_import() -> None:
        if work.exists():
            shutil.rmtree(work)
        (work / ".beads").mkdir(parents=True)
        (work / ".beads" / "issues.jsonl").write_text(fx.ours)
        init_workspace(work, C.PREFIX, actor="bench")
        (work / ".beads" / "issues.jsonl").write_text(merged.text)

    def do_import() -> None:
        s = Store(next((work / ".beads").glob("*.db")))
        try:
            res = jsonl.import_text(s, merged.text, actor="bench", workspace=True, collisions="auto",
                                    path=work / ".beads" / "issues.jsonl")
            assert len(res.updated) + res.unchanged == N
        finally:
            s.close()

    t_imp = C.time_call(do_import, runs, setup=setup_import)
    base = t_plain.median
    rows = [
        ("plain import of one side into a fresh database", t_plain.runs, ms(t_plain.median), 1.0),
        ("merge_texts (in-process), 1% changed per side", t_merge.runs, ms(t_merge.median),
         round(t_merge.median / base, 3)),
        ("bd merge-driver (whole process)", t_proc.runs, ms(t_proc.median), round(t_proc.median / base, 3)),
        ("workspace import of the merged file (1% new)", t_imp.runs, ms(t_imp.median), round(t_imp.median / base, 3)),
    ]
    C.print_table(["10,000 issues", "runs", "median ms", "x plain import"], rows,
                  title="2-3. merge driver and import")
    print(f"  merged: {len(merged.both_changed)} issue(s) changed on both sides")
    RESULTS["merge"] = [dict(zip(("case", "runs", "median_ms", "ratio"), r)) for r in rows]


def bench_convergence(tmp: Path, sizes: list[int], seeds: list[int], edits: int) -> None:
    """Rounds of 'every clone syncs once, in a random order' until all clones agree."""
    sys.path.insert(0, str(C.ROOT / "tests"))
    from bdgit.gitsync.sync import sync
    from testing.clones import call, export_text, make_clones, working_jsonl, ws
    rows = []
    for n in sizes:
        worst = 0
        for seed in seeds:
            rng = random.Random(seed)
            where = tmp / f"conv{n}-{seed}"
            where.mkdir()
            _, clones = make_clones(where, n)
            call(clones[0], "create", {"title": "shared", "external_ref": "shared"})
            for c in clones:
                sync(ws(c))
            for k, c in enumerate(clones):
                for e in range(edits):
                    if rng.random() < 0.5:
                        call(c, "update", {"id": "test-1", rng.choice(["title", "notes"]): f"c{k} e{e}"})
                    else:
                        call(c, "create", {"title": f"c{k} issue {e}", "external_ref": f"c{k}-{e}"})
            rounds = 0
            while True:
                rounds += 1
                for c in rng.sample(clones, n):
                    sync(ws(c))
                texts = {export_text(c) for c in clones}
                if len(texts) == 1 and all(working_jsonl(c) == next(iter(texts)) for c in clones):
                    break
                if rounds > 10:
                    raise AssertionError(f"{n} clones did not converge in 10 rounds")
            worst = max(worst, rounds)
        rows.append((n, len(seeds), edits, worst))
    C.print_table(["clones", "seeds", "edits per clone", "rounds to converge (worst)"], rows,
                  title="4. convergence (each round: every clone runs bd sync once)")
    RESULTS["convergence"] = [dict(zip(("clones", "seeds", "edits", "rounds"), r)) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json-out")
    args = ap.parse_args()
    print(C.machine())
    runs = 3 if args.quick else 7
    with tempfile.TemporaryDirectory(prefix="bdgit-bench-repl-") as d:
        tmp = Path(d)
        t0 = time.monotonic()
        fx = Fixture(tmp, args.quick)
        print(f"fixture: {N:,} issues, 1% changed per side ({time.monotonic() - t0:.1f}s)")
        bench_size(fx, args.quick)
        bench_merge_and_import(fx, runs)
        bench_convergence(tmp, [2, 3] if args.quick else [2, 3, 5], [1, 2] if args.quick else [1, 2, 3],
                          3 if args.quick else 5)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(RESULTS, indent=2))


if __name__ == "__main__":
    main()
