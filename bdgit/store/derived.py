"""What the database keeps derived from the issues, so that reads cost what their answer costs.

- ``issues.blocked``: 1 for an issue the ready rule blocks (see ``queries``), else 0;
- ``issue_counts``: issues per (status, blocked), with the sums of their lead times (the
  ``closed_us - created_us`` of issues with a ``closed_at``), which is all ``stats`` reports;
- ``issues.closed_us``: ``closed_at`` in microseconds (the Store writes it with ``closed_at``).

Triggers (schema v3, ``TRIGGERS``) keep ``issue_counts`` exact on every insert, delete and update of an issue,
whoever writes (the Store, an import, a rename, an older bdgit), and write into
``blocked_pending`` every issue whose flag, or whose dependents' flags, may have changed: an
edge of type ``blocks`` or ``parent-child`` added, removed or changed; a status that becomes or
stops being closed (``closed``/``tombstone``); an issue inserted closed, deleted or renamed.
``settle`` brings the flags up to date from those seeds before each COMMIT (``Store.tx`` calls
it), so a committed database has no pending issue. A reader that finds some (a writer that did
not settle: an older bdgit, a hand edit) computes the blocked set from the edges instead
(``current``), as every read did before.

Settling recomputes the *region* of the seeds: the seeds, the issues with a ``blocks`` edge to a
seed, and everything below those through ``parent-child`` edges. Nothing outside the region
depends on anything inside it (an issue's flag depends on its own status, the statuses of its
blockers and the flags of its parents), so the region's least fixpoint, started from the flags
of the parents outside it, is the one a computation from scratch gives (cycles included). A
change costs the size of its region; many seeds at once (an import) rebuild everything.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..model import ts_micros

#: statuses that block nobody and are never blocked
CLOSED = ("closed", "tombstone")

#: The blocked set from scratch: ``blocked_all(id)``. An issue is *directly blocked* when it is
#: not closed and has a ``blocks`` edge to an issue that is not closed (or not in the database);
#: a not-closed ``parent-child`` child of a blocked issue is blocked too, at any depth.
BLOCKED_CTE = """
WITH RECURSIVE
blocked_direct(id) AS (
    SELECT d.issue_id FROM dependencies d
    JOIN issues i ON i.id = d.issue_id AND i.status NOT IN ('closed', 'tombstone')
    LEFT JOIN issues b ON b.id = d.depends_on_id
    WHERE d.type = 'blocks' AND (b.id IS NULL OR b.status NOT IN ('closed', 'tombstone'))
),
blocked_all(id) AS (
    SELECT id FROM blocked_direct
    UNION
    SELECT d.issue_id FROM blocked_all ba
    CROSS JOIN dependencies d ON d.depends_on_id = ba.id AND d.type = 'parent-child'
    JOIN issues c ON c.id = d.issue_id AND c.status NOT IN ('closed', 'tombstone')
)
"""
# CROSS JOIN pins the join order (SQLite never reorders it): without it the planner may put the
# recursive row innermost and scan every parent-child edge per queued row - O(blocked x edges),
# 13 s instead of 15 ms on 10,000 issues (bench/bench_core.py).

_ADD_COUNT = """INSERT INTO issue_counts(status, blocked, n, lead_n, lead_us)
        VALUES (new.status, new.blocked, 1, new.closed_us IS NOT NULL, coalesce(new.closed_us - new.created_us, 0))
        ON CONFLICT(status, blocked) DO UPDATE SET n = n + 1, lead_n = lead_n + excluded.lead_n,
            lead_us = lead_us + excluded.lead_us;"""
_SUB_COUNT = """UPDATE issue_counts SET n = n - 1, lead_n = lead_n - (old.closed_us IS NOT NULL),
            lead_us = lead_us - coalesce(old.closed_us - old.created_us, 0)
        WHERE status = old.status AND blocked = old.blocked;"""

def _trigger(name: str, when: str, body: str) -> str:
    return f"CREATE TRIGGER {name} {when} BEGIN\n    {body}\nEND"


# Seeds may repeat (settling reads them DISTINCT): a trigger fired by a foreign key's cascade
# cannot use INSERT OR IGNORE (the cascade's own conflict rule, ABORT, would override it).
_PEND = "INSERT INTO blocked_pending(issue_id) VALUES ({});"
#: the triggers, by name (schema v3 makes them; a bulk load drops and remakes them: ``Bulk``)
TRIGGERS: dict[str, str] = {
    "issues_count_insert": _trigger("issues_count_insert", "AFTER INSERT ON issues", _ADD_COUNT),
    "issues_count_delete": _trigger("issues_count_delete", "AFTER DELETE ON issues", _SUB_COUNT),
    "issues_count_update": _trigger(
        "issues_count_update", "AFTER UPDATE OF status, blocked, closed_us, created_us ON issues "
        "WHEN old.status IS NOT new.status OR old.blocked IS NOT new.blocked "
        "OR old.closed_us IS NOT new.closed_us OR old.created_us IS NOT new.created_us",
        _SUB_COUNT + "\n    " + _ADD_COUNT),
    "issues_block_insert": _trigger("issues_block_insert", "AFTER INSERT ON issues "
                                    "WHEN new.status IN ('closed', 'tombstone')", _PEND.format("new.id")),
    "issues_block_delete": _trigger("issues_block_delete", "AFTER DELETE ON issues", _PEND.format("old.id")),
    "issues_block_status": _trigger(
        "issues_block_status", "AFTER UPDATE OF status ON issues "
        "WHEN (old.status IN ('closed', 'tombstone')) IS NOT (new.status IN ('closed', 'tombstone'))",
        _PEND.format("new.id")),
    "issues_block_rename": _trigger("issues_block_rename", "AFTER UPDATE OF id ON issues WHEN old.id IS NOT new.id",
                                    _PEND.format("old.id") + " " + _PEND.format("new.id")),
    "deps_block_insert": _trigger("deps_block_insert", "AFTER INSERT ON dependencies "
                                  "WHEN new.type IN ('blocks', 'parent-child')", _PEND.format("new.issue_id")),
    "deps_block_delete": _trigger("deps_block_delete", "AFTER DELETE ON dependencies "
                                  "WHEN old.type IN ('blocks', 'parent-child')", _PEND.format("old.issue_id")),
    "deps_block_update": _trigger(
        "deps_block_update", "AFTER UPDATE ON dependencies "
        "WHEN old.type IN ('blocks', 'parent-child') OR new.type IN ('blocks', 'parent-child')",
        _PEND.format("old.issue_id") + " " + _PEND.format("new.issue_id")),
}
#: seeds beyond which settling rebuilds every flag (one pass over the edges) instead
FULL_AT = 2000


def _plain(conn: sqlite3.Connection) -> sqlite3.Cursor:
    cur = conn.cursor()
    cur.row_factory = None  # tuples, whatever the connection's row factory
    return cur


def install(conn: sqlite3.Connection) -> None:
    """Schema v3's second half (the tables and indexes are made first): the triggers, the
    ``closed_us`` of every closed issue, then every flag and count computed once. Runs inside
    the migration's transaction."""
    for sql in TRIGGERS.values():
        conn.execute(sql)
    cur = _plain(conn)
    fills = [(us, iid) for iid, closed_at in cur.execute(
        "SELECT id, closed_at FROM issues WHERE closed_at IS NOT NULL").fetchall()
        if (us := closed_micros(closed_at)) is not None]
    cur.executemany("UPDATE issues SET closed_us = ? WHERE id = ?", fills)
    rebuild(conn)


def closed_micros(closed_at: Any) -> int | None:
    """``closed_us`` for a ``closed_at`` value (None when it is none or not a timestamp)."""
    if not closed_at:
        return None
    try:
        return ts_micros(closed_at)
    except (ValueError, TypeError):
        return None


# --- reading ----------------------------------------------------------------------------------

def current(conn: sqlite3.Connection, in_tx: bool) -> bool:
    """Whether ``issues.blocked`` and ``issue_counts`` may be read as they are. Inside a write
    transaction the pending seeds are settled first (so a query sees the transaction's own
    changes); a reader that finds seeds a writer left (see the module docstring) gets False and
    computes from the edges."""
    if in_tx:
        settle(conn)
        return True
    return conn.execute("SELECT 1 FROM blocked_pending LIMIT 1").fetchone() is None


# --- settling -----------------------------------------------------------------------------------

_REGION = """
WITH RECURSIVE
seed(id) AS (SELECT value FROM json_each(?)),
start(id) AS (
    SELECT id FROM seed
    UNION
    SELECT d.issue_id FROM seed s CROSS JOIN dependencies d ON d.depends_on_id = s.id AND d.type = 'blocks'
),
region(id) AS (
    SELECT id FROM start
    UNION
    SELECT d.issue_id FROM region r CROSS JOIN dependencies d ON d.depends_on_id = r.id AND d.type = 'parent-child'
)
SELECT i.id, i.status, i.blocked FROM region r JOIN issues i ON i.id = r.id
"""
_EDGES = """
SELECT d.issue_id, d.type, d.depends_on_id, t.status, t.blocked
FROM json_each(?) j CROSS JOIN dependencies d ON d.issue_id = j.value AND d.type IN ('blocks', 'parent-child')
LEFT JOIN issues t ON t.id = d.depends_on_id
"""


def settle(conn: sqlite3.Connection) -> int:
    """Bring the flags of the pending issues' region up to date and clear the seeds. Must run
    inside a write transaction. Returns the number of flags changed."""
    cur = _plain(conn)
    seeds = [r[0] for r in cur.execute("SELECT DISTINCT issue_id FROM blocked_pending")]
    if not seeds:
        return 0
    cur.execute("DELETE FROM blocked_pending")
    if len(seeds) > FULL_AT:
        return rebuild_blocked(conn)
    info = {iid: (status, flag) for iid, status, flag in cur.execute(_REGION, (json.dumps(seeds),))}
    if not info:
        return 0
    return _fix(cur, info, cur.execute(_EDGES, (json.dumps(list(info)),)))


def _fix(cur: sqlite3.Cursor, info: dict[str, tuple[str, int]], edges: Any) -> int:
    """The least fixpoint of the ready rule over a region (``info``: id -> (status, kept
    flag); ``edges``: its issues' (issue, type, target, target status, target flag) for
    ``blocks`` and ``parent-child`` edges), written where it differs from the kept flags."""
    blocked: set[str] = set()
    children: dict[str, list[str]] = {}
    for iid, kind, target, t_status, t_flag in edges:
        if info[iid][0] in CLOSED:
            continue
        if kind == "blocks":
            if t_status is None or t_status not in CLOSED:
                blocked.add(iid)
        elif target in info:
            children.setdefault(target, []).append(iid)
        elif t_flag == 1:  # a parent outside the region: its flag is current
            blocked.add(iid)
    queue = list(blocked)
    while queue:
        for child in children.get(queue.pop(), ()):
            if child not in blocked:
                blocked.add(child)
                queue.append(child)
    changes = [(1 if iid in blocked else 0, iid) for iid, (_, flag) in info.items()
               if flag != (1 if iid in blocked else 0)]
    if changes:
        cur.executemany("UPDATE issues SET blocked = ? WHERE id = ?", changes)
    return len(changes)


_ALL_EDGES = """
SELECT d.issue_id, d.type, d.depends_on_id, t.status, t.blocked
FROM dependencies d LEFT JOIN issues t ON t.id = d.depends_on_id
WHERE d.type IN ('blocks', 'parent-child')
"""


def rebuild_blocked(conn: sqlite3.Connection) -> int:
    """Every flag from scratch (the whole database as one region: no parent outside it),
    writing only the ones that differ. Returns how many changed."""
    cur = _plain(conn)
    cur.execute("DELETE FROM blocked_pending")
    info = {iid: (status, flag) for iid, status, flag in cur.execute("SELECT id, status, blocked FROM issues")}
    # an edge from an issue not in the table (foreign keys off, an older writer) concerns no flag
    return _fix(cur, info, [e for e in cur.execute(_ALL_EDGES).fetchall() if e[0] in info])


def rebuild_counts(conn: sqlite3.Connection) -> None:
    """``issue_counts`` from scratch."""
    conn.execute("DELETE FROM issue_counts")
    conn.execute("INSERT INTO issue_counts(status, blocked, n, lead_n, lead_us) "
                 "SELECT status, blocked, count(*), count(closed_us), coalesce(sum(closed_us - created_us), 0) "
                 "FROM issues GROUP BY status, blocked")


def rebuild(conn: sqlite3.Connection) -> None:
    """Every flag, then every count, from scratch (migration, bulk loads, repair)."""
    rebuild_blocked(conn)
    rebuild_counts(conn)


def problems(conn: sqlite3.Connection) -> list[str]:
    """What differs between the kept flags and counts and a computation from scratch (empty when
    they agree): for tests and ``bd doctor``. Settled seeds are the caller's business."""
    cur = _plain(conn)
    out = []
    pending = cur.execute("SELECT count(DISTINCT issue_id) FROM blocked_pending").fetchone()[0]
    if pending:
        out.append(f"{pending} issue(s) wait to be settled")
    want = {r[0] for r in cur.execute(BLOCKED_CTE + " SELECT id FROM blocked_all")}
    have = {r[0] for r in cur.execute("SELECT id FROM issues WHERE blocked = 1")}
    if want - have:
        out.append(f"blocked but not flagged: {sorted(want - have)[:10]}")
    if have - want:
        out.append(f"flagged but not blocked: {sorted(have - want)[:10]}")
    kept = {(s, b): (n, ln, lu) for s, b, n, ln, lu in cur.execute(
        "SELECT status, blocked, n, lead_n, lead_us FROM issue_counts WHERE n != 0 OR lead_n != 0 OR lead_us != 0")}
    fresh = {(s, b): (n, ln, lu) for s, b, n, ln, lu in cur.execute(
        "SELECT status, blocked, count(*), count(closed_us), coalesce(sum(closed_us - created_us), 0) "
        "FROM issues GROUP BY status, blocked")}
    if kept != fresh:
        out.append(f"counts differ: kept {kept}, counted {fresh}")
    closed = [iid for iid, at, us in cur.execute("SELECT id, closed_at, closed_us FROM issues")
              if closed_micros(at) != us]
    if closed:
        out.append(f"closed_us differs from closed_at: {closed[:10]}")
    return out


class Bulk:
    """A bulk load into this transaction without the per-row triggers: ``with Bulk(conn):``
    drops them, and on the way out (no exception) recomputes every flag and count and makes them
    again. For loads that touch a large share of the issues (an import into a new clone), where
    one pass at the end is cheaper than a trigger per row. ``indexes``: the secondary indexes of
    the issue tables go too, and are built again, sorted, on the way out (for a load into an
    empty database: nothing in between may need them). DDL is transactional in SQLite: a
    rollback brings triggers and indexes back with everything else."""

    def __init__(self, conn: sqlite3.Connection, indexes: bool = False) -> None:
        self.conn = conn
        self.indexes = indexes
        self.dropped: list[str] = []
        self.cache = self.threads = 0

    def __enter__(self) -> Bulk:
        # while the load runs, a cache the size of the load (inserts and the index builds at the
        # end stay in memory) and a helper thread for the index builds' sorts; neither setting
        # has any bearing on durability, and both are put back on the way out
        cur = _plain(self.conn)
        self.cache = cur.execute("PRAGMA cache_size").fetchone()[0]
        self.threads = cur.execute("PRAGMA threads").fetchone()[0]
        cur.execute(f"PRAGMA cache_size={-BULK_CACHE_KIB}")
        cur.execute("PRAGMA threads=2")
        for name in TRIGGERS:
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        if self.indexes:
            found = _plain(self.conn).execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({','.join('?' * len(_BULK_TABLES))})", _BULK_TABLES).fetchall()
            for name, sql in found:
                self.conn.execute(f'DROP INDEX "{name}"')
                self.dropped.append(sql)
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        try:
            if kind is not None:
                return  # the caller rolls the transaction back, triggers and indexes included
            rebuild_blocked(self.conn)  # before the indexes: the flags it sets are in one of them
            for sql in self.dropped:
                self.conn.execute(sql)
            for sql in TRIGGERS.values():
                self.conn.execute(sql)
            rebuild_counts(self.conn)
        finally:
            self.conn.execute(f"PRAGMA cache_size={int(self.cache)}")
            self.conn.execute(f"PRAGMA threads={int(self.threads)}")


#: the page cache of a bulk load, in KiB (the usual one is 2 MiB)
BULK_CACHE_KIB = 256 * 1024
#: the tables whose secondary indexes a bulk load into an empty database builds at the end
_BULK_TABLES = ("issues", "dependencies", "labels", "comments", "events")
