"""Hash IDs (the repository's mode, the migration), tombstones (delete, undelete, beads' own
snapshot, edges to deleted issues) and the merge driver's registration, through the CLI and the
operations."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bdgit import jsonl, ops
from bdgit.errors import NotFoundError
from bdgit.gitsync.sync import sync
from bdgit.store import Store

from testing import DATA_DIR, git, run_bd
from testing.clones import call, export_text, make_clones, objects, working_jsonl, ws


def js(*args: str, cwd: Path | None = None) -> Any:
    p = run_bd("--no-daemon", *args, "--json", cwd=cwd)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


# --- hash IDs ---------------------------------------------------------------------------------------

def test_sequential_is_the_default_and_hash_mode_belongs_to_the_repository(beads_repo: Path) -> None:
    assert js("create", "one")["id"] == "test-1"
    (beads_repo / ".beads" / "config.yaml").write_text('# shared by every clone\nid-mode: "hash"\n')
    made = [js("create", f"h{n}")["id"] for n in range(20)]
    for i in made:
        prefix, suffix = i.split("-")
        assert prefix == "test" and len(suffix) == 4 and not suffix.isdigit()
    assert len(set(made)) == 20


def test_migrate_to_hash_ids_rewrites_every_reference_and_leaves_tombstones(tmp_path: Path) -> None:
    _, (a, b) = make_clones(tmp_path, 2)
    call(a, "create", {"title": "base"})
    call(a, "create", {"title": "depends", "description": "after test-1", "dependencies": ["blocks:test-1"]})
    call(a, "create", {"title": "closed one"})
    call(a, "close", {"id": "test-3"})
    sync(ws(a))
    sync(ws(b))
    plan = js("migrate-hash-ids", "--dry-run", cwd=a)
    assert plan["dry_run"] and set(plan["mapping"]) == {"test-1", "test-2", "test-3"}
    assert call(a, "show", {"id": "test-1"})["title"] == "base"  # the dry run changed nothing
    res = js("migrate-hash-ids", cwd=a)
    assert res["mapping"] == plan["mapping"]
    m = res["mapping"]
    dep = call(a, "show", {"id": m["test-2"]})
    assert dep["description"] == f"after {m['test-1']}" and dep["dependencies"][0]["id"] == m["test-1"]
    assert call(a, "show", {"id": m["test-3"]})["status"] == "closed"
    with pytest.raises(NotFoundError):
        call(a, "show", {"id": "test-1"})
    old = objects(working_jsonl(a))["test-1"]
    assert old["status"] == "tombstone" and old["delete_reason"] == f"renamed to {m['test-1']}"
    assert 'id-mode: "hash"' in (a / ".beads" / "config.yaml").read_text()
    assert not call(a, "create", {"title": "new"})["id"].split("-")[1].isdigit()
    # the other clone follows: the old IDs are gone there too, the new ones arrived
    git(a, "add", ".beads/config.yaml")
    git(a, "commit", "-q", "-m", "hash IDs")
    sync(ws(a))
    sync(ws(b))
    live = {i["id"] for i in call(b, "list", {"status": "all"})}
    assert live == {i["id"] for i in call(a, "list", {"status": "all"})} and set(m.values()) <= live
    assert not {"test-1", "test-2", "test-3"} & live
    assert export_text(a) == export_text(b)
    again = js("migrate-hash-ids", cwd=a)  # nothing left to migrate
    assert again["renamed"] == 0


# --- tombstones ----------------------------------------------------------------------------------------

def test_delete_and_undelete_from_the_cli(beads_repo: Path) -> None:
    js("create", "to close")
    js("close", "test-1")
    js("create", "other", "--deps", "blocks:test-1")
    p = run_bd("--no-daemon", "delete", "test-1", "--force", "--reason", "duplicate")
    assert p.returncode == 0, p.stderr
    assert [i["id"] for i in js("list", "--status", "all")] == ["test-2"]
    p = run_bd("--no-daemon", "show", "test-1")
    assert p.returncode != 0 and "deleted" in p.stderr and "bd undelete test-1" in p.stderr
    line = objects(working_jsonl(beads_repo))["test-1"]
    assert (line["status"], line["delete_reason"], line["_v"]["status"][1]) == ("tombstone", "duplicate", "closed")
    assert js("stats")["total_issues"] == 1
    restored = js("undelete", "test-1")
    assert restored["status"] == "closed" and restored["closed_at"]  # the status it had
    assert "deleted_at" not in objects(working_jsonl(beads_repo))["test-1"]
    assert js("stats")["total_issues"] == 2


def test_beads_tombstones_are_deleted_and_an_older_live_line_never_brings_them_back(store: Store) -> None:
    src = (DATA_DIR / "2025-12-28-tombstones.jsonl").read_text(encoding="utf-8")
    jsonl.import_text(store, src, actor="tester")
    lines = src.splitlines()
    tombs = [json.loads(x) for x in lines if '"status":"tombstone"' in x]
    ids = {t["id"] for t in tombs}
    run = lambda op, **a: ops.run(store, op, a, "tester")  # noqa: E731
    listed = {i["id"] for i in run("list", status="all")}
    assert not ids & listed
    assert not ids & {i["id"] for i in run("ready", limit=0)}
    assert not ids & {i["id"] for i in run("blocked")}
    # an older file where one of them is still alive
    t = dict(tombs[0])
    for k in ("deleted_at", "deleted_by", "delete_reason", "original_type"):
        t.pop(k)
    t.update(status="open", updated_at=t["created_at"])
    res = jsonl.import_text(store, json.dumps(t) + "\n", actor="tester")
    assert res.updated == [] and t["id"] not in {i["id"] for i in run("list", status="all")}
    out = {o["id"]: o for o in map(json.loads, jsonl.render(jsonl.export_lines(store)).splitlines())}
    assert out[t["id"]]["status"] == "tombstone"


def test_an_edge_added_while_its_target_was_deleted_elsewhere_blocks_nothing(tmp_path: Path) -> None:
    _, (a, b) = make_clones(tmp_path, 2)
    call(a, "create", {"title": "target"})
    call(a, "create", {"title": "waits"})
    sync(ws(a))
    sync(ws(b))
    call(a, "delete", {"id": "test-1", "force": True})
    call(b, "dep_add", {"from_id": "test-2", "to_id": "test-1"})  # concurrently, on b
    assert [i["id"] for i in call(b, "blocked", {})] == ["test-2"]
    for c in (a, b, a):
        sync(ws(c))
    for c in (a, b):
        shown = call(c, "show", {"id": "test-2"})
        assert shown["dependencies"][0]["id"] == "test-1" and shown["dependencies"][0]["deleted"] is True
        assert call(c, "blocked", {}) == [] and [i["id"] for i in call(c, "ready", {})] == ["test-2"]
    found = call(b, "repair_deps", {})
    assert found["orphans"] == [{"issue_id": "test-2", "depends_on_id": "test-1", "type": "blocks",
                                 "target_deleted": True}]
    assert call(b, "repair_deps", {"fix": True})["fixed"] == 1  # dropped, as a versioned edit
    for c in (b, a):
        sync(ws(c))
    assert call(a, "show", {"id": "test-2"})["dependencies"] == []


# --- the merge driver is registered --------------------------------------------------------------------

def test_bd_init_and_hooks_install_register_the_merge_driver(git_repo: Path) -> None:
    p = run_bd("init", "-q", "--prefix", "test", cwd=git_repo)
    assert p.returncode == 0, p.stderr
    assert (git_repo / ".beads" / ".gitattributes").read_text() == "issues.jsonl merge=beads\n"
    assert git(git_repo, "check-attr", "merge", "--", ".beads/issues.jsonl").stdout.strip().endswith(": beads")
    assert "bdgit merge-driver" in git(git_repo, "config", "merge.beads.driver").stdout
    git(git_repo, "config", "--remove-section", "merge.beads")
    p = run_bd("hooks", "install", cwd=git_repo)
    assert p.returncode == 0, p.stderr
    assert "bdgit merge-driver" in git(git_repo, "config", "merge.beads.driver").stdout
    assert (git_repo / ".beads" / ".gitattributes").read_text() == "issues.jsonl merge=beads\n"  # once



def test_a_database_from_before_versions_upgrades_and_keeps_its_file(tmp_path: Path) -> None:
    """A database made by the first schema (no versions, line hashes) opens, migrates, exports
    the same lines, and versions the edits made after."""
    import sqlite3

    from bdgit.store.schema import SCHEMA_V1, statements
    beads = tmp_path / "old" / ".beads"
    beads.mkdir(parents=True)
    db = beads / "test.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "applied_at TEXT NOT NULL)")
    for stmt in statements(SCHEMA_V1):
        conn.execute(stmt)
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'initial schema', '2025-01-01T00:00:00Z')")
    conn.execute("INSERT INTO config VALUES ('issue_prefix', 'test')")
    conn.execute("INSERT INTO issues (id, title, description, status, priority, issue_type, created_at, updated_at, "
                 "created_us, updated_us) VALUES ('test-1', 'old', '', 'open', 2, 'task', '2025-01-01T00:00:00Z', "
                 "'2025-01-01T00:00:00Z', 1735689600000000, 1735689600000000)")
    conn.close()
    s = Store(db)
    try:
        line = jsonl.export_lines(s)["test-1"]
        assert "_v" not in line  # what it always was
        ops.run(s, "update", {"id": "test-1", "priority": 0}, "tester")
        o = json.loads(jsonl.export_lines(s)["test-1"])
        from bdgit.replication import clock
        old = clock.encode(clock.from_updated(1735689600000000))
        assert o["_v"]["@"] == old and set(o["_v"]) == {"@", "priority"}  # the old default, one edit
        assert s.get_meta("node_id")
    finally:
        s.close()
