"""Schema and migrations. Each migration runs once, in order, recorded in ``schema_migrations``.

Design notes (why the schema differs from beads 0.9.8):
- Timestamps are stored verbatim (RFC 3339 text, whatever zone the writer used) so that a
  file round-trips byte for byte, plus ``*_us`` integer columns (microseconds since the epoch)
  used for ordering and newer-wins comparisons across zones.
- ``dependencies.depends_on_id`` has no foreign key: files written by newer beads versions
  reference issues that are not in the file, and we keep those edges.
- ``extra`` columns hold, as a JSON object, the fields of an imported record that we do not
  model, so they survive a round trip.
- ``jsonl_base`` (v2; ``jsonl_state`` in v1 kept only a hash) holds, per issue, the exact line
  the JSONL had for it at the last export or import: the merge base of the next import, and
  what an incremental writer can patch the file from.
- v2, replication: ``issues.versions`` is the issue's whole version object (the JSONL line's
  ``_v``, see bdgit.replication); ``clock`` is the clone's hybrid logical clock (one row, so a
  tick is one statement) and ``metadata.node_id`` its random node id; ``comments.extra`` keeps
  comment keys we do not model (beads' ``id`` and ``issue_id``). A deleted issue keeps its row
  with status ``tombstone``.
- v3, reads that do not grow with the workspace: ``issues.blocked`` (the ready rule's blocked
  set, kept by ``derived.settle``), ``issues.closed_us``, ``issue_counts`` (what ``stats``
  reports, kept by triggers), ``blocked_pending`` (what the triggers saw change, settled before
  each COMMIT), and indexes in the orders ready and list answer in. See ``derived``.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable

from . import derived

SCHEMA_V1 = """
CREATE TABLE issues (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    design TEXT NOT NULL DEFAULT '',
    acceptance_criteria TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open',
    priority INTEGER NOT NULL DEFAULT 2,
    issue_type TEXT NOT NULL DEFAULT 'task',
    assignee TEXT,
    estimated_minutes INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    external_ref TEXT,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    extra TEXT
);
CREATE INDEX idx_issues_status ON issues(status);
CREATE INDEX idx_issues_priority ON issues(priority, created_us);
CREATE INDEX idx_issues_assignee ON issues(assignee);
CREATE INDEX idx_issues_created ON issues(created_us);

CREATE TABLE dependencies (
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE ON UPDATE CASCADE,
    depends_on_id TEXT NOT NULL,
    type TEXT NOT NULL DEFAULT 'blocks',
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    extra TEXT,
    PRIMARY KEY (issue_id, depends_on_id)
);
CREATE INDEX idx_dependencies_depends_on ON dependencies(depends_on_id, type);
CREATE INDEX idx_dependencies_type ON dependencies(type, issue_id);

CREATE TABLE labels (
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE ON UPDATE CASCADE,
    label TEXT NOT NULL,
    PRIMARY KEY (issue_id, label)
);
CREATE INDEX idx_labels_label ON labels(label);

CREATE TABLE comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE ON UPDATE CASCADE,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_comments_issue ON comments(issue_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id TEXT NOT NULL REFERENCES issues(id) ON DELETE CASCADE ON UPDATE CASCADE,
    event_type TEXT NOT NULL,
    actor TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    comment TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX idx_events_issue ON events(issue_id);

CREATE TABLE config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL);

-- Issues changed since the last export; a deleted issue stays here until the export drops its line.
CREATE TABLE dirty_issues (issue_id TEXT PRIMARY KEY, marked_at TEXT NOT NULL);

CREATE TABLE issue_counters (prefix TEXT PRIMARY KEY, last_id INTEGER NOT NULL);

CREATE TABLE jsonl_state (issue_id TEXT PRIMARY KEY, line_hash TEXT NOT NULL);
"""

SCHEMA_V2 = """
ALTER TABLE issues ADD COLUMN versions TEXT NOT NULL DEFAULT '';
ALTER TABLE comments ADD COLUMN extra TEXT;
CREATE TABLE clock (id INTEGER PRIMARY KEY CHECK (id = 1), wall INTEGER NOT NULL, counter INTEGER NOT NULL);
INSERT INTO clock(id, wall, counter) VALUES (1, 0, 0);
INSERT OR IGNORE INTO metadata(key, value) VALUES ('node_id', lower(hex(randomblob(4))));
CREATE TABLE jsonl_base (issue_id TEXT PRIMARY KEY, line TEXT NOT NULL);
DROP TABLE jsonl_state;
"""

SCHEMA_V3 = """
ALTER TABLE issues ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN closed_us INTEGER;
CREATE TABLE blocked_pending (issue_id TEXT NOT NULL);
CREATE TABLE issue_counts (
    status TEXT NOT NULL,
    blocked INTEGER NOT NULL,
    n INTEGER NOT NULL DEFAULT 0,
    lead_n INTEGER NOT NULL DEFAULT 0,
    lead_us INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (status, blocked)
) WITHOUT ROWID;
DROP INDEX idx_issues_status;
DROP INDEX idx_issues_priority;
-- ready: open, not blocked, by priority then age: the first entries of this index
CREATE INDEX idx_issues_ready ON issues(status, blocked, priority, created_us, id);
-- list's default order, without and with a status filter
CREATE INDEX idx_issues_list ON issues(priority, created_us DESC, id);
CREATE INDEX idx_issues_status_list ON issues(status, priority, created_us DESC, id);
-- the few issues with a lease (direct mode looks for expired ones before every command)
CREATE INDEX idx_issues_leased ON issues(status) WHERE extra LIKE '%"lease"%';
"""


def _v3(conn: sqlite3.Connection) -> None:
    for stmt in statements(SCHEMA_V3):
        conn.execute(stmt)
    derived.install(conn)


#: (version, name, step): the step is SQL, or a function of the connection (run inside the
#: migration's transaction). Append only; never edit a released migration.
MIGRATIONS: tuple[tuple[int, str, str | Callable[[sqlite3.Connection], None]], ...] = (
    (1, "initial schema", SCHEMA_V1),
    (2, "replication: versions, clock, node id, JSONL base lines, comment extras", SCHEMA_V2),
    (3, "reads that do not grow: blocked flags, counts, ready and list indexes", _v3),
)

LATEST = MIGRATIONS[-1][0]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to the latest schema; returns the number of migrations applied.

    Precondition: ``conn`` is in autocommit mode (isolation_level None). Each migration runs
    in its own IMMEDIATE transaction, so two processes opening a new database at once apply it
    exactly once.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = 0
    for version, name, sql in MIGRATIONS:
        done = conn.execute("SELECT 1 FROM schema_migrations WHERE version=?", (version,)).fetchone()
        if done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version=?", (version,)).fetchone():
                conn.execute("COMMIT")
                continue
            if callable(sql):
                sql(conn)
            else:
                for stmt in statements(sql):
                    conn.execute(stmt)
            conn.execute(
                "INSERT INTO schema_migrations(version, name, applied_at) "
                "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
                (version, name),
            )
            conn.execute("COMMIT")
            applied += 1
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied


def statements(sql: str) -> list[str]:
    """The statements of a script (``--`` comment lines dropped; a trigger's body, whose
    statements end in ``;`` too, stays one statement: SQLite's own completeness test decides)."""
    out: list[str] = []
    buf: list[str] = []
    for line in sql.splitlines():
        if line.strip().startswith("--"):
            continue
        buf.append(line)
        text = "\n".join(buf)
        if line.rstrip().endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    if "".join(buf).strip():
        out.append("\n".join(buf))
    return out
