"""Importing JSONL: one transaction, newer-wins per issue, collisions, the three-way workspace case."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CollisionError, ImportFormatError
from ..model import DEP_FIELDS, ISSUE_FIELDS, KNOWN_ISSUE_KEYS, dep_to_json, dumps_compact, issue_to_json, now
from ..store import Store
from ..store.rename import rename_ids, rewrite_mentions
from .files import _sha256, export_lines, fingerprint, line_hash
from .parse import Record, _unknown, parse

class ImportResult:
    def __init__(self, warnings: list[str] | None = None, dry_run: bool = False) -> None:
        self.created: list[str] = []
        self.updated: list[str] = []
        self.unchanged = 0
        self.kept_newer: list[str] = []
        self.deleted: list[str] = []
        self.remapped: dict[str, str] = {}
        self.renumbered: dict[str, str] = {}
        self.collisions: list[dict[str, Any]] = []
        self.warnings: list[str] = [] if warnings is None else warnings
        self.dry_run = dry_run

    def __repr__(self) -> str:
        return f"ImportResult({self.as_dict()!r})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": len(self.created), "updated": len(self.updated), "unchanged": self.unchanged,
            "kept_newer": len(self.kept_newer), "deleted": len(self.deleted),
            "created_ids": self.created, "updated_ids": self.updated, "kept_newer_ids": self.kept_newer,
            "deleted_ids": self.deleted, "remapped": self.remapped, "renumbered": self.renumbered,
            "collisions": self.collisions, "warnings": self.warnings, "dry_run": self.dry_run,
        }



# --- import --------------------------------------------------------------------------------

_SCALARS = tuple(k for k, _ in ISSUE_FIELDS)


def _row_from(o: dict[str, Any]) -> dict[str, Any]:
    row = {k: o.get(k) for k in _SCALARS}
    row["description"] = row["description"] or ""
    if row["status"] == "closed" and not row.get("closed_at"):
        row["closed_at"] = row["updated_at"]
    row["extra"] = {k: v for k, v in o.items() if k not in KNOWN_ISSUE_KEYS} or None
    return row


class _DryRun(Exception):
    pass


def import_text(store: Store, text: str, *, actor: str, workspace: bool = False, dry_run: bool = False,
                collisions: str = "fail", skip_existing: bool = False, strict: bool = False,
                path: Path | None = None, progress: Any = None) -> ImportResult:
    """Import JSONL text in one transaction; see the module docstring for the rules.

    ``collisions``: "fail" (report and raise CollisionError, nothing changed), "remap" (give
    the incoming issue a new ID, rewriting references inside the incoming records only), or
    "auto" (workspace imports: renumber a local issue that was never exported, else remap).
    A collision is the same ID on a *different* issue: ``created_at`` a second or more apart. The same
    issue with other content is an edit, decided newer-wins.
    Raises ImportFormatError (bad input) and CollisionError; either leaves the database as it was.
    """
    records, warnings = parse(text, strict=strict)
    result = ImportResult(warnings=warnings, dry_run=dry_run)
    by_id: dict[str, Record] = {}
    for rec in records:  # duplicates inside the file: identical -> one; same issue -> newer
        prev = by_id.get(rec.id)
        if prev is None or prev.line == rec.line:
            by_id[rec.id] = rec
            continue
        if may_collide(rec.id) and not same_creation(prev.created_us, rec.created_us):
            raise ImportFormatError.at(
                rec.line_no, f"id {rec.id} appears twice for two different issues (also line {prev.line_no})",
                "a merge kept both sides of a sequential-ID collision; renumber one of them by hand")
        if (rec.updated_us, rec.hash) > (prev.updated_us, prev.hash):
            by_id[rec.id] = rec
    try:
        with store.tx():
            _apply(store, by_id, result, actor=actor, workspace=workspace, collisions=collisions,
                   skip_existing=skip_existing, strict=strict, dry_run=dry_run, progress=progress)
            if workspace and path is not None:
                store.replace_jsonl_state({i: r.hash for i, r in by_id.items()})
                store.set_meta("jsonl_sha256", _sha256(Path(path).read_bytes()))
                store.set_meta("jsonl_fingerprint", fingerprint(Path(path)) or "")
            if dry_run:
                raise _DryRun()
    except _DryRun:
        pass
    return result


def _apply(store: Store, by_id: dict[str, Record], result: ImportResult, *, actor: str, workspace: bool,
           collisions: str, skip_existing: bool, strict: bool = False, dry_run: bool = False,
           progress: Any = None) -> None:
    """``progress(done, total)``, when given, is called as records are applied (the CLI
    draws a bar on a terminal)."""
    c = store.conn
    base = store.jsonl_state() if workspace else {}
    dirty = set(store.dirty_ids()) if workspace else set()
    existing = {r["id"]: r for r in c.execute("SELECT id, created_us, updated_us FROM issues")}
    # 1. collisions: same id, a different issue
    found = []
    for i, rec in by_id.items():
        ex = existing.get(i)
        if ex is not None and may_collide(i) and not same_creation(ex["created_us"], rec.created_us) \
                and base.get(i) != rec.hash:
            found.append(i)
    for i in sorted(found):
        row = store.get_issue(i)
        result.collisions.append({"id": i, "line": by_id[i].line_no, "existing_title": row["title"] if row else "",
                                  "incoming_title": by_id[i].obj["title"]})
    if found and collisions == "fail" and dry_run:
        # a dry run reports the collisions (exit 0, as beads) and previews the rest
        by_id = {i: r for i, r in by_id.items() if i not in found}
    elif found:
        if collisions == "fail":
            lines = "; ".join(f"{x['id']} (line {x['line']}: {x['incoming_title']!r} vs existing "
                              f"{x['existing_title']!r})" for x in result.collisions)
            raise CollisionError(f"{len(found)} ID collision(s): {lines}",
                                 "import with --resolve-collisions to give the incoming issues new IDs, "
                                 "or --dry-run to review")
        for i in by_id:  # a fresh ID must not be one that arrives in this same file
            store.note_id(i)
        local_renames: dict[str, str] = {}
        moved = _moved_elsewhere(found, by_id, existing) if collisions == "auto" else {}
        for i in sorted(found):
            if i in moved:  # a merge (bd merge-driver) already renumbered our issue in the file
                local_renames[i] = moved[i]
            elif collisions == "auto" and i not in base:
                local_renames[i] = _fresh_id(store, i)
            else:
                result.remapped[i] = _fresh_id(store, i)
        if local_renames:
            rename_ids(store, local_renames, actor)
            result.renumbered.update(local_renames)
            for old, new in local_renames.items():
                existing[new] = existing.pop(old)
                dirty.add(new)
        if result.remapped:
            by_id = _remap_incoming(by_id, result.remapped)
            for new in result.remapped.values():
                dirty.add(new)
            store.mark_dirty(list(result.remapped) + list(result.remapped.values()))
    # 2. upsert newer-wins
    ts = now()
    hashed = hash_prefixes(by_id)
    total = len(by_id)
    for n, (i, rec) in enumerate(sorted(by_id.items()), start=1):
        if progress is not None and (n % 256 == 0 or n == total):
            progress(n, total)
        if workspace and base.get(i) == rec.hash:
            result.unchanged += 1
            continue
        ex = existing.get(i)
        if ex is None:
            if workspace and i in dirty and i in base:
                # deleted here since the last sync, and the file still has the old line
                result.unchanged += 1
                continue
            _write_record(store, rec, insert=True, count=i.rpartition("-")[0] not in hashed)
            store.add_event(i, "created", actor, comment="import", ts=ts)
            result.created.append(i)
            continue
        if skip_existing:
            result.unchanged += 1
            continue
        if rec.updated_us < ex["updated_us"]:
            result.kept_newer.append(i)
            store.mark_dirty([i], ts)  # the file is stale for this issue: rewrite its line
            continue
        if rec.updated_us == ex["updated_us"]:
            mine = export_lines(store, [i]).get(i, "")
            theirs = _canonical_line(rec.obj)
            if mine == theirs or line_hash(mine) >= line_hash(theirs):
                if mine != theirs:
                    result.kept_newer.append(i)
                    store.mark_dirty([i], ts)
                else:
                    result.unchanged += 1
                continue
        _write_record(store, rec, insert=False, count=i.rpartition("-")[0] not in hashed)
        store.add_event(i, "updated", actor, comment="import", ts=ts)
        result.updated.append(i)
    if not workspace:  # the workspace JSONL must follow what an import of another file changed
        store.mark_dirty(result.created + result.updated, ts)
    # edges to issues that are in neither the file nor the database: kept, but say so
    edges = [(i, d["depends_on_id"]) for i in result.created + result.updated
             for d in by_id[i].obj.get("dependencies") or []]
    present = _present_ids(store, {t for _, t in edges}) if edges else set()
    for i, target in edges:
        if target not in present:
            msg = f"{i} depends on {target}, which is not in the database (kept)"
            _unknown(msg, by_id[i].line_no, strict, result.warnings)
    # 3. lines that left the workspace file: deleted elsewhere, unless changed here since
    if workspace and not by_id and base:
        result.warnings.append("the JSONL has no issues; not treating that as deleting all "
                               f"{len(base)} (delete them with 'bd delete' if that is meant)")
    elif workspace:
        for i in sorted(set(base) - set(by_id)):
            if i in existing and i not in dirty:
                store.delete_issue_row(i)
                result.deleted.append(i)
        store.set_jsonl_state((i, None) for i in result.deleted)


def _present_ids(store: Store, ids: set[str]) -> set[str]:
    """Which of ``ids`` are issues in the database (bulk: one query per 500, not one per edge)."""
    found: set[str] = set()
    wanted = sorted(ids)
    for k in range(0, len(wanted), 500):
        chunk = wanted[k:k + 500]
        found.update(r["id"] for r in store.conn.execute(
            f"SELECT id FROM issues WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return found


def _canonical_line(o: dict[str, Any]) -> str:
    """The line an export would write for incoming record ``o`` (for comparing content,
    whatever the formatting of the file it came from)."""
    row = _row_from(o)
    deps = []
    for d in o.get("dependencies") or []:
        dep = {k: d.get(k) for k in DEP_FIELDS}
        dep.update(issue_id=o["id"], type=d.get("type") or "blocks", created_by=d.get("created_by") or "",
                   extra={k: v for k, v in d.items() if k not in DEP_FIELDS})
        deps.append(dep_to_json(dep))
    deps.sort(key=lambda d: (d["created_at"] or "", d["depends_on_id"]))
    comments = [{"author": c.get("author") or "", "text": c["text"],
                 "created_at": c.get("created_at") or row["updated_at"]} for c in o.get("comments") or []]
    return dumps_compact(issue_to_json(row, sorted(set(o.get("labels") or [])), deps, comments))


def may_collide(issue_id: str) -> bool:
    """Only sequential IDs (``prefix-N``) can be taken by two different issues. A hash ID
    (``bd-a1b2``, ``bd-0088``) names one issue wherever it appears, even when an old beads reset
    its ``created_at``: the same hash ID is an edit, decided newer-wins."""
    suffix = issue_id.rsplit("-", 1)[-1]
    return suffix.isdigit() and not suffix.startswith("0")


def same_creation(a_us: int, b_us: int) -> bool:
    """Whether two ``created_at`` values (microseconds) can be the same issue's: equal, or within
    a second when one of them has no fraction (written by a tool that truncates or rounds).
    Two different issues made within the same second by bd itself (agents on two clones
    taking the same sequential ID) still differ in their microseconds: a collision."""
    if a_us == b_us:
        return True
    return abs(a_us - b_us) < 1_000_000 and (a_us % 1_000_000 == 0 or b_us % 1_000_000 == 0)


def _moved_elsewhere(found: list[str], by_id: dict[str, Record], existing: dict[str, Any]) -> dict[str, str]:
    """Collisions whose local issue the file carries under another, new ID (same ``created_at``):
    the JSONL merge driver renumbered it. Maps the local ID to that new ID."""
    by_created: dict[int, list[str]] = {}
    for j, rec in by_id.items():
        if j not in existing:
            by_created.setdefault(rec.created_us, []).append(j)
    out: dict[str, str] = {}
    for i in found:
        cands = by_created.get(existing[i]["created_us"], [])
        if len(cands) == 1 and cands[0] not in out.values():
            out[i] = cands[0]
    return out


def _fresh_id(store: Store, old: str) -> str:
    prefix = old.rsplit("-", 1)[0] if "-" in old else store.prefix
    return store.next_id(prefix)


def _remap_incoming(by_id: dict[str, Record], mapping: dict[str, str]) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for i, rec in by_id.items():
        o = dict(rec.obj)
        o["id"] = mapping.get(i, i)
        for f in ("title", "description", "design", "acceptance_criteria", "notes"):
            if isinstance(o.get(f), str):
                o[f] = rewrite_mentions(o[f], mapping)
        if o.get("dependencies"):
            o["dependencies"] = [dict(d, issue_id=o["id"], depends_on_id=mapping.get(d["depends_on_id"],
                                                                                   d["depends_on_id"]))
                                 for d in o["dependencies"]]
        new = Record(rec.line_no, rec.line, o, rec.created_us, rec.updated_us)
        if o != rec.obj:
            new.line = dumps_compact(o)
        out[o["id"]] = new
    return out


def hash_prefixes(ids: Any) -> set[str]:
    """Prefixes whose IDs are mostly not numbers: beads hash IDs. Their all-digit IDs
    (``bd-8931``) are hashes too, and must not move the sequential counter."""
    counts: dict[str, list[int]] = {}
    for i in ids:
        prefix, _, suffix = i.rpartition("-")
        c = counts.setdefault(prefix, [0, 0])
        c[0 if suffix.isdigit() else 1] += 1
    return {p for p, (num, other) in counts.items() if other > num}


def _write_record(store: Store, rec: Record, *, insert: bool, count: bool = True) -> None:
    """Write one imported record; ``count`` lets its ID raise the sequential counter."""
    o = rec.obj
    row = _row_from(o)
    row["created_us"], row["updated_us"] = rec.created_us, rec.updated_us  # parsed once, in _check
    if insert:
        store.insert_issue(row, counted=not count)
    else:
        store.replace_issue(row)
        if count:
            store.note_id(row["id"])
    store.set_labels(row["id"], sorted(set(o.get("labels") or [])))
    store.set_deps(row["id"], o.get("dependencies") or [])
    have = {(c["author"], c["created_at"], c["text"]) for c in store.comments(row["id"])} if not insert else set()
    for cm in o.get("comments") or []:
        key = (cm.get("author") or "", cm.get("created_at") or row["updated_at"], cm["text"])
        if key not in have:
            store.add_comment(row["id"], key[0], key[2], key[1])
            have.add(key)
