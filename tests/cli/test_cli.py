"""The ``bd`` command line: every command with --json and with beads' human key strings,
global flags anywhere, environment variables, errors and exit codes.

Most tests use the in-process ``bd`` runner (same code path as the console script); a few run
the real ``python -m bdgit`` process.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from testing import run_bd

Bd = Any


def ok(bd: Bd, *args: str) -> str:
    code, out, err = bd(*args)
    assert code == 0, f"bd {' '.join(args)} -> {code}\n{out}\n{err}"
    return out


def js(bd: Bd, *args: str) -> Any:
    return json.loads(ok(bd, *args, "--json"))


def fails(bd: Bd, *args: str) -> tuple[int, str, str]:
    code, out, err = bd(*args)
    assert code != 0, f"bd {' '.join(args)} should fail\n{out}\n{err}"
    return code, out, err


@pytest.fixture
def three(bd: Bd) -> Bd:
    """test-1 (P1 bug, alice, label ui) <- blocks - test-2 (P2) ; test-3 (P3 chore)."""
    ok(bd, "create", "Login broken", "-p", "1", "-t", "bug", "-a", "alice", "-l", "ui", "-d", "Steps: ...")
    ok(bd, "create", "Add tests", "--deps", "test-1")
    ok(bd, "create", "Tidy up", "-p", "3", "-t", "chore")
    return bd


# --- init ------------------------------------------------------------------------------------

def test_init_human_and_json(git_repo: Path, bd: Bd, tmp_path: Path) -> None:
    fresh = tmp_path / "My Project-"
    fresh.mkdir()
    os.chdir(fresh)
    out = ok(bd, "init")
    assert "bd initialized successfully!" in out
    assert "Issue prefix: my-project" in out
    assert "Issues will be named: my-project-1, my-project-2, ..." in out
    assert (fresh / ".beads" / "my-project.db").is_file()
    assert (fresh / ".beads" / "issues.jsonl").is_file()
    assert "*.db" in (fresh / ".beads" / ".gitignore").read_text()
    code, _, err = fails(bd, "init")
    assert "already initialized" in err
    other = tmp_path / "other"
    other.mkdir()
    os.chdir(other)
    res = js(bd, "init", "--prefix", "abc")
    assert res["prefix"] == "abc" and res["database"].endswith("abc.db")
    third = tmp_path / "third"
    third.mkdir()
    os.chdir(third)
    assert ok(bd, "init", "-q", "-p", "q") == ""
    fails(bd, "init", "-p", "Not Valid!")


def test_init_in_a_clone_imports_the_jsonl(bd: Bd, beads_repo: Path, tmp_path: Path) -> None:
    ok(bd, "create", "shared issue", "-l", "x")
    clone = tmp_path / "clone"
    (clone / ".beads").mkdir(parents=True)
    (clone / ".beads" / "issues.jsonl").write_bytes((beads_repo / ".beads" / "issues.jsonl").read_bytes())
    os.chdir(clone)
    out = ok(bd, "init")
    assert "Issue prefix: test" in out and "Imported 1 issues" in out
    assert js(bd, "show", "test-1")["labels"] == ["x"]


# --- create ----------------------------------------------------------------------------------

def test_create_human_output(bd: Bd) -> None:
    out = ok(bd, "create", "First issue", "-p", "1")
    assert "Created issue: test-1" in out
    assert "Title: First issue" in out
    assert "Priority: P1" in out
    assert "Status: open" in out


def test_create_json_with_every_flag(three: Bd) -> None:
    issue = js(three, "create", "Everything", "-d", "desc", "--design", "design", "--acceptance", "ac",
               "--notes", "notes", "-p", "P0", "-t", "feature", "-a", "bob", "-l", "a,b", "-l", "c",
               "--external-ref", "gh-7", "--deps", "blocks:test-1,related:test-3", "--deps", "test-2", "-e", "90")
    assert issue["id"] == "test-4"
    want = {"title": "Everything", "description": "desc", "design": "design", "acceptance_criteria": "ac",
            "notes": "notes", "priority": 0, "issue_type": "feature", "assignee": "bob", "external_ref": "gh-7",
            "estimated_minutes": 90, "labels": ["a", "b", "c"], "status": "open"}
    assert {k: issue[k] for k in want} == want
    assert sorted((d["id"], d["dependency_type"]) for d in issue["dependencies"]) == [
        ("test-1", "blocks"), ("test-2", "blocks"), ("test-3", "related")]


def test_create_with_explicit_id(bd: Bd) -> None:
    assert js(bd, "create", "by hand", "--id", "test-42")["id"] == "test-42"
    assert js(bd, "create", "next")["id"] == "test-43"
    code, _, err = fails(bd, "create", "again", "--id", "test-42")
    assert "already exists" in err
    fails(bd, "create", "wrong prefix", "--id", "other-1")


def test_create_refuses_bad_input(bd: Bd) -> None:
    fails(bd, "create")
    fails(bd, "create", "x", "-p", "7")
    fails(bd, "create", "x", "-t", "story")
    fails(bd, "create", "x", "--deps", "test-9")
    fails(bd, "create", "x", "--deps", "nonsense:test-1")
    fails(bd, "create", "x", "-e", "lots")
    assert js(bd, "list") == []


MARKDOWN = """\
## Fix the login page
Users cannot log in with SSO.

### Priority
1

### Type
bug

### Labels
auth, ui

### Assignee
alice

## Write the migration guide
### Description
Explain the new schema.

### Design
A page per table.

### Acceptance Criteria
- reviewed by the team

### Dependencies
blocks:test-1
"""


def test_create_from_a_markdown_file(bd: Bd, tmp_path: Path) -> None:
    md = tmp_path / "plan.md"
    md.write_text(MARKDOWN)
    out = ok(bd, "create", "-f", str(md))
    assert out.count("Created issue:") == 2
    first, second = js(bd, "show", "test-1", "test-2")
    assert (first["title"], first["description"], first["priority"], first["issue_type"], first["labels"],
            first["assignee"]) == ("Fix the login page", "Users cannot log in with SSO.", 1, "bug", ["auth", "ui"],
                                   "alice")
    assert (second["description"], second["design"], second["acceptance_criteria"]) == (
        "Explain the new schema.", "A page per table.", "- reviewed by the team")
    assert [d["id"] for d in second["dependencies"]] == ["test-1"]
    created = js(bd, "create", "--file", str(md))
    assert [i["id"] for i in created] == ["test-3", "test-4"]


def test_markdown_errors_create_nothing(bd: Bd, tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("## One\n### Priority\n9\n## Two\n")
    fails(bd, "create", "-f", str(bad))
    bad.write_text("### Priority\n1\n")
    fails(bd, "create", "-f", str(bad))
    bad.write_text("## One\n### Colour\nred\n")
    fails(bd, "create", "-f", str(bad))
    fails(bd, "create", "-f", str(tmp_path / "missing.md"))
    fails(bd, "create", "title too", "-f", str(bad))
    assert js(bd, "list") == []


# --- show ------------------------------------------------------------------------------------

def test_show_human_key_strings(three: Bd) -> None:
    ok(three, "label", "add", "test-2", "backend")
    ok(three, "update", "test-2", "--design", "the plan", "--notes", "a note", "--acceptance", "green", "-e", "15")
    out = ok(three, "show", "test-2")
    for key in ("test-2: Add tests", "Status: open", "Priority: P2", "Type: task", "Estimated: 15 minutes",
                "Created: ", "Updated: ", "Design:\nthe plan", "Notes:\na note", "Acceptance Criteria:\ngreen",
                "Labels: [backend]", "Depends on (1):", "→ test-1: Login broken [P1]"):
        assert key in out, key
    out = ok(three, "show", "test-1")
    for key in ("Assignee: alice", "Description:\nSteps: ...", "Blocks (1):", "← test-2: Add tests [P2]"):
        assert key in out, key


def test_show_json_one_and_many(three: Bd) -> None:
    one = js(three, "show", "test-1")
    assert one["id"] == "test-1" and one["labels"] == ["ui"]
    assert [d["id"] for d in one["dependents"]] == ["test-2"] and one["dependencies"] == []
    many = js(three, "show", "test-3", "test-1")
    assert [i["id"] for i in many] == ["test-3", "test-1"]
    out = ok(three, "show", "test-1", "test-3")
    assert "test-1: Login broken" in out and "test-3: Tidy up" in out


def test_show_unknown_issue(three: Bd) -> None:
    code, out, err = fails(three, "show", "test-99")
    assert code == 1 and "test-99 not found" in err and out == ""
    code, out, err = fails(three, "show", "test-99", "--json")
    assert "not found" in json.loads(out)["error"]
    fails(three, "show")


# --- list ------------------------------------------------------------------------------------

def test_list_json_on_nothing_is_an_empty_array(bd: Bd) -> None:
    code, out, _ = bd("list", "--json")
    assert code == 0 and json.loads(out) == [] and out.strip() == "[]"
    assert "No issues found" in ok(bd, "list")


def test_list_human_and_filters(three: Bd) -> None:
    ok(three, "close", "test-3")
    out = ok(three, "list")
    assert "Found 3 issues:" in out
    assert "test-1 [P1] [bug] open" in out and "  Login broken" in out and "Assignee: alice" in out

    def ids(*args: str) -> list[str]:
        return sorted(i["id"] for i in js(three, "list", *args))

    assert ids("--status", "all") == ["test-1", "test-2", "test-3"]
    assert ids("-s", "open") == ["test-1", "test-2"]
    assert ids("--status", "closed") == ["test-3"]
    assert ids("-p", "1") == ["test-1"]
    assert ids("--priority", "P2") == ["test-2"]
    assert ids("-t", "chore") == ["test-3"]
    assert ids("-a", "alice") == ["test-1"]
    assert ids("-l", "ui") == ["test-1"]
    assert ids("--label", "ui", "--label", "nope") == []
    assert ids("--title", "TESTS") == ["test-2"]
    assert ids("--search", "steps") == ["test-1"]
    assert ids("-q", "test-3") == ["test-3"]
    assert [i["id"] for i in js(three, "list", "--sort", "id", "-n", "2")] == ["test-1", "test-2"]
    assert [i["id"] for i in js(three, "list", "--sort", "id", "--limit", "1", "--reverse")] == ["test-3"]
    fails(three, "list", "--sort", "colour")
    fails(three, "list", "-p", "9")


# --- update / close / reopen -------------------------------------------------------------------

def test_update_every_field_from_the_cli(three: Bd) -> None:
    out = ok(three, "update", "test-3", "--status", "in_progress", "-p", "0", "--title", "Tidy up now",
             "-a", "carol", "-d", "new desc", "--design", "dd", "--notes", "nn", "--acceptance", "aa",
             "-t", "task", "--external-ref", "jira-9", "-e", "5")
    assert "Updated issue: test-3" in out
    issue = js(three, "show", "test-3")
    want = {"status": "in_progress", "priority": 0, "title": "Tidy up now", "assignee": "carol",
            "description": "new desc", "design": "dd", "notes": "nn", "acceptance_criteria": "aa",
            "issue_type": "task", "external_ref": "jira-9", "estimated_minutes": 5}
    assert {k: issue[k] for k in want} == want
    code, _, err = three("update", "test-3")  # no field: a usage error, not a silent success
    assert code == 2 and "nothing to update" in err
    res = js(three, "update", "test-1", "test-2", "-p", "4")
    assert [i["priority"] for i in res] == [4, 4]
    assert js(three, "update", "test-3", "-a", "")["id"] == "test-3"
    assert "assignee" not in js(three, "show", "test-3")
    fails(three, "update", "test-3", "--status", "done")
    fails(three, "update", "test-99", "--title", "x")
    fails(three, "update")


def test_close_many_and_reopen(three: Bd) -> None:
    out = ok(three, "close", "test-1", "test-3", "--reason", "shipped")
    assert "Closed test-1: shipped" in out and "Closed test-3: shipped" in out
    assert js(three, "show", "test-1")["status"] == "closed"
    assert [i["id"] for i in js(three, "ready")] == ["test-2"]
    res = js(three, "reopen", "test-1", "-r", "not really")
    assert [i["status"] for i in res] == ["open"]
    assert "Reopened test-3" in ok(three, "reopen", "test-3")
    res = js(three, "close", "test-2")
    assert isinstance(res, list) and res[0]["closed_at"]
    code, out, err = fails(three, "close", "test-99", "test-3")
    assert "test-99" in err and "Closed test-3" in out
    assert js(three, "show", "test-3")["status"] == "closed"


# --- delete ------------------------------------------------------------------------------------

def test_delete_preview_then_force(three: Bd) -> None:
    ok(three, "update", "test-3", "-d", "after test-1 is fixed")
    out = ok(three, "delete", "test-1")
    assert "preview" in out.lower() and "--force" in out
    assert js(three, "show", "test-1")["id"] == "test-1"
    preview = js(three, "delete", "test-1")
    assert preview["preview"] is True and preview["references_updated"] == 1
    out = ok(three, "delete", "test-1", "--force")
    assert "Deleted test-1" in out
    assert "Removed 1 dependency link(s)" in out
    assert "Updated text references in 1 issue(s)" in out
    fails(three, "show", "test-1")
    assert js(three, "show", "test-3")["description"] == "after [deleted:test-1] is fixed"
    lines = {json.loads(x)["id"]: json.loads(x) for x in
             (Path.cwd() / ".beads" / "issues.jsonl").read_text().splitlines()}
    assert sorted(lines) == ["test-1", "test-2", "test-3"] and lines["test-1"]["status"] == "tombstone"
    assert lines["test-1"]["deleted_at"] and lines["test-1"]["original_type"]
    assert lines["test-3"]["description"] == "after [deleted:test-1] is fixed"
    assert "dependencies" not in lines["test-2"]
    res = js(three, "delete", "test-2", "test-3", "-f")
    assert {k: res[k] for k in ("deleted", "dependencies_removed", "references_updated")} == {
        "deleted": ["test-2", "test-3"], "dependencies_removed": 0, "references_updated": 0}
    assert js(three, "list") == []
    fails(three, "delete", "test-1", "--force")


# --- dependencies --------------------------------------------------------------------------------

def test_dep_commands(three: Bd) -> None:
    out = ok(three, "dep", "add", "test-3", "test-2")
    assert "Added dependency: test-3 depends on test-2 (blocks)" in out
    ok(three, "create", "Spin-off")
    assert js(three, "dep", "add", "test-4", "test-3", "-t", "discovered-from") == {
        "depends_on_id": "test-3", "issue_id": "test-4", "status": "added", "type": "discovered-from"}
    out = ok(three, "dep", "tree", "test-3")
    assert "Dependency tree for test-3:" in out
    assert "→ test-3: Tidy up [P3] (open)" in out
    assert "  → test-2: Add tests [P2] (open)" in out
    assert "    → test-1: Login broken [P1] (open)" in out
    tree = js(three, "dep", "tree", "test-3")
    assert [(n["id"], n["depth"]) for n in tree] == [("test-3", 0), ("test-2", 1), ("test-1", 2)]
    code, _, err = fails(three, "dep", "add", "test-2", "test-3")
    assert "cycle" in err and "test-2 → test-3 → test-2" in err
    assert "No dependency cycles detected" in ok(three, "dep", "cycles")
    assert js(three, "dep", "cycles") == []
    out = ok(three, "dep", "remove", "test-3", "test-2")
    assert "Removed dependency: test-3 no longer depends on test-2" in out
    assert js(three, "dep", "remove", "test-2", "test-1") == {
        "depends_on_id": "test-1", "issue_id": "test-2", "status": "removed"}
    fails(three, "dep", "remove", "test-2", "test-1")
    fails(three, "dep", "add", "test-2", "test-2")
    fails(three, "dep", "add", "test-2", "test-1", "--type", "sort-of")
    fails(three, "dep", "add", "test-2")
    fails(three, "dep", "tree", "test-99")


def test_dep_tree_of_an_issue_without_dependencies(three: Bd) -> None:
    assert "test-3 has no dependencies" in ok(three, "dep", "tree", "test-3")
    assert [n["id"] for n in js(three, "dep", "tree", "test-3")] == ["test-3"]


def test_dep_cycles_human_output(bd: Bd, tmp_path: Path) -> None:
    src = tmp_path / "cycle.jsonl"
    src.write_text("".join(json.dumps({
        "id": a, "title": a, "created_at": "2025-01-01T00:00:00Z",
        "dependencies": [{"issue_id": a, "depends_on_id": b, "type": "blocks", "created_at": "2025-01-01T00:00:00Z",
                          "created_by": "x"}]}) + "\n" for a, b in (("test-1", "test-2"), ("test-2", "test-1"))))
    ok(bd, "import", "-i", str(src))
    out = ok(bd, "dep", "cycles")
    assert "Found 1 dependency cycles" in out and "test-1 → test-2 → test-1" in out
    assert js(bd, "dep", "cycles") == [["test-1", "test-2", "test-1"]]


# --- labels, comments, events ------------------------------------------------------------------------

def test_label_commands(three: Bd) -> None:
    assert "Added label 'backend' to test-2" in ok(three, "label", "add", "test-2", "backend")
    assert js(three, "label", "add", "test-3", "backend") == {"issue_id": "test-3", "label": "backend",
                                                              "status": "added"}
    out = ok(three, "label", "add", "test-1", "test-3", "urgent")
    assert "to test-1" in out and "to test-3" in out
    assert js(three, "label", "list", "test-3") == ["backend", "urgent"]
    assert "backend" in ok(three, "label", "list", "test-3")
    assert js(three, "label", "list-all") == [{"label": "backend", "count": 2}, {"label": "ui", "count": 1},
                                              {"label": "urgent", "count": 2}]
    out = ok(three, "label", "list-all")
    assert "backend" in out and "urgent" in out
    assert "Removed label 'urgent' from test-3" in ok(three, "label", "remove", "test-3", "urgent")
    assert js(three, "label", "remove", "test-3", "backend")["status"] == "removed"
    assert js(three, "label", "list", "test-3") == []
    assert "no labels" in ok(three, "label", "list", "test-3")
    fails(three, "label", "add", "test-99", "x")
    fails(three, "label", "add", "test-1")


def test_comment_commands(three: Bd) -> None:
    assert "Added comment to test-1" in ok(three, "comment", "add", "test-1", "first", "comment", "--actor", "ann")
    c = js(three, "comment", "add", "test-1", "second")
    assert c["text"] == "second" and c["issue_id"] == "test-1"
    listed = js(three, "comment", "list", "test-1")
    assert [(x["author"], x["text"]) for x in listed] == [("ann", "first comment"), (c["author"], "second")]
    assert js(three, "comments", "test-1") == listed
    out = ok(three, "comments", "test-1")
    assert "ann: first comment" in out
    assert "no comments" in ok(three, "comments", "test-2")
    fails(three, "comment", "add", "test-99", "hello")
    fails(three, "comment", "add", "test-1")


def test_events_command(three: Bd) -> None:
    ok(three, "update", "test-2", "-p", "0", "--actor", "bob")
    ok(three, "close", "test-2", "--actor", "carol", "-r", "done")
    evs = js(three, "events", "test-2")
    assert [(e["event_type"], e["actor"]) for e in evs][-2:] == [("updated", "bob"), ("closed", "carol")]
    out = ok(three, "events", "test-2")
    assert "bob" in out and "carol" in out and "closed" in out
    assert len(js(three, "events", "test-2", "-n", "1")) == 1
    fails(three, "events", "test-99")


# --- ready / blocked / stats -------------------------------------------------------------------------

def test_ready_blocked_and_stats_human_and_json(three: Bd) -> None:
    out = ok(three, "ready")
    assert "Ready work (2 issues with no blockers):" in out
    assert "1. [P1] test-1: Login broken" in out and "Assignee: alice" in out
    assert [i["id"] for i in js(three, "ready")] == ["test-1", "test-3"]
    out = ok(three, "blocked")
    assert "Blocked issues (1):" in out
    assert "[P2] test-2: Add tests" in out and "Blocked by 1 open dependencies: [test-1]" in out
    blocked = js(three, "blocked")
    assert [(b["id"], b["blocked_by_count"], b["blocked_by"]) for b in blocked] == [("test-2", 1, ["test-1"])]
    out = ok(three, "stats")
    for line in ("Total Issues:       3", "Open:               3", "In Progress:        0",
                 "Closed:             0", "Blocked:            1", "Ready:              2"):
        assert line in out, line
    st = js(three, "stats")
    for key, want in (("total_issues", 3), ("open_issues", 3), ("in_progress_issues", 0), ("closed_issues", 0),
                      ("blocked_issues", 1), ("ready_issues", 2), ("average_lead_time_hours", 0)):
        assert st[key] == want, key
    ok(three, "close", "test-1", "test-3")
    assert [i["id"] for i in js(three, "ready")] == ["test-2"]
    assert js(three, "blocked") == []
    assert "No blocked issues" in ok(three, "blocked")
    ok(three, "close", "test-2")
    assert "No ready work found" in ok(three, "ready")
    assert js(three, "ready") == []


def test_ready_flags(three: Bd) -> None:
    for n in range(12):
        ok(three, "create", f"extra {n}", "-p", "4")
    assert len(js(three, "ready")) == 10  # beads' default limit
    assert len(js(three, "ready", "--limit", "0")) == 14
    assert len(js(three, "ready", "-n", "3")) == 3
    assert [i["id"] for i in js(three, "ready", "-p", "1")] == ["test-1"]
    assert [i["id"] for i in js(three, "ready", "--assignee", "alice")] == ["test-1"]
    assert [i["id"] for i in js(three, "ready", "-t", "chore")] == ["test-3"]
    assert [i["id"] for i in js(three, "ready", "-l", "ui")] == ["test-1"]
    fails(three, "ready", "--limit", "many")


# --- files, prefixes, info ----------------------------------------------------------------------------

def test_export_and_import_human_output(three: Bd, tmp_path: Path) -> None:
    out = ok(three, "export")
    assert len(out.splitlines()) == 3
    code, _, err = three("export", "-o", str(tmp_path / "x.jsonl"))
    assert code == 0 and "Exported 3 issues" in err
    fails(three, "export", "--format", "csv")
    code, _, err = three("import", "-i", str(tmp_path / "x.jsonl"))
    assert code == 0 and "Import complete: 0 created, 0 updated, 3 unchanged" in err
    res = js(three, "import", "-i", str(tmp_path / "x.jsonl"))
    assert (res["created"], res["updated"], res["unchanged"]) == (0, 0, 3)
    fails(three, "import", "-i", str(tmp_path / "missing.jsonl"))


def test_rename_prefix(three: Bd, beads_repo: Path) -> None:
    ok(three, "update", "test-3", "-d", "see test-1 and test-2")
    res = js(three, "rename-prefix", "proj", "--dry-run")
    assert (res["issues_count"], res["new_prefix"], res["old_prefix"]) == (3, "proj", "test")
    assert js(three, "show", "test-1")["id"] == "test-1"
    assert "Renamed 3 issues" in ok(three, "rename-prefix", "proj")
    assert sorted(i["id"] for i in js(three, "list")) == ["proj-1", "proj-2", "proj-3"]
    assert js(three, "show", "proj-3")["description"] == "see proj-1 and proj-2"
    assert [d["id"] for d in js(three, "show", "proj-2")["dependencies"]] == ["proj-1"]
    assert [i["id"] for i in js(three, "blocked")] == ["proj-2"]
    assert js(three, "create", "after")["id"] == "proj-4"
    objs = [json.loads(x) for x in (beads_repo / ".beads" / "issues.jsonl").read_text().splitlines()]
    assert [o["id"] for o in objs if o["status"] != "tombstone"] == ["proj-1", "proj-2", "proj-3", "proj-4"]
    # the old IDs stay as tombstones, so that other clones drop them too
    assert {o["id"]: o["delete_reason"] for o in objs if o["status"] == "tombstone"} == {
        "test-1": "renamed to proj-1", "test-2": "renamed to proj-2", "test-3": "renamed to proj-3"}
    fails(three, "rename-prefix", "proj")
    fails(three, "rename-prefix", "Bad Prefix")


def test_info_config_and_search(three: Bd) -> None:
    info = js(three, "info")
    assert info["issue_prefix"] == "test" and info["issue_count"] == 3 and info["mode"] == "direct"
    assert js(three, "config", "set", "team", "core") == {"key": "team", "value": "core"}
    assert js(three, "config", "get", "team")["value"] == "core"
    assert js(three, "config", "list")["team"] == "core"
    fails(three, "config", "set", "issue_prefix", "nope")
    assert [i["id"] for i in js(three, "search", "login")] == ["test-1"]


# --- version, quickstart, help ------------------------------------------------------------------------

def test_version_quickstart_and_help(bd: Bd) -> None:
    assert ok(bd, "version").startswith("bd version 0.9.8")
    assert js(bd, "version")["version"] == "0.9.8"
    out = ok(bd, "quickstart")
    assert "bd ready" in out and "bd create" in out
    out = ok(bd, "help")
    for cmd in ("create", "list", "ready", "blocked", "dep", "label", "import", "export", "rename-prefix"):
        assert cmd in out, cmd
    assert "--priority" in ok(bd, "help", "create")
    assert "--max-depth" in ok(bd, "help", "dep", "tree")
    assert "--status" in ok(bd, "list", "--help")
    assert "Usage" in ok(bd, "--help")
    fails(bd, "help", "frobnicate")


def test_version_works_outside_a_workspace(git_repo: Path, bd: Bd, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    os.chdir(empty)
    assert ok(bd, "version").startswith("bd version")
    assert "bd ready" in ok(bd, "quickstart")


# --- global flags and environment --------------------------------------------------------------------

def test_global_flags_anywhere_on_the_line(three: Bd) -> None:
    a = json.loads(ok(three, "--json", "ready"))
    b = json.loads(ok(three, "ready", "--limit", "5", "--actor", "me", "--json"))
    c = json.loads(ok(three, "ready", "--json", "--no-daemon", "--no-auto-import", "--no-auto-flush"))
    d = json.loads(ok(three, "--no-daemon", "--actor=me", "ready", "--json"))
    assert a == b == c == d and [i["id"] for i in a] == ["test-1", "test-3"]
    issue = json.loads(ok(three, "--actor", "zed", "create", "--json", "flagged", "-p", "0"))
    assert js(three, "events", issue["id"])[0]["actor"] == "zed"
    ok(three, "label", "add", "--actor=amy", "test-1", "x")
    assert js(three, "events", "test-1")[-1]["actor"] == "amy"


def test_db_flag_and_beads_db_env(three: Bd, beads_repo: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(beads_repo / ".beads" / "test.db")
    away = tmp_path / "elsewhere"
    away.mkdir()
    os.chdir(away)
    fails(three, "list")
    assert len(json.loads(ok(three, "list", "--db", db, "--json"))) == 3
    assert len(json.loads(ok(three, "--db", str(beads_repo), "list", "--json"))) == 3  # a directory works too
    ok(three, "create", "via --db", f"--db={db}")
    monkeypatch.setenv("BEADS_DB", db)
    assert len(js(three, "list")) == 4
    fails(three, "list", "--db", str(tmp_path / "nope.db"))
    monkeypatch.setenv("BEADS_DB", str(tmp_path / "nope.db"))
    code, _, err = fails(three, "list")
    assert "nope.db" in err


def test_actor_from_bd_actor_and_flag_precedence(three: Bd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BD_ACTOR", "robot")
    ok(three, "update", "test-1", "-p", "2")
    assert js(three, "events", "test-1")[-1]["actor"] == "robot"
    ok(three, "update", "test-1", "-p", "3", "--actor", "human")
    assert js(three, "events", "test-1")[-1]["actor"] == "human"
    monkeypatch.delenv("BD_ACTOR")
    monkeypatch.setenv("USER", "login-name")
    ok(three, "update", "test-1", "-p", "1")
    assert js(three, "events", "test-1")[-1]["actor"] == "login-name"


def test_no_database_is_a_clear_error(git_repo: Path, bd: Bd, tmp_path: Path) -> None:
    empty = tmp_path / "no-db"
    empty.mkdir()
    os.chdir(empty)
    for cmd in (["list"], ["ready", "--json"], ["create", "x"], ["stats"], ["show", "bd-1"]):
        code, out, err = fails(bd, *cmd)
        assert "bd init" in err, cmd
    code, out, _ = fails(bd, "list", "--json")
    payload = json.loads(out)
    assert payload["kind"] == "no_database" and "bd init" in payload["hint"]
    assert not (empty / ".beads").exists()
    assert not (Path(os.environ["HOME"]) / ".beads").exists()


def test_bad_flags_and_commands_exit_non_zero(three: Bd) -> None:
    for args in (["list", "--bogus"], ["frobnicate"], ["ready", "-n"], ["create", "x", "--priority"],
                 ["--db"], ["--actor"], ["update", "test-1", "--status"], ["dep", "frob"],
                 ["close", "test-1", "--reason"], ["list", "-n", "x"]):
        code, out, err = three(*args)
        assert code != 0, args
        assert err, args
    assert js(three, "show", "test-1")["status"] == "open"


def test_errors_in_json_mode_are_json(three: Bd) -> None:
    code, out, err = three("update", "test-1", "--status", "done", "--json")
    assert code != 0
    payload = json.loads(out)
    assert payload["kind"] == "validation" and "done" in payload["error"]
    code, out, _ = three("dep", "add", "test-1", "test-2", "--json")
    assert code != 0 and json.loads(out)["kind"] == "cycle"


def test_fast_path_and_typer_agree(three: Bd, monkeypatch: pytest.MonkeyPatch) -> None:
    cmds = [("list", "--json", "--sort", "id"), ("ready",), ("show", "test-1", "test-2"), ("stats", "--json"),
            ("blocked",), ("dep", "tree", "test-2"), ("label", "list-all", "--json")]
    fast = [three(*c) for c in cmds]
    monkeypatch.setenv("BD_NO_FAST_PATH", "1")
    slow = [three(*c) for c in cmds]
    assert fast == slow
    assert js(three, "create", "typer path", "-p", "1", "-l", "a")["id"] == "test-4"


def test_fast_path_spec_is_up_to_date() -> None:
    from bdgit.cli.genspec import SPEC_PATH, render
    assert SPEC_PATH.read_text() == render(), "run: python -m bdgit.cli.genspec"


# --- real processes -----------------------------------------------------------------------------------

def test_real_process_global_flags_and_env(beads_repo: Path) -> None:
    p = run_bd("create", "From a process", "--actor", "proc", "--json", check=True)
    assert json.loads(p.stdout)["id"] == "test-1"
    p = run_bd("--json", "ready", check=True)
    assert [i["id"] for i in json.loads(p.stdout)] == ["test-1"]
    p = run_bd("ready", "--limit", "5", "--actor", "me", "--json", check=True)
    assert [i["id"] for i in json.loads(p.stdout)] == ["test-1"]
    p = run_bd("update", "test-1", "-p", "0", env={"BD_ACTOR": "env-actor"}, check=True)
    assert "Updated issue: test-1" in p.stdout
    p = run_bd("events", "test-1", "--json", check=True)
    assert [e["actor"] for e in json.loads(p.stdout)] == ["proc", "env-actor"]


def test_real_process_beads_db_and_no_database(beads_repo: Path, tmp_path: Path) -> None:
    run_bd("create", "x", check=True)
    away = tmp_path / "away"
    away.mkdir()
    p = run_bd("list", "--json", cwd=away)
    assert p.returncode != 0 and "bd init" in p.stderr
    p = run_bd("list", "--json", cwd=away, env={"BEADS_DB": str(beads_repo / ".beads" / "test.db")}, check=True)
    assert [i["id"] for i in json.loads(p.stdout)] == ["test-1"]
    p = run_bd("list", "--bogus", cwd=beads_repo)
    assert p.returncode == 2 and "--bogus" in p.stderr
    p = run_bd("version")
    assert p.returncode == 0 and p.stdout.startswith("bd version 0.9.8")


def test_fast_path_converts_numbers_as_typer_does():
    """The fast path must hand command bodies the same types typer would (int, float)."""
    from bdgit.cli.fast import load_spec, parse
    spec = load_spec()
    assert spec is not None
    got = parse(spec, ["ready", "--limit", "5"])
    assert got is not None and got[0] == "bdgit.cli.commands.issues:ready" and got[1]["limit"] == 5
    got = parse(spec, ["daemon", "start", "--interval", "0.5", "--idle-timeout", "60"])
    assert got is not None and got[1]["interval"] == 0.5 and got[1]["idle_timeout"] == 60.0
    assert parse(spec, ["ready", "--limit", "abc"]) is None  # typer reports that one
