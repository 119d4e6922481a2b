"""Operations beads' newer clients rely on: link counts in lists, epic status, orphaned
dependency repair, test-pollution and validation checks, schema and migration inspection,
the prime guide, templates, the audit log and restore from git history."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bdgit import ops
from bdgit.errors import NotFoundError, ValidationError
from bdgit.ops.prime import guide
from bdgit.store import Store
from testing import run_op as run



def new(store: Store, title: str = "Something real to do", **args: Any) -> str:
    args.setdefault("description", "A description long enough to look real.")
    return str(run(store, "create", title=title, **args)["id"])


def orphan(store: Store, issue_id: str, target: str) -> None:
    """An edge to an id nobody has, as an import from another clone can leave."""
    with store.tx():
        store.insert_dep(issue_id, target, "blocks", "someone", "2026-01-01T00:00:00Z")


# --- counts ----------------------------------------------------------------------------------

def test_list_ready_and_blocked_carry_link_counts(store: Store) -> None:
    a, b, c = new(store, "A"), new(store, "B"), new(store, "C")
    run(store, "dep_add", from_id=b, to_id=a)
    run(store, "dep_add", from_id=c, to_id=a, dep_type="related")
    run(store, "comment_add", id=a, text="one")
    run(store, "comment_add", id=a, text="two")
    rows = {r["id"]: r for r in run(store, "list")}
    assert (rows[a]["dependency_count"], rows[a]["dependent_count"], rows[a]["comment_count"]) == (0, 2, 2)
    assert (rows[b]["dependency_count"], rows[b]["dependent_count"], rows[b]["comment_count"]) == (1, 0, 0)
    assert {r["id"]: r["dependent_count"] for r in run(store, "ready")}[a] == 2
    assert [(r["id"], r["dependency_count"]) for r in run(store, "blocked")] == [(b, 1)]


def test_counts_are_the_same_for_a_page_and_for_a_long_list(store: Store) -> None:
    from bdgit.ops.counts import link_counts
    hub = new(store, "hub")
    ids = [new(store, f"leaf {i}") for i in range(520)]
    with store.tx():
        for i in ids:
            store.insert_dep(i, hub, "blocks", "t", "2026-01-01T00:00:00Z")
    long = link_counts(store, [hub, *ids])
    short = link_counts(store, [hub, ids[0]])
    assert long[hub] == short[hub] == (0, 520, 0)
    assert long[ids[0]] == short[ids[0]] == (1, 0, 0)


# --- epics -----------------------------------------------------------------------------------

def test_epic_status_counts_parent_child_children_only(store: Store) -> None:
    e = new(store, "Epic", issue_type="epic", priority=1)
    empty = new(store, "Empty epic", issue_type="epic")
    k1, k2, other = new(store, "k1"), new(store, "k2"), new(store, "other")
    for k in (k1, k2):
        run(store, "dep_add", from_id=k, to_id=e, dep_type="parent-child")
    run(store, "dep_add", from_id=other, to_id=e, dep_type="related")
    run(store, "close", id=k1)
    st = run(store, "epic_status")
    assert [(x["epic"]["id"], x["total_children"], x["closed_children"], x["eligible_for_close"]) for x in st] == [
        (e, 2, 1, False), (empty, 0, 0, False)]
    assert {"id", "title", "status", "issue_type", "created_at", "updated_at"} <= set(st[0]["epic"])
    assert run(store, "epic_status", eligible_only=True) == []
    run(store, "close", id=k2)
    assert [x["epic"]["id"] for x in run(store, "epic_status", eligible_only=True)] == [e]
    assert run(store, "epic_close_eligible", dry_run=True) == {"closed": [], "eligible": [e], "dry_run": True}
    assert store.get_issue(e)["status"] == "open"
    assert run(store, "epic_close_eligible")["closed"] == [e]
    assert store.get_issue(e)["status"] == "closed"
    assert [x["epic"]["id"] for x in run(store, "epic_status")] == [empty]  # closed epics leave


# --- repair-deps -----------------------------------------------------------------------------

def test_repair_deps_finds_and_fixes_orphans(store: Store) -> None:
    a, b = new(store, "A"), new(store, "B")
    run(store, "dep_add", from_id=b, to_id=a)
    orphan(store, a, "test-gone")
    found = run(store, "repair_deps")
    assert found == {"orphans_found": 1, "orphans": [{"issue_id": a, "depends_on_id": "test-gone", "type": "blocks"}]}
    assert "fixed" not in found
    assert not ops.is_write("repair_deps", {}) and ops.is_write("repair_deps", {"fix": True})
    fixed = run(store, "repair_deps", fix=True)
    assert (fixed["orphans_found"], fixed["fixed"]) == (1, 1)
    assert run(store, "repair_deps") == {"orphans_found": 0, "orphans": []}
    assert store.get_dep(b, a) is not None  # real edges stay
    assert a in store.dirty_ids()  # the change travels in the JSONL
    assert store.events(a)[-1]["event_type"] == "dependency_removed"


# --- pollution and validate ------------------------------------------------------------------

def test_pollution_scores_like_beads_and_clean_deletes(store: Store) -> None:
    t = new(store, "test issue for the parser", description="")
    real = new(store, "Parser drops the last token", description="Seen with inputs ending in a comment.")
    r = run(store, "pollution")
    assert [p["id"] for p in r["issues"]] == [t]
    p = r["issues"][0]
    assert p["score"] >= 0.9 and "Title starts with test prefix" in p["reasons"]
    assert (r["polluted_count"], r["high_confidence"], r["medium_confidence"]) == (1, 1, 0)
    r = run(store, "pollution", clean=True)
    assert r["deleted"] == 1 and store.get_issue(t)["status"] == "tombstone" and store.get_issue(real) is not None
    assert run(store, "pollution")["polluted_count"] == 0


def test_validate_reports_each_check_and_fix_repairs_orphans(store: Store) -> None:
    a = new(store, "Write the exporter")
    new(store, "Write the exporter")  # same content, both open
    orphan(store, a, "test-nowhere")
    r = run(store, "validate")
    by = {c["name"]: c for c in r["checks"]}
    assert list(by) == ["Duplicate Issues", "Orphaned Dependencies", "Test Pollution", "Git Conflicts"]
    assert by["Duplicate Issues"]["status"] == "warning" and by["Orphaned Dependencies"]["status"] == "warning"
    assert by["Git Conflicts"]["status"] == "ok" and r["overall_ok"] is False
    r = run(store, "validate", fix=True)
    assert {c["name"]: c["status"] for c in r["checks"]}["Orphaned Dependencies"] == "ok"
    assert r["fixed"] == ["removed 1 orphaned dependencies"]


def test_validate_finds_conflict_markers_in_the_jsonl(store: Store) -> None:
    new(store)
    (store.beads_dir / "issues.jsonl").write_text('{"id":"test-1"}\n<<<<<<< HEAD\n=======\n>>>>>>> theirs\n')
    c = {c["name"]: c for c in run(store, "validate")["checks"]}["Git Conflicts"]
    assert c["status"] == "error" and "2, 3, 4" in c["message"]


# --- schema and migrations -------------------------------------------------------------------

def test_schema_info_and_migrate_inspect(store: Store) -> None:
    a = new(store)
    s = run(store, "schema_info")
    assert {"issues", "dependencies", "labels", "comments", "events", "config"} <= set(s["tables"])
    assert s["sample_issue_ids"] == [a] and s["detected_prefix"] == "test"
    assert s["config"] == {"issue_prefix": "test"} and s["schema_version"].isdigit()
    m = run(store, "migrate_inspect")
    assert m["registered_migrations"][0]["applied"] is True
    assert m["current_state"]["issue_count"] == 1 and m["current_state"]["db_exists"] is True
    assert m["warnings"] == [] and m["invariants_to_check"]


# --- prime -----------------------------------------------------------------------------------

def test_prime_names_the_work_in_progress_ready_and_blocked(store: Store) -> None:
    a = new(store, "Fix the crash", priority=0, issue_type="bug")
    b = new(store, "Release", dependencies=[a])
    c = new(store, "Refactor")
    run(store, "update", id=c, status="in_progress", assignee="ann")
    state = run(store, "prime")
    assert [i["id"] for i in state["in_progress"]] == [c]
    assert [i["id"] for i in state["ready"]] == [a]
    assert [(i["id"], i["blocked_by"]) for i in state["blocked"]] == [(b, [a])]
    text = guide(state)
    assert "Fix the crash" in text and f"{b} " in text and "@ann" in text
    assert "bd ready" in text and "bd sync" in text
    assert "bd sync" not in guide(state, stealth=True)
    assert len(guide(state, brief=True)) < len(text)


# --- templates -------------------------------------------------------------------------------

def test_builtin_and_custom_templates(store: Store) -> None:
    names = [t["name"] for t in run(store, "template_list")]
    assert names[:3] == ["bug", "epic", "feature"]
    made = run(store, "template_create", name="perf")
    assert Path(made["path"]).read_text().startswith("name: perf\n")
    with pytest.raises(ValidationError):
        run(store, "template_create", name="perf")
    t = run(store, "template_show", name="perf")
    assert (t["type"], t["priority"], t["labels"], t["builtin"]) == ("task", 2, [], False)
    assert t["acceptance_criteria"].startswith("- [ ] Acceptance criterion 1")
    (store.beads_dir / "templates" / "sec.yaml").write_text(
        "name: sec\ntype: bug\npriority: 0\nlabels:\n  - security\n  - 'review'\ndescription: |-\n"
        "    ## Threat\n\n    [who, what]\n")
    sec = run(store, "template_show", name="sec")
    assert (sec["type"], sec["priority"], sec["labels"]) == ("bug", 0, ["review", "security"])
    assert sec["description"] == "## Threat\n\n[who, what]"
    with pytest.raises(NotFoundError) as e:
        run(store, "template_show", name="nope")
    assert "bug, epic, feature" in (e.value.hint or "")
    (store.beads_dir / "templates" / "bad.yaml").write_text("type: story\n")
    with pytest.raises(ValidationError) as e2:
        run(store, "template_list")
    assert "bad.yaml" in e2.value.message


def test_template_args_fill_only_what_was_not_given(store: Store) -> None:
    from bdgit.ops.records import template_args
    from bdgit.ops import Ctx
    got = template_args(Ctx(store, "t"), "bug", {"title": "Crash", "priority": 0, "labels": ["ui"]})
    assert (got["issue_type"], got["priority"], got["labels"]) == ("bug", 0, ["bug", "ui"])
    assert got["description"].startswith("## Summary")


# --- audit -----------------------------------------------------------------------------------

def test_audit_record_and_label_append_lines(store: Store) -> None:
    a = new(store)
    e = run(store, "audit_record", kind="llm_call", model="m", prompt="p", response="r", issue_id=a, exit_code=-1)
    assert e["id"].startswith("int-") and "exit_code" not in e and e["actor"] == "tester"
    lab = run(store, "audit_label", id=e["id"], label="good", reason="worked")
    assert (lab["kind"], lab["parent_id"], lab["label"]) == ("label", e["id"], "good")
    lines = [json.loads(x) for x in (store.beads_dir / "interactions.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [e["id"], lab["id"]]
    with pytest.raises(NotFoundError):
        run(store, "audit_label", id="int-00000000", label="bad")
    with pytest.raises(NotFoundError):
        run(store, "audit_record", kind="tool_call", issue_id="test-999")


# --- restore ---------------------------------------------------------------------------------

def test_restore_reads_the_newest_committed_version(store: Store, beads_repo: Path) -> None:
    a = new(store, "Original title")
    run(store, "flush")
    subprocess.run(["git", "add", ".beads/issues.jsonl"], cwd=beads_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "issues"], cwd=beads_repo, check=True)
    run(store, "update", id=a, title="Changed here")
    got = run(store, "restore", id=a)
    assert got["title"] == "Original title" and len(got["restored_from"]["commit"]) == 40
    with pytest.raises(NotFoundError):
        run(store, "restore", id="test-404")


# --- filters and no-op changes ---------------------------------------------------------------

def test_a_mistyped_filter_is_an_error_naming_the_valid_values(store: Store) -> None:
    new(store)
    for op_ in ("list", "ready", "blocked"):
        with pytest.raises(ValidationError) as e:
            run(store, op_, status="opne")
        assert "open, in_progress" in e.value.message and "'opne'" in e.value.message
        with pytest.raises(ValidationError) as e:
            run(store, op_, issue_type="story")
        assert "bug, feature, task, epic, chore" in e.value.message
        with pytest.raises(NotFoundError):
            run(store, op_, parent="test-999")
    assert run(store, "list", status="deferred") == []  # newer beads' statuses are real filters
    assert len(run(store, "list", status="all")) == 1


def test_filters_accept_values_imported_from_newer_beads(store: Store) -> None:
    new(store, "imported")
    with store.tx():
        store.conn.execute("UPDATE issues SET issue_type='message', status='review'")
    new(store, "plain")
    assert [r["issue_type"] for r in run(store, "list", issue_type="message")] == ["message"]
    assert [r["status"] for r in run(store, "list", status="review")] == ["review"]


def test_no_op_changes_say_nothing_changed(store: Store) -> None:
    from bdgit.ops import Ctx
    from bdgit.ops.issues import UNCHANGED
    a = new(store)

    def notices(op_: str, **args: Any) -> list[str]:
        ctx = Ctx(store, "t")
        ops.run(store, op_, args, "t", ctx)
        return ctx.notices

    assert notices("reopen", id=a) == [f"{a}: {UNCHANGED}: it is already open"]
    assert notices("update", id=a) == [f"{a}: {UNCHANGED}: no fields were given"]
    assert notices("update", id=a, priority=2) == [f"{a}: {UNCHANGED}: it already has those values"]
    assert notices("close", id=a) == []
    events = len(store.events(a))
    got = notices("close", id=a)
    assert len(got) == 1 and got[0].startswith(f"{a}: {UNCHANGED}: it was already closed")
    assert len(store.events(a)) == events  # nothing recorded
