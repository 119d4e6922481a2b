"""Compatibility with the beads-mcp MCP server (PyPI ``beads-mcp``), versions 0.9.11 and 1.3.2.

beads-mcp drives ``bd`` in two ways, and these tests encode what it expects of each without
needing beads-mcp installed:

- the CLI: ``[bd, *args, *global_flags, "--json"]`` (``--json`` always last, the global flags
  ``--db``/``--actor``/``--no-auto-flush``/``--no-auto-import`` after the subcommand's own
  arguments); the whole stdout must be one JSON document, a non-zero exit is an error.
  ``dep add``, ``comment``, ``note``, ``init`` and ``quickstart`` run without ``--json`` and are
  judged by their exit code; ``bd version`` by the first ``X.Y.Z`` in its output.
- the daemon (0.9.11 only): one request per new connection on ``.beads/bd.sock``,
  ``json.dumps({"operation", "args", "cwd"}) + "\\n"`` without a half-close, and exactly one
  response line ``{"success", "data"|"error"}``, read with a 64 KiB line limit.

The replies are checked against the fields its pydantic models require: 0.9.x accepts only
beads' four statuses and five types, needs ``created_at``/``updated_at`` on every issue
including nested dependency issues, rejects ``null`` lists and ``""`` datetimes; ``show``
must be an object (0.9.x rejects an array), ``close``/``reopen`` arrays, ``stats`` flat for
0.9.x and under ``summary`` for 1.3.2, comment ids strings.
"""
from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from testing import DATA_DIR, REPO_ROOT, bd_runner, run_bd

Bd = Callable[..., tuple[int, str, str]]

STATUSES_09 = {"open", "in_progress", "blocked", "closed"}
TYPES_09 = {"bug", "feature", "task", "epic", "chore"}
STATS_KEYS = ("total_issues", "open_issues", "in_progress_issues", "closed_issues", "blocked_issues",
              "ready_issues")
DATA_2025 = DATA_DIR / "2025-11-08-hash-ids.jsonl"
DATA_2026 = DATA_DIR / "2026-02-27-hash-ids-extra-fields.jsonl"

# --- what beads-mcp's models accept ----------------------------------------------------------

_TS = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")


def check_ts(v: Any, what: str) -> None:
    """A datetime pydantic parses: RFC 3339 (up to 9 fraction digits), a space for T, no zone,
    a date only, or unix seconds. Never ``""``."""
    if isinstance(v, int) and not isinstance(v, bool):
        return
    assert isinstance(v, str) and _TS.fullmatch(v), f"{what}: not a datetime: {v!r}"
    datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", v).replace("Z", "+00:00"))


def check_issue(d: Any, *, v09: bool, what: str = "issue") -> None:
    """``d`` validates as beads-mcp's ``Issue`` (0.9.x when ``v09``, else 1.3.2)."""
    assert isinstance(d, dict), f"{what}: expected an object, got {type(d).__name__}"
    what = f"{what} {d.get('id')}"
    for k in ("id", "title", "status", "issue_type"):
        assert isinstance(d.get(k), str), f"{what}: {k} must be a string: {d.get(k)!r}"
    if v09:
        assert d["status"] in STATUSES_09, f"{what}: status {d['status']!r}"
        assert d["issue_type"] in TYPES_09, f"{what}: issue_type {d['issue_type']!r}"
    p = d.get("priority")
    assert isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 4, f"{what}: priority {p!r}"
    for k in ("created_at", "updated_at"):
        assert k in d, f"{what}: {k} is required"
        check_ts(d[k], f"{what}.{k}")
    if d.get("closed_at") is not None:
        check_ts(d["closed_at"], f"{what}.closed_at")
    if "description" in d:
        assert isinstance(d["description"], str), f"{what}: description must be a string"
    for k in ("design", "acceptance_criteria", "notes", "external_ref", "assignee"):
        assert d.get(k) is None or isinstance(d[k], str), f"{what}: {k} {d[k]!r}"
    if "labels" in d:
        assert isinstance(d["labels"], list) and all(isinstance(x, str) for x in d["labels"]), what
    for k in ("dependency_count", "dependent_count"):
        if k in d:
            assert isinstance(d[k], int) and not isinstance(d[k], bool), f"{what}: {k} {d[k]!r}"
    for k in ("dependencies", "dependents"):
        if k in d:
            assert isinstance(d[k], list), f"{what}: {k} must be a list, got {d[k]!r}"
            for x in d[k]:
                assert isinstance(x, dict) and "depends_on_id" not in x, f"{what}: {k} holds a raw record {x!r}"
                check_issue(x, v09=v09, what=f"{what}.{k}[]")
                assert x.get("dependency_type") is None or isinstance(x["dependency_type"], str)


def check_blocked(d: Any, *, v09: bool) -> None:
    check_issue(d, v09=v09, what="blocked issue")
    assert isinstance(d.get("blocked_by_count"), int) and not isinstance(d["blocked_by_count"], bool)
    assert isinstance(d.get("blocked_by"), list) and all(isinstance(x, str) for x in d["blocked_by"])


def check_stats(d: Any) -> None:
    """Flat (0.9.x ``Stats``) and nested under ``summary`` (1.3.2 ``StatsSummary``)."""
    assert isinstance(d, dict)
    for where in (d, d.get("summary")):
        assert isinstance(where, dict), "stats needs a summary object"
        for k in STATS_KEYS:
            assert isinstance(where.get(k), int) and not isinstance(where[k], bool), f"stats {k}: {where.get(k)!r}"
        avg = where.get("average_lead_time_hours")
        assert isinstance(avg, (int, float)) and not isinstance(avg, bool), f"average_lead_time_hours {avg!r}"
    assert {k: d[k] for k in STATS_KEYS} == {k: d["summary"][k] for k in STATS_KEYS}


def check_comment(d: Any) -> None:
    assert isinstance(d, dict)
    assert isinstance(d.get("id"), str), f"comment id must be a string (an int fails): {d.get('id')!r}"
    assert isinstance(d.get("issue_id"), str) and isinstance(d.get("text"), str)
    assert d.get("author") is None or isinstance(d["author"], str)
    check_ts(d.get("created_at"), "comment.created_at")


# --- running bd the way beads-mcp does -------------------------------------------------------

def mcp_json(bd: Bd, *args: str, g: tuple[str, ...] = ()) -> Any:
    """``bd ARGS G --json``: exit 0 and the whole stdout one JSON document (empty -> {})."""
    code, out, err = bd(*args, *g, "--json")
    assert code == 0, f"bd {' '.join(args)} -> {code}\n{out}\n{err}"
    return json.loads(out) if out.strip() else {}


def mcp_text(bd: Bd, *args: str, g: tuple[str, ...] = ()) -> str:
    """``bd ARGS G`` (no --json): only the exit code counts."""
    code, out, err = bd(*args, *g)
    assert code == 0, f"bd {' '.join(args)} -> {code}\n{out}\n{err}"
    return out


def version_tuple(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)\.(\d+)", text.strip())
    assert m, f"no X.Y.Z in {text!r}"
    return tuple(int(x) for x in m.groups())


@pytest.fixture
def pair(bd: Bd) -> tuple[str, str]:
    """Two plain issues, created the way both versions create them."""
    a = mcp_json(bd, "create", "First", "-p", "2", "-t", "task")
    b = mcp_json(bd, "create", "Second", "-p", "2", "-t", "task")
    return a["id"], b["id"]


# --- version and text commands ---------------------------------------------------------------

REPO = REPO_ROOT


def test_version_check(tmp_path: Path) -> None:
    """``[bd, "version"]``, no --json, in any directory: exit 0, first X.Y.Z >= 0.9.0."""
    for cwd in (tmp_path, REPO):
        p = run_bd("version", cwd=cwd)
        assert p.returncode == 0, p.stderr
        assert version_tuple(p.stdout) >= (0, 9, 0)
    from bdgit import BEADS_COMPAT_VERSION
    assert version_tuple(p.stdout) == version_tuple(BEADS_COMPAT_VERSION)


def test_init_and_quickstart_as_text(git_repo: Path) -> None:
    """``[bd, "init", "--prefix", P, "--actor", A]`` and ``[bd, "quickstart"]``: text, exit 0."""
    p = run_bd("init", "--prefix", "mcp", "--actor", "agent", cwd=git_repo)
    assert p.returncode == 0, p.stderr
    assert "mcp" in p.stdout
    p = run_bd("quickstart", cwd=git_repo)
    assert p.returncode == 0 and p.stdout.strip()
    p = run_bd("create", "After init", "-p", "2", "-t", "task", "--json", cwd=git_repo)
    assert p.returncode == 0 and json.loads(p.stdout)["id"] == "mcp-1"


# --- create ----------------------------------------------------------------------------------

def test_create_with_every_flag(bd: Bd, pair: tuple[str, str]) -> None:
    a, b = pair
    issue = mcp_json(bd, "create", "Full issue", "-p", "1", "-t", "bug", "-d", "D", "--design", "X",
                     "--acceptance", "Y", "--external-ref", "gh-7", "--assignee", "alice", "--id", "test-50",
                     "-l", "ui", "-l", "backend", "--deps", f"blocks:{a},{b}", g=("--actor", "me"))
    check_issue(issue, v09=True)
    assert issue["id"] == "test-50" and issue["title"] == "Full issue"
    assert (issue["priority"], issue["issue_type"], issue["status"]) == (1, "bug", "open")
    assert (issue["description"], issue["design"], issue["acceptance_criteria"]) == ("D", "X", "Y")
    assert issue["external_ref"] == "gh-7" and issue["assignee"] == "alice"
    assert issue["labels"] == ["backend", "ui"]
    assert [(d["id"], d["dependency_type"]) for d in issue["dependencies"]] == [(a, "blocks"), (b, "blocks")]
    assert issue.get("closed_at") is None


def test_create_minimal_and_types(bd: Bd) -> None:
    for t in sorted(TYPES_09):
        issue = mcp_json(bd, "create", f"A {t}", "-p", "2", "-t", t)
        check_issue(issue, v09=True)
        assert issue["issue_type"] == t and issue["description"] == ""
        assert issue.get("labels", []) == [] and issue.get("dependencies", []) == []


def test_create_with_the_0_9_global_flags(bd: Bd, beads_repo: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """0.9.x: ``--db DB --actor A --no-auto-flush --no-auto-import`` after the command's own
    flags, from a directory outside the repository."""
    db = str(next((beads_repo / ".beads").glob("*.db")))
    monkeypatch.chdir(tmp_path)
    g = ("--db", db, "--actor", "agent", "--no-auto-flush", "--no-auto-import")
    issue = mcp_json(bd, "create", "Routed", "-p", "2", "-t", "task", g=g)
    check_issue(issue, v09=True)
    shown = mcp_json(bd, "show", issue["id"], g=g)
    assert shown["title"] == "Routed"


@pytest.mark.parametrize("var", ["BEADS_DB", "BEADS_DIR"])
def test_environment_selects_the_workspace(beads_repo: Path, tmp_path: Path, var: str) -> None:
    """0.9.x's set_context exports BEADS_DB; 1.3.2 passes BEADS_DIR (else BEADS_DB)."""
    beads_dir = beads_repo / ".beads"
    value = str(next(beads_dir.glob("*.db"))) if var == "BEADS_DB" else str(beads_dir)
    def j(*args: str) -> Any:
        p = run_bd(*args, "--json", cwd=tmp_path, env={var: value})
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    a, b = (j("create", t, "-p", "2", "-t", "task") for t in ("Via env", "Also"))
    check_issue(a, v09=True)
    p = run_bd("dep", "add", b["id"], a["id"], "--type", "blocks", cwd=tmp_path, env={var: value})
    assert p.returncode == 0, p.stderr
    assert [d["id"] for d in j("show", b["id"])["dependencies"]] == [a["id"]]


# --- update, claim, close, reopen ------------------------------------------------------------

def test_update_0_9_flags_return_an_object(bd: Bd, pair: tuple[str, str]) -> None:
    a, _ = pair
    issue = mcp_json(bd, "update", a, "--status", "in_progress", "--priority", "0", "--assignee", "bob",
                     "--title", "Renamed", "--design", "dz", "--acceptance-criteria", "ac", "--notes", "nn",
                     "--external-ref", "gh-2")
    check_issue(issue, v09=True)
    assert issue["id"] == a and issue["status"] == "in_progress" and issue["priority"] == 0
    assert (issue["assignee"], issue["title"], issue["design"]) == ("bob", "Renamed", "dz")
    assert (issue["acceptance_criteria"], issue["notes"], issue["external_ref"]) == ("ac", "nn", "gh-2")
    for status in ("blocked", "open", "in_progress"):
        issue = mcp_json(bd, "update", a, "--status", status)
        check_issue(issue, v09=True)
        assert issue["status"] == status


def test_update_1_3_flags(bd: Bd, pair: tuple[str, str]) -> None:
    """1.3.2 sends ``--description`` and ``--acceptance`` (not ``--acceptance-criteria``)."""
    a, _ = pair
    issue = mcp_json(bd, "update", a, "--status", "blocked", "--priority", "3", "--assignee", "carol",
                     "--title", "T", "--description", "dd", "--design", "x", "--acceptance", "ac2",
                     "--notes", "n", "--external-ref", "jira-1")
    check_issue(issue, v09=False)
    assert (issue["description"], issue["acceptance_criteria"], issue["status"]) == ("dd", "ac2", "blocked")


def test_claim(bd: Bd, pair: tuple[str, str]) -> None:
    a, _ = pair
    issue = mcp_json(bd, "update", a, "--claim", g=("--actor", "agent-7"))
    check_issue(issue, v09=False)
    assert issue["status"] == "in_progress" and issue["assignee"] == "agent-7"


def test_close_and_reopen_return_arrays(bd: Bd, pair: tuple[str, str]) -> None:
    a, b = pair
    for iid, reason in ((a, "Completed"), (b, "done here")):
        closed = mcp_json(bd, "close", iid, "--reason", reason)
        assert isinstance(closed, list) and [x["id"] for x in closed] == [iid]
        check_issue(closed[0], v09=True)
        assert closed[0]["status"] == "closed"
        check_ts(closed[0]["closed_at"], "closed_at")
    reopened = mcp_json(bd, "reopen", a, b, "--reason", "again")
    assert isinstance(reopened, list) and [x["id"] for x in reopened] == [a, b]
    for x in reopened:
        check_issue(x, v09=True)
        assert x["status"] == "open" and x.get("closed_at") is None
    assert [x["id"] for x in mcp_json(bd, "reopen", a)] == [a]


# --- show and dependencies -------------------------------------------------------------------

def test_dep_add_then_show_has_full_issues(bd: Bd) -> None:
    ids = [mcp_json(bd, "create", f"I{i}", "-p", "2", "-t", "task")["id"] for i in range(5)]
    hub = ids[0]
    for other, dep_type in zip(ids[1:], ("blocks", "related", "parent-child", "discovered-from")):
        # 0.9.x: dep add FROM TO --type T G; 1.3.2: dep add ISSUE DEPENDS_ON --type T G; no --json
        mcp_text(bd, "dep", "add", hub, other, "--type", dep_type, g=("--actor", "me"))
    shown = mcp_json(bd, "show", hub)
    assert isinstance(shown, dict), "show must be an object: 0.9.x rejects an array"
    check_issue(shown, v09=True)
    assert [(d["id"], d["dependency_type"]) for d in shown["dependencies"]] == [
        (ids[1], "blocks"), (ids[2], "related"), (ids[3], "parent-child"), (ids[4], "discovered-from")]
    for other in ids[1:]:
        back = mcp_json(bd, "show", other)
        check_issue(back, v09=True)
        assert [d["id"] for d in back["dependents"]] == [hub]
    plain = mcp_json(bd, "show", ids[1])
    assert plain["dependencies"] == []


def test_show_of_a_missing_issue_fails(bd: Bd) -> None:
    code, _, err = bd("show", "test-999", "--json")
    assert code != 0 and "test-999" in err


def test_show_with_a_dependency_on_an_issue_we_do_not_have(bd: Bd, tmp_path: Path) -> None:
    """Imported data can point at issues that are not in the file (the 2026 snapshot does):
    the linked placeholder still carries the datetimes every linked issue needs."""
    line = {"id": "test-1", "title": "Has a dangling dep", "description": "", "status": "open", "priority": 2,
            "issue_type": "task", "created_at": "2025-11-01T10:00:00Z", "updated_at": "2025-11-01T10:00:00Z",
            "dependencies": [{"issue_id": "test-1", "depends_on_id": "other-9", "type": "blocks",
                              "created_at": "2025-11-01T10:00:01Z", "created_by": "x"}]}
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(line) + "\n")
    mcp_text(bd, "import", "-i", str(src))
    shown = mcp_json(bd, "show", "test-1")
    check_issue(shown, v09=False)
    assert [d["id"] for d in shown["dependencies"]] == ["other-9"]


# --- list, ready, blocked, stats -------------------------------------------------------------

@pytest.fixture
def board(bd: Bd) -> dict[str, str]:
    """epic <- parent-child - child; child blocks blocked_one; a labelled, assigned bug."""
    bug = mcp_json(bd, "create", "Login bug", "-p", "1", "-t", "bug", "--assignee", "alice", "-l", "ui", "-l", "web")
    epic = mcp_json(bd, "create", "Epic", "-p", "0", "-t", "epic")
    child = mcp_json(bd, "create", "Child", "-p", "2", "-t", "task")
    blocked = mcp_json(bd, "create", "Waits", "-p", "3", "-t", "feature", "--deps", child["id"])
    mcp_text(bd, "dep", "add", child["id"], epic["id"], "--type", "parent-child")
    return {"bug": bug["id"], "epic": epic["id"], "child": child["id"], "blocked": blocked["id"]}


def _list(bd: Bd, *args: str, v09: bool) -> list[dict[str, Any]]:
    out = mcp_json(bd, *args)
    assert isinstance(out, list), f"{args[0]} must give an array (anything else reads as [])"
    for x in out:
        check_issue(x, v09=v09)
    return out


def test_list_0_9_flags(bd: Bd, board: dict[str, str]) -> None:
    assert len(_list(bd, "list", "--limit", "50", v09=True)) == 4
    got = _list(bd, "list", "--status", "open", "--priority", "1", "--type", "bug", "--assignee", "alice",
                "--limit", "50", v09=True)
    assert [x["id"] for x in got] == [board["bug"]]
    assert _list(bd, "list", "--status", "closed", "--limit", "50", v09=True) == []


def test_list_1_3_flags(bd: Bd, board: dict[str, str]) -> None:
    got = _list(bd, "list", "--status", "open", "--priority", "1", "--type", "bug", "--assignee", "alice",
                "--label", "ui", "--label", "web", "--label-any", "web", "--label-any", "zz", "--title", "login",
                "--limit", "20", v09=False)
    assert [x["id"] for x in got] == [board["bug"]]
    unassigned = _list(bd, "list", "--no-assignee", "--limit", "20", v09=False)
    assert board["bug"] not in {x["id"] for x in unassigned} and len(unassigned) == 3


def test_ready_0_9_and_1_3_flags(bd: Bd, board: dict[str, str]) -> None:
    ready = _list(bd, "ready", "--limit", "10", v09=True)
    assert board["blocked"] not in {x["id"] for x in ready}
    got = _list(bd, "ready", "--limit", "10", "--priority", "1", "--assignee", "alice", v09=True)
    assert [x["id"] for x in got] == [board["bug"]]
    got = _list(bd, "ready", "--limit", "10", "--type", "bug", "--priority", "1", "--assignee", "alice",
                "--label", "ui", "--label-any", "web", "--sort", "oldest", v09=False)
    assert [x["id"] for x in got] == [board["bug"]]
    for policy in ("hybrid", "priority", "oldest"):
        _list(bd, "ready", "--limit", "10", "--unassigned", "--sort", policy, v09=False)
    under = _list(bd, "ready", "--limit", "10", "--parent", board["epic"], v09=False)
    assert [x["id"] for x in under] == [board["child"]]


def test_blocked(bd: Bd, board: dict[str, str]) -> None:
    for args in (("blocked",), ("blocked", "--parent", board["epic"])):
        out = mcp_json(bd, *args)
        assert isinstance(out, list)
        for x in out:
            check_blocked(x, v09=True)
    out = mcp_json(bd, "blocked")
    row = next(x for x in out if x["id"] == board["blocked"])
    assert row["blocked_by"] == [board["child"]] and row["blocked_by_count"] == 1


def test_stats_flat_and_summary(bd: Bd, board: dict[str, str]) -> None:
    mcp_json(bd, "close", board["bug"], "--reason", "Completed")
    s = mcp_json(bd, "stats")
    check_stats(s)
    assert s["total_issues"] == 4 and s["closed_issues"] == 1 and s["blocked_issues"] == 1


def test_stats_on_an_empty_workspace(bd: Bd) -> None:
    check_stats(mcp_json(bd, "stats"))


# --- comments and notes (1.3.2) --------------------------------------------------------------

def test_comment_note_and_comments(bd: Bd, pair: tuple[str, str]) -> None:
    a, b = pair
    assert mcp_json(bd, "comments", a) == []
    mcp_text(bd, "comment", a, "first words", g=("--actor", "agent"))
    mcp_text(bd, "comment", a, "second: with -- dashes")
    cs = mcp_json(bd, "comments", a)
    assert isinstance(cs, list) and [c["text"] for c in cs] == ["first words", "second: with -- dashes"]
    for c in cs:
        check_comment(c)
        assert c["issue_id"] == a
    assert cs[0]["author"] == "agent"
    mcp_text(bd, "note", b, "note one")
    mcp_text(bd, "note", b, "note two")
    assert mcp_json(bd, "show", b)["notes"] == "note one\nnote two"
    code, _, _ = bd("comment", "test-999", "x")
    assert code != 0


# --- real beads data -------------------------------------------------------------------------

@pytest.fixture
def bd_data(git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Bd:
    """An in-process bd in a workspace initialised with prefix ``bd`` (the data's prefix)."""
    from bdgit.workspace.initialize import init_workspace
    init_workspace(git_repo, "bd")
    monkeypatch.chdir(git_repo)
    return bd_runner(capsys)


def test_real_data_2025_with_the_0_9_models(bd_data: Bd) -> None:
    """Every issue of the Nov 2025 snapshot validates with 0.9.x's strict status/type sets,
    through every read beads-mcp 0.9.11 makes."""
    mcp_text(bd_data, "import", "-i", str(DATA_2025))
    everything = _list(bd_data, "list", "--limit", "1000", v09=True)
    assert len(everything) == 484
    assert len(_list(bd_data, "list", "--limit", "50", v09=True)) == 50
    for status in sorted(STATUSES_09):
        _list(bd_data, "list", "--status", status, "--limit", "1000", v09=True)
    _list(bd_data, "ready", "--limit", "100", v09=True)
    blocked = mcp_json(bd_data, "blocked")
    assert blocked
    for x in blocked:
        check_blocked(x, v09=True)
    s = mcp_json(bd_data, "stats")
    check_stats(s)
    assert s["total_issues"] == 484
    for x in everything:
        check_issue(mcp_json(bd_data, "show", x["id"]), v09=True)


@pytest.mark.parametrize("path", [DATA_2025, DATA_2026], ids=["2025", "2026"])
def test_real_data_with_the_1_3_models(bd_data: Bd, path: Path) -> None:
    """Both snapshots (the 2026 one has new statuses, types and dangling dependencies) through
    every read beads-mcp 1.3.2 makes."""
    mcp_text(bd_data, "import", "-i", str(path))
    _list(bd_data, "list", "--limit", "20", v09=False)
    _list(bd_data, "list", "--limit", "100", v09=False)
    for status in ("open", "in_progress", "blocked", "closed", "deferred", "hooked", "pinned"):
        _list(bd_data, "list", "--status", status, "--limit", "100", v09=False)
    for policy in ("hybrid", "priority", "oldest"):
        _list(bd_data, "ready", "--limit", "100", "--sort", policy, v09=False)
    for x in mcp_json(bd_data, "blocked"):
        check_blocked(x, v09=False)
    check_stats(mcp_json(bd_data, "stats"))
    ids = [x["id"] for x in mcp_json(bd_data, "list", "--status", "all")]
    assert len(ids) == sum(1 for line in path.read_text().splitlines() if line.strip())
    for iid in ids:
        check_issue(mcp_json(bd_data, "show", iid), v09=False)
        for c in mcp_json(bd_data, "comments", iid):
            check_comment(c)
    new = mcp_json(bd_data, "create", "Probe", "-p", "2", "-t", "task", "--deps", ids[0])
    check_issue(new, v09=False)
    check_issue(mcp_json(bd_data, "update", new["id"], "--claim"), v09=False)


# --- the 0.9.11 daemon client ----------------------------------------------------------------

def mcp09_socket(cwd: Path) -> Path:
    """Socket discovery of the 0.9.11 daemon client: walk up from cwd to the first ``.beads``
    directory; its ``bd.sock`` must exist (a parent's is never tried)."""
    cur = cwd.resolve()
    while True:
        if (cur / ".beads").is_dir():
            sock = cur / ".beads" / "bd.sock"
            assert sock.exists(), f"no {sock}: beads-mcp 0.9.11 would fall back to the CLI"
            return sock
        assert cur.parent != cur, "no .beads directory"
        cur = cur.parent


def mcp09_request(sock: Path, operation: str, args: dict[str, Any], cwd: str) -> dict[str, Any]:
    """One request as 0.9.11 sends it: a new connection, ``json.dumps`` with default separators
    plus a newline, no half-close; the answer is the first line (64 KiB at most)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(str(sock))
        s.sendall((json.dumps({"operation": operation, "args": args, "cwd": cwd}) + "\n").encode())
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(1 << 16)
            assert chunk, f"{operation}: the daemon closed the connection without a full line"
            buf += chunk
    finally:
        s.close()
    line = buf.split(b"\n", 1)[0]
    assert len(line) <= 65536, f"{operation}: response line of {len(line)} bytes exceeds the 64 KiB client limit"
    resp = json.loads(line)
    assert isinstance(resp, dict) and isinstance(resp.get("success"), bool)
    return resp


def mcp09_data(sock: Path, operation: str, args: dict[str, Any], cwd: str) -> Any:
    resp = mcp09_request(sock, operation, args, cwd)
    assert resp["success"], f"{operation} {args}: {resp.get('error')}"
    data = resp.get("data", {})
    return json.loads(data) if isinstance(data, str) else data


@pytest.fixture
def d09(daemon: dict[str, Any], beads_repo: Path) -> Iterator[Callable[..., Any]]:
    """Talk to the real daemon as 0.9.11 does, from a subdirectory of the repository."""
    sub = beads_repo / "src" / "pkg"
    sub.mkdir(parents=True)
    sock = mcp09_socket(sub)
    assert sock.resolve() == Path(daemon["socket"]).resolve()

    def call(operation: str, args: dict[str, Any], raw: bool = False) -> Any:
        if raw:
            return mcp09_request(sock, operation, args, str(sub))
        return mcp09_data(sock, operation, args, str(sub))
    yield call


def test_daemon_0_9_create_update_show_close(d09: Callable[..., Any]) -> None:
    a = d09("create", {"title": "Base", "issue_type": "task", "priority": 2})
    check_issue(a, v09=True)
    full = d09("create", {"title": "Full", "issue_type": "bug", "priority": 1, "id": "test-40",
                          "description": "D", "design": "X", "acceptance_criteria": "Y", "assignee": "alice",
                          "labels": ["ui", "web"], "dependencies": [f"blocks:{a['id']}"]})
    check_issue(full, v09=True)
    assert full["id"] == "test-40" and full["acceptance_criteria"] == "Y" and full["labels"] == ["ui", "web"]
    assert [d["id"] for d in full["dependencies"]] == [a["id"]]
    up = d09("update", {"id": "test-40", "status": "in_progress", "priority": 0, "design": "dz",
                        "acceptance_criteria": "ac", "notes": "n", "assignee": "bob", "title": "Renamed"})
    check_issue(up, v09=True)
    assert (up["status"], up["priority"], up["assignee"], up["title"]) == ("in_progress", 0, "bob", "Renamed")
    # the MCP tools send None-filtered values, so "" reaches the daemon and clears
    up = d09("update", {"id": "test-40", "status": "blocked", "notes": "", "assignee": ""})
    check_issue(up, v09=True)
    assert up["status"] == "blocked" and not up.get("notes") and up.get("assignee") is None
    shown = d09("show", {"id": "test-40"})
    assert isinstance(shown, dict)
    check_issue(shown, v09=True)
    closed = d09("close", {"id": a["id"], "reason": "Completed"})
    assert isinstance(closed, dict), "close data must be an Issue object (the client wraps it in a list)"
    check_issue(closed, v09=True)
    assert closed["status"] == "closed"
    miss = d09("show", {"id": "test-999"}, raw=True)
    assert miss["success"] is False and isinstance(miss["error"], str)


def test_daemon_0_9_list_ready_stats_dep_add_ping(d09: Callable[..., Any]) -> None:
    ids = [d09("create", {"title": f"I{i}", "issue_type": "task", "priority": 2})["id"] for i in range(3)]
    for from_id, to_id, t in ((ids[0], ids[1], "blocks"), (ids[1], ids[2], "related")):
        d09("dep_add", {"from_id": from_id, "to_id": to_id, "dep_type": t})
    shown = d09("show", {"id": ids[0]})
    assert [(d["id"], d["dependency_type"]) for d in shown["dependencies"]] == [(ids[1], "blocks")]
    for op, args in (("list", {"limit": 50}), ("list", {"status": "open", "limit": 50}),
                     ("list", {"status": "open", "priority": 2, "issue_type": "task", "assignee": "x", "limit": 5}),
                     ("ready", {"limit": 10}), ("ready", {"assignee": "x", "priority": 2, "limit": 10})):
        out = d09(op, args)
        assert out is None or isinstance(out, list)
        for x in out or []:
            check_issue(x, v09=True)
    assert len(d09("list", {"limit": 50})) == 3
    assert ids[0] not in {x["id"] for x in d09("ready", {"limit": 10})}
    s = d09("stats", {})
    check_stats(s)
    assert s["total_issues"] == 3 and s["blocked_issues"] == 1
    assert d09("ping", {}) is not None


def test_daemon_0_9_with_real_data(d09: Callable[..., Any], beads_repo: Path) -> None:
    p = run_bd("import", "-i", str(DATA_2025), cwd=beads_repo)
    assert p.returncode == 0, p.stderr
    check_stats(d09("stats", {}))
    opened = d09("list", {"status": "open", "limit": 50})
    assert opened
    for x in opened + d09("ready", {"limit": 100}):
        check_issue(x, v09=True)
    for x in opened:
        check_issue(d09("show", {"id": x["id"]}), v09=True)
    new = d09("create", {"title": "On real data", "issue_type": "task", "priority": 2,
                         "dependencies": [opened[0]["id"]]})
    check_issue(new, v09=True)
    check_issue(d09("update", {"id": new["id"], "status": "in_progress"}), v09=True)


def test_the_cli_json_is_the_same_through_the_daemon(daemon: dict[str, Any], beads_repo: Path) -> None:
    """When a daemon runs, ``bd ... --json`` (which both versions' CLI clients run) is
    answered through it: the shapes must not change."""
    def j(*args: str) -> Any:
        p = run_bd(*args, "--json", cwd=beads_repo)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    a = j("create", "Via daemon", "-p", "2", "-t", "task", "-l", "x")
    b = j("create", "Other", "-p", "2", "-t", "task", "--deps", a["id"])
    check_issue(a, v09=True)
    check_issue(b, v09=True)
    assert isinstance(j("show", b["id"]), dict)
    check_issue(j("show", b["id"]), v09=True)
    assert isinstance(j("update", a["id"], "--status", "in_progress"), dict)
    assert isinstance(j("close", a["id"], "--reason", "Completed"), list)
    assert isinstance(j("reopen", a["id"]), list)
    check_stats(j("stats"))
    for x in j("blocked"):
        check_blocked(x, v09=True)
    p = run_bd("dep", "add", b["id"], a["id"], "--type", "related", cwd=beads_repo)
    assert p.returncode != 0  # one edge per pair, whatever the type
    assert j("info")["mode"] == "daemon"
