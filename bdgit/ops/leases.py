"""Leases: how long a claimed issue stays its claimer's without a sign of life.

A lease is issue data: one ``lease`` field of the issue, ``{"holder", "expires_at",
"seconds"}``, kept with its other fields and written to its JSONL line like any of them (so
another clone sees it, and a merge treats it as one value: a holder never travels without its
expiry). A claim may carry one (``lease`` argument, or the workspace default ``lease.default``
in the config; none unless set). Every write by the holder to the issue renews it
(``renew_touched``, called by ``ops.run``), and so does ``heartbeat``; a status other than
``in_progress`` or another assignee ends it (``ends_lease``, applied by ``issues.apply_changes``).
Expiry lives in ``claim`` (it rewrites the issue).

Claimable follows beads' rule (``claim_changes``): an ``open`` issue that is unassigned or
already the actor's; re-claiming one's own ``in_progress`` issue succeeds and changes nothing.
"""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from ..errors import ConflictError, ValidationError
from ..lazyre import Lazy
from ..model import now, ts_micros
from ..store import Store
from ..store.db import ISSUE_COLUMNS
from ..validate import Args
from .registry import Ctx, op

LEASE_KEY = "lease"
#: the workspace default (``bd config set lease.default 30m``); unset, "off" or "0": no lease
CONFIG_KEY = "lease.default"
MAX_LEASE_SECONDS = 30 * 86400.0
#: a write within this share of a fresh lease leaves it as it is (no rewrite per keystroke)
_FRESH = 0.01
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_RE = Lazy(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_OFF = ("", "0", "off", "none", "no", "false")


# --- durations and the lease value ---------------------------------------------------------

def parse_duration(text: Any, what: str = "lease") -> float | None:
    """Seconds of a duration such as ``30m``, ``1h30m``, ``90s``, ``1.5h``, ``500ms``, ``2d``
    or a plain number of seconds; None for ``off``/``0``/empty (no lease). Raises
    ValidationError for anything else, or a duration over 30 days."""
    if isinstance(text, bool):
        raise ValidationError(f"invalid {what} {text!r}: use a duration such as 30m, 1h or 90s")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        s = str(text).strip().lower()
        if s in _OFF:
            return None
        try:
            seconds = float(s)
        except ValueError:
            parts = _DURATION_RE.findall(s)
            if not parts or "".join(n + u for n, u in parts) != s:
                raise ValidationError(f"invalid {what} {text!r}: use a duration such as 30m, 1h30m or 90s "
                                      "(units ms, s, m, h, d), or off") from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        return None
    if seconds > MAX_LEASE_SECONDS:
        raise ValidationError(f"invalid {what} {text!r}: at most 30 days")
    return seconds


def format_duration(seconds: float) -> str:
    """``1h30m``, ``45s``, ``1.5s``: the inverse of ``parse_duration`` for display."""
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    s = int(round(seconds))
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out or "0s"


def stamp(epoch: float) -> str:
    """An instant as RFC 3339 UTC with milliseconds (the form leases are written in)."""
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_lease(holder: str, seconds: float, at: float | None = None) -> dict[str, Any]:
    at = time.time() if at is None else at
    return {"holder": holder, "expires_at": stamp(at + seconds), "seconds": seconds}


def lease_of(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The lease recorded on an issue row, or None (also for a malformed one)."""
    if not row or not row.get("extra"):
        return None
    extra = row["extra"]
    if isinstance(extra, str):
        if f'"{LEASE_KEY}"' not in extra:
            return None
        extra = json.loads(extra)
    lease = extra.get(LEASE_KEY) if isinstance(extra, dict) else None
    if not isinstance(lease, dict) or not isinstance(lease.get("holder"), str) \
            or expiry(lease) is None:
        return None
    return lease


def expiry(lease: dict[str, Any]) -> float | None:
    """When ``lease`` ends (epoch seconds), or None when it does not say."""
    try:
        return ts_micros(lease["expires_at"]) / 1e6
    except (KeyError, TypeError, ValueError):
        return None


def extra_with(row: dict[str, Any], lease: dict[str, Any] | None,
               base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row's ``extra`` fields (or ``base``) with the lease set, or removed for None."""
    if base is not None:
        extra = dict(base)
    else:
        raw = row.get("extra")
        extra = (json.loads(raw) if isinstance(raw, str) else dict(raw)) if raw else {}
    if lease is None:
        extra.pop(LEASE_KEY, None)
    else:
        extra[LEASE_KEY] = lease
    return extra


def ends_lease(lease: dict[str, Any], changes: dict[str, Any]) -> bool:
    """Whether ``changes`` end ``lease``: another status than in_progress, another assignee."""
    if "status" in changes and changes["status"] != "in_progress":
        return True
    return "assignee" in changes and changes["assignee"] != lease["holder"]


# --- claiming ------------------------------------------------------------------------------

def lease_seconds(ctx: Ctx, a: Args) -> float | None:
    """The lease a claim asks for: ``lease`` (a duration, or off), else the workspace default."""
    if a.has("lease"):
        return parse_duration(a.raw["lease"])
    default = ctx.store.get_config(CONFIG_KEY)
    if default is None:
        return None
    try:
        return parse_duration(default)
    except ValidationError as e:
        raise ValidationError(f"the workspace's {CONFIG_KEY} is not a duration: {e}",
                              f"fix it: bd config set {CONFIG_KEY} 30m (or off)") from None


def claim_changes(ctx: Ctx, cur: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    """The changes that make ``cur`` the actor's. Raises ConflictError when it is not claimable
    (someone else's, or not open); the actor's own in_progress issue stays claimed (its lease
    is replaced when one is asked for)."""
    actor = ctx.actor
    assignee, status = cur.get("assignee"), cur["status"]
    if assignee and assignee != actor:
        raise ConflictError(f"{cur['id']} is already claimed by {assignee}",
                            "pick another issue: bd ready --claim takes the next free one")
    if status != "open" and not (status == "in_progress" and assignee == actor):
        raise ConflictError(f"cannot claim {cur['id']}: it is {status}",
                            "only open issues can be claimed; see 'bd ready'")
    changes: dict[str, Any] = {}
    if assignee != actor:
        changes["assignee"] = actor
    if status != "in_progress":
        changes["status"] = "in_progress"
    if seconds is not None:
        changes[LEASE_KEY] = new_lease(actor, seconds)
    return changes


# --- renewing ------------------------------------------------------------------------------

def renew_touched(ctx: Ctx, ids: set[str]) -> None:
    """Renew the leases the actor holds on ``ids`` (the issues an operation wrote). A lease
    that has expired is not renewed (it is being returned); a fresh one is left alone."""
    s = ctx.store
    t = time.time()
    for issue_id in ids:
        row = s.conn.execute("SELECT id, status, extra FROM issues WHERE id=?", (issue_id,)).fetchone()
        lease = lease_of(row)
        if lease is None or row["status"] != "in_progress" or lease["holder"] != ctx.actor:
            continue
        seconds = _seconds(lease)
        end = expiry(lease) or 0.0
        if end <= t or end - t > (1 - _FRESH) * seconds:
            continue
        fresh = new_lease(ctx.actor, seconds, t)
        s.set_fields(issue_id, {"extra": extra_with(row, fresh)})
        s.amend_change(issue_id, [LEASE_KEY], lease_expires_at=fresh["expires_at"])


def _seconds(lease: dict[str, Any]) -> float:
    v = lease.get("seconds")
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
        return float(v)
    return 1800.0  # a lease written without its length (by hand): the usual half hour


@op("heartbeat", write=True)
def heartbeat(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Renew the actor's leases: on ``ids`` (or ``id``), or every lease the actor holds.

    ``lease`` gives a new length. Raises ConflictError for an issue without a lease, one that
    someone else holds, or one whose lease has expired (it went back to ready)."""
    s, actor = ctx.store, ctx.actor
    ids = a.strlist("ids") or ([a.req("id")] if a.has("id") else [])
    seconds = parse_duration(a.raw["lease"]) if a.has("lease") else None
    t = time.time()
    if ids:
        rows = [s.require_issue(i) for i in ids]
    else:
        rows = [r for r in leased_rows(s) if (lease_of(r) or {}).get("holder") == actor]
    renewed = []
    for row in rows:
        lease = lease_of(row)
        if lease is None or row["status"] != "in_progress":
            raise ConflictError(f"{row['id']} has no lease to renew",
                                f"claim it with one: bd update {row['id']} --claim --lease 30m")
        if lease["holder"] != actor:
            raise ConflictError(f"{row['id']} is leased by {lease['holder']}, not {actor}")
        if (expiry(lease) or 0.0) <= t:
            raise ConflictError(f"the lease of {actor} on {row['id']} expired at {lease['expires_at']}; "
                                "the issue went back to ready",
                                f"claim it again if it is still free: bd update {row['id']} --claim --lease "
                                f"{format_duration(_seconds(lease))}")
        fresh = new_lease(actor, seconds or _seconds(lease), t)
        ts = now()
        s.set_fields(row["id"], {"extra": extra_with(row, fresh), "updated_at": ts})
        s.mark_dirty([row["id"]], ts)
        s.note_change(row["id"], "lease_renewed", actor, ts, [LEASE_KEY], lease_expires_at=fresh["expires_at"])
        renewed.append({"id": row["id"], LEASE_KEY: fresh})
    return {"renewed": renewed}


# --- finding leases ------------------------------------------------------------------------

def leased_rows(store: Store) -> list[dict[str, Any]]:
    """In-progress issues that carry a lease (few: one per working agent)."""
    # the literal pattern is the partial index idx_issues_leased's own condition (SQLite uses
    # that index only for a query that states it): a look costs the leases, not the issues
    return store.conn.execute(
        f"SELECT {ISSUE_COLUMNS} FROM issues WHERE status='in_progress' AND extra LIKE '%\"{LEASE_KEY}\"%'"
    ).fetchall()


def next_due(store: Store) -> float | None:
    """When the next lease expires (epoch seconds), or None when no issue has one."""
    ends = [expiry(lease) for r in leased_rows(store) if (lease := lease_of(r)) is not None]
    return min((e for e in ends if e is not None), default=None)


def due(store: Store, at: float | None = None) -> bool:
    """Whether some lease has expired and is waiting to be returned."""
    nd = next_due(store)
    return nd is not None and nd <= (time.time() if at is None else at)


def abandoned(store: Store, issue_id: str) -> dict[str, Any] | None:
    """``{"by", "at", "lease_expired_at"}`` when the issue's last claim ended with its lease
    expiring (and nobody has claimed it since); else None."""
    r = store.conn.execute(
        "SELECT event_type, actor, created_at, old_value FROM events WHERE issue_id=? "
        "AND event_type IN ('claimed', 'lease_expired') ORDER BY id DESC LIMIT 1", (issue_id,)).fetchone()
    if r is None or r["event_type"] != "lease_expired":
        return None
    out: dict[str, Any] = {"by": r["actor"], "at": r["created_at"]}
    try:
        old = json.loads(r["old_value"] or "{}")
        out["lease_expired_at"] = old[LEASE_KEY]["expires_at"]
    except (ValueError, KeyError, TypeError):
        pass
    return out

