from __future__ import annotations

import json

from testing import run_bd


def test_create_then_ready_as_a_real_process(beads_repo):
    p = run_bd("create", "First", "-p", "1", "--json", check=True)
    issue = json.loads(p.stdout)
    assert issue["id"] == "test-1"
    p = run_bd("ready", "--json", check=True)
    assert [i["id"] for i in json.loads(p.stdout)] == ["test-1"]
