"""beads-workflows (npm TypeScript SDK, run by Bun) creates, updates and closes an issue with
``--title=`` style flags and reads it back from ``.beads/issues.jsonl``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import clientkit as ck
import pytest

pytestmark = pytest.mark.clients


def test_beads_workflows_create_update_close(client_ws: dict[str, Any]) -> None:
    nm = ck.npm_clients()
    bun = nm / ".bin" / "bun"
    r = ck.run_json([str(bun), str(Path(__file__).with_name("workflows_create.mjs")), str(nm),
                     str(client_ws["repo"])], client_ws["repo"], client_ws["env"], timeout=120)
    assert r["create"]["success"], r["create"]
    created = r["create"]["data"]
    assert (created["title"], created["issue_type"], created["priority"]) == ("From beads-workflows", "feature", 1)
    assert created["assignee"] == "wf" and created["description"] == "SDK made it"
    assert r["update"]["success"], r["update"]
    assert r["close"]["success"], r["close"]
    seen = r["seen"]
    assert seen is not None, "the closed issue never reached .beads/issues.jsonl"
    assert seen["title"] == "Renamed by the SDK" and seen["priority"] == 2
