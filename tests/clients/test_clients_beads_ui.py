"""beads-ui 0.12 (npm), its real server driven through the WebSocket messages its browser app
sends, and its page rendered in a real headless chromium; with and without the daemon."""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clientkit as ck
import pytest

pytestmark = pytest.mark.clients


@pytest.fixture
def ui(client_ws: dict[str, Any]) -> Iterator[tuple[ck.UiSocket, dict[str, Any]]]:
    nm = ck.npm_clients()
    server = ck.UiServer(nm, client_ws["repo"], client_ws["env"])
    sock = None
    try:
        sock = ck.UiSocket(nm, server)
        client_ws["server"] = server
        yield sock, client_ws
    finally:
        if sock:
            sock.close()
        server.close()


def by_id(issues: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["id"]: i for i in issues}


def test_every_list_view_loads_with_counts(ui: tuple[ck.UiSocket, dict[str, Any]]) -> None:
    sock, ws = ui
    ids = ws["ids"]
    all_ = by_id(sock.subscribe("tab:all", "all-issues"))
    assert set(ids.values()) <= set(all_)
    # the Deps column: what an issue depends on (->n) and what depends on it (<-n)
    assert all_[ids["blocked"]]["dependency_count"] == 1 and all_[ids["blocked"]]["dependent_count"] == 0
    assert all_[ids["blocker"]]["dependent_count"] == 1 and all_[ids["blocker"]]["comment_count"] == 1
    assert all_[ids["epic"]]["dependent_count"] == 2
    ready = by_id(sock.subscribe("tab:ready", "ready-issues"))
    assert ids["blocker"] in ready and ids["blocked"] not in ready
    blocked = by_id(sock.subscribe("tab:blocked", "blocked-issues"))
    assert list(blocked) == [ids["blocked"]]
    assert sock.subscribe("tab:progress", "in-progress-issues") == []
    closed = by_id(sock.subscribe("tab:closed", "closed-issues"))
    assert list(closed) == [ids["child2"]]
    epics = sock.subscribe("tab:epics", "epics")
    assert [(e["id"], e["total_children"], e["closed_children"], e["eligible_for_close"]) for e in epics] == [
        (ids["epic"], 2, 1, False)]
    detail = sock.subscribe("detail:epic", "issue-detail", {"id": ids["epic"]})
    assert detail[0]["id"] == ids["epic"]
    assert {d["id"] for d in detail[0]["dependents"]} == {ids["child1"], ids["child2"]}


def test_every_action_changes_the_issue(ui: tuple[ck.UiSocket, dict[str, Any]]) -> None:
    sock, ws = ui
    ids = ws["ids"]

    def ok(type_: str, payload: dict[str, Any]) -> Any:
        r = sock.request(type_, payload)
        assert r["ok"], f"{type_}: {r}"
        return r["payload"]

    i = ids["child1"]
    assert ok("update-status", {"id": i, "status": "in_progress"})["status"] == "in_progress"
    assert ok("update-priority", {"id": i, "priority": 0})["priority"] == 0
    assert ok("update-assignee", {"id": i, "assignee": "carol"})["assignee"] == "carol"
    assert ok("edit-text", {"id": i, "field": "title", "value": "Draw the list"})["title"] == "Draw the list"
    assert ok("edit-text", {"id": i, "field": "description", "value": "rows"})["description"] == "rows"
    assert ok("edit-text", {"id": i, "field": "acceptance", "value": "fast"})["acceptance_criteria"] == "fast"
    assert ok("edit-text", {"id": i, "field": "notes", "value": "n"})["notes"] == "n"
    assert ok("edit-text", {"id": i, "field": "design", "value": "grid"})["design"] == "grid"
    assert ok("label-add", {"id": i, "label": "frontend"})["labels"] == ["frontend", "ui"]
    assert ok("label-remove", {"id": i, "label": "ui"})["labels"] == ["frontend"]
    shown = ok("dep-add", {"a": i, "b": ids["blocker"], "view_id": i})
    assert ids["blocker"] in {d["id"] for d in shown["dependencies"]}
    shown = ok("dep-remove", {"a": i, "b": ids["blocker"], "view_id": i})
    assert ids["blocker"] not in {d["id"] for d in shown["dependencies"]}
    comments = ok("add-comment", {"id": i, "text": "looks good"})
    assert [c["text"] for c in comments] == ["looks good"]
    assert [c["text"] for c in ok("get-comments", {"id": i})] == ["looks good"]
    assert ok("create-issue", {"title": "Made in the UI", "type": "bug", "priority": 1, "description": "d"}) == {
        "created": True}
    assert ok("delete-issue", {"id": ids["blocked"]}) == {"deleted": True, "id": ids["blocked"]}
    all_ = by_id(sock.subscribe("tab:all", "all-issues"))
    assert ids["blocked"] not in all_
    assert any(x["title"] == "Made in the UI" and x["issue_type"] == "bug" for x in all_.values())


def test_a_write_by_another_bd_reaches_the_open_page(ui: tuple[ck.UiSocket, dict[str, Any]]) -> None:
    """Live refresh: the server watches the main database file; a write by any bd process
    (through the daemon when one runs) must change it, and the list gets an upsert."""
    sock, ws = ui
    sock.subscribe("tab:all", "all-issues")
    p = subprocess.run(["bd", "create", "Written elsewhere", "--json"], cwd=ws["repo"], env=ws["env"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    new_id = json.loads(p.stdout)["id"]
    ev = sock.wait_event(lambda e: e.get("type") == "upsert" and e["payload"]["issue"]["id"] == new_id, timeout=15)
    assert ev is not None, "the new issue never reached the subscribed list"


def test_the_issue_list_renders_in_headless_chromium(ui: tuple[ck.UiSocket, dict[str, Any]], tmp_path: Path) -> None:
    sock, ws = ui
    browser = ck.chromium()
    nm = ck.npm_clients()
    shot = tmp_path / "issues.png"
    r = ck.run_json(["node", str(Path(__file__).with_name("render_page.mjs")), str(nm), browser,
                     ws["server"].url + "/#/issues", "Fix the login bug", str(shot), str(tmp_path / "profile")],
                    ws["repo"], ws["env"], timeout=180)
    assert r["ok"], r
    for title in ("Fix the login bug", "Ship the release", "Draw the issue list"):
        assert title in r["text"]
    assert shot.stat().st_size > 10_000
