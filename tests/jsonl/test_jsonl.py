"""The JSONL file: canonical export, import (newer-wins, all-or-nothing, collisions, bad input,
unknown values), the real beads snapshots, auto-flush and auto-import."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from testing import DATA_DIR, run_op as run

from bdgit import jsonl
from bdgit.errors import CollisionError, ImportFormatError
from bdgit.workspace.initialize import init_workspace
from bdgit.model import ts_micros
from bdgit.store import Store

SNAPSHOTS = sorted(p.name for p in DATA_DIR.glob("*.jsonl"))


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def other(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A second, independent workspace (a teammate's clone)."""
    root = tmp_path / "other"
    root.mkdir()
    init_workspace(root, "test")
    s = Store(root / ".beads" / "test.db")
    yield s
    s.close()


def export(store: Store) -> str:
    return jsonl.render(jsonl.export_lines(store))


def imp(store: Store, text: str, **kw: Any) -> jsonl.ImportResult:
    return jsonl.import_text(store, text, actor="tester", **kw)


def rec(issue_id: str, title: str | None = None, *, created: str = "2025-01-01T00:00:00Z",
        updated: str | None = None, **extra: Any) -> dict[str, Any]:
    o = {"id": issue_id, "title": title or f"issue {issue_id}", "description": "", "status": "open",
         "priority": 2, "issue_type": "task", "created_at": created, "updated_at": updated or created}
    o.update(extra)
    return o


def text_of(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def db_state(store: Store) -> dict[str, list[Any]]:
    out = {}
    for t in ("issues", "dependencies", "labels", "comments", "events", "issue_counters", "dirty_issues",
              "jsonl_base", "clock"):
        out[t] = store.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
    return out


def jpath(repo: Path) -> Path:
    return repo / ".beads" / "issues.jsonl"


def file_lines(repo: Path) -> list[str]:
    return jpath(repo).read_text(encoding="utf-8").splitlines()


def file_objs(repo: Path) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in map(json.loads, file_lines(repo))}


def rewrite(repo: Path, fn: Any) -> None:
    """Edit the workspace JSONL as git or a person would: parse, change, write back."""
    objs = [json.loads(x) for x in file_lines(repo)]
    objs = fn(objs)
    jpath(repo).write_text("".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objs), encoding="utf-8")


def js(bd: Any, *args: str) -> Any:
    code, out, err = bd(*args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def rich(store: Store) -> Store:
    """A database with every kind of content."""
    run(store, "create", title="Root <epic> & more", issue_type="epic", priority=0, description="ünïcödé ✓\nline 2",
        design="d", acceptance_criteria="a", notes="n", assignee="alice", external_ref="gh-1", estimated_minutes=0)
    run(store, "create", title="child", dependencies=["parent-child:test-1"], labels=["z", "a"])
    run(store, "create", title="blocker", priority=1)
    run(store, "dep_add", from_id="test-2", to_id="test-3")
    run(store, "create", title="related", dependencies=["related:test-2"])
    run(store, "comment_add", id="test-2", text="a comment")
    run(store, "close", id="test-4", reason="done")
    for n in range(5, 12):
        run(store, "create", title=f"filler {n}")
    return store


# --- canonical export ----------------------------------------------------------------------------

def test_export_is_canonical(rich: Store) -> None:
    text = export(rich)
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 11
    ids = [json.loads(x)["id"] for x in lines]
    assert ids == sorted(ids)  # as strings: test-1, test-10, test-11, test-2, ...
    assert ids[:4] == ["test-1", "test-10", "test-11", "test-2"]
    first = json.loads(lines[0])
    assert list(first) == ["id", "title", "description", "design", "acceptance_criteria", "notes", "status",
                           "priority", "issue_type", "assignee", "estimated_minutes", "created_at", "updated_at",
                           "external_ref", "_v"]  # the versions come last (docs/JSONL.md)
    assert "\\u003cepic\\u003e \\u0026 more" in lines[0]  # Go's HTML escaping
    assert "ünïcödé ✓\\nline 2" in lines[0]  # UTF-8, not \\u escapes
    for line in lines:
        assert line == jsonl.dumps_compact(json.loads(line))  # compact, stable key order
    child = json.loads(lines[3])
    assert list(child)[-4:] == ["labels", "dependencies", "comments", "_v"]
    assert child["labels"] == ["a", "z"]
    assert [(d["depends_on_id"], d["type"]) for d in child["dependencies"]] == [("test-1", "parent-child"),
                                                                              ("test-3", "blocks")]
    assert list(child["dependencies"][0]) == ["issue_id", "depends_on_id", "type", "created_at", "created_by"]
    closed = json.loads(lines[5])
    assert closed["status"] == "closed" and closed["closed_at"]


def test_export_then_import_then_export_is_byte_identical(rich: Store, other: Store) -> None:
    first = export(rich)
    res = imp(other, first)
    assert len(res.created) == 11
    assert export(other) == first
    again = imp(other, first)  # importing the same file again changes nothing
    assert (again.created, again.updated, again.unchanged) == ([], [], 11)
    assert export(other) == first


def test_export_command_and_import_command_round_trip(bd: Any, beads_repo: Path, tmp_path: Path) -> None:
    for title in ("one", "two <b>", "three"):
        assert bd("create", title, "-l", "x")[0] == 0
    assert bd("dep", "add", "test-3", "test-1")[0] == 0
    code, out, _ = bd("export")
    assert code == 0 and out == jpath(beads_repo).read_text(encoding="utf-8")
    target = tmp_path / "copy.jsonl"
    assert bd("export", "-o", str(target))[0] == 0
    assert target.read_bytes() == jpath(beads_repo).read_bytes()
    code, out, _ = bd("export", "--status", "closed")
    assert code == 0 and out == ""
    root = tmp_path / "clone"
    root.mkdir()
    os.chdir(root)
    assert bd("init", "--prefix", "test", "-q")[0] == 0
    code, _, err = bd("import", "-i", str(target))
    assert code == 0 and "3 created" in err
    assert jpath(root).read_bytes() == target.read_bytes()


def test_one_change_to_one_issue_changes_one_line(bd: Any, beads_repo: Path) -> None:
    for n in range(12):
        assert bd("create", f"issue {n}")[0] == 0
    steps = [("update", "test-3", "--title", "renamed"), ("label", "add", "test-11", "x"),
             ("dep", "add", "test-4", "test-1"), ("close", "test-12"), ("comment", "add", "test-2", "hi"),
             ("update", "test-5", "--priority", "0")]
    for step in steps:
        before = file_lines(beads_repo)
        code, _, err = bd(*step)
        assert code == 0, err
        after = file_lines(beads_repo)
        assert len(after) == len(before) == 12
        assert sum(a != b for a, b in zip(before, after)) == 1, step


def test_writes_are_atomic_renames(bd: Any, beads_repo: Path) -> None:
    assert bd("create", "one")[0] == 0
    inode = jpath(beads_repo).stat().st_ino
    held = open(jpath(beads_repo), encoding="utf-8")  # a reader with the old file open
    try:
        old = held.read()
        assert bd("create", "two")[0] == 0
        assert jpath(beads_repo).stat().st_ino != inode  # a new file was renamed into place
        held.seek(0)
        assert held.read() == old  # the reader's file was never half-written
    finally:
        held.close()
    assert not [p.name for p in (beads_repo / ".beads").iterdir() if ".tmp" in p.name]


# --- import: what is kept ---------------------------------------------------------------------------

def test_import_keeps_timestamps_labels_dependencies_and_comments(store: Store) -> None:
    r1 = rec("test-1", created="2024-03-01T08:00:00.123456789+05:30", updated="2024-03-02T01:02:03Z",
             status="closed", closed_at="2024-03-02T01:02:03Z", labels=["b", "a"],
             comments=[{"author": "x", "text": "hello", "created_at": "2024-03-01T09:00:00Z"}])
    r2 = rec("test-2", created="2024-03-03T00:00:00-07:00",
             dependencies=[{"issue_id": "test-2", "depends_on_id": "test-1", "type": "blocks",
                            "created_at": "2024-03-03T00:00:01-07:00", "created_by": "bob"}])
    imp(store, text_of(r1, r2))
    out = {o["id"]: o for o in map(json.loads, export(store).splitlines())}
    assert out["test-1"]["created_at"] == "2024-03-01T08:00:00.123456789+05:30"
    assert out["test-1"]["updated_at"] == "2024-03-02T01:02:03Z"
    assert out["test-1"]["closed_at"] == "2024-03-02T01:02:03Z"
    assert out["test-1"]["labels"] == ["a", "b"]
    assert out["test-1"]["comments"] == [{"author": "x", "text": "hello", "created_at": "2024-03-01T09:00:00Z"}]
    assert out["test-2"]["dependencies"] == r2["dependencies"]
    assert out["test-2"]["created_at"] == "2024-03-03T00:00:00-07:00"


def test_import_fills_in_defaults(store: Store) -> None:
    imp(store, '{"id":"test-1","title":"bare","created_at":"2025-01-01T00:00:00Z"}\n')
    issue = run(store, "show", id="test-1")
    assert (issue["status"], issue["priority"], issue["issue_type"], issue["description"]) == ("open", 2, "task", "")
    assert issue["updated_at"] == "2025-01-01T00:00:00Z"


def test_blank_lines_and_crlf_are_accepted(store: Store) -> None:
    text = "\n" + json.dumps(rec("test-1")) + "\r\n\n" + json.dumps(rec("test-2")) + "\n\n"
    assert len(imp(store, text).created) == 2


# --- import: newer wins ------------------------------------------------------------------------------

def test_newer_record_from_the_file_wins(store: Store) -> None:
    imp(store, text_of(rec("test-1", "old", updated="2025-01-01T00:00:00Z", labels=["a"])))
    res = imp(store, text_of(rec("test-1", "new", updated="2025-01-02T00:00:00Z", labels=["b"], priority=0)))
    assert res.updated == ["test-1"]
    issue = run(store, "show", id="test-1")
    assert (issue["title"], issue["priority"], issue["labels"]) == ("new", 0, ["b"])
    assert issue["updated_at"] == "2025-01-02T00:00:00Z"  # the file's, not the import's time


def test_older_record_from_the_file_never_overwrites_a_newer_one(store: Store) -> None:
    imp(store, text_of(rec("test-1", "newer here", updated="2025-01-02T00:00:00Z")))
    before = export(store)
    res = imp(store, text_of(rec("test-1", "older there", updated="2025-01-01T23:59:59+00:00", labels=["x"])))
    assert res.kept_newer == ["test-1"] and res.updated == []
    assert export(store) == before


def test_newer_wins_compares_instants_across_time_zones(store: Store) -> None:
    imp(store, text_of(rec("test-1", "local", updated="2025-01-01T12:00:00Z")))
    # 13:00+02:00 is 11:00Z: older, although its text sorts later
    assert imp(store, text_of(rec("test-1", "remote", updated="2025-01-01T13:00:00+02:00"))).kept_newer == ["test-1"]
    # 07:30-05:00 is 12:30Z: newer
    assert imp(store, text_of(rec("test-1", "remote2", updated="2025-01-01T07:30:00-05:00"))).updated == ["test-1"]
    assert run(store, "show", id="test-1")["title"] == "remote2"


def test_a_local_edit_is_newer_than_the_exported_line(store: Store) -> None:
    run(store, "create", title="mine")
    stale = export(store)
    run(store, "update", id="test-1", title="edited")
    assert imp(store, stale).kept_newer == ["test-1"]
    assert run(store, "show", id="test-1")["title"] == "edited"


def test_same_timestamp_conflicts_resolve_the_same_way_everywhere(store: Store, other: Store) -> None:
    a = rec("test-1", "version A", updated="2025-01-05T00:00:00Z")
    b = rec("test-1", "version B", updated="2025-01-05T00:00:00Z")
    imp(store, text_of(a))
    imp(store, text_of(b))
    imp(other, text_of(b))
    imp(other, text_of(a))
    assert export(store) == export(other)


def test_duplicate_lines_in_one_file(store: Store) -> None:
    old = rec("test-1", "old", updated="2025-01-01T00:00:00Z")
    new = rec("test-1", "new", updated="2025-01-02T00:00:00Z")
    imp(store, text_of(new, old, new))
    assert run(store, "show", id="test-1")["title"] == "new"
    twin = rec("test-1", "another issue", created="2025-02-01T00:00:00Z")
    with pytest.raises(ImportFormatError) as e:
        imp(store, text_of(rec("test-2"), old, twin))
    assert e.value.line == 3
    assert run(store, "list") and store.get_issue("test-2") is None


# --- import: dry run and atomicity --------------------------------------------------------------------

def test_dry_run_reports_and_changes_nothing(store: Store) -> None:
    imp(store, text_of(rec("test-1", "a"), rec("test-2", "b")))
    before = db_state(store)
    res = imp(store, text_of(rec("test-1", "a2", updated="2025-02-01T00:00:00Z"), rec("test-2", "b"), rec("test-3")),
              dry_run=True)
    assert (res.created, res.updated, res.unchanged, res.dry_run) == (["test-3"], ["test-1"], 1, True)
    assert db_state(store) == before


def test_dry_run_from_the_cli_changes_neither_database_nor_file(bd: Any, beads_repo: Path, tmp_path: Path) -> None:
    assert bd("create", "existing")[0] == 0
    before_file = jpath(beads_repo).read_bytes()
    src = tmp_path / "in.jsonl"
    src.write_text(text_of(rec("test-7"), rec("test-8")))
    code, _, err = bd("import", "--dry-run", "-i", str(src))
    assert code == 0 and "2 created" in err
    res = js(bd, "import", "--dry-run", "-i", str(src))
    assert res["dry_run"] is True and res["created_ids"] == ["test-7", "test-8"]
    assert [i["id"] for i in js(bd, "list")] == ["test-1"]
    assert jpath(beads_repo).read_bytes() == before_file


# --- import: bad input ----------------------------------------------------------------------------------

GOOD = json.dumps(rec("test-5", "good"))
BAD_INPUTS = {
    "malformed JSON": (f'{GOOD}\n{{"id": "test-6", "title": \n', 2, "invalid JSON"),
    "conflict start": (f"{GOOD}\n<<<<<<< HEAD\n{GOOD}\n", 2, "conflict"),
    "conflict middle": (f"{GOOD}\n\n=======\n", 3, "conflict"),
    "conflict end": (f"{GOOD}\n>>>>>>> origin/main\n", 2, "conflict"),
    "no id": (f'{GOOD}\n{json.dumps({"title": "x", "created_at": "2025-01-01T00:00:00Z"})}\n', 2, "id"),
    "no title": (f'{GOOD}\n{GOOD}\n{json.dumps({"id": "test-7", "created_at": "2025-01-01T00:00:00Z"})}\n', 3,
                 "title"),
    "empty title": (f'{json.dumps({**rec("test-7"), "title": ""})}\n', 1, "title"),
    "priority is a string": (f'{GOOD}\n{json.dumps(rec("test-7", priority="high"))}\n', 2, "priority"),
    "priority is a bool": (f'{json.dumps(rec("test-7", priority=True))}\n', 1, "priority"),
    "title is a number": (f'{GOOD}\n{json.dumps({**rec("test-7"), "title": 5})}\n', 2, "title"),
    "status is a list": (f'{GOOD}\n{json.dumps(rec("test-7", status=["open"]))}\n', 2, "status"),
    "labels not a list": (f'{GOOD}\n{json.dumps(rec("test-7", labels="a,b"))}\n', 2, "labels"),
    "dependencies not a list": (f'{json.dumps(rec("test-7", dependencies={"x": 1}))}\n', 1, "dependencies"),
    "bad timestamp": (f'{GOOD}\n{GOOD}\n{GOOD}\n{json.dumps(rec("test-7", created="yesterday"))}\n', 4,
                      "created_at"),
    "not an object": (f"{GOOD}\n[1, 2]\n", 2, "object"),
    "estimate is text": (f'{json.dumps(rec("test-7", estimated_minutes="10"))}\n', 1, "estimated_minutes"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_names_the_line_and_changes_nothing(store: Store, case: str) -> None:
    run(store, "create", title="existing")
    before = db_state(store)
    text, line, word = BAD_INPUTS[case]
    with pytest.raises(ImportFormatError) as e:
        imp(store, text)
    assert e.value.line == line
    assert f"line {line}" in e.value.message and word in e.value.message
    assert db_state(store) == before


@pytest.mark.parametrize("case", ["malformed JSON", "conflict middle", "no title", "priority is a string"])
def test_bad_input_from_the_cli(bd: Any, beads_repo: Path, tmp_path: Path, case: str) -> None:
    assert bd("create", "existing")[0] == 0
    before = jpath(beads_repo).read_bytes()
    src = tmp_path / "bad.jsonl"
    text, line, _ = BAD_INPUTS[case]
    src.write_text(text)
    code, _, err = bd("import", "-i", str(src))
    assert code != 0
    assert f"line {line}" in err
    assert [i["id"] for i in js(bd, "list")] == ["test-1"]
    assert jpath(beads_repo).read_bytes() == before


# --- import: collisions ------------------------------------------------------------------------------

@pytest.fixture
def local(store: Store) -> Store:
    imp(store, text_of(rec("test-1", "Local one", created="2025-01-01T00:00:00Z"),
                       rec("test-2", "Local two", created="2025-01-01T00:01:00Z")))
    return store


def remote_lines() -> str:
    return text_of(
        rec("test-1", "Remote one", created="2025-03-01T00:00:00Z", labels=["r"]),
        rec("test-3", "Remote three mentions test-1", created="2025-03-01T00:01:00Z",
            dependencies=[{"issue_id": "test-3", "depends_on_id": "test-1", "type": "blocks",
                           "created_at": "2025-03-01T00:01:00Z", "created_by": "r"}]))


def test_collision_without_resolution_is_refused_and_changes_nothing(local: Store) -> None:
    before = db_state(local)
    with pytest.raises(CollisionError) as e:
        imp(local, remote_lines())
    assert "test-1" in e.value.message and "Remote one" in e.value.message
    assert db_state(local) == before


def test_collision_dry_run_reports_it(local: Store) -> None:
    before = db_state(local)
    res = imp(local, remote_lines(), dry_run=True)
    assert [c["id"] for c in res.collisions] == ["test-1"]
    assert db_state(local) == before


def test_resolve_collisions_gives_the_incoming_issue_a_new_id(local: Store) -> None:
    res = imp(local, remote_lines(), collisions="remap")
    assert res.remapped == {"test-1": "test-4"}
    assert sorted(res.created) == ["test-3", "test-4"]
    assert run(local, "show", id="test-1")["title"] == "Local one"  # the local issue is untouched
    moved = run(local, "show", id="test-4")
    assert (moved["title"], moved["labels"], moved["created_at"]) == ("Remote one", ["r"], "2025-03-01T00:00:00Z")
    three = run(local, "show", id="test-3")
    assert three["title"] == "Remote three mentions test-4"  # references inside the file follow
    assert [d["id"] for d in three["dependencies"]] == ["test-4"]
    assert run(local, "create", title="next")["id"] == "test-5"


def test_collision_cli(bd: Any, beads_repo: Path, tmp_path: Path) -> None:
    assert bd("create", "Local one")[0] == 0
    src = tmp_path / "remote.jsonl"
    src.write_text(remote_lines())
    code, _, err = bd("import", "-i", str(src))
    assert code != 0 and "collision" in err.lower() and "test-1" in err
    code, _, err = bd("import", "-i", str(src), "--dry-run")
    assert code == 0 and "Collision Detection Report" in err
    assert [i["id"] for i in js(bd, "list")] == ["test-1"]
    code, _, err = bd("import", "-i", str(src), "--resolve-collisions")
    assert code == 0 and "Collision Detection Report" in err and "imported as test-4" in err
    assert {k: v["title"] for k, v in file_objs(beads_repo).items()} == {
        "test-1": "Local one", "test-3": "Remote three mentions test-4", "test-4": "Remote one"}


def test_an_edited_issue_is_an_update_not_a_collision(local: Store) -> None:
    edited = rec("test-1", "Local one, edited elsewhere", created="2025-01-01T00:00:00Z",
                 updated="2025-05-01T00:00:00Z", status="in_progress", priority=0)
    res = imp(local, text_of(edited))
    assert res.collisions == [] and res.updated == ["test-1"]
    assert run(local, "show", id="test-1")["status"] == "in_progress"
    assert run(local, "list", status="all").__len__() == 2


def test_a_timestamp_written_with_less_precision_is_the_same_issue(store: Store) -> None:
    imp(store, text_of(rec("test-1", "precise", created="2025-11-02T17:25:59.203549-08:00"),
                       rec("test-2", "rounds up", created="2025-11-04T12:32:30.727044-08:00")))
    later = text_of(rec("test-1", "truncated", created="2025-11-03T01:25:59Z", updated="2026-01-01T00:00:00Z"),
                    rec("test-2", "rounded", created="2025-11-04T20:32:31Z", updated="2026-01-01T00:00:00Z"))
    res = imp(store, later)
    assert res.collisions == [] and res.updated == ["test-1", "test-2"]
    assert [i["title"] for i in run(store, "list", sort="id")] == ["truncated", "rounded"]


def test_a_newer_snapshot_of_the_same_project_updates_the_shared_issues(store: Store) -> None:
    imp(store, (DATA_DIR / "2025-11-08-hash-ids.jsonl").read_text(encoding="utf-8"))
    res = imp(store, (DATA_DIR / "2026-02-27-hash-ids-extra-fields.jsonl").read_text(encoding="utf-8"),
              dry_run=True)
    collided = {c["id"] for c in res.collisions}
    # these differ only in the sub-second precision of created_at: the same issues, and newer
    same = {"bd-28db", "bd-6fe4622f", "bd-89f89fc0", "bd-aec5439f"}
    assert not collided & same and same <= set(res.updated)
    assert len(res.created) + len(res.updated) + len(collided) == 704


def test_skip_existing_only_creates(store: Store) -> None:
    imp(store, text_of(rec("test-1", "mine")))
    res = imp(store, text_of(rec("test-1", "theirs", updated="2030-01-01T00:00:00Z"), rec("test-2")),
              skip_existing=True)
    assert (res.created, res.updated, res.unchanged) == (["test-2"], [], 1)
    assert run(store, "show", id="test-1")["title"] == "mine"


def test_import_from_stdin(bd: Any, beads_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(text_of(rec("test-3", "piped in"))))
    code, _, err = bd("import")
    assert code == 0 and "1 created" in err
    assert file_objs(beads_repo)["test-3"]["title"] == "piped in"


def test_export_to_the_workspace_file_is_a_full_flush(bd: Any, beads_repo: Path) -> None:
    assert bd("create", "one", "--no-auto-flush")[0] == 0
    assert file_lines(beads_repo) == []
    code, _, err = bd("export", "-o", ".beads/issues.jsonl", "--no-auto-flush")
    assert code == 0
    assert list(file_objs(beads_repo)) == ["test-1"]
    code, out, _ = bd("list", "--json")
    assert [i["id"] for i in json.loads(out)] == ["test-1"]  # no re-import of our own export


# --- import: values this version does not know ----------------------------------------------------------

UNKNOWN = text_of(
    rec("test-1", status="hooked", issue_type="agent", agent_state="idle", wisp={"a": [1, None, True]}),
    rec("test-2", dependencies=[{"issue_id": "test-2", "depends_on_id": "test-1", "type": "tracks",
                                 "created_at": "2025-01-01T00:00:00Z", "created_by": "x", "metadata": "{}"}]),
    rec("test-3", dependencies=[{"issue_id": "test-3", "depends_on_id": "elsewhere-9", "type": "blocks",
                                 "created_at": "2025-01-01T00:00:00Z", "created_by": "x"}]),
)


def test_unknown_values_are_kept_with_warnings_and_survive_a_round_trip(store: Store, other: Store) -> None:
    res = imp(store, UNKNOWN)
    warnings = "\n".join(res.warnings)
    for word in ("line 1", "hooked", "agent", "line 2", "tracks", "line 3", "elsewhere-9"):
        assert word in warnings, word
    out = export(store)
    assert [json.loads(x) for x in out.splitlines()] == [json.loads(x) for x in UNKNOWN.splitlines()]
    imp(other, out)
    assert export(other) == out


def test_unknown_non_closed_status_is_not_ready_and_blocks(store: Store) -> None:
    imp(store, UNKNOWN)
    imp(store, text_of(rec("test-4", dependencies=[{"issue_id": "test-4", "depends_on_id": "test-1",
                                                     "type": "blocks", "created_at": "2025-01-01T00:00:00Z",
                                                     "created_by": "x"}])))
    ready = [i["id"] for i in run(store, "ready")]
    assert "test-1" not in ready and "test-4" not in ready and "test-2" in ready
    assert "test-4" in [i["id"] for i in run(store, "blocked")]


@pytest.mark.parametrize("which", [0, 1, 2])
def test_strict_refuses_unknown_values(store: Store, which: int) -> None:
    """Unknown status/type (line 1), unknown dependency type (2), edge to an absent issue (3)."""
    text = text_of(rec("test-9")) + UNKNOWN.splitlines()[which] + "\n"
    before = db_state(store)
    with pytest.raises(ImportFormatError) as e:
        imp(store, text, strict=True)
    assert e.value.line == 2 and "strict" in e.value.message
    assert db_state(store) == before
    assert imp(store, text).warnings  # without --strict: kept, with a warning


def test_strict_from_the_cli(bd: Any, tmp_path: Path) -> None:
    src = tmp_path / "new.jsonl"
    src.write_text(UNKNOWN)
    code, _, err = bd("import", "--strict", "-i", str(src))
    assert code != 0 and "line 1" in err
    assert js(bd, "list") == []
    code, _, err = bd("import", "-i", str(src))
    assert code == 0 and "hooked" in err and "tracks" in err and "elsewhere-9" in err
    assert len(js(bd, "list")) == 3


# --- the real beads snapshots --------------------------------------------------------------------------

def _same(key: str, want: Any, got: Any) -> bool:
    if want == got:
        return True
    if isinstance(want, str) and isinstance(got, str) and key.endswith("_at"):
        return ts_micros(want) == ts_micros(got)
    if key == "dependencies" and isinstance(want, list) and isinstance(got, list):
        def norm(ds: list[dict[str, Any]]) -> list[str]:
            return sorted(json.dumps({k: (ts_micros(v) if k.endswith("_at") else v) for k, v in d.items()},
                                     sort_keys=True) for d in ds)
        return norm(want) == norm(got)
    return False


@pytest.mark.parametrize("name", SNAPSHOTS)
def test_real_snapshot_imports_completely_and_survives_a_round_trip(store: Store, other: Store, name: str) -> None:
    src = (DATA_DIR / name).read_text(encoding="utf-8")
    originals = [json.loads(x) for x in src.splitlines() if x.strip()]
    res = imp(store, src)
    assert len(res.created) == len(originals)
    live = [o for o in originals if o["status"] != "tombstone"]  # tombstones are deleted issues
    assert run(store, "stats")["total_issues"] == len(live) == len(run(store, "list", status="all"))
    out = export(store)
    exported = {o["id"]: o for o in map(json.loads, out.splitlines())}
    assert len(exported) == len(originals)
    for o in originals:
        e = exported[o["id"]]
        for key, value in o.items():
            assert key in e, (o["id"], key)
            assert _same(key, value, e[key]), (o["id"], key, value, e[key])
    # and a second clone that imports our export writes exactly the same file
    imp(other, out)
    assert export(other) == out
    again = imp(store, src)
    assert (again.created, again.updated, again.kept_newer) == ([], [], [])


def test_real_snapshot_through_the_cli(bd: Any, beads_repo: Path) -> None:
    src = DATA_DIR / "2025-10-19-sequential-ids.jsonl"
    code, _, err = bd("import", "-i", str(src))
    assert code == 0 and "168 created" in err
    assert len(file_lines(beads_repo)) == 168
    st = js(bd, "stats")
    assert st["total_issues"] == 168
    assert st["ready_issues"] == len(js(bd, "ready", "--limit", "0"))
    assert st["blocked_issues"] == len(js(bd, "blocked"))
    assert js(bd, "create", "after import")["id"] == "test-1"  # our prefix has its own counter
    assert len(file_lines(beads_repo)) == 169


def test_a_clone_of_a_real_snapshot_keeps_the_file_and_edits_change_one_line(bd: Any, tmp_path: Path) -> None:
    src = (DATA_DIR / "2026-02-27-hash-ids-extra-fields.jsonl").read_bytes()
    clone = tmp_path / "clone"
    (clone / ".beads").mkdir(parents=True)
    (clone / ".beads" / "issues.jsonl").write_bytes(src)
    os.chdir(clone)
    code, out, err = bd("init")
    assert code == 0 and "Imported 704 issues" in out and "Issue prefix: bd" in out
    assert jpath(clone).read_bytes() == src  # written by another beads: left as it is
    code, out, _ = bd("list", "--json", "--status", "all")
    assert code == 0 and len(json.loads(out)) == 704
    assert jpath(clone).read_bytes() == src
    before = src.decode().splitlines()
    target = json.loads(before[100])["id"]
    assert bd("update", target, "--notes", "touched by bdgit")[0] == 0
    after = file_lines(clone)
    assert len(after) == len(before)
    # the file comes back in canonical order (sorted by id); only the edited line is new
    assert set(before) - set(after) == {before[100]}
    (added,) = set(after) - set(before)
    assert [json.loads(x)["id"] for x in after] == sorted(json.loads(x)["id"] for x in before)
    new = json.loads(added)
    old = json.loads(before[100])
    assert new["notes"] == "touched by bdgit"
    assert {k: v for k, v in old.items() if k not in ("notes", "updated_at")} == {
        k: v for k, v in new.items() if k not in ("notes", "updated_at") and k in old}


# --- auto-flush and auto-import -------------------------------------------------------------------------

def test_auto_flush_keeps_the_file_current(bd: Any, beads_repo: Path) -> None:
    assert jpath(beads_repo).read_text() == ""
    assert bd("create", "one", "-l", "x")[0] == 0
    assert file_objs(beads_repo)["test-1"]["labels"] == ["x"]
    assert bd("update", "test-1", "--status", "in_progress")[0] == 0
    assert file_objs(beads_repo)["test-1"]["status"] == "in_progress"
    assert bd("delete", "test-1", "--force")[0] == 0
    assert file_objs(beads_repo)["test-1"]["status"] == "tombstone"  # the delete travels as a tombstone


def test_no_auto_flush_leaves_the_file_until_the_next_write(bd: Any, beads_repo: Path) -> None:
    assert bd("create", "one")[0] == 0
    before = jpath(beads_repo).read_bytes()
    assert bd("--no-auto-flush", "create", "two")[0] == 0
    assert bd("update", "test-1", "--title", "one!", "--no-auto-flush")[0] == 0
    assert jpath(beads_repo).read_bytes() == before
    assert [i["title"] for i in js(bd, "list", "--sort", "id")] == ["one!", "two"]  # no revert from the file
    code, out, _ = bd("export")  # exporting to stdout does not count as flushing the workspace file
    assert code == 0 and len(out.splitlines()) == 2
    assert jpath(beads_repo).read_bytes() == before
    assert bd("create", "three")[0] == 0
    assert {k: v["title"] for k, v in file_objs(beads_repo).items()} == {"test-1": "one!", "test-2": "two",
                                                                         "test-3": "three"}


def test_auto_import_after_an_external_edit(bd: Any, beads_repo: Path) -> None:
    for t in ("one", "two", "three"):
        assert bd("create", t)[0] == 0

    def pull(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for o in objs:
            if o["id"] == "test-2":
                o["title"] = "two (edited by a teammate)"
                o["updated_at"] = "2999-01-01T00:00:00Z"
            if o["id"] == "test-3":  # an old line from a client that keeps no versions
                o.pop("_v")
                o["title"] = "three, but stale"
                o["updated_at"] = "2000-01-01T00:00:00Z"
        objs.append(rec("test-9", "from the teammate", created="2025-06-01T00:00:00Z", labels=["remote"]))
        return objs

    rewrite(beads_repo, pull)
    code, out, err = bd("list", "--json")
    assert code == 0
    titles = {i["id"]: i["title"] for i in json.loads(out)}
    assert titles == {"test-1": "one", "test-2": "two (edited by a teammate)", "test-3": "three",
                      "test-9": "from the teammate"}
    assert "auto-import" in err
    assert js(bd, "show", "test-9")["labels"] == ["remote"]
    events = js(bd, "events", "test-2")
    assert events[-1]["actor"] == "auto-import"
    assert js(bd, "create", "after")["id"] == "test-10"  # the counter absorbed test-9
    # the next write rewrote the stale line with the newer local version
    assert file_objs(beads_repo)["test-3"]["title"] == "three"


def test_a_removed_jsonl_deletes_nothing_and_comes_back(bd: Any, beads_repo: Path) -> None:
    for t in ("one", "two"):
        assert bd("create", t)[0] == 0
    jpath(beads_repo).unlink()
    assert [i["id"] for i in js(bd, "list", "--sort", "id")] == ["test-1", "test-2"]
    assert bd("create", "three")[0] == 0
    assert sorted(file_objs(beads_repo)) == ["test-1", "test-2", "test-3"]


def test_no_auto_import_ignores_the_file(bd: Any, beads_repo: Path) -> None:
    assert bd("create", "one")[0] == 0
    rewrite(beads_repo, lambda objs: objs + [rec("test-5")])
    assert [i["id"] for i in js(bd, "list", "--no-auto-import")] == ["test-1"]
    assert [i["id"] for i in js(bd, "list")] == ["test-1", "test-5"]


def test_a_line_missing_from_the_file_deletes_nothing_and_is_written_back(bd: Any, beads_repo: Path) -> None:
    for t in ("one", "two", "three"):
        assert bd("create", t)[0] == 0
    rewrite(beads_repo, lambda objs: [o for o in objs if o["id"] != "test-2"])
    code, out, err = bd("list", "--json")
    assert code == 0 and sorted(i["id"] for i in json.loads(out)) == ["test-1", "test-2", "test-3"]
    assert "lacks 1 issue(s)" in err and "test-2" in err and "bd delete" in err  # said once
    assert sorted(file_objs(beads_repo)) == ["test-1", "test-2", "test-3"]  # and written back
    code, _, err = bd("list")
    assert code == 0 and "lacks" not in err


def test_a_deleted_line_does_not_delete_a_locally_changed_issue(bd: Any, beads_repo: Path) -> None:
    for t in ("one", "two"):
        assert bd("create", t)[0] == 0
    assert bd("update", "test-2", "--title", "two, changed here", "--no-auto-flush")[0] == 0
    rewrite(beads_repo, lambda objs: [o for o in objs if o["id"] != "test-2"])
    assert {i["id"]: i["title"] for i in js(bd, "list")} == {"test-1": "one", "test-2": "two, changed here"}
    assert bd("create", "three")[0] == 0
    assert file_objs(beads_repo)["test-2"]["title"] == "two, changed here"


def test_a_stale_file_never_resurrects_a_local_delete(bd: Any, beads_repo: Path) -> None:
    for t in ("one", "two", "three"):
        assert bd("create", t)[0] == 0
    assert bd("delete", "test-2", "--force", "--no-auto-flush")[0] == 0
    assert "test-2" in file_objs(beads_repo)  # the file is stale now
    assert sorted(i["id"] for i in js(bd, "list")) == ["test-1", "test-3"]
    # a teammate's unrelated edit arrives while our delete is not flushed yet

    def pull(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for o in objs:
            if o["id"] == "test-3":
                o["title"], o["updated_at"] = "three, edited", "2999-01-01T00:00:00Z"
        return objs

    rewrite(beads_repo, pull)
    assert {i["id"]: i["title"] for i in js(bd, "list")} == {"test-1": "one", "test-3": "three, edited"}
    assert bd("create", "four")[0] == 0
    objs = file_objs(beads_repo)
    assert sorted(objs) == ["test-1", "test-2", "test-3", "test-4"] and objs["test-2"]["status"] == "tombstone"


def test_a_stale_file_never_reverts_a_newer_local_change(bd: Any, beads_repo: Path) -> None:
    assert bd("create", "one")[0] == 0
    assert bd("create", "two")[0] == 0
    old_file = jpath(beads_repo).read_text()
    assert bd("update", "test-1", "--title", "one, newer")[0] == 0
    assert bd("update", "test-2", "--title", "two, newer", "--no-auto-flush")[0] == 0
    jpath(beads_repo).write_text(old_file)  # e.g. git checkout of an older .beads/issues.jsonl
    assert {i["id"]: i["title"] for i in js(bd, "list")} == {"test-1": "one, newer", "test-2": "two, newer"}
    assert bd("create", "three")[0] == 0
    assert {k: v["title"] for k, v in file_objs(beads_repo).items()} == {
        "test-1": "one, newer", "test-2": "two, newer", "test-3": "three"}


def test_auto_import_renumbers_a_local_issue_that_collides_with_the_file(bd: Any, beads_repo: Path) -> None:
    for t in ("one", "two"):
        assert bd("create", t)[0] == 0
    assert bd("create", "mine, not pushed yet", "--no-auto-flush")[0] == 0  # test-3, only in the database
    rewrite(beads_repo, lambda objs: objs + [rec("test-3", "theirs, pulled", created="2025-06-01T00:00:00Z")])
    code, out, err = bd("list", "--json")
    assert code == 0 and "test-3" in err and "test-4" in err
    assert {i["id"]: i["title"] for i in json.loads(out)} == {
        "test-1": "one", "test-2": "two", "test-3": "theirs, pulled", "test-4": "mine, not pushed yet"}
    assert bd("create", "five")[0] == 0
    assert sorted(file_objs(beads_repo)) == ["test-1", "test-2", "test-3", "test-4", "test-5"]


def test_conflict_markers_in_the_workspace_file_stop_the_command(bd: Any, beads_repo: Path) -> None:
    assert bd("create", "one")[0] == 0
    line = file_lines(beads_repo)[0]
    jpath(beads_repo).write_text(f"<<<<<<< HEAD\n{line}\n=======\n{line.replace('one', 'uno')}\n>>>>>>> theirs\n")
    code, _, err = bd("list")
    assert code != 0 and "conflict" in err and "line 1" in err
    code, _, err = bd("create", "two")
    assert code != 0
    jpath(beads_repo).write_text(line + "\n")
    assert [i["id"] for i in js(bd, "list")] == ["test-1"]
    assert js(bd, "create", "two")["id"] == "test-2"


def test_import_of_the_workspace_file_itself(bd: Any, beads_repo: Path) -> None:
    assert bd("create", "one")[0] == 0
    rewrite(beads_repo, lambda objs: objs + [rec("test-2", "two")])
    code, _, err = bd("import", "-i", str(jpath(beads_repo)))
    assert code == 0 and "1 created" in err
    assert sorted(i["id"] for i in js(bd, "list")) == ["test-1", "test-2"]


def test_metadata_records_what_was_last_written(bd: Any, beads_repo: Path, store: Store) -> None:
    assert bd("create", "one")[0] == 0
    from bdgit.jsonl.lines import digest_text
    assert store.get_meta("jsonl_digest") == digest_text(jpath(beads_repo).read_text())
    assert store.dirty_ids() == []
