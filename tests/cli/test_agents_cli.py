"""``bd ready --claim``, ``--lease``, ``bd heartbeat``, ``bd show`` of an abandoned issue and
``bd watch`` from the command line (in-process runner; ``bd watch`` as a real process)."""
from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from testing import BD

Bd = Any


def ok(bd: Bd, *args: str) -> str:
    code, out, err = bd(*args)
    assert code == 0, f"bd {' '.join(args)} -> {code}\n{out}\n{err}"
    return out


def test_ready_claim_json_gives_the_issue_and_exit_3_with_empty_json_when_nothing_is_ready(bd: Bd) -> None:
    ok(bd, "create", "first", "-p", "1")
    ok(bd, "create", "second", "-p", "2")
    code, out, err = bd("ready", "--claim", "--json", "--actor", "agent-1")
    assert code == 0 and err == ""
    [issue] = json.loads(out)
    assert (issue["id"], issue["status"], issue["assignee"]) == ("test-1", "in_progress", "agent-1")
    ok(bd, "ready", "--claim", "--json", "--actor", "agent-2")
    code, out, err = bd("ready", "--claim", "--json", "--actor", "agent-3")
    assert (code, json.loads(out), err) == (3, [], "")
    code, out, err = bd("ready", "--claim", "--actor", "agent-3")
    assert code == 3 and "No ready work to claim" in out and err == ""


def test_ready_claim_human_output_and_flags(bd: Bd) -> None:
    ok(bd, "create", "backend work", "-l", "backend")
    ok(bd, "create", "ui work", "-l", "ui", "-p", "0")
    out = ok(bd, "ready", "--claim", "-l", "backend", "--lease", "30m", "--actor", "a")
    assert "Claimed issue: test-1: backend work" in out and "Lease until" in out
    code, _, err = bd("ready", "--lease", "30m")
    assert code == 2 and "--lease goes with --claim" in err
    code, _, err = bd("ready", "--claim", "--lease", "a while")
    assert code == 1 and "invalid lease" in err
    code, _, err = bd("ready", "--claim", "--assignee", "bob", "--actor", "a")
    assert code == 2 and "names someone else" in err


def test_update_claim_with_a_lease_heartbeat_and_show(bd: Bd) -> None:
    ok(bd, "create", "task")
    issue = json.loads(ok(bd, "update", "test-1", "--claim", "--lease", "10m", "--json", "--actor", "a"))
    assert issue["lease"]["holder"] == "a" and issue["lease"]["seconds"] == 600
    assert "Lease: a until" in ok(bd, "show", "test-1")
    res = json.loads(ok(bd, "heartbeat", "--lease", "1h", "--json", "--actor", "a"))
    assert [r["id"] for r in res["renewed"]] == ["test-1"] and res["renewed"][0]["lease"]["seconds"] == 3600
    assert "Renewed the lease on test-1" in ok(bd, "heartbeat", "test-1", "--actor", "a")
    assert "No leases held by you" in ok(bd, "heartbeat", "--actor", "b")
    code, _, err = bd("heartbeat", "test-1", "--actor", "b")
    assert code == 1 and "leased by a, not b" in err


def test_direct_mode_returns_an_expired_lease_when_it_next_reads(bd: Bd) -> None:
    ok(bd, "create", "task")
    ok(bd, "ready", "--claim", "--lease", "200ms", "--actor", "crashed-agent")
    assert json.loads(ok(bd, "ready", "--json")) == []
    time.sleep(0.3)
    assert [i["id"] for i in json.loads(ok(bd, "ready", "--json"))] == ["test-1"]  # a read returned it
    shown = json.loads(ok(bd, "show", "test-1", "--json"))
    assert shown["abandoned"]["by"] == "crashed-agent" and "assignee" not in shown
    out = ok(bd, "show", "test-1")
    assert "Abandoned: crashed-agent's lease expired" in out and "back to ready" in out
    events = json.loads(ok(bd, "events", "test-1", "--json"))
    assert [(e["event_type"], e["actor"]) for e in events][-2:] == [("claimed", "crashed-agent"),
                                                                    ("lease_expired", "crashed-agent")]


def test_lease_default_in_config(bd: Bd) -> None:
    ok(bd, "create", "task")
    code, _, err = bd("config", "set", "lease.default", "forever")
    assert code == 1 and "invalid lease.default" in err
    ok(bd, "config", "set", "lease.default", "45m")
    [issue] = json.loads(ok(bd, "ready", "--claim", "--json"))
    assert issue["lease"]["seconds"] == 2700


def test_watch_needs_a_daemon(bd: Bd) -> None:
    code, _, err = bd("watch")
    assert code == 1 and "needs a running daemon" in err and "bd daemon start" in err


def test_watch_prints_the_feed_as_json_lines(daemon: dict[str, Any]) -> None:
    ws = daemon["ws"]
    proc = subprocess.Popen([*BD, "watch", "--json", "-n", "3"], cwd=ws.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        hello = json.loads(proc.stdout.readline())
        assert hello["type"] == "subscribed" and hello["stream"]
        for title in ("one", "two"):
            subprocess.run([*BD, "create", title], cwd=ws.root, check=True, capture_output=True)
        subprocess.run([*BD, "close", "test-1", "--actor", "closer"], cwd=ws.root, check=True, capture_output=True)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(x) for x in out.splitlines()]
    assert [(e["seq"], e["type"], e["issue_id"]) for e in events] == [
        (hello["seq"] + 1, "created", "test-1"), (hello["seq"] + 2, "created", "test-2"),
        (hello["seq"] + 3, "closed", "test-1")]
    assert events[2]["actor"] == "closer" and events[2]["status"] == "closed"
