"""Claims and leases through ``bdgit.ops.run``: ``ready`` with ``claim``, ``update`` with
``claim``, leases (renewal, heartbeat, expiry), and the changes a commit publishes."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bdgit import jsonl, ops
from bdgit.errors import BatchFailed, ConflictError, UsageError, ValidationError
from bdgit.ops import claim, leases
from bdgit.store import Store
from testing import run_op as run, new_issue as new



def take(store: Store, actor: str, **args: Any) -> dict[str, Any] | None:
    got = run(store, "ready", actor, claim=True, **args)
    assert isinstance(got, list) and len(got) <= 1
    return got[0] if got else None


def trail(store: Store, issue_id: str) -> list[tuple[str, str]]:
    return [(e["event_type"], e["actor"]) for e in run(store, "events", id=issue_id)]


# --- ready --claim -----------------------------------------------------------------------------

def test_claim_takes_the_best_ready_issue_and_records_it(store: Store) -> None:
    low, high, older_high = new(store, "low", priority=3), new(store, "high", priority=1), None
    older_high = high
    newer_high = new(store, "newer high", priority=1)
    got = take(store, "agent-1")
    assert got is not None and got["id"] == older_high  # priority first, then the oldest
    assert (got["status"], got["assignee"]) == ("in_progress", "agent-1")
    assert trail(store, older_high)[-1] == ("claimed", "agent-1")
    assert [take(store, f"a{k}")["id"] for k in range(2)] == [newer_high, low]  # type: ignore[index]
    assert take(store, "late") is None  # nothing left: an empty list, not an error


def test_claim_follows_the_ready_filters(store: Store) -> None:
    epic = new(store, "epic", issue_type="epic", priority=4)
    child = new(store, "child", priority=3, labels=["backend"])
    run(store, "dep_add", from_id=child, to_id=epic, dep_type="parent-child")
    bug = new(store, "bug", issue_type="bug", priority=2, labels=["ui"])
    p0 = new(store, "urgent", priority=0)
    blocker = new(store, "blocker", priority=4)
    blocked = new(store, "blocked", priority=0)
    run(store, "dep_add", from_id=blocked, to_id=blocker)
    assert take(store, "a", issue_type="bug")["id"] == bug  # type: ignore[index]
    assert take(store, "a", labels=["backend"])["id"] == child  # type: ignore[index]
    assert take(store, "a", parent=epic) is None  # its only child is taken
    assert take(store, "a", priority=0)["id"] == p0  # type: ignore[index]
    assert take(store, "a", priority=0) is None  # the blocked P0 is not ready
    assert take(store, "a", labels_any=["nope", "ui"]) is None


def test_claim_takes_unassigned_issues_or_the_actors_own(store: Store) -> None:
    theirs = new(store, "theirs", priority=0, assignee="bob")
    mine = new(store, "mine", priority=1, assignee="alice")
    free = new(store, "free", priority=2)
    assert take(store, "alice", unassigned=True)["id"] == free  # type: ignore[index]
    assert take(store, "alice", assignee="alice")["id"] == mine  # type: ignore[index]
    assert take(store, "alice") is None  # bob's issue is not free for alice
    with pytest.raises(UsageError, match="names someone else"):
        take(store, "alice", assignee="bob")
    assert take(store, "bob")["id"] == theirs  # type: ignore[index]


def test_claims_in_one_atomic_batch_are_distinct_and_roll_back_together(store: Store) -> None:
    a, b = new(store, "a"), new(store, "b")
    res = run(store, "batch", "agent", operations=[{"operation": "ready", "args": {"claim": True}}] * 2)
    assert sorted(r["data"][0]["id"] for r in res["results"]) == sorted([a, b])
    c = new(store, "c")
    with pytest.raises(BatchFailed):
        run(store, "batch", "agent2", operations=[{"operation": "ready", "args": {"claim": True}},
                                                  {"operation": "close", "args": {"id": "test-999"}}])
    assert run(store, "show", id=c)["status"] == "open"  # the claim was rolled back with it


def test_ready_with_claim_is_a_write_and_without_is_not() -> None:
    assert ops.is_write("ready", {"claim": True}) and not ops.is_write("ready", {"limit": 3})
    assert not ops.is_write("ready", {"claim": False}) and ops.is_write("heartbeat", {})


# --- update --claim ----------------------------------------------------------------------------

def test_update_claim_follows_beads_rule(store: Store) -> None:
    i = new(store)
    run(store, "update", "alice", id=i, claim=True)
    again = run(store, "update", "alice", id=i, claim=True)  # one's own claim: no change, no error
    assert again["assignee"] == "alice" and trail(store, i).count(("claimed", "alice")) == 1
    with pytest.raises(ConflictError, match="already claimed by alice"):
        run(store, "update", "bob", id=i, claim=True)
    run(store, "close", "alice", id=i)
    with pytest.raises(ConflictError, match="it is closed"):
        run(store, "update", "alice", id=i, claim=True)
    held = new(store, assignee="carol")
    with pytest.raises(ConflictError, match="already claimed by carol"):
        run(store, "update", "bob", id=held, claim=True)
    with pytest.raises(UsageError, match="goes with --claim"):
        run(store, "update", "bob", id=held, lease="5m")


# --- leases ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400),
                                            ("500ms", 0.5), ("2d", 172800), ("45", 45), (12, 12)])
def test_durations(text: Any, seconds: float) -> None:
    assert leases.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["off", "0", "", "none"])
def test_no_lease(text: str) -> None:
    assert leases.parse_duration(text) is None


@pytest.mark.parametrize("text", ["soon", "30 minutes", "1h-5m", "31d", True])
def test_bad_durations_are_refused(text: Any) -> None:
    with pytest.raises(ValidationError):
        leases.parse_duration(text)


def test_a_claim_carries_a_lease_as_issue_data(store: Store) -> None:
    i = new(store)
    got = take(store, "agent", lease="10m")
    assert got is not None and got["id"] == i
    lease = got["lease"]
    assert (lease["holder"], lease["seconds"]) == ("agent", 600)
    assert 595 < leases.expiry(lease) - time.time() <= 600  # type: ignore[operator]
    assert run(store, "show", id=i)["lease"] == lease
    # exported in the issue's JSONL line like any field, and read back by an import
    path = store.beads_dir / "issues.jsonl"
    jsonl.flush(store, path)
    line = next(json.loads(x) for x in path.read_text().splitlines() if json.loads(x)["id"] == i)
    assert line["lease"] == lease
    other = Store(store.beads_dir / "other.db", create=True)
    try:
        jsonl.import_text(other, path.read_text(), actor="import")
        assert leases.lease_of(other.get_issue(i)) == lease
    finally:
        other.close()


def test_the_workspace_default_lease_and_turning_it_off(store: Store) -> None:
    a, b = new(store, "a"), new(store, "b")
    with pytest.raises(ValidationError):
        run(store, "config_set", key=leases.CONFIG_KEY, value="a while")
    run(store, "config_set", key=leases.CONFIG_KEY, value="15m")
    assert take(store, "x")["lease"]["seconds"] == 900  # type: ignore[index]
    assert "lease" not in take(store, "y", lease="off")  # type: ignore[operator]
    assert run(store, "show", id=a)["lease"]["holder"] == "x" and "lease" not in run(store, "show", id=b)


def test_writes_by_the_holder_renew_the_lease_and_others_do_not(store: Store) -> None:
    i = new(store)
    first = take(store, "agent", lease="1s")["lease"]  # type: ignore[index]
    time.sleep(0.05)
    run(store, "comment_add", "someone-else", id=i, text="drive-by")
    assert run(store, "show", id=i)["lease"] == first
    run(store, "note", "agent", id=i, text="halfway")
    renewed = run(store, "show", id=i)["lease"]
    assert leases.expiry(renewed) > leases.expiry(first)  # type: ignore[operator]
    time.sleep(0.05)
    run(store, "label_add", "agent", id=i, label="wip")
    assert leases.expiry(run(store, "show", id=i)["lease"]) > leases.expiry(renewed)  # type: ignore[operator]


@pytest.mark.parametrize("change", [{"status": "closed"}, {"status": "open"}, {"assignee": "bob"},
                                    {"status": "blocked"}])
def test_leaving_in_progress_or_another_assignee_ends_the_lease(store: Store, change: dict[str, Any]) -> None:
    i = new(store)
    take(store, "agent", lease="10m")
    if change == {"status": "closed"}:
        run(store, "close", "agent", id=i)
    else:
        run(store, "update", "agent", id=i, **change)
    assert "lease" not in run(store, "show", id=i)
    assert leases.next_due(store) is None


def test_heartbeat_renews_and_says_why_it_cannot(store: Store) -> None:
    i, j, k = new(store, "i"), new(store, "j"), new(store, "k")
    take(store, "agent", lease="1s")
    take(store, "agent", lease="1s")
    take(store, "other")  # k: no lease
    before = leases.next_due(store)
    time.sleep(0.02)
    res = run(store, "heartbeat", "agent")  # every lease the actor holds
    assert sorted(r["id"] for r in res["renewed"]) == sorted([i, j])
    assert leases.next_due(store) > before  # type: ignore[operator]
    res = run(store, "heartbeat", "agent", ids=[i], lease="1h")
    assert res["renewed"][0]["lease"]["seconds"] == 3600
    with pytest.raises(ConflictError, match="no lease"):
        run(store, "heartbeat", "other", id=k)
    with pytest.raises(ConflictError, match="leased by agent"):
        run(store, "heartbeat", "other", id=i)
    assert run(store, "heartbeat", "nobody") == {"renewed": []}
    with store.tx():  # j's lease ran out, and nobody has returned it yet
        store.set_fields(j, {"extra": leases.extra_with(store.get_issue(j) or {},
                                                       leases.new_lease("agent", 1, at=time.time() - 10))})
    with pytest.raises(ConflictError, match="expired"):
        run(store, "heartbeat", "agent", id=j)
    assert trail(store, i).count(("claimed", "agent")) == 1  # heartbeats are not audit events


def test_expiry_returns_the_issue_to_ready_and_the_trail_names_who_abandoned_it(store: Store) -> None:
    i = new(store)
    take(store, "agent-1", lease="5m")
    assert claim.expire_due(store) == []  # not due yet
    assert claim.expire_due(store, at=time.time() + 301) == [i]
    issue = run(store, "show", id=i)
    assert (issue["status"], "assignee" in issue, "lease" in issue) == ("open", False, False)
    assert issue["abandoned"]["by"] == "agent-1" and issue["abandoned"]["lease_expired_at"]
    ev = run(store, "events", id=i)[-1]
    assert (ev["event_type"], ev["actor"]) == ("lease_expired", "agent-1") and "abandoned by agent-1" in ev["comment"]
    assert [r["id"] for r in run(store, "ready")] == [i]
    take(store, "agent-2")
    assert "abandoned" not in run(store, "show", id=i)  # claimed again: the trail keeps both
    assert trail(store, i) == [("created", "tester"), ("claimed", "agent-1"), ("lease_expired", "agent-1"),
                               ("claimed", "agent-2")]


# --- the changes a commit publishes (the daemon's change feed) ---------------------------------

def test_changes_are_published_after_commit_and_never_for_rolled_back_work(store: Store) -> None:
    got: list[list[dict[str, Any]]] = []
    store.on_commit = got.append
    i = new(store)
    run(store, "update", "ann", id=i, title="renamed", priority=0)
    with pytest.raises(BatchFailed):
        run(store, "batch", operations=[{"operation": "close", "args": {"id": i}},
                                        {"operation": "close", "args": {"id": "test-999"}}])
    with store.tx():  # a failing request inside a group rolls back only itself
        ops.run(store, "label_add", {"id": i, "label": "x"}, "ann")
        with pytest.raises(BatchFailed):
            ops.run(store, "batch", {"operations": [{"operation": "close", "args": {"id": i}},
                                                    {"operation": "show", "args": {"id": "nope"}}]}, "ann")
        assert got[-1][0]["type"] == "updated"  # nothing published before COMMIT
    run(store, "delete", id=i, force=True)
    flat = [(c["type"], c["issue_id"], c["changes"]) for group in got for c in group]
    assert flat == [("created", i, []), ("updated", i, ["priority", "title"]), ("label_added", i, ["labels"]),
                    ("deleted", i, [])]
    assert all(c["actor"] and c["at"] for group in got for c in group)
