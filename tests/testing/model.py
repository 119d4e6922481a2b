"""An independent model of the ready rule, and random sequences of writes to check the kept
blocked flags and counts against it (tests/store/test_derived.py).

The model reads the issues and edges straight from the SQLite file and computes, in plain
Python, what ``ready``, ``blocked`` and ``stats`` must answer: a blocked set by fixpoint (an
open blocker or one not in the database blocks; a blocked parent blocks its not-closed children
at any depth; closed and deleted issues are never blocked and block nobody).
"""
from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bdgit.errors import BdError
from bdgit.model import ts_micros

CLOSED = ("closed", "tombstone")


def expected(db: Path) -> dict[str, Any]:
    """What ready (all), blocked and stats must say for the database at ``db``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        issues = {i: (st, p, c, closed_at) for i, st, p, c, closed_at in conn.execute(
            "SELECT id, status, priority, created_us, closed_at FROM issues")}
        edges = conn.execute("SELECT issue_id, depends_on_id, type FROM dependencies").fetchall()
    finally:
        conn.close()

    def live(i: str) -> bool:
        return i in issues and issues[i][0] not in CLOSED

    direct: dict[str, list[str]] = {}
    for i, target, kind in edges:
        if kind == "blocks" and live(i) and (target not in issues or issues[target][0] not in CLOSED):
            direct.setdefault(i, []).append(target)
    blocked = set(direct)
    changed = True
    while changed:
        changed = False
        for i, parent, kind in edges:
            if kind == "parent-child" and parent in blocked and i not in blocked and live(i):
                blocked.add(i)
                changed = True
    by = {}
    for i in blocked:
        by[i] = sorted(direct.get(i) or [p for c, p, k in edges if c == i and k == "parent-child" and p in blocked])
    ready = sorted((i for i, v in issues.items() if v[0] == "open" and i not in blocked),
                   key=lambda i: (issues[i][1], issues[i][2], i))
    counted = {i: v for i, v in issues.items() if v[0] != "tombstone"}
    lead = []
    for st, _, created, closed_at in counted.values():
        if closed_at:
            try:
                lead.append((ts_micros(closed_at) - created) / 3.6e9)
            except ValueError:
                pass
    return {
        "ready": ready,
        "blocked": {i: by[i] for i in sorted(blocked, key=lambda i: (issues[i][1], issues[i][2], i))},
        "stats": {
            "total_issues": len(counted),
            "open_issues": sum(v[0] == "open" for v in counted.values()),
            "in_progress_issues": sum(v[0] == "in_progress" for v in counted.values()),
            "closed_issues": sum(v[0] == "closed" for v in counted.values()),
            "blocked_issues": len(blocked),
            "ready_issues": len(ready),
            "average_lead_time_hours": round(sum(lead) / len(lead), 2) if lead else 0,
        },
    }


def answers(call: Callable[..., Any]) -> dict[str, Any]:
    """What the backend (``call(op, args)``) answers, in the shape of ``expected``."""
    st = call("stats", {})
    return {
        "ready": [r["id"] for r in call("ready", {"limit": 0})],
        "blocked": {r["id"]: r["blocked_by"] for r in call("blocked", {})},
        "stats": {k: st[k] for k in ("total_issues", "open_issues", "in_progress_issues", "closed_issues",
                                     "blocked_issues", "ready_issues", "average_lead_time_hours")},
    }


STATUSES = ("open", "open", "open", "in_progress", "blocked", "closed")
DEP_TYPES = ("blocks", "blocks", "parent-child", "parent-child", "related")


class Writer:
    """Random writes through ``call(op, args)`` (a backend's or a daemon client's): creates with
    edges, edges added and removed, status changes, closes, reopens, deletes and undeletes,
    imports of other files (closed blockers, edges to issues nobody has, parent-child cycles),
    prefix renames and claims. Refused writes (a cycle, a duplicate edge) are part of the game."""

    def __init__(self, call: Callable[..., Any], rnd: random.Random, prefix: str = "test") -> None:
        self.call = call
        self.rnd = rnd
        self.prefix = prefix
        self.ids: list[str] = []
        self.imported = 0

    def pick(self) -> str:
        return self.rnd.choice(self.ids)

    def step(self) -> str:
        r = self.rnd
        kinds = ["create"] * 4 + ["dep_add"] * 4 + ["dep_remove", "status", "status", "close", "reopen",
                                                     "delete", "undelete", "import", "claim"]
        if len(self.ids) < 3:
            kinds = ["create", "import"]
        if r.random() < 0.02:
            kinds = ["rename"]
        kind = r.choice(kinds)
        try:
            getattr(self, kind)()
        except BdError:
            pass
        return kind

    def create(self) -> None:
        r = self.rnd
        deps = []
        for _ in range(r.choice((0, 0, 1, 2))):
            if self.ids:
                deps.append(f"{r.choice(DEP_TYPES)}:{self.pick()}")
        out = self.call("create", {"title": f"issue {len(self.ids)}", "priority": r.randint(0, 4),
                                   "status": r.choice(STATUSES), "dependencies": deps})
        self.ids.append(out["id"])

    def dep_add(self) -> None:
        self.call("dep_add", {"from_id": self.pick(), "to_id": self.pick(), "dep_type": self.rnd.choice(DEP_TYPES)})

    def dep_remove(self) -> None:
        src = self.pick()
        deps = self.call("show", {"id": src})["dependencies"]
        if deps:
            self.call("dep_remove", {"from_id": src, "to_id": self.rnd.choice(deps)["id"]})

    def status(self) -> None:
        self.call("update", {"id": self.pick(), "status": self.rnd.choice(STATUSES)})

    def close(self) -> None:
        self.call("close", {"id": self.pick()})

    def reopen(self) -> None:
        self.call("reopen", {"id": self.pick()})

    def delete(self) -> None:
        self.call("delete", {"id": self.pick(), "force": True})

    def undelete(self) -> None:
        self.call("undelete", {"id": self.pick()})

    def claim(self) -> None:
        self.call("ready", {"claim": True, "lease": "1h" if self.rnd.random() < 0.5 else "off"})

    def rename(self) -> None:
        new = "re" + self.prefix if not self.prefix.startswith("re") else self.prefix[2:]
        self.call("rename_prefix", {"new_prefix": new})
        old = self.prefix
        self.prefix = new
        self.ids = [new + i[len(old):] if i.startswith(old + "-") else i for i in self.ids]

    def import_(self) -> None:
        """Another file: new issues with statuses and edges of their own (some to issues nobody
        has, some closing a blocker), and parent-child edges in a cycle now and then."""
        r = self.rnd
        lines = []
        made = []
        for _ in range(r.randint(1, 4)):
            self.imported += 1
            iid = f"imp-{self.imported}"
            made.append(iid)
        pool = made + self.ids[-5:] + ["ghost-1"]
        for k, iid in enumerate(made):
            deps = []
            for target in r.sample(pool, min(len(pool), r.randint(0, 3))):
                if target != iid:
                    deps.append({"issue_id": iid, "depends_on_id": target, "type": r.choice(DEP_TYPES),
                                 "created_at": "2025-01-01T00:00:00Z", "created_by": "imp"})
            status = r.choice(STATUSES)
            obj: dict[str, Any] = {"id": iid, "title": f"imported {iid}", "status": status,
                                   "priority": r.randint(0, 4), "issue_type": "task",
                                   "created_at": f"2025-01-01T00:{k:02d}:00Z", "updated_at": "2025-01-02T00:00:00Z"}
            if status == "closed":
                obj["closed_at"] = "2025-01-03T00:00:00+02:00"
            if deps:
                obj["dependencies"] = deps
            lines.append(json.dumps(obj))
        self.call("import", {"text": "\n".join(lines) + "\n"})
        self.ids.extend(made)


# ``import`` is a keyword: the step table names the method
setattr(Writer, "import", Writer.import_)
