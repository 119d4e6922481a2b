"""What the agent plugins run: opencode-beads (npm) injects ``bd prime`` at session start and
its slash commands call ``where``, ``sync --status``, ``list --format``, templates, ``restore``
and ``audit``; the commands are run as the plugin runs them, with and without the daemon."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import clientkit as ck
import pytest

pytestmark = pytest.mark.clients


def bd(ws: dict[str, Any], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bd", *args], cwd=ws["repo"], env=ws["env"], capture_output=True, text=True,
                          timeout=60, input=input)


def test_the_plugin_ships_the_commands_it_runs() -> None:
    """The installed opencode-beads still runs ``bd prime`` (what the tests below rely on)."""
    nm = ck.npm_clients()
    src = (nm / "opencode-beads" / "src" / "plugin.ts").read_text()
    assert "bd prime" in src
    cmds = {p.stem for p in (nm / "opencode-beads" / "vendor" / "commands").glob("*.md")}
    assert {"prime", "template", "restore", "audit", "sync", "list", "epic"} <= cmds


def test_prime_is_a_current_workflow_guide(client_ws: dict[str, Any]) -> None:
    p = bd(client_ws, "prime")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    ids = client_ws["ids"]
    assert "bd ready" in out and "bd create" in out and "bd close" in out
    assert ids["blocker"] in out  # ready work is named
    assert "Fix the login bug" in out


def test_prime_outside_a_workspace_is_silent(tmp_path: Path, bd_dir: Path) -> None:
    env = ck.client_env(bd_dir)
    p = subprocess.run(["bd", "prime"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, "")


def test_where_sync_status_and_list_format(client_ws: dict[str, Any]) -> None:
    p = bd(client_ws, "where", "--json")
    assert p.returncode == 0, p.stderr
    w = json.loads(p.stdout)
    assert Path(w["path"]) == client_ws["repo"] / ".beads" and w["prefix"] == "demo"
    assert Path(w["database_path"]).parent == client_ws["repo"] / ".beads"
    p = bd(client_ws, "sync", "--status")
    assert p.returncode == 0, p.stderr
    p = bd(client_ws, "list", "--format", "dot")
    assert p.returncode == 0 and p.stdout.startswith("digraph"), p.stdout + p.stderr
    p = bd(client_ws, "list", "--format", "{{.ID}} {{.Title}}")
    assert p.returncode == 0, p.stderr
    assert f"{client_ws['ids']['blocker']} Fix the login bug" in p.stdout.splitlines()


def test_templates_and_create_from_template(client_ws: dict[str, Any]) -> None:
    p = bd(client_ws, "template", "list", "--json")
    assert p.returncode == 0, p.stderr
    assert {t["name"] for t in json.loads(p.stdout)} >= {"epic", "bug", "feature"}
    p = bd(client_ws, "create", "--from-template", "bug", "Crash on save", "-p", "0", "--json")
    assert p.returncode == 0, p.stderr
    made = json.loads(p.stdout)
    assert (made["issue_type"], made["priority"]) == ("bug", 0) and "bug" in made["labels"]
    assert made["description"]


def test_audit_record_and_label(client_ws: dict[str, Any]) -> None:
    p = bd(client_ws, "audit", "record", "--kind", "tool_call", "--tool-name", "pytest", "--exit-code", "1",
           "--issue-id", client_ws["ids"]["blocker"], "--json")
    assert p.returncode == 0, p.stderr
    entry = json.loads(p.stdout)
    p = bd(client_ws, "audit", "label", entry["id"], "--label", "good", "--reason", "fine", "--json")
    assert p.returncode == 0, p.stderr
    lines = (client_ws["repo"] / ".beads" / "interactions.jsonl").read_text().splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["tool_call", "label"]


def test_restore_shows_an_issue_from_git_history(client_ws: dict[str, Any]) -> None:
    ws = client_ws
    subprocess.run(["bd", "sync", "--flush-only"], cwd=ws["repo"], env=ws["env"], capture_output=True, timeout=60)
    subprocess.run(["git", "add", ".beads/issues.jsonl"], cwd=ws["repo"], env=ws["env"], check=True)
    subprocess.run(["git", "commit", "-qm", "issues"], cwd=ws["repo"], env=ws["env"], check=True)
    p = bd(ws, "restore", ws["ids"]["blocker"], "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["title"] == "Fix the login bug"


def test_epic_status_and_close_eligible(client_ws: dict[str, Any]) -> None:
    ids = client_ws["ids"]
    p = bd(client_ws, "close", ids["child1"])
    assert p.returncode == 0, p.stderr
    p = bd(client_ws, "epic", "status", "--eligible-only", "--json")
    assert p.returncode == 0, p.stderr
    assert [e["epic"]["id"] for e in json.loads(p.stdout)] == [ids["epic"]]
    p = bd(client_ws, "epic", "close-eligible", "--json")
    assert p.returncode == 0, p.stderr
    p = bd(client_ws, "show", ids["epic"], "--json")
    assert json.loads(p.stdout)["status"] == "closed"
