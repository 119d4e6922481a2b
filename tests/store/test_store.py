"""Storage: the SQLite file, its PRAGMAs, the migrations table, the ID counter and the lock.

Everything runs against a real database made by ``bd init`` in a temporary git repository.
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bdgit import ops
from bdgit.backends.direct import DirectBackend
from bdgit.errors import BdError, ConflictError, LockTimeoutError, NoDatabaseError, NotFoundError, ValidationError
from bdgit.store import Store
from bdgit.store.schema import LATEST, MIGRATIONS
from bdgit.workspace import Workspace


@pytest.fixture
def db_path(beads_repo: Path) -> Path:
    return beads_repo / ".beads" / "test.db"


@pytest.fixture
def store(db_path: Path):  # type: ignore[no-untyped-def]
    s = Store(db_path)
    yield s
    s.close()


def create(store: Store, title: str = "t", **args) -> dict:  # type: ignore[no-untyped-def]
    return ops.run(store, "create", {"title": title, **args}, "tester")


def count(store: Store, sql: str, *params: object) -> int:
    row = store.conn.execute(sql, params).fetchone()
    return list(row.values())[0]


# --- the file and its settings --------------------------------------------------------------

def test_database_is_named_after_the_prefix(beads_repo: Path) -> None:
    assert (beads_repo / ".beads" / "test.db").is_file()
    assert sorted(p.name for p in (beads_repo / ".beads").glob("*.db")) == ["test.db"]


def test_wal_foreign_keys_and_busy_timeout_are_really_on(store: Store) -> None:
    c = store.conn
    assert c.execute("PRAGMA journal_mode").fetchone()["journal_mode"] == "wal"
    assert c.execute("PRAGMA foreign_keys").fetchone()["foreign_keys"] == 1
    assert c.execute("PRAGMA busy_timeout").fetchone()["timeout"] >= 1000


def test_wal_is_persistent_in_the_file(db_path: Path, store: Store) -> None:
    create(store)
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("INSERT INTO labels(issue_id, label) VALUES ('test-404', 'x')")


def test_every_table_exists(store: Store) -> None:
    names = {r["name"] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in ("issues", "dependencies", "labels", "comments", "events", "config", "metadata",
                  "dirty_issues", "issue_counters", "schema_migrations"):
        assert table in names, table


def test_migrations_are_recorded_once(db_path: Path, store: Store) -> None:
    rows = store.conn.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()
    assert [r["version"] for r in rows] == [v for v, _, _ in MIGRATIONS]
    assert rows[-1]["version"] == LATEST
    assert all(r["name"] and r["applied_at"] for r in rows)
    create(store, "survives a reopen")
    store.close()
    again = Store(db_path)
    try:
        rows2 = again.conn.execute("SELECT version, applied_at FROM schema_migrations ORDER BY version").fetchall()
        assert [(r["version"], r["applied_at"]) for r in rows2] == [(r["version"], r["applied_at"]) for r in rows]
        assert again.get_issue("test-1")["title"] == "survives a reopen"
    finally:
        again.close()


def test_a_new_database_is_migrated_to_the_latest_version(tmp_path: Path) -> None:
    s = Store(tmp_path / "fresh.db", create=True)
    try:
        assert count(s, "SELECT max(version) FROM schema_migrations") == LATEST
    finally:
        s.close()


def test_missing_database_is_an_error_that_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(NoDatabaseError) as e:
        Store(tmp_path / "nope.db")
    assert "bd init" in (e.value.hint or "")
    assert not (tmp_path / "nope.db").exists()


def test_init_records_prefix_and_version(store: Store) -> None:
    assert store.get_config("issue_prefix") == "test"
    assert store.get_meta("bd_version")


# --- IDs ------------------------------------------------------------------------------------

def test_ids_are_sequential_with_the_prefix(store: Store) -> None:
    assert [create(store, f"i{n}")["id"] for n in range(1, 4)] == ["test-1", "test-2", "test-3"]
    row = store.conn.execute("SELECT last_id FROM issue_counters WHERE prefix='test'").fetchone()
    assert row["last_id"] == 3


def test_numbers_are_never_reused_after_delete(db_path: Path, store: Store) -> None:
    for n in range(3):
        create(store, f"i{n}")
    ops.run(store, "delete", {"ids": ["test-3", "test-2"], "force": True}, "tester")
    assert create(store)["id"] == "test-4"
    ops.run(store, "delete", {"ids": ["test-1", "test-4"], "force": True}, "tester")
    assert count(store, "SELECT count(*) FROM issues WHERE status != 'tombstone'") == 0  # tombstones stay
    store.close()
    again = Store(db_path)  # the counter is in the database, not in memory
    try:
        assert create(again)["id"] == "test-5"
    finally:
        again.close()


def test_explicit_id_raises_the_counter(store: Store) -> None:
    assert create(store, "a")["id"] == "test-1"
    assert create(store, "b", id="test-50")["id"] == "test-50"
    assert create(store, "c")["id"] == "test-51"


def test_explicit_id_below_the_counter_leaves_it_alone(store: Store) -> None:
    for n in range(3):
        create(store, f"i{n}")
    assert create(store, "ahead", id="test-7")["id"] == "test-7"
    assert create(store, "by hand", id="test-5")["id"] == "test-5"
    assert create(store)["id"] == "test-8"


def test_a_deleted_issue_keeps_its_id(store: Store) -> None:
    create(store, "one")
    ops.run(store, "delete", {"id": "test-1", "force": True}, "tester")
    with pytest.raises(ConflictError):
        create(store, "again", id="test-1")
    assert create(store)["id"] == "test-2"


def test_explicit_id_that_exists_is_refused_and_nothing_changes(store: Store) -> None:
    create(store, "original")
    with pytest.raises(ConflictError):
        create(store, "impostor", id="test-1")
    assert store.get_issue("test-1")["title"] == "original"
    assert count(store, "SELECT count(*) FROM issues") == 1
    assert create(store)["id"] == "test-2"


@pytest.mark.parametrize("bad", ["42", "test", "test-", "-1", "te st-1"])
def test_malformed_explicit_id_is_refused(store: Store, bad: str) -> None:
    with pytest.raises(ValidationError):
        create(store, id=bad)
    assert count(store, "SELECT count(*) FROM issues") == 0


def test_explicit_id_with_another_prefix_needs_force(store: Store) -> None:
    with pytest.raises(ValidationError):
        create(store, id="other-7")
    assert create(store, id="other-7", force=True)["id"] == "other-7"
    assert create(store)["id"] == "test-1"  # the other prefix has its own counter


def test_a_failed_create_does_not_burn_a_number(store: Store) -> None:
    with pytest.raises(NotFoundError):
        create(store, "x", dependencies=["test-99"])  # dependency target does not exist
    assert count(store, "SELECT count(*) FROM issues") == 0
    assert create(store)["id"] == "test-1"


def test_counter_is_seeded_from_imported_ids(store: Store) -> None:
    line = {"id": "test-17", "title": "imported", "status": "open", "priority": 2, "issue_type": "task",
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}
    ops.run(store, "import", {"text": json.dumps(line) + "\n"}, "tester")
    assert create(store)["id"] == "test-18"


# --- validation at the storage boundary ------------------------------------------------------

def test_title_limit_counts_bytes(store: Store) -> None:
    assert create(store, "x" * 500)["title"] == "x" * 500
    with pytest.raises(ValidationError):
        create(store, "x" * 501)
    with pytest.raises(ValidationError):
        create(store, "é" * 251)  # 502 bytes, 251 characters
    with pytest.raises(BdError):
        create(store, "   ")
    assert count(store, "SELECT count(*) FROM issues") == 1


# --- dirty tracking --------------------------------------------------------------------------

def test_writes_mark_issues_dirty_and_edges_mark_the_dependent(store: Store) -> None:
    create(store, "a")
    create(store, "b")
    store.conn.execute("DELETE FROM dirty_issues")
    ops.run(store, "dep_add", {"from_id": "test-2", "to_id": "test-1"}, "tester")
    assert store.dirty_ids() == ["test-2"]
    ops.run(store, "label_add", {"id": "test-1", "label": "x"}, "tester")
    assert store.dirty_ids() == ["test-1", "test-2"]


# --- the workspace lock ------------------------------------------------------------------------

#: another process holding the workspace lock (any flock user of bd.lock interoperates)
HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
os.close(fd)
"""


def test_direct_writers_serialise_through_bd_lock(beads_repo: Path, db_path: Path) -> None:
    lock_path = beads_repo / ".beads" / "bd.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        b = DirectBackend(Workspace(db_path), "tester", lock_timeout=0.3)
        try:
            with pytest.raises(LockTimeoutError) as e:
                b.call("create", {"title": "must wait"})
            assert "bd.lock" in e.value.message
            assert b.call("list", {}) == []  # reads do not need the lock
        finally:
            b.close()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    b = DirectBackend(Workspace(db_path), "tester", lock_timeout=5)
    try:
        assert b.call("create", {"title": "now it can"})["id"] == "test-1"
    finally:
        b.close()
