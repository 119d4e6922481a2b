"""Operations through ``bdgit.ops.run``: create, update, close, reopen, delete, labels,
comments, the audit trail and atomic batches."""
from __future__ import annotations

import json
from typing import Any

import pytest

from bdgit import ops
from bdgit.errors import BdError, NotFoundError, UsageError, ValidationError
from bdgit.model import ts_micros
from bdgit.errors import BatchFailed
from bdgit.store import Store
from testing import run_op as run, new_issue as new



def n_rows(store: Store, table: str) -> int:
    return store.conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def snapshot(store: Store) -> dict[str, list[Any]]:
    out = {}
    for t in ("issues", "dependencies", "labels", "comments", "events", "issue_counters", "dirty_issues"):
        out[t] = store.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
    return out


# --- create ------------------------------------------------------------------------------------

def test_create_defaults_and_beads_key_order(store: Store) -> None:
    issue = run(store, "create", title="  Plain  ")
    assert list(issue)[:10] == ["id", "title", "description", "status", "priority", "issue_type",
                                "created_at", "updated_at", "dependencies", "dependents"]
    assert issue["title"] == "Plain"
    assert (issue["status"], issue["priority"], issue["issue_type"], issue["description"]) == ("open", 2, "task", "")
    assert issue["created_at"] == issue["updated_at"]
    for absent in ("design", "acceptance_criteria", "notes", "assignee", "closed_at", "external_ref", "labels"):
        assert absent not in issue
    ts_micros(issue["created_at"])  # RFC 3339 with a zone


def test_create_with_every_field(store: Store) -> None:
    blocker = new(store, "blocker")
    parent = new(store, "epic", issue_type="epic")
    issue = run(store, "create", title="Full", description="desc", design="design", acceptance_criteria="ac",
                notes="notes", priority="P0", issue_type="bug", assignee="alice", labels="b,a",
                external_ref="gh-12", estimated_minutes=30,
                dependencies=[blocker, f"parent-child:{parent}"])
    want = {"title": "Full", "description": "desc", "design": "design", "acceptance_criteria": "ac",
            "notes": "notes", "priority": 0, "issue_type": "bug", "assignee": "alice", "external_ref": "gh-12",
            "estimated_minutes": 30, "labels": ["a", "b"]}
    assert {k: issue[k] for k in want} == want
    assert [(d["id"], d["dependency_type"]) for d in issue["dependencies"]] == [(blocker, "blocks"),
                                                                               (parent, "parent-child")]
    assert [d["id"] for d in run(store, "show", id=blocker)["dependents"]] == [issue["id"]]


def test_create_accepts_acceptance_alias(store: Store) -> None:
    assert run(store, "create", title="x", acceptance="done when")["acceptance_criteria"] == "done when"


@pytest.mark.parametrize("args", [
    {"title": "x", "priority": 5}, {"title": "x", "priority": "high"}, {"title": "x", "issue_type": "story"},
    {"title": "x", "status": "done"}, {"title": "x", "estimated_minutes": -1}, {"title": ""},
    {"title": "x", "dependencies": ["test-404"]}, {"title": "x", "dependencies": ["needs:test-1"]},
    {"title": "x", "labels": ["a,b", " "]}, {"title": 7},
])
def test_create_refuses_bad_values_and_changes_nothing(store: Store, args: dict[str, Any]) -> None:
    new(store, "existing")
    before = snapshot(store)
    with pytest.raises(BdError):
        ops.run(store, "create", args, "tester")
    assert snapshot(store) == before


# --- update ------------------------------------------------------------------------------------

def test_update_every_editable_field(store: Store) -> None:
    i = new(store, "before")
    created = run(store, "show", id=i)
    changes = {"title": "after", "description": "d", "design": "g", "acceptance_criteria": "a", "notes": "n",
               "status": "in_progress", "priority": 0, "issue_type": "feature", "assignee": "bob",
               "external_ref": "jira-1", "estimated_minutes": 45}
    issue = run(store, "update", id=i, **changes)
    assert {k: issue[k] for k in changes} == changes
    assert ts_micros(issue["updated_at"]) > ts_micros(created["updated_at"])
    assert issue["created_at"] == created["created_at"]
    ev = run(store, "events", id=i)[-1]
    assert ev["event_type"] == "updated" and ev["actor"] == "tester"
    assert json.loads(ev["new_value"])["title"] == "after"
    assert json.loads(ev["old_value"])["title"] == "before"


def test_update_clears_optional_fields(store: Store) -> None:
    i = new(store, "x", assignee="alice", design="d", external_ref="gh-1")
    issue = run(store, "update", id=i, assignee="", design="", external_ref="")
    assert "assignee" not in issue and "design" not in issue and "external_ref" not in issue


def test_update_with_no_change_writes_nothing(store: Store) -> None:
    i = new(store, "same", priority=1)
    before = snapshot(store)
    run(store, "update", id=i, title="same", priority=1)
    assert snapshot(store) == before


@pytest.mark.parametrize("args,err", [
    ({"id": "test-1", "status": "done"}, ValidationError), ({"id": "test-1", "priority": 9}, ValidationError),
    ({"id": "test-1", "issue_type": "story"}, ValidationError), ({"id": "test-1", "title": ""}, UsageError),
    ({"id": "test-1", "created_at": "2020-01-01T00:00:00Z"}, UsageError),
    ({"id": "test-1", "colour": "red"}, UsageError), ({"id": "test-9", "title": "x"}, NotFoundError),
])
def test_update_refuses_bad_requests_and_changes_nothing(store: Store, args: dict[str, Any], err: type) -> None:
    new(store, "x")
    before = snapshot(store)
    with pytest.raises(err):
        ops.run(store, "update", args, "tester")
    assert snapshot(store) == before


def test_status_and_closed_at_move_together(store: Store) -> None:
    i = new(store)
    closed = run(store, "update", id=i, status="closed")
    assert closed["closed_at"]
    assert run(store, "events", id=i)[-1]["event_type"] == "closed"
    reopened = run(store, "update", id=i, status="open")
    assert "closed_at" not in reopened
    assert run(store, "events", id=i)[-1]["event_type"] == "reopened"
    run(store, "update", id=i, status="in_progress")
    assert run(store, "events", id=i)[-1]["event_type"] == "status_changed"


def test_claim_takes_an_issue_once(store: Store) -> None:
    i = new(store)
    issue = run(store, "update", actor="alice", id=i, claim=True)
    assert (issue["assignee"], issue["status"]) == ("alice", "in_progress")
    with pytest.raises(BdError):
        run(store, "update", actor="bob", id=i, claim=True)


# --- close / reopen ----------------------------------------------------------------------------

def test_close_with_reason_and_reopen(store: Store) -> None:
    i = new(store)
    issue = run(store, "close", actor="alice", id=i, reason="fixed in abc123")
    assert issue["status"] == "closed" and issue["closed_at"]
    ev = run(store, "events", id=i)[-1]
    assert (ev["event_type"], ev["actor"], ev["comment"]) == ("closed", "alice", "fixed in abc123")
    again = run(store, "close", id=i)  # closing a closed issue changes nothing
    assert again["closed_at"] == issue["closed_at"]
    reopened = run(store, "reopen", actor="bob", id=i, reason="regressed")
    assert reopened["status"] == "open" and "closed_at" not in reopened
    assert [(c["author"], c["text"]) for c in reopened["comments"]] == [("bob", "regressed")]
    ev = run(store, "events", id=i)[-1]
    assert (ev["event_type"], ev["actor"], ev["comment"]) == ("reopened", "bob", "regressed")


def test_close_default_reason_and_unknown_issue(store: Store) -> None:
    i = new(store)
    run(store, "close", id=i)
    assert run(store, "events", id=i)[-1]["comment"] == "Closed"
    with pytest.raises(NotFoundError):
        run(store, "close", id="test-99")
    with pytest.raises(NotFoundError):
        run(store, "reopen", id="test-99")


# --- delete ------------------------------------------------------------------------------------

@pytest.fixture
def web(store: Store) -> Store:
    """test-1 is depended on by test-2, mentioned by test-3, and test-10 exists too."""
    for n in range(1, 11):
        new(store, f"issue {n}")
    run(store, "dep_add", from_id="test-2", to_id="test-1")
    run(store, "dep_add", from_id="test-1", to_id="test-4", dep_type="related")
    run(store, "update", id="test-2", description="after test-1 lands; see test-10 and test-1.")
    run(store, "update", id="test-3", notes="(test-1) but not test-10, test-1a or xtest-1", title="re test-1")
    run(store, "label_add", id="test-1", label="doomed")
    run(store, "comment_add", id="test-1", text="bye")
    return store


def test_delete_without_force_is_a_preview(web: Store) -> None:
    before = snapshot(web)
    res = run(web, "delete", id="test-1")
    assert res["preview"] is True
    assert res["deleted"] == "test-1"
    assert res["dependencies_removed"] == 2
    assert res["references_updated"] == 2
    assert res["issues_with_references"] == ["test-2", "test-3"]
    assert snapshot(web) == before


def test_delete_force_removes_everything_and_rewrites_references(web: Store) -> None:
    res = run(web, "delete", actor="alice", id="test-1", force=True)
    assert {k: res[k] for k in ("deleted", "dependencies_removed", "references_updated")} == {
        "deleted": "test-1", "dependencies_removed": 2, "references_updated": 2}
    row = web.get_issue("test-1")  # a tombstone: it travels to every clone, and keeps its content
    assert row is not None and row["status"] == "tombstone" and row["closed_at"] is None
    extra = json.loads(row["extra"])
    assert (extra["deleted_by"], extra["delete_reason"], extra["original_type"]) == ("alice", "delete", "task")
    with pytest.raises(NotFoundError) as e:
        run(web, "show", id="test-1")
    assert "deleted" in str(e.value) and "bd undelete" in (e.value.hint or "")
    assert web.conn.execute("SELECT count(*) AS n FROM dependencies WHERE depends_on_id='test-1'").fetchone()["n"] == 0
    assert "test-1" not in {i["id"] for i in run(web, "list")}
    t2 = run(web, "show", id="test-2")
    assert t2["description"] == "after [deleted:test-1] lands; see test-10 and [deleted:test-1]."
    assert t2["dependencies"] == []
    t3 = run(web, "show", id="test-3")
    assert t3["title"] == "re [deleted:test-1]"
    assert t3["notes"] == "([deleted:test-1]) but not test-10, test-1a or xtest-1"
    assert run(web, "events", id="test-2")[-1]["actor"] == "alice"
    assert run(web, "ready", limit=0)[0]["id"] == "test-2"  # no longer blocked
    assert "test-1" in web.dirty_ids()  # so the export drops its line


def test_delete_many_at_once(web: Store) -> None:
    res = run(web, "delete", ids=["test-1", "test-2"], force=True)
    assert res["deleted"] == ["test-1", "test-2"]
    assert res["dependencies_removed"] == 2  # the edge between them counts once
    assert sorted(i["id"] for i in run(web, "list")) == sorted(f"test-{n}" for n in range(3, 11))


def test_delete_unknown_issue_changes_nothing(web: Store) -> None:
    before = snapshot(web)
    with pytest.raises(NotFoundError):
        run(web, "delete", ids=["test-1", "test-99"], force=True)
    assert snapshot(web) == before


# --- labels ------------------------------------------------------------------------------------

def test_labels(store: Store) -> None:
    a, b = new(store, "a"), new(store, "b")
    assert run(store, "label_add", id=a, label="ui") == {"issue_id": a, "label": "ui", "status": "added"}
    assert run(store, "label_add", id=a, label="ui")["status"] == "exists"
    run(store, "label_add", id=a, label="backend")
    run(store, "label_add", id=b, label="ui")
    assert run(store, "label_list", id=a) == ["backend", "ui"]
    assert run(store, "label_list_all") == [{"label": "backend", "count": 1}, {"label": "ui", "count": 2}]
    assert run(store, "label_remove", id=a, label="ui") == {"issue_id": a, "label": "ui", "status": "removed"}
    assert run(store, "label_remove", id=a, label="ui")["status"] == "absent"
    assert run(store, "label_list", id=a) == ["backend"]
    assert [e["event_type"] for e in run(store, "events", id=a)][-3:] == ["label_added", "label_added",
                                                                          "label_removed"]
    with pytest.raises(NotFoundError):
        run(store, "label_add", id="test-99", label="x")
    with pytest.raises(NotFoundError):
        run(store, "label_list", id="test-99")
    with pytest.raises(ValidationError):
        run(store, "label_add", id=a, label="a,b")


# --- comments and events -----------------------------------------------------------------------

def test_comments(store: Store) -> None:
    i = new(store)
    c1 = run(store, "comment_add", actor="alice", id=i, text="first")
    c2 = run(store, "comment_add", actor="alice", id=i, text="second", author="bob")
    assert (c1["author"], c1["text"], c2["author"]) == ("alice", "first", "bob")
    listed = run(store, "comment_list", id=i)
    assert [(c["id"], c["text"]) for c in listed] == [(c1["id"], "first"), (c2["id"], "second")]
    assert all(isinstance(c["id"], str) for c in listed)
    assert [c["text"] for c in run(store, "show", id=i)["comments"]] == ["first", "second"]
    with pytest.raises(ValidationError):
        run(store, "comment_add", id=i, text="   ")
    with pytest.raises(NotFoundError):
        run(store, "comment_add", id="test-99", text="x")
    with pytest.raises(NotFoundError):
        run(store, "comment_list", id="test-99")


def test_events_are_an_audit_trail_with_actors(store: Store) -> None:
    a = run(store, "create", actor="alice", title="a")["id"]
    b = new(store, "b")
    run(store, "update", actor="bob", id=a, priority=1)
    run(store, "dep_add", actor="carol", from_id=a, to_id=b)
    run(store, "label_add", actor="dave", id=a, label="x")
    run(store, "comment_add", actor="erin", id=a, text="hi")
    run(store, "dep_remove", actor="frank", from_id=a, to_id=b)
    run(store, "close", actor="gina", id=a, reason="done")
    run(store, "reopen", actor="hank", id=a)
    evs = run(store, "events", id=a)
    assert [(e["event_type"], e["actor"]) for e in evs] == [
        ("created", "alice"), ("updated", "bob"), ("dependency_added", "carol"), ("label_added", "dave"),
        ("commented", "erin"), ("dependency_removed", "frank"), ("closed", "gina"), ("reopened", "hank")]
    assert json.loads(evs[1]["old_value"]) == {"priority": 2}
    assert json.loads(evs[1]["new_value"]) == {"priority": 1}
    assert [ts_micros(e["created_at"]) for e in evs] == sorted(ts_micros(e["created_at"]) for e in evs)
    assert [e["event_type"] for e in run(store, "events", id=a, limit=2)] == ["closed", "reopened"]
    with pytest.raises(NotFoundError):
        run(store, "events", id="test-99")


# --- show --------------------------------------------------------------------------------------

def test_show_one_and_many(store: Store) -> None:
    a, b = new(store, "a"), new(store, "b")
    assert run(store, "show", id=a)["id"] == a
    assert [i["id"] for i in run(store, "show", ids=[b, a])] == [b, a]
    with pytest.raises(NotFoundError):
        run(store, "show", ids=[a, "test-99"])


# --- batch -------------------------------------------------------------------------------------

def test_atomic_batch_commits_everything_together(store: Store) -> None:
    res = ops.run(store, "batch", {"operations": [
        {"operation": "create", "args": {"title": "parent", "issue_type": "epic"}},
        {"operation": "create", "args": {"title": "child", "dependencies": ["parent-child:$0"]}},
        {"operation": "label_add", "args": {"id": "$1", "label": "x"}},
    ]}, "tester")
    assert res["success"] is True and res["atomic"] is True
    ids = [r["data"]["id"] for r in res["results"][:2]]
    assert ids == ["test-1", "test-2"]
    assert store.dep_records("test-2")[0]["depends_on_id"] == "test-1"
    assert store.labels("test-2") == ["x"]


def test_atomic_batch_rolls_back_on_failure(store: Store) -> None:
    new(store, "existing")
    before = snapshot(store)
    with pytest.raises(BatchFailed) as e:
        ops.run(store, "batch", {"operations": [
            {"operation": "create", "args": {"title": "one"}},
            {"operation": "update", "args": {"id": "test-1", "title": "changed"}},
            {"operation": "create", "args": {"title": "bad", "priority": 7}},
            {"operation": "create", "args": {"title": "never run"}},
        ]}, "tester")
    assert e.value.index == 2
    assert [r.get("rolled_back", False) for r in e.value.results] == [True, True, False, False]
    assert e.value.results[2]["kind"] == "validation"
    assert e.value.results[3]["skipped"] is True
    assert snapshot(store) == before
    assert new(store, "next") == "test-2"  # the rolled-back create did not burn test-2


def test_non_atomic_batch_keeps_what_succeeded(store: Store) -> None:
    res = ops.run(store, "batch", {"atomic": False, "operations": [
        {"operation": "create", "args": {"title": "one"}},
        {"operation": "close", "args": {"id": "test-99"}},
        {"operation": "create", "args": {"title": "never run"}},
    ]}, "tester")
    assert res["success"] is False
    assert [r["success"] for r in res["results"]] == [True, False]
    assert [i["id"] for i in run(store, "list")] == ["test-1"]


@pytest.mark.parametrize("args", [None, {}, {"operations": []}, {"operations": [{"args": {}}]},
                                  {"operations": [{"operation": "batch", "args": {}}]}, {"operations": "x"}])
def test_malformed_batches_are_usage_errors(store: Store, args: Any) -> None:
    with pytest.raises(UsageError):
        ops.run(store, "batch", args, "tester")


def test_unknown_operation(store: Store) -> None:
    with pytest.raises(UsageError):
        ops.run(store, "frobnicate", {}, "tester")


def test_the_operation_index_is_up_to_date() -> None:
    from bdgit.ops.genindex import INDEX_PATH, render
    assert INDEX_PATH.read_text() == render(), "run: python -m bdgit.ops.genindex"
