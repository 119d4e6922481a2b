"""Claiming: ``ready`` (which, with ``claim``, takes the best ready issue in one request) and
returning the issues whose lease ran out.

A claim sets ``assignee`` to the actor and ``status`` to ``in_progress`` in the transaction that
chose the issue, so N agents asking at once get N distinct issues (the daemon's single writer
and direct mode's ``BEGIN IMMEDIATE`` both serialise it). When a lease expires, ``expire_due``
puts the issue back to ``open`` and unassigned, and the audit trail records the holder as having
abandoned it (event ``lease_expired``). The daemon calls it on a timer at the next expiry;
direct mode before each command. The lease itself is ``leases``.

The ``ready`` operation is registered here rather than in ``issues`` (which lists ready issues,
``issues.ready_list``): claiming writes through ``issues.apply_changes``, and ``issues`` must not
import this module back.
"""
from __future__ import annotations

import time
from typing import Any

from ..errors import UsageError, ValidationError
from ..store import Store
from ..store import queries as q
from ..validate import Args, check_label
from .answer import Rows
from .issues import apply_changes, check_filters, ready_list, ready_rows, rows_json
from .leases import LEASE_KEY, claim_changes, due, expiry, lease_of, lease_seconds, leased_rows
from .registry import Ctx, op


def ready_stream(ctx: Ctx, a: Args) -> Rows:
    """``ready`` without ``claim`` (a read: ``ops.is_write``), to render in chunks."""
    check_filters(ctx, a)
    return ready_rows(ctx, a)


@op("ready", write=False, stream=ready_stream)
def ready(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    """Ready issues (``issues.ready_list``); with ``claim`` (then a write: see ``ops.is_write``),
    claims the first of them (``claim_ready``)."""
    check_filters(ctx, a)
    if a.flag("claim"):
        return claim_ready(ctx, a)
    return ready_list(ctx, a)


def claim_ready(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    """``ready`` with ``claim``: claim the first ready issue the filters and the sort policy
    give. Returns it as a one-element list, or ``[]`` when nothing is ready to claim.

    Filters as for ``ready``; ``unassigned`` takes only unassigned issues, ``assignee`` must
    name the actor (the issues already assigned to them); without either, both kinds."""
    s, actor = ctx.store, ctx.actor
    seconds = lease_seconds(ctx, a)
    assignee = a.text("assignee")
    claimable_by: str | None = None
    if a.flag("unassigned") or a.flag("no_assignee"):
        who: str | None = ""
    elif assignee:
        if assignee != actor:
            raise UsageError(f"ready --claim takes issues for the actor ({actor}); --assignee {assignee} "
                             "names someone else", "drop --assignee, or act as them with --actor")
        who = actor
    else:
        who, claimable_by = None, actor
    sort = a.text("sort") or "priority"
    if sort not in ("priority", "hybrid", "oldest"):
        raise ValidationError(f"invalid sort policy {sort!r}: expected priority, hybrid or oldest")
    rows = q.ready_issues(s, priority=a.priority("priority"), assignee=who, claimable_by=claimable_by,
                          issue_type=a.text("issue_type") or a.text("type"),
                          labels=[check_label(x) for x in a.strlist("labels") + a.strlist("label")],
                          labels_any=a.strlist("labels_any"), parent=a.text("parent"),
                          oldest_first=sort == "oldest", limit=1)
    if not rows:
        return []
    cur = rows[0]
    apply_changes(ctx, cur, claim_changes(ctx, cur, seconds), event="claimed")
    return rows_json(ctx, [s.require_issue(cur["id"])])


def expire_due(store: Store, at: float | None = None) -> list[str]:
    """Return every issue whose lease has expired to ready: status open, unassigned, no lease,
    and a ``lease_expired`` event by the holder (who abandoned it). One transaction; returns
    the ids. The caller holds the writer (the daemon's lock, or direct mode's file lock)."""
    t = time.time() if at is None else at
    if not due(store, t):
        return []
    done: list[str] = []
    with store.tx():
        for row in leased_rows(store):  # read again inside the transaction: the truth now
            lease = lease_of(row)
            if lease is None or (expiry(lease) or 0.0) > t:
                continue
            holder = lease["holder"]
            changes: dict[str, Any] = {"status": "open", LEASE_KEY: None}
            if row.get("assignee") == holder:
                changes["assignee"] = None
            apply_changes(Ctx(store, holder), row, changes, event="lease_expired",
                          comment=f"abandoned by {holder}: the lease expired at {lease['expires_at']}; "
                                  "back to ready")
            done.append(row["id"])
    return done
