"""Long list answers, built a chunk at a time: ``Rows``.

``list``, ``ready`` and ``blocked`` can answer with every issue of a large workspace (42,608
blocked issues of 100,000 in bench_scale). Built whole, such an answer is held three times at
once (the rows, the JSON objects, then one JSON string and its bytes). A ``Rows`` is the
answer's issue IDs, in order, fixed by one query, and a way to render a chunk of them as the
issue objects the whole answer would hold: the daemon encodes and sends chunk after chunk
(``rpc.stream``), direct mode and batches join the chunks into a list (``to_list``). Both
are the same objects in the same order, so the bytes on the wire are the ones the whole list
would encode to.

A ``Rows`` must be made and consumed inside one ``Store.read_snapshot`` (the IDs and every
chunk read the same state: an issue in the IDs is there when its chunk is rendered).

Per chunk, a handful of queries for all its issues (rows, labels, link counts, parents; for
``blocked`` its blockers), never one per issue.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..model import issue_to_json
from ..store import Store
from ..store.db import ISSUE_COLUMNS

#: issues per chunk: each lookup is one ``IN (...)`` of this many IDs (counts.py's page size)
CHUNK = 500

Render = Callable[[list[str]], list[dict[str, Any]]]


class Rows:
    """An answer that is a list of issue objects, not yet rendered."""

    __slots__ = ("ids", "render")

    def __init__(self, ids: list[str], render: Render) -> None:
        self.ids = ids
        self.render = render

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"Rows({len(self.ids)} issues)"

    def chunks(self, size: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """The issue objects, ``size`` (default ``CHUNK``) at a time (no empty chunk)."""
        ids = self.ids
        size = size or CHUNK
        for k in range(0, len(ids), size):
            out = self.render(ids[k:k + size])
            if out:
                yield out

    def to_list(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in self.chunks():
            out.extend(chunk)
        return out


def issue_rows(store: Store, ids: list[str],
               extra: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None) -> Rows:
    """Issues ``ids`` as list output shows them (``issues.rows_json``: labels, link counts,
    parent), each with ``extra(chunk)[id]``'s keys after them."""
    from .counts import add_counts

    def render(chunk: list[str]) -> list[dict[str, Any]]:
        rows = _rows(store, chunk)
        labels = store.labels_for(chunk)
        more = extra(chunk) if extra is not None else None
        out = []
        for i in chunk:
            r = rows.get(i)
            if r is None:  # pragma: no cover - the snapshot holds every ID it listed
                continue
            j = issue_to_json(r, labels.get(i))
            if more is not None:
                j.update(more[i])
            out.append(j)
        return add_counts(store, out)
    return Rows(ids, render)


def _rows(store: Store, ids: list[str]) -> dict[str, dict[str, Any]]:
    """``Store.get_issues`` of one chunk, the rows read as tuples and zipped with the column
    names once per chunk (the store's row factory looks the names up again for every row)."""
    cur = store.conn.cursor()
    cur.row_factory = None
    cur.execute(f"SELECT {ISSUE_COLUMNS} FROM issues WHERE id IN ({','.join('?' * len(ids))})", ids)
    names = [d[0] for d in cur.description]
    return {t[0]: dict(zip(names, t)) for t in cur}
