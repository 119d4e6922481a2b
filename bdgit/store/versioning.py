"""Versions in the database: the clone's clock, and stamping what each write changes.

Every operation gets one version from the clock (``Store.version``: the first write of an
operation ticks, later writes of the same operation share it). The write primitives of the
Store stamp the registers and elements they change in ``issues.versions`` (the issue's ``_v``
object, see bdgit.replication). Imports and merges make the clock observe every version they
read, so a later write here is greater than anything already seen, whatever the wall clocks.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..replication import clock
from ..replication import versions as V

if TYPE_CHECKING:
    from .db import Store


def node_id(store: Store) -> str:
    """The clone's node id (made by the schema migration; a database from before gets one).
    Read once per Store: it never changes."""
    node = store._node_id
    if node is None:
        node = store.get_meta("node_id")
        if not node:
            node = clock.new_node_id()
            store.set_meta("node_id", node)
        store._node_id = node
    return node


def tick(store: Store) -> clock.Version:
    """A new version: greater than every version this clone made or observed."""
    now = clock.now_ms()
    row = store.conn.execute(
        "UPDATE clock SET counter = CASE WHEN ? > wall THEN 0 ELSE counter + 1 END, wall = max(wall, ?) "
        "WHERE id = 1 RETURNING wall, counter", (now, now)).fetchone()
    return (row["wall"], row["counter"], node_id(store))


def observe(store: Store, seen: clock.Version | None) -> None:
    """Raise the clock to ``seen`` (so the next tick is greater)."""
    if seen is None:
        return
    store.conn.execute(
        "UPDATE clock SET wall = ?, counter = ? WHERE id = 1 AND (wall < ? OR (wall = ? AND counter < ?))",
        (seen[0], seen[1], seen[0], seen[0], seen[1]))


def load(store: Store, issue_id: str, row: dict[str, Any] | None = None) -> dict[str, Any]:
    """The stored version object of an issue, made whole for a write: an issue from before
    versions gets the default a line without versions implies (its ``updated_at``)."""
    if row is None or "versions" not in row:
        row = store.conn.execute("SELECT versions, updated_us FROM issues WHERE id=?", (issue_id,)).fetchone()
    if row is None:
        return {}
    v = V.loads(row["versions"])
    if "@" not in v:
        v = {"@": clock.encode(clock.from_updated(row["updated_us"]))}
    return v


def save(store: Store, issue_id: str, v: dict[str, Any]) -> None:
    store.conn.execute("UPDATE issues SET versions=? WHERE id=?", (V.dumps(v), issue_id))


def version_for(store: Store, v: dict[str, Any]) -> clock.Version:
    """The operation's version, raised above everything already in ``v`` when needed (a write
    always beats what it overwrites)."""
    top = V.top(v)
    ver = store.version()
    if top is not None and ver < top:
        observe(store, top)
        ver = store.version(fresh=True)
    return ver


def stamp_fields(store: Store, issue_id: str, fields: Any, row: dict[str, Any] | None = None) -> None:
    """Record a write of line keys ``fields`` of ``issue_id``."""
    names = [f for f in fields if f not in _NOT_REGISTERS]
    if not names:
        return
    v = load(store, issue_id, row)
    if not v:
        return
    V.stamp(v, names, version_for(store, v))
    save(store, issue_id, v)


def stamp_elem(store: Store, issue_id: str, kind: str, elem: str) -> None:
    """Record that label or dependency ``elem`` of ``issue_id`` was added or removed."""
    v = load(store, issue_id)
    if not v:
        return
    V.stamp_elem(v, kind, elem, version_for(store, v))
    save(store, issue_id, v)


#: columns that are not registers of the line
_NOT_REGISTERS = frozenset({"id", "updated_at", "updated_us", "created_us", "versions", "extra"})
