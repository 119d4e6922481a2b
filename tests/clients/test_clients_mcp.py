"""beads-mcp 1.3.2 and mcp-beads 0.30.3, installed from PyPI, through their client classes:
every tool, against a real workspace with and without the daemon."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import clientkit as ck
import pytest

pytestmark = pytest.mark.clients

DRIVER = Path(__file__).with_name("drive_mcp.py")


def drive(py: Path, which: str, ws: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = ck.run_json([str(py), str(DRIVER), which, str(ws["repo"]), ws["bd"]],
                                         ws["repo"], ws["env"], timeout=240)
    return report


def failures(report: dict[str, Any]) -> dict[str, str]:
    return {k: v["error"] for k, v in report.items() if not v["ok"]}


def test_beads_mcp_every_tool(client_ws: dict[str, Any]) -> None:
    py = ck.pip_client("beads-mcp")
    r = drive(py, "beads-mcp", client_ws)
    assert failures(r) == {}
    created = r["create"]["value"]
    assert created["title"] == "From beads-mcp" and created["labels"] == ["mcp"]
    assert [d["id"] for d in r["create_with_deps"]["value"]["dependencies"]] == [created["id"]]
    assert r["claim"]["value"]["status"] == "in_progress"
    assert [c["text"] for c in r["list_comments"]["value"]] == ["first comment"]
    assert r["reopen"]["value"][0]["status"] == "open"
    schema = r["get_schema_info"]["value"]["schema"]
    assert "issues" in schema["tables"] and schema["detected_prefix"] == "demo"
    assert r["inspect_migration"]["value"]["current_state"]["db_exists"] is True
    assert r["repair_deps"]["value"]["orphans_found"] == 0
    assert r["repair_deps_fix"]["value"]["fixed"] == 0
    assert isinstance(r["detect_pollution"]["value"]["polluted_count"], int)
    assert {c["name"] for c in r["validate"]["value"]["checks"]} >= {"Orphaned Dependencies", "Duplicate Issues"}


def test_mcp_beads_cli_every_tool(client_ws: dict[str, Any]) -> None:
    py = ck.pip_client("mcp-beads")
    r = drive(py, "mcp-beads-cli", client_ws)
    assert failures(r) == {}
    assert r["update"]["value"]["status"] == "in_progress"
    assert r["reopen"]["value"][0]["status"] == "open"


def test_mcp_beads_daemon_client_finds_the_daemon_and_every_socket_tool_works(client_ws: dict[str, Any]) -> None:
    """The fork's daemon client discovers ``.beads/beads.sock``; without a daemon it must say
    the daemon is not running (it has no fallback of its own)."""
    py = ck.pip_client("mcp-beads")
    r = drive(py, "mcp-beads-daemon", client_ws)
    if client_ws["mode"] == "direct":
        assert r["is_daemon_running"] == {"ok": True, "value": False}
        assert "not running" in r["ping"]["error"].lower() or "not found" in r["ping"]["error"].lower()
        return
    assert failures(r) == {}
    assert r["health"]["value"]["status"] == "healthy"
    assert r["show"]["value"]["labels"] == ["sock"]
    assert [i["title"] for i in r["list_issues"]["value"]] == ["Via the socket"]
    assert r["close"]["value"][0]["status"] == "closed"
