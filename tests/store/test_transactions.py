"""Transactions follow SQLite's own state: a COMMIT that fails is rolled back, and the
connection (the daemon's long-lived writer above all) keeps working."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from testing import run_bd

from bdgit.store import Store

#: a table whose foreign key is checked at COMMIT only, and a trigger that violates it for a
#: title of 'boom': the statement succeeds, the COMMIT fails
_DEFERRED_BOMB = """
CREATE TABLE bomb(issue_id TEXT REFERENCES issues(id) DEFERRABLE INITIALLY DEFERRED);
CREATE TRIGGER bomb_on_boom AFTER INSERT ON issues WHEN NEW.title = 'boom'
BEGIN INSERT INTO bomb VALUES ('no-such-issue'); END;
"""


def _arm(db: Path) -> None:
    c = sqlite3.connect(db)
    c.executescript(_DEFERRED_BOMB)
    c.close()


def test_a_failed_commit_rolls_back_and_the_store_writes_again(tmp_path: Path) -> None:
    s = Store(tmp_path / "t.db", create=True)
    _arm(tmp_path / "t.db")
    row = {"id": "t-1", "title": "boom", "status": "open", "priority": 2, "issue_type": "task",
           "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}
    with pytest.raises(sqlite3.IntegrityError):
        with s.tx():
            s.insert_issue(row)
            with s.tx():  # a savepoint inside: released, then the COMMIT fails
                s.set_config("k", "v")
    assert not s.in_tx and s.get_issue("t-1") is None and s.get_config("k") is None
    with s.tx():
        s.insert_issue({**row, "title": "fine"})
    assert s.get_issue("t-1")["title"] == "fine"
    s.close()


def test_the_daemons_writer_survives_a_failed_commit(daemon: dict, beads_repo: Path) -> None:
    _arm(beads_repo / ".beads" / "test.db")
    p = run_bd("create", "boom", "--json", cwd=beads_repo)
    assert p.returncode != 0 and "could not be committed" in p.stderr
    p = run_bd("create", "after the failure", "--json", cwd=beads_repo, check=True)
    assert p.returncode == 0
    titles = [i["title"] for i in __import__("json").loads(run_bd("list", "--json", cwd=beads_repo).stdout)]
    assert titles == ["after the failure"]
    assert run_bd("daemon", "status", "--json", cwd=beads_repo).returncode == 0
