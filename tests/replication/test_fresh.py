"""Issues new to the database imported straight from their lines (``replication.fresh``) equal
what the general merge writes for them: every table, the exported file, the kept flags and
counts; for the real beads snapshots and for a generated workspace large enough for the bulk
load (``derived.Bulk``), both as the workspace JSONL and as another file."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from testing import DATA_DIR

from bdgit import jsonl
from bdgit.errors import ImportFormatError
from bdgit.replication import importer
from bdgit.store import Store, derived
from bdgit.workspace.initialize import init_workspace

SNAPSHOTS = sorted(p.name for p in DATA_DIR.glob("*.jsonl"))

#: columns that hold the time of the import itself (differ between two imports of one file)
_TIMED = {"events": "created_at", "dirty_issues": "marked_at"}


def _store(root: Path, prefix: str) -> Store:
    root.mkdir(parents=True)
    init_workspace(root, prefix)
    return Store(root / ".beads" / f"{prefix}.db")


def _tables(s: Store) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for t in ("issues", "dependencies", "labels", "comments", "events", "issue_counters", "dirty_issues",
              "jsonl_base", "issue_counts", "blocked_pending"):
        names = [r["name"] for r in s.conn.execute(f"PRAGMA table_info({t})")]
        cols = [c for c in names if c not in ("id", _TIMED.get(t)) or (t == "issues" and c == "id")]
        rows = s.conn.execute(f"SELECT {', '.join(cols)} FROM {t}").fetchall()
        out[t] = sorted((tuple(r[c] for c in cols) for r in rows), key=repr)
    return out


def _both(tmp_path: Path, text: str, prefix: str, workspace: bool) -> tuple[Store, Store]:
    out = []
    for fast in (True, False):
        s = _store(tmp_path / f"{'fast' if fast else 'merge'}-{workspace}", prefix)
        path = s.beads_dir / "issues.jsonl"
        if workspace:
            path.write_text(text)
        jsonl.import_text(s, text, actor="tester", workspace=workspace, path=path if workspace else None,
                          fast=fast)
        out.append(s)
    return out[0], out[1]


def _same(a: Store, b: Store) -> None:
    assert _tables(a) == _tables(b)
    assert jsonl.render(jsonl.export_lines(a)) == jsonl.render(jsonl.export_lines(b))
    assert derived.problems(a.conn) == [] and derived.problems(b.conn) == []


def _prefix(text: str) -> str:
    first = json.loads(text.splitlines()[0])["id"]
    return str(first.rpartition("-")[0])


@pytest.mark.parametrize("workspace", [True, False])
@pytest.mark.parametrize("name", SNAPSHOTS)
def test_real_snapshots_import_the_same_both_ways(tmp_path: Path, name: str, workspace: bool) -> None:
    text = (DATA_DIR / name).read_text()
    a, b = _both(tmp_path, text, _prefix(text), workspace)
    try:
        _same(a, b)
    finally:
        a.close()
        b.close()


def generated(n: int, seed: int = 7) -> str:
    """``n`` issues as a beads export has them: statuses, priorities, labels, ~1.5 edges each
    (some to issues not in the file, some parent-child), descriptions, comments, unknown keys."""
    rnd = random.Random(seed)
    lines = []
    for k in range(1, n + 1):
        status = rnd.choice(("open", "open", "in_progress", "blocked", "closed", "closed"))
        created = f"2025-{1 + k % 12:02d}-{1 + k % 28:02d}T{k % 24:02d}:{k % 60:02d}:{k % 59:02d}.{k:06d}Z"
        o: dict[str, Any] = {"id": f"gen-{k}", "title": f"issue {k} \u00e9", "status": status,
                             "priority": rnd.randrange(5), "issue_type": rnd.choice(("task", "bug", "epic")),
                             "created_at": created, "updated_at": created.replace("2025", "2026")}
        if rnd.random() < 0.4:
            o["description"] = f"why {k}\nline two"
        if status == "closed" and rnd.random() < 0.8:
            o["closed_at"] = o["updated_at"]
        if rnd.random() < 0.5:
            o["labels"] = rnd.sample(["ui", "db", "cli", "perf", "docs"], rnd.randrange(1, 3))
        deps = []
        for _ in range(rnd.choice((0, 1, 2, 3))):
            target = f"gen-{rnd.randrange(1, n + 20)}"
            if target != o["id"]:
                deps.append({"issue_id": o["id"], "depends_on_id": target,
                             "type": rnd.choice(("blocks", "blocks", "parent-child", "related")),
                             "created_at": created, "created_by": "gen"})
        if deps:
            o["dependencies"] = deps
        if rnd.random() < 0.1:
            o["comments"] = [{"author": "a", "text": "same", "created_at": created},
                             {"author": "a", "text": "same", "created_at": created},
                             {"author": "b", "text": "other", "created_at": created, "mood": "ok"}]
        if rnd.random() < 0.1:
            o["x_custom"] = {"k": k}
        if rnd.random() < 0.05:
            o["assignee"] = "someone"
        lines.append(json.dumps(o))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("workspace", [True, False])
def test_a_bulk_load_imports_the_same_both_ways(tmp_path: Path, workspace: bool) -> None:
    text = generated(importer.BULK_AT + 300)
    a, b = _both(tmp_path, text, "gen", workspace)
    try:
        _same(a, b)
        assert a.conn.execute("SELECT count(*) AS n FROM issues").fetchone()["n"] == importer.BULK_AT + 300
        # the triggers and indexes are back after the load: as a new database has them
        empty = _store(tmp_path / "empty", "gen")
        schema = "SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'index') ORDER BY name"
        try:
            want = [(r["type"], r["name"], r["sql"]) for r in empty.conn.execute(schema)]
        finally:
            empty.close()
        assert [(r["type"], r["name"], r["sql"]) for r in a.conn.execute(schema)] == want
        assert {name for kind, name, _ in want if kind == "trigger"} == set(derived.TRIGGERS)
    finally:
        a.close()
        b.close()


def test_new_issues_next_to_known_ones_merge_as_before(tmp_path: Path) -> None:
    """A second import: known lines unchanged, some changed, some new (the fast path for the new
    ones only), one with versions, one tombstone."""
    first = generated(200, seed=3)
    objs = [json.loads(x) for x in first.splitlines()]
    more = [dict(o) for o in objs]
    for o in more[:20]:
        o["title"] += " (edited)"
        o["updated_at"] = "2027-01-01T00:00:00Z"
    extra = json.loads(generated(230, seed=3).splitlines()[-1])
    extra["id"] = "gen-999"
    extra["dependencies"] = [{"issue_id": "gen-999", "depends_on_id": "gen-5", "type": "blocks",
                              "created_at": extra["created_at"], "created_by": "gen"}]
    more.append(extra)
    more.append({"id": "gen-998", "title": "gone", "status": "tombstone", "created_at": "2025-01-01T00:00:00Z",
                 "updated_at": "2025-02-01T00:00:00Z", "deleted_at": "2025-02-01T00:00:00Z"})
    second = "\n".join(json.dumps(o) for o in more) + "\n"
    stores = []
    for fast in (True, False):
        s = _store(tmp_path / f"s-{fast}", "gen")
        path = s.beads_dir / "issues.jsonl"
        path.write_text(first)
        jsonl.import_text(s, None, actor="tester", workspace=True, path=path, fast=fast)
        path.write_text(second)
        res = jsonl.import_text(s, None, actor="tester", workspace=True, path=path, fast=fast)
        assert sorted(res.created) == ["gen-998", "gen-999"]
        assert len(res.updated) == 20
        # a line with versions, new here: the general path
        line = json.loads(jsonl.export_lines(s)["gen-7"])
        assert "_v" in line
        line["id"] = "gen-997"
        line.pop("dependencies", None)
        path.write_text(second + json.dumps(line) + "\n")
        res = jsonl.import_text(s, None, actor="tester", workspace=True, path=path, fast=fast)
        assert res.created == ["gen-997"]
        stores.append(s)
    try:
        _same(stores[0], stores[1])
    finally:
        for s in stores:
            s.close()


def test_a_bad_line_among_many_names_its_line_and_changes_nothing(tmp_path: Path) -> None:
    lines = generated(importer.BULK_AT + 50).splitlines()
    lines[importer.BULK_AT + 10] = '{"id": "gen-x", "title": 5}'
    s = _store(tmp_path / "bad", "gen")
    try:
        path = s.beads_dir / "issues.jsonl"
        path.write_text("\n".join(lines) + "\n")
        before = _tables(s)
        with pytest.raises(ImportFormatError) as e:
            jsonl.import_text(s, None, actor="tester", workspace=True, path=path)
        assert f"line {importer.BULK_AT + 11}" in str(e.value) and "issues.jsonl" in str(e.value)
        assert _tables(s) == before
    finally:
        s.close()
