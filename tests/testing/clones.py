"""Clones of one bare remote, each with its own bd workspace, for the replication tests.

Operations run in-process through ``DirectBackend`` (the code path of ``bd --no-daemon``) and
``bd sync`` through ``gitsync.sync.sync``; git itself runs as real processes. ``Writes``
records every register write a clone makes (read back from the clone's own export, with the
version the clone gave it), so a test can check that the converged state is exactly what
last-writer-wins says: nothing lost, nothing made up.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from bdgit import jsonl
from bdgit.backends.direct import DirectBackend
from bdgit.replication.merge import lift
from bdgit.replication.record import ABSENT, DELETED, STATUS, State, decode
from bdgit.store import Store
from bdgit.workspace import Workspace, find
from bdgit.workspace.initialize import init_workspace

from . import git


def setup_git(path: Path) -> None:
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "commit.gpgsign", "false")


def make_clones(tmp: Path, n: int, prefix: str = "test", hash_ids: bool = False) -> tuple[Path, list[Path]]:
    """A bare remote and ``n`` clones; the first ran bd init and pushed, the others cloned and
    ran bd init (which imports the JSONL and registers the merge driver)."""
    remote = tmp / "remote.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    first = tmp / "c0"
    git(tmp, "clone", "-q", str(remote), str(first))
    setup_git(first)
    (first / "README.md").write_text("project\n")
    init_workspace(first, prefix)
    if hash_ids:
        (first / ".beads" / "config.yaml").write_text('id-mode: "hash"\n')
    git(first, "add", "README.md", ".beads")
    git(first, "commit", "-q", "-m", "initial")
    git(first, "push", "-q", "-u", "origin", "main")
    clones = [first]
    for k in range(1, n):
        c = tmp / f"c{k}"
        git(tmp, "clone", "-q", str(remote), str(c))
        setup_git(c)
        init_workspace(c, prefix)
        clones.append(c)
    return remote, clones


def ws(clone: Path) -> Workspace:
    return find(cwd=clone)


def call(clone: Path, op: str, args: dict[str, Any] | None = None, actor: str = "tester") -> Any:
    b = DirectBackend(ws(clone), actor)
    try:
        return b.call(op, args or {})
    finally:
        b.close()


def export_text(clone: Path) -> str:
    s = Store(ws(clone).db_path)
    try:
        return jsonl.render(jsonl.export_lines(s))
    finally:
        s.close()


def objects(text: str) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in map(json.loads, text.splitlines())}


def working_jsonl(clone: Path) -> str:
    return (clone / ".beads" / "issues.jsonl").read_text(encoding="utf-8")


def states(clone: Path) -> dict[str, State]:
    """The clone's issues as versioned states, keyed by ``external_ref`` (the tests' identity:
    IDs may be renumbered on the way)."""
    out: dict[str, State] = {}
    for o in objects(export_text(clone)).values():
        st = lift(decode(o), None)
        key = o.get("external_ref") or o["id"]
        out[key] = st
    return out


class Writes:
    """Every register write made, as (version, value), per (issue key, register)."""

    def __init__(self) -> None:
        self.regs: dict[tuple[str, str], list[tuple[Any, Any]]] = {}
        self.comments: set[tuple[str, str]] = set()

    def diff(self, before: dict[str, State], after: dict[str, State], ids: dict[str, str]) -> None:
        """Record what changed between two snapshots of one clone (``ids``: id -> key)."""
        for key, st in after.items():
            old = before.get(key)
            for name, (val, ver) in st.regs.items():
                if old is None or old.regs.get(name, (None, None))[1] != ver:
                    self.regs.setdefault((key, name), []).append((ver, norm(name, val)))
            for kind, elems in (("label", st.labels), ("dep", st.deps)):
                olds = (old.labels if kind == "label" else old.deps) if old is not None else {}
                for elem, (val, ver) in elems.items():
                    if olds.get(elem, (None, None))[1] != ver:
                        ek = ids.get(elem, elem) if kind == "dep" else elem
                        self.regs.setdefault((key, f"{kind}:{ek}"), []).append((ver, norm(kind, val)))
            for c in st.comments.values():
                self.comments.add((key, c["text"]))

    def check(self, final: dict[str, State], ids: dict[str, str]) -> None:
        """Every register holds the value of its greatest-versioned write; every comment is there."""
        for (key, name), writes in self.regs.items():
            st = final[key]
            want = max(writes, key=lambda w: w[0])
            if name.startswith("label:"):
                got = st.labels[name[6:]]
            elif name.startswith("dep:"):
                target = next((i for i, k in ids.items() if k == name[4:]), name[4:])
                got = st.deps[target]
            else:
                got = st.regs[name]
            kind = name.split(":")[0] if ":" in name else name
            assert (got[1], norm(kind, got[0])) == want, (key, name, got, want, writes)
        have = {(key, c["text"]) for key, st in final.items() for c in st.comments.values()}
        assert self.comments <= have


def norm(kind: str, val: Any) -> Any:
    """A register value made comparable (dependency edges by type; the status by name)."""
    if val is ABSENT:
        return None
    if kind == "dep":
        return None if val is None else val["type"]
    if kind == STATUS:
        return val.get("status")
    if kind == DELETED:
        return bool(val.get("deleted"))
    return val


def id_to_key(clone: Path) -> dict[str, str]:
    return {i: (o.get("external_ref") or i) for i, o in objects(export_text(clone)).items()}


FIELDS = ("title", "priority", "notes", "assignee", "description")


def random_op(rng: random.Random, clone: Path, n: int, tag: str) -> tuple[str, dict[str, Any]] | None:
    """A random operation of any kind on ``clone``'s issues (None when none applies). Created
    issues carry a unique ``external_ref``: their identity across renumbering."""
    live = [o for o in objects(export_text(clone)).values() if o["status"] != "tombstone"]
    dead = [o for o in objects(export_text(clone)).values() if o["status"] == "tombstone"]
    kind = rng.choice(["create"] * 3 + ["field"] * 5 + ["close", "reopen", "label", "unlabel", "dep", "undep",
                                                        "comment", "comment", "delete", "restore"])
    if kind == "create" or not live:
        return "create", {"title": f"{tag} issue {n}", "external_ref": f"k-{tag}-{n}",
                          "labels": [rng.choice("abc")] if rng.random() < 0.3 else []}
    o = rng.choice(live)
    i = o["id"]
    if kind == "field":
        f = rng.choice(FIELDS)
        value: Any = rng.randint(0, 4) if f == "priority" else f"{f} by {tag} #{n}"
        if f == "assignee" and rng.random() < 0.3:
            value = ""
        return "update", {"id": i, f: value}
    if kind == "close":
        return "close", {"id": i, "reason": f"done by {tag}"}
    if kind == "reopen":
        return "reopen", {"id": i}
    if kind in ("label", "unlabel"):
        return ("label_add" if kind == "label" else "label_remove"), {"id": i, "label": rng.choice("abc")}
    if kind in ("dep", "undep"):
        other = rng.choice(live)["id"]
        if kind == "dep":
            return "dep_add", {"from_id": i, "to_id": other, "dep_type": rng.choice(["blocks", "related"])}
        return "dep_remove", {"from_id": i, "to_id": other}
    if kind == "comment":
        return "comment_add", {"id": i, "text": f"comment by {tag} #{n}"}
    if kind == "delete":
        return "delete", {"id": i, "force": True}
    if dead:
        return "restore", {"id": rng.choice(dead)["id"]}
    return None
