"""The Store: one SQLite connection, transactions, and the primitive reads and writes.

Operations (bdgit.ops) compose these primitives; nothing here knows about the CLI, the
daemon or the JSONL file. Every write primitive expects to run inside ``Store.tx()``.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import (ConflictError, NoDatabaseError, NotFoundError)
from ..model import now, ts_micros
from . import derived, schema
from .failures import database_error, storage_failure
from .links import Links, json_column

ISSUE_COLUMNS = (
    "id, title, description, design, acceptance_criteria, notes, status, priority, issue_type, "
    "assignee, estimated_minutes, created_at, updated_at, closed_at, external_ref, "
    "created_us, updated_us, extra, versions"
)
#: an issue deleted with ``bd delete``: its row stays, with this status (beads' tombstone)
TOMBSTONE = "tombstone"
_NUM_SUFFIX = re.compile(r"^(.+)-(\d+)$")


def _dict_factory(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row)}


class Store(Links):
    """A beads database. Not thread-safe: use one Store per thread.

    ``path`` is the ``.db`` file; ``create`` allows making a new one (only ``bd init`` does).
    Raises NoDatabaseError when the file is missing and ``create`` is false.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False,
                 busy_timeout_ms: int = 30_000) -> None:
        from ..workspace import safefs
        self._snapshot = False  # inside read_snapshot(): a read transaction, not a write one
        self.path = Path(path)
        if not create and not os.path.lexists(self.path):
            raise NoDatabaseError(f"no database at {self.path}", "run 'bd init' in your project first")
        if create and not os.path.lexists(self.path):
            # born with the repository's read bits at most (SQLite gives -wal/-shm the same mode)
            os.close(safefs.open_file(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL,
                                      safefs.shared_mode(self.path.parent.parent)))
        # SQLite opens these by name and follows links: check them first (a clone may plant any)
        safefs.check_sqlite_files(self.path)
        try:
            self.conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False,
                                        timeout=busy_timeout_ms / 1000)
            self.conn.row_factory = _dict_factory
            c = self.conn
            c.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            mode = c.execute("PRAGMA journal_mode=WAL").fetchone()["journal_mode"]
            if mode.lower() != "wal":  # pragma: no cover - only on filesystems without shm
                raise NoDatabaseError(f"cannot enable WAL on {self.path} (got {mode})")
            # NORMAL in WAL mode: a committed transaction survives a process crash (kill -9);
            # only an OS crash or power loss can roll back the last commits.
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute("PRAGMA foreign_keys=ON")
            c.execute("PRAGMA temp_store=MEMORY")
            # a database that came with a clone must not run side-effecting functions from its schema
            c.execute("PRAGMA trusted_schema=OFF")
            schema.migrate(c)
        except sqlite3.Error as e:
            raise database_error(self.path, e) from None
        self._savepoints = 0
        self._op_version: tuple[int, int, str] | None = None
        self._node_id: str | None = None
        #: called after each COMMIT with the changes it made (``note_change`` entries, in
        #: order); None (the default) collects nothing. The daemon's change feed sets it.
        self.on_commit: Callable[[list[dict[str, Any]]], None] | None = None
        self._changes: list[dict[str, Any]] = []
        #: when a set: every id marked dirty is added (``ops.run`` renews leases from it)
        self.touched: set[str] | None = None

    @property
    def beads_dir(self) -> Path:
        return self.path.parent

    def close(self) -> None:
        self.conn.close()

    # --- transactions ---------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); nested calls become savepoints.

        An exception rolls back this level only and propagates. Whether a transaction is open
        is SQLite's own ``in_transaction``, never a counter of ours: a COMMIT that fails (a
        deferred constraint, a full disk, a busy database) is rolled back and re-raised, so the
        connection is usable for the next write (the daemon's writer lives for days)."""
        c = self.conn
        if not c.in_transaction:
            c.execute("BEGIN IMMEDIATE")
            self._savepoints = 0
            self._op_version = None
            self._changes = []
            try:
                yield c
                derived.settle(c)  # the blocked flags follow what this transaction changed
            except BaseException as e:
                self._rollback()
                if isinstance(e, sqlite3.OperationalError) and storage_failure(e):
                    raise database_error(self.path, e) from None
                raise
            try:
                c.execute("COMMIT")
            except BaseException as e:
                self._rollback()
                if isinstance(e, sqlite3.OperationalError) and storage_failure(e):
                    raise database_error(self.path, e) from None
                raise
            self._published()
            return
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        mark = len(self._changes)
        c.execute(f"SAVEPOINT {name}")
        try:
            yield c
        except BaseException:
            del self._changes[mark:]  # what this level did is undone: nobody may hear of it
            if c.in_transaction:  # a failed statement may have ended the whole transaction
                c.execute(f"ROLLBACK TO {name}")
                c.execute(f"RELEASE {name}")
            raise
        else:
            c.execute(f"RELEASE {name}")
        finally:
            self._savepoints -= 1

    def _published(self) -> None:
        """Hand the committed changes to ``on_commit`` (never fails the committed write)."""
        changes, self._changes = self._changes, []
        if changes and self.on_commit is not None:
            try:
                self.on_commit(changes)
            except Exception:  # pragma: no cover - a listener's bug must not undo a commit
                pass

    def note_change(self, issue_id: str, kind: str, actor: str, ts: str | None = None,
                    fields: Iterable[str] = (), **facts: Any) -> None:
        """Record a change for ``on_commit`` (only when someone listens): ``kind`` (the audit
        event type, or ``deleted``), the ``fields`` it changed and JSON-able ``facts``. Inside a
        transaction it is published after COMMIT, or dropped with a rollback of its level."""
        if self.on_commit is None:
            return
        entry: dict[str, Any] = {"type": kind, "issue_id": issue_id, "actor": actor, "at": ts or now(),
                                 "changes": sorted(set(fields))}
        entry.update(facts)
        self._changes.append(entry)
        if not self.conn.in_transaction:  # an autocommit statement is already committed
            self._published()

    def amend_change(self, issue_id: str, fields: Iterable[str], **facts: Any) -> None:
        """Add ``fields`` (and ``facts``) to the last change recorded for ``issue_id`` in this
        transaction: one write is one change, whatever it touched along the way."""
        if self.on_commit is None:
            return
        for entry in reversed(self._changes):
            if entry["issue_id"] == issue_id:
                entry["changes"] = sorted(set(entry["changes"]) | set(fields))
                entry.update(facts)
                return

    def _rollback(self) -> None:
        self._changes = []
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:  # pragma: no cover - SQLite rolled back by itself
                pass

    @property
    def in_tx(self) -> bool:
        """Whether a write transaction (``tx``) is open; a ``read_snapshot`` is not one."""
        return self.conn.in_transaction and not self._snapshot

    @contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Every read inside sees the same committed state (one deferred read transaction,
        ended on exit), so that an answer read in several queries is one state's answer.
        Inside a write transaction (a batch), that transaction already is one."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        self._snapshot = True
        try:
            yield
        finally:
            self._snapshot = False
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")  # nothing was written: ending it is all
                except sqlite3.Error:  # pragma: no cover - SQLite ended it by itself
                    pass

    def mark_changed(self) -> None:
        """Make the main database file change after committed writes.

        In WAL mode a commit writes only ``<db>-wal``; tools that watch the ``.db`` file itself
        for live updates (beads-ui's server) see nothing until a checkpoint. Setting the file's
        mtime is the cheapest change they notice (an inotify attribute event; microseconds,
        where a checkpoint copies pages and syncs: bench/bench_live_updates.py). SQLite never
        reads the mtime. Best effort: this must never fail a write that is committed.
        """
        try:
            os.utime(self.path)
        except OSError:
            pass

    # --- versions -------------------------------------------------------------------------

    def begin_op(self) -> None:
        """The next write gets a new version (one version per operation, also inside a batch)."""
        self._op_version = None

    def version(self, *, fresh: bool = False) -> tuple[int, int, str]:
        """The current operation's version (ticks the clock on first use). Must run inside tx()."""
        if self._op_version is None or fresh:
            from .versioning import tick
            self._op_version = tick(self)
        return self._op_version

    # --- config and metadata --------------------------------------------------------------

    def get_config(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM config WHERE key=?", (key,)).fetchone()
        return row["value"] if row else default

    def set_config(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO config(key,value) VALUES(?,?) "
                          "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    def all_config(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM config ORDER BY key")}

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM metadata WHERE key=?", (key,)).fetchone()
        return row["value"] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO metadata(key,value) VALUES(?,?) "
                          "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    @property
    def prefix(self) -> str:
        return self.get_config("issue_prefix") or "bd"

    # --- IDs ------------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        """Take the next sequential ID for ``prefix``. Must run inside ``tx()``.

        The counter only grows (numbers are never reused); explicit and imported IDs raise
        it through ``note_id``. A second ID mode (hash IDs) plugs in here.
        """
        row = self.conn.execute(
            "INSERT INTO issue_counters(prefix, last_id) VALUES(?, 1) "
            "ON CONFLICT(prefix) DO UPDATE SET last_id = last_id + 1 RETURNING last_id",
            (prefix,),
        ).fetchone()
        n = row["last_id"]
        issue_id = f"{prefix}-{n}"
        # An ID taken by hand (--id) or by an import that bypassed note_id cannot be reused.
        while self.conn.execute("SELECT 1 FROM issues WHERE id=?", (issue_id,)).fetchone():
            n += 1
            issue_id = f"{prefix}-{n}"
            self.conn.execute("UPDATE issue_counters SET last_id=? WHERE prefix=?", (n, prefix))
        return issue_id

    def note_id(self, issue_id: str) -> None:
        """Raise the counter of ``issue_id``'s prefix to at least its numeric suffix."""
        m = _NUM_SUFFIX.match(issue_id)
        # Sequential numbers never start with 0 and stay short; a suffix such as "0088" or
        # "85487066" is a beads hash ID that happens to be all digits: it must not make the
        # next sequential ID jump.
        if not m or m.group(2).startswith("0") or len(m.group(2)) > 7:
            return
        prefix, n = m.group(1), int(m.group(2))
        self.conn.execute(
            "INSERT INTO issue_counters(prefix, last_id) VALUES(?, ?) "
            "ON CONFLICT(prefix) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
            (prefix, n),
        )

    # --- issues ---------------------------------------------------------------------------

    def get_issue(self, issue_id: str) -> dict[str, Any] | None:
        return self.conn.execute(f"SELECT {ISSUE_COLUMNS} FROM issues WHERE id=?", (issue_id,)).fetchone()

    def require_issue(self, issue_id: str, *, deleted: bool = False) -> dict[str, Any]:
        """The row of a live issue (``deleted``: or of a deleted one). Raises NotFoundError."""
        row = self.get_issue(issue_id)
        if row is None:
            raise NotFoundError(f"issue {issue_id} not found",
                                "check the ID with 'bd list' (IDs are case-sensitive)")
        if row["status"] == TOMBSTONE and not deleted:
            extra = json.loads(row["extra"]) if row.get("extra") else {}
            by = f" by {extra['deleted_by']}" if extra.get("deleted_by") else ""
            when = f" at {extra['deleted_at']}" if extra.get("deleted_at") else ""
            raise NotFoundError(f"issue {issue_id} was deleted{by}{when}",
                                f"'bd undelete {issue_id}' brings it back", deleted=True)
        return row

    def get_issues(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(ids)
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            q = f"SELECT {ISSUE_COLUMNS} FROM issues WHERE id IN ({','.join('?' * len(chunk))})"
            for r in self.conn.execute(q, chunk):
                out[r["id"]] = r
        return out

    def insert_issue(self, issue: dict[str, Any], *, counted: bool = False) -> None:
        """Insert a complete issue row (all timestamps set). Raises ConflictError on a taken ID.

        ``counted``: the ID came from ``next_id``, so the counter is already past it.
        ``created_us``/``updated_us``, if given, must be the micros of the timestamps (import
        passes the values it parsed while checking the line; otherwise they are computed)."""
        versions = issue.get("versions")
        if versions is None:
            from ..replication.versions import dumps, initial
            versions = dumps(initial(self.version()))
        try:
            self.conn.execute(
                f"INSERT INTO issues({ISSUE_COLUMNS}, closed_us) VALUES ({','.join('?' * 20)})",
                (
                    issue["id"], issue["title"], issue.get("description") or "", issue.get("design") or "",
                    issue.get("acceptance_criteria") or "", issue.get("notes") or "", issue["status"],
                    issue["priority"], issue["issue_type"], issue.get("assignee") or None,
                    issue.get("estimated_minutes"), issue["created_at"], issue["updated_at"],
                    issue.get("closed_at"), issue.get("external_ref"),
                    _us(issue, "created"), _us(issue, "updated"),
                    json_column(issue.get("extra")), versions, derived.closed_micros(issue.get("closed_at")),
                ),
            )
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e) or "PRIMARY" in str(e):
                raise ConflictError(f"issue {issue['id']} already exists",
                                    "choose another --id or omit it to get the next one") from e
            raise
        if not counted:
            self.note_id(issue["id"])

    def replace_issue(self, issue: dict[str, Any]) -> None:
        """Overwrite every column of an existing issue, versions included (import's merge result)."""
        self.conn.execute(
            "UPDATE issues SET title=?, description=?, design=?, acceptance_criteria=?, notes=?, "
            "status=?, priority=?, issue_type=?, assignee=?, estimated_minutes=?, created_at=?, "
            "updated_at=?, closed_at=?, external_ref=?, created_us=?, updated_us=?, extra=?, versions=?, "
            "closed_us=? WHERE id=?",
            (
                issue["title"], issue.get("description") or "", issue.get("design") or "",
                issue.get("acceptance_criteria") or "", issue.get("notes") or "", issue["status"],
                issue["priority"], issue["issue_type"], issue.get("assignee") or None,
                issue.get("estimated_minutes"), issue["created_at"], issue["updated_at"],
                issue.get("closed_at"), issue.get("external_ref"),
                _us(issue, "created"), _us(issue, "updated"),
                json_column(issue.get("extra")), issue.get("versions") or "",
                derived.closed_micros(issue.get("closed_at")), issue["id"],
            ),
        )

    def set_fields(self, issue_id: str, fields: dict[str, Any], *, stamp: bool = True) -> None:
        """Set scalar columns (names validated by the caller), keep ``*_us`` in step, and stamp
        the changed registers with the operation's version (``extra``: the keys that differ).
        ``updated_at`` never goes backwards: an earlier value than the stored one is ignored."""
        if not fields:
            return
        fields = dict(fields)
        names = list(fields)
        if stamp and "extra" in fields:
            row = self.conn.execute("SELECT extra FROM issues WHERE id=?", (issue_id,)).fetchone()
            old = json.loads(row["extra"]) if row and row["extra"] else {}
            new = json.loads(fields["extra"]) if isinstance(fields["extra"], str) else (fields["extra"] or {})
            names += [k for k in set(old) | set(new) if old.get(k, _MISSING) != new.get(k, _MISSING)]
        if stamp:  # first: an issue from before versions takes its default from the old updated_at
            from .versioning import stamp_fields
            stamp_fields(self, issue_id, names)
        updated = fields.pop("updated_at", None)
        if "created_at" in fields:
            fields["created_us"] = ts_micros(fields["created_at"])
        if "closed_at" in fields:
            fields["closed_us"] = derived.closed_micros(fields["closed_at"])
        if "extra" in fields:
            fields["extra"] = json_column(fields["extra"])
        if fields:
            cols = ", ".join(f"{k}=?" for k in fields)
            self.conn.execute(f"UPDATE issues SET {cols} WHERE id=?", (*fields.values(), issue_id))
        if updated is not None:
            self._set_updated(issue_id, updated)

    def _set_updated(self, issue_id: str, ts: str) -> None:
        us = ts_micros(ts)
        self.conn.execute("UPDATE issues SET updated_at=?, updated_us=? WHERE id=? AND updated_us < ?",
                          (ts, us, issue_id, us))

    def delete_issue_row(self, issue_id: str, actor: str = "") -> None:
        self.conn.execute("DELETE FROM issues WHERE id=?", (issue_id,))
        self.note_change(issue_id, "deleted", actor)

    def touch(self, issue_id: str, ts: str | None = None) -> str:
        """Bump ``updated_at`` (never backwards) and mark the issue dirty."""
        ts = ts or now()
        self._set_updated(issue_id, ts)
        self.mark_dirty([issue_id], ts)
        return ts

    # --- dirty tracking and events --------------------------------------------------------

    def mark_dirty(self, ids: Iterable[str], ts: str | None = None) -> None:
        ts = ts or now()
        if self.touched is not None:
            ids = list(ids)
            self.touched.update(ids)
        self.conn.executemany(
            "INSERT INTO dirty_issues(issue_id, marked_at) VALUES(?, ?) "
            "ON CONFLICT(issue_id) DO UPDATE SET marked_at=excluded.marked_at",
            [(i, ts) for i in ids],
        )

    def dirty_ids(self) -> list[str]:
        return [r["issue_id"] for r in self.conn.execute("SELECT issue_id FROM dirty_issues ORDER BY issue_id")]

    def dirty_count(self) -> int:
        return self.conn.execute("SELECT count(*) AS n FROM dirty_issues").fetchone()["n"]

    def clear_dirty(self, ids: Iterable[str]) -> None:
        self.conn.executemany("DELETE FROM dirty_issues WHERE issue_id=?", [(i,) for i in ids])

    def add_event(self, issue_id: str, event_type: str, actor: str, old: Any = None, new: Any = None,
                  comment: str | None = None, ts: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO events(issue_id, event_type, actor, old_value, new_value, comment, created_at) "
            "VALUES (?,?,?,?,?,?,?)",
            (issue_id, event_type, actor, _enc(old), _enc(new), comment, ts or now()),
        )
        if self.on_commit is not None:
            fields, facts = _event_fields(event_type, new)
            self.note_change(issue_id, event_type, actor, ts, fields, **facts)

    def events(self, issue_id: str, limit: int = 0) -> list[dict[str, Any]]:
        q = ("SELECT id, issue_id, event_type, actor, old_value, new_value, comment, created_at "
             "FROM events WHERE issue_id=? ORDER BY id")
        rows = self.conn.execute(q, (issue_id,)).fetchall()
        if limit > 0:
            rows = rows[-limit:]
        return [{k: v for k, v in r.items() if v is not None} for r in rows]

    def stamp_elem(self, issue_id: str, kind: str, elem: str) -> None:
        from .versioning import stamp_elem
        stamp_elem(self, issue_id, kind, elem)

    # --- JSONL bookkeeping ----------------------------------------------------------------

    def jsonl_base(self, ids: Iterable[str] | None = None) -> dict[str, str]:
        """The line the JSONL had for each issue at the last export or import (the merge base
        of the next import); all issues, or ``ids``."""
        if ids is None:
            return {r["issue_id"]: r["line"] for r in self.conn.execute("SELECT issue_id, line FROM jsonl_base")}
        wanted = list(ids)
        out: dict[str, str] = {}
        for k in range(0, len(wanted), 500):
            chunk = wanted[k:k + 500]
            out.update((r["issue_id"], r["line"]) for r in self.conn.execute(
                f"SELECT issue_id, line FROM jsonl_base WHERE issue_id IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def set_jsonl_base(self, items: Iterable[tuple[str, str | None]]) -> None:
        """Record base lines (None = the issue has no line any more)."""
        last = dict(items)  # an id's final state is its last item: two bulk statements suffice
        gone = [(i,) for i, h in last.items() if h is None]
        if gone:
            self.conn.executemany("DELETE FROM jsonl_base WHERE issue_id=?", gone)
        kept = [(i, h) for i, h in last.items() if h is not None]
        if kept:
            self.conn.executemany("INSERT INTO jsonl_base(issue_id, line) VALUES(?,?) "
                                  "ON CONFLICT(issue_id) DO UPDATE SET line=excluded.line", kept)

    def replace_jsonl_base(self, items: dict[str, str]) -> None:
        self.conn.execute("DELETE FROM jsonl_base")
        self.conn.executemany("INSERT INTO jsonl_base(issue_id, line) VALUES(?,?)", items.items())


_MISSING = object()
#: the field an audit event changes when its new value does not name them
_EVENT_FIELD = {"label_added": "labels", "label_removed": "labels", "dependency_added": "dependencies",
                "dependency_removed": "dependencies", "commented": "comments", "renamed": "id"}


def _event_fields(event_type: str, new: Any) -> tuple[list[str], dict[str, Any]]:
    """(fields, facts) of an audit event for the change feed: the keys of a dict ``new``
    (plus the new status, which watchers filter on)."""
    if isinstance(new, dict):
        facts = {"status": new["status"]} if isinstance(new.get("status"), str) else {}
        lease = new.get("lease")
        if isinstance(lease, dict) and isinstance(lease.get("expires_at"), str):
            facts["lease_expires_at"] = lease["expires_at"]
        return list(new), facts
    field = _EVENT_FIELD.get(event_type)
    return ([field] if field else []), {}


def _us(issue: dict[str, Any], which: str) -> int:
    us = issue.get(f"{which}_us")
    return ts_micros(issue[f"{which}_at"]) if us is None else us


def _enc(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)


def open_store(path: str | os.PathLike[str], **kw: Any) -> Store:
    return Store(path, **kw)
