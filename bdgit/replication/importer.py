"""Importing JSONL into the database: every issue through ``merge.merge3``, in one transaction.

For each issue of the file: base = the line this database last exported or imported for it
(workspace imports; none for another file), one side = the file's line, the other = the
database's own line. A file line equal to its base is skipped (the database holds it already).
The merged issue is written when it differs from the database's, and the issue is marked for
re-export when it differs from the file's line (the file is older for it). An issue the file
lacks is kept and written back (absence is not deletion). Clocks observe every version read.

Sequential-ID collisions (one ID, two different issues) are renumbered before merging: the
issue that did not reach the remote moves (see ``resolve_collisions``).
"""
from __future__ import annotations

import functools
import gc
import json
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from ..errors import CollisionError, ImportFormatError
from ..jsonl.files import broken_file_hint, export_lines, fingerprint, read_for_import
from ..jsonl.lines import digest_text
from ..jsonl.parse import Record, parse, unknown_value
from ..model import ISSUE_FIELDS, KNOWN_ISSUE_KEYS, dumps_compact, now
from ..store import Store
from ..store.db import TOMBSTONE
from ..store.derived import Bulk
from .clock import from_updated
from .fresh import Rows, row_of
from .ids import may_collide, rewrite_mentions, same_creation
from .merge import lift, merge3
from .record import State, comment_key, decode, encode, stored_versions, with_versions
from .versions import dumps as dump_versions

#: new issues beyond which an import loads in bulk (``derived.Bulk``)
BULK_AT = 1000
#: (issue id, created_at micros) -> whether a remote-tracking ref's JSONL has that issue
Pushed = Callable[[str, int], bool]


def kept_summary(kept_newer: int, kept_absent: int = 0) -> str:
    """The import report's words for what the database kept over the file (empty when nothing)."""
    out = f", {kept_newer} kept (newer here)" if kept_newer else ""
    if kept_absent:
        out += f", {kept_absent} missing from the file kept"
    return out


class ImportResult:
    def __init__(self, warnings: list[str] | None = None, dry_run: bool = False) -> None:
        self.created: list[str] = []
        self.updated: list[str] = []
        self.unchanged = 0
        self.kept_newer: list[str] = []
        #: issues the workspace file lacked: kept, and written back
        self.kept_absent: list[str] = []
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
            "kept_newer": len(self.kept_newer), "kept_absent": len(self.kept_absent), "deleted": 0,
            "created_ids": self.created, "updated_ids": self.updated, "kept_newer_ids": self.kept_newer,
            "kept_absent_ids": self.kept_absent, "remapped": self.remapped, "renumbered": self.renumbered,
            "collisions": self.collisions, "warnings": self.warnings, "dry_run": self.dry_run,
        }


class _DryRun(Exception):
    pass


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _gc_paused(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """``fn`` with the cyclic garbage collector paused while it runs. An import makes millions
    of objects that live until it ends (decoded lines, rows), none of them in a cycle that needs
    collecting: every full collection on the way would walk them all again for nothing (a third
    of a large import's time). Collection resumes, as it was, when ``fn`` returns or raises."""
    @functools.wraps(fn)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        was = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was:
                gc.enable()
    return paused


@_gc_paused
def import_text(store: Store, text: str | None, *, actor: str, workspace: bool = False, dry_run: bool = False,
                collisions: str = "fail", skip_existing: bool = False, strict: bool = False,
                path: Path | None = None, progress: Any = None, pushed: Pushed | None = None,
                renumber: bool = True, fast: bool = True) -> ImportResult:
    """Import JSONL text in one transaction; see the module docstring for the rules.

    ``workspace``: ``text`` is the workspace JSONL (at ``path``): merge against the recorded
    base lines, keep issues it lacks, record the new base. ``collisions``: "fail" (report and
    raise CollisionError, nothing changed), "remap" (the incoming issue gets a new ID, references
    inside the incoming records follow), or "auto" (workspace imports: the issue that did not
    reach the remote moves; ``pushed`` tells, found from git when not given). ``renumber`` is
    false in hash-ID mode: nothing is ever renumbered. Raises ImportFormatError (bad input) and
    CollisionError; either leaves the database as it was. ``text`` None: the workspace file at
    ``path``, read here once (what is recorded as absorbed is exactly what was read).
    ``fast`` False: issues new to the database go through the merge too, as every other issue
    (the tests compare the two ways; see ``fresh``).
    """
    absorbed: tuple[str, str | None] | None = None
    if text is None:
        if path is None:
            raise ValueError("import_text needs text or a path")
        text, digest, fp = read_for_import(Path(path))
        absorbed = (digest, fp)
    from ..workspace.config import id_mode
    if id_mode(store.beads_dir) == "hash":
        renumber = False  # the repository's mode: a hash ID names one issue wherever it appears
    base = store.jsonl_base() if workspace else {}
    try:
        records, warnings = parse(text, strict=strict, known=base)
    except ImportFormatError as e:
        if path is None:
            raise
        raise ImportFormatError(f"{path}: {e.message}", e.hint or broken_file_hint(path, e.line),
                                **e.details) from None
    result = ImportResult(warnings=warnings, dry_run=dry_run)
    by_id: dict[str, Record] = {}
    for rec in records:  # an ID twice in the file: identical -> one; the same issue -> merged
        prev = by_id.get(rec.id)
        if prev is None or prev.line == rec.line:
            by_id[rec.id] = rec
            continue
        if renumber and may_collide(rec.id) and not same_creation(prev.created_us, rec.created_us):
            raise ImportFormatError.at(
                rec.line_no, f"id {rec.id} appears twice for two different issues (also line {prev.line_no})",
                "a merge kept both sides of a sequential-ID collision; renumber one of them by hand")
        merged = dumps_compact(encode(merge3(None, decode(prev.obj), decode(rec.obj))))
        by_id[rec.id] = Record(rec.line_no, merged, json.loads(merged), rec.created_us, rec.updated_us)
    try:
        with store.tx():
            Importer(store, by_id, result, actor=actor, workspace=workspace, collisions=collisions,
                     skip_existing=skip_existing, strict=strict, dry_run=dry_run, progress=progress,
                     pushed=pushed, path=path, renumber=renumber, base=base, fast=fast).run()
            if workspace and path is not None:
                if absorbed is None:  # the caller read it: record what the file has now
                    absorbed = (digest_text(text), fingerprint(Path(path)))
                store.set_meta("jsonl_digest", absorbed[0])
                store.set_meta("jsonl_fingerprint", absorbed[1] or "")
                # a file sorted by id, as our writes leave it (a clone's, a pull's), can take the
                # next flush's patch (``jsonl.lines``) instead of a whole rewrite: its lines are
                # what the database holds or knows it holds (the base), and a line is never
                # rewritten for its formatting alone (a CR would be in the patch's old line, not
                # in the digest's)
                ordered = "\r" not in text and all(a.id < b.id for a, b in zip(records, records[1:]))
                store.set_meta("jsonl_written", absorbed[1] or "" if ordered else "")
            if dry_run:
                raise _DryRun()
    except _DryRun:
        pass
    return result


class Importer:
    """One import's work inside its transaction."""

    def __init__(self, store: Store, by_id: dict[str, Record], result: ImportResult, *, actor: str,
                 workspace: bool, collisions: str, skip_existing: bool, strict: bool, dry_run: bool,
                 progress: Any, pushed: Pushed | None, path: Path | None, renumber: bool,
                 base: dict[str, str] | None = None, fast: bool = True) -> None:
        self.store = store
        self.by_id = by_id
        self.result = result
        self.actor = actor
        self.workspace = workspace
        self.collisions = collisions
        self.skip_existing = skip_existing
        self.strict = strict
        self.dry_run = dry_run
        self.progress = progress
        self.pushed = pushed
        self.path = path
        self.renumber = renumber
        self.base: dict[str, str] = base if base is not None else store.jsonl_base() if workspace else {}
        self.existing = {r["id"]: r for r in store.conn.execute("SELECT id, created_us, status FROM issues")}
        self.fast = fast

    def run(self) -> None:
        s, res = self.store, self.result
        if self.renumber:
            self.resolve_collisions()
        by_id = self.by_id
        todo = sorted(i for i, rec in by_id.items() if not (self.workspace and self.base.get(i) == rec.line))
        res.unchanged += len(by_id) - len(todo)
        new = sum(1 for i in todo if i not in self.existing)
        # a load that at least doubles the database: one pass over everything at the end is
        # cheaper than the flag and count triggers on every row
        bulk = Bulk(s.conn, indexes=not self.existing) if new > BULK_AT and new >= len(self.existing) \
            else nullcontext()
        with bulk:
            self._merge(todo)

    def _merge(self, todo: list[str]) -> None:
        s, res, by_id = self.store, self.result, self.by_id
        mine = export_lines(s, [i for i in todo if i in self.existing])
        ts = now()
        hashed = hash_prefixes(by_id)
        dirty: list[str] = []
        top = None
        rows = Rows()
        for n, i in enumerate(todo, start=1):
            if self.progress is not None and (n % 256 == 0 or n == len(todo)):
                self.progress(n, len(todo))
            rec = by_id[i]
            d_line = mine.get(i)
            if d_line is not None and self.skip_existing:
                res.unchanged += 1
                continue
            count = i.rpartition("-")[0] not in hashed
            if d_line is None and self.fast and i not in self.base:
                row = row_of(rec.obj, rec.created_us, rec.updated_us)
                if row is not None:  # new here, and the line says all there is (no versions)
                    rows.add(row, rec.obj, count)
                    res.created.append(i)
                    t = from_updated(rec.updated_us)
                    top = t if top is None or t > top else top
                    continue
            # the base: the line we last exported or imported for this issue; without one (another
            # file, a database from before versions), our own line: the file is judged against it
            b_line = self.base.get(i) or d_line
            b = decode(json.loads(b_line)) if b_line else None
            f = decode(rec.obj, rec.updated_us)
            d = (b if b_line == d_line else decode(json.loads(d_line))) if d_line else None
            if b is d and d is not None and f.default is None and f.updated_us == d.updated_us:
                b = None  # two lines of one instant, neither derived from the other: field by field
            st = merge3(b, f, d)
            t = st.top()
            top = t if top is None or t > top else top
            plain = encode(st, versions=False)  # the line and the row come from one encoding
            full = stored_versions(st)
            line = dumps_compact(with_versions(dict(plain), full, st.updated_us))
            if d_line is None:
                write_state(s, st, insert=True, count=count, plain=plain, full=full, created_us=rec.created_us)
                s.add_event(i, "created", self.actor, comment="import", ts=ts)
                res.created.append(i)
                continue
            if line != d_line:
                write_state(s, st, insert=False, count=count, plain=plain, full=full)
                s.add_event(i, "updated", self.actor, comment="import", ts=ts)
                res.updated.append(i)
            else:
                res.unchanged += 1
            # the file must change when the merged issue is more than its line says (the file is
            # older for it, or lacks versions we have); not for its formatting alone
            if line != rec.line and line != dumps_compact(encode(lift(f, lift(b, None) if b else None))):
                if line == d_line:
                    res.kept_newer.append(i)
                dirty.append(i)
        rows.write(s, self.actor, ts)
        if top is not None:
            from ..store.versioning import observe
            observe(s, top)
        if not self.workspace:  # the workspace JSONL must follow what an import of another file changed
            dirty.extend(res.created + res.updated)
        if self.workspace:
            self.keep_absent(dirty)
        if dirty:
            s.mark_dirty(sorted(set(dirty)), ts)
        self.warn_edges(res.created + res.updated)
        if self.workspace:
            s.set_jsonl_base((i, rec.line) for i, rec in by_id.items() if self.base.get(i) != rec.line)

    # --- absence -------------------------------------------------------------------------------

    def keep_absent(self, dirty: list[str]) -> None:
        """Issues the workspace file lacks stay (an older file restored by git, a hand edit):
        they are written back, and the user is told once."""
        gone = sorted(i for i in self.existing if i not in self.by_id)
        if not gone:
            return
        self.result.kept_absent.extend(gone)
        dirty.extend(gone)
        live = [i for i in gone if self.existing[i]["status"] != TOMBSTONE]
        if live:
            name = self.path.name if self.path is not None else "the JSONL"
            shown = ", ".join(live[:5]) + (f" and {len(live) - 5} more" if len(live) > 5 else "")
            self.result.warnings.append(
                f"{name} lacks {len(live)} issue(s) this database has ({shown}); kept them and wrote them back "
                "(a missing line never deletes: use 'bd delete')")

    def warn_edges(self, ids: list[str]) -> None:
        """Edges to issues in neither the file nor the database, or to deleted issues: kept, said."""
        edges = [(i, d["depends_on_id"]) for i in ids for d in self.by_id[i].obj.get("dependencies") or []]
        if not edges:
            return
        status = _statuses(self.store, {t for _, t in edges})
        for i, target in edges:
            if target not in status:
                unknown_value(f"{i} depends on {target}, which is not in the database (kept)",
                         self.by_id[i].line_no, self.strict, self.result.warnings)
            elif status[target] == TOMBSTONE and self.store.get_issue(i) and \
                    self.store.get_issue(i)["status"] != TOMBSTONE:  # type: ignore[index]
                self.result.warnings.append(f"{i} depends on {target}, which is deleted (it does not block)")

    # --- collisions ------------------------------------------------------------------------------

    def resolve_collisions(self) -> None:
        """Same sequential ID, two different issues (``created_at`` a second or more apart)."""
        s, res, by_id = self.store, self.result, self.by_id
        found = []
        for i, rec in by_id.items():
            ex = self.existing.get(i)
            if ex is not None and may_collide(i) and not same_creation(ex["created_us"], rec.created_us) \
                    and self.base.get(i) != rec.line:
                found.append(i)
        for i in sorted(found):
            row = s.get_issue(i)
            res.collisions.append({"id": i, "line": by_id[i].line_no, "existing_title": row["title"] if row else "",
                                   "incoming_title": by_id[i].obj["title"]})
        if not found:
            return
        if self.collisions == "fail":
            if self.dry_run:  # a dry run reports the collisions (exit 0, as beads) and previews the rest
                self.by_id = {i: r for i, r in by_id.items() if i not in found}
                return
            lines = "; ".join(f"{x['id']} (line {x['line']}: {x['incoming_title']!r} vs existing "
                              f"{x['existing_title']!r})" for x in res.collisions)
            raise CollisionError(f"{len(found)} ID collision(s): {lines}",
                                 "import with --resolve-collisions to give the incoming issues new IDs, "
                                 "or --dry-run to review")
        for i in by_id:  # a fresh ID must not be one that arrives in this same file
            s.note_id(i)
        local: dict[str, str] = {}
        moved = _moved_elsewhere(found, by_id, self.existing) if self.collisions == "auto" else {}
        for i in sorted(found):
            if i in moved:  # the merge driver already renumbered our issue in the file
                local[i] = moved[i]
            elif self.collisions == "auto" and self.local_moves(i):
                local[i] = _fresh_id(s, i)
            else:
                res.remapped[i] = _fresh_id(s, i)
        if local:
            from ..store.rename import rename_ids
            adopted = {old: new for old, new in local.items() if old in moved}
            if adopted:  # the file has them renumbered already: take its lines as they are
                rename_ids(s, adopted, self.actor, adopt=True)
            if len(adopted) < len(local):
                rename_ids(s, {o: n for o, n in local.items() if o not in adopted}, self.actor)
            res.renumbered.update(local)
            for old, new in local.items():
                self.existing[new] = self.existing.pop(old)
                if old in self.base:
                    self.base[new] = self.base.pop(old)
            if adopted:
                self.rename_base(adopted)
        if res.remapped:
            self.by_id = _remap_incoming(by_id, res.remapped)
            s.mark_dirty(list(res.remapped) + list(res.remapped.values()))

    def rename_base(self, mapping: dict[str, str]) -> None:
        """The base lines follow a renumbering the file already carries (the merge driver wrote
        the same renamed lines), so that those lines compare equal to their base."""
        from .filemerge import rename_obj
        for i, line in list(self.base.items()):
            if any(old in line for old in mapping):
                self.base[i] = dumps_compact(rename_obj(json.loads(line), mapping))

    def local_moves(self, i: str) -> bool:
        """Whether the local issue ``i`` (not the file's) is the one to renumber: it never left
        this clone, or the file's reached the remote and ours did not, or, when that does not
        tell, ours was created later."""
        if i not in self.base:
            return True
        mine, theirs = self.existing[i]["created_us"], self.by_id[i].created_us
        pushed = self.pushed
        if pushed is None and self.path is not None:
            from .driver import pushed_lookup
            pushed = pushed_lookup(self.path)
        if pushed is not None:
            pm, pt = pushed(i, mine), pushed(i, theirs)
            if pm != pt:
                return pt
        return bool(mine > theirs)


def write_state(store: Store, st: State, *, insert: bool, count: bool = True, plain: dict[str, Any] | None = None,
                full: dict[str, Any] | None = None, created_us: int | None = None) -> None:
    """Write a merged issue to the database: every column, labels, dependencies, comments, and
    its whole version object. ``count`` lets its ID raise the sequential counter. ``plain`` /
    ``full``: ``encode(st, versions=False)`` and ``stored_versions(st)`` when the caller has them;
    ``created_us``: the micros of its ``created_at`` when known."""
    obj = plain if plain is not None else encode(st, versions=False)
    iid: str = st.id
    row = {k: obj.get(k) for k, _ in ISSUE_FIELDS}
    row["description"] = row["description"] or ""
    row["extra"] = {k: v for k, v in obj.items() if k not in KNOWN_ISSUE_KEYS} or None
    row["versions"] = dump_versions(full if full is not None else stored_versions(st))
    row["updated_us"] = st.updated_us
    if created_us is not None and obj.get("created_at") == st.value("created_at"):
        row["created_us"] = created_us
    if insert:
        store.insert_issue(row, counted=not count)
    else:
        store.replace_issue(row)
        if count:
            store.note_id(iid)
    store.set_labels(iid, obj.get("labels") or [])
    store.set_deps(iid, obj.get("dependencies") or [])
    have = set() if insert else {comment_key(c) for cs in store.comments_for([iid]).values() for c in cs}
    for cm in obj.get("comments") or []:
        k = comment_key(cm)
        if k in have:
            continue
        extra = {key: v for key, v in cm.items() if key not in ("author", "text", "created_at")}
        store.add_comment(iid, cm.get("author") or "", cm.get("text") or "", cm.get("created_at"), extra or None)
        have.add(k)


def _statuses(store: Store, ids: set[str]) -> dict[str, str]:
    """The status of each of ``ids`` that is in the database (bulk: one query per 500)."""
    found: dict[str, str] = {}
    if len(ids) > 5000:  # many (a new clone's import): one scan beats a query per 500
        return {r["id"]: r["status"] for r in store.conn.execute("SELECT id, status FROM issues") if r["id"] in ids}
    wanted = sorted(ids)
    for k in range(0, len(wanted), 500):
        chunk = wanted[k:k + 500]
        found.update((r["id"], r["status"]) for r in store.conn.execute(
            f"SELECT id, status FROM issues WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return found


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
    from .filemerge import rename_obj
    out: dict[str, Record] = {}
    pattern_ids = set(mapping)
    for i, rec in by_id.items():
        o = rec.obj
        if i in pattern_ids or any(k in rec.line for k in pattern_ids):
            o = rename_obj(o, mapping)
        new = Record(rec.line_no, rec.line, o, rec.created_us, rec.updated_us)
        if o is not rec.obj and o != rec.obj:
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


__all__ = ["ImportResult", "hash_prefixes", "import_text", "kept_summary", "rewrite_mentions", "write_state"]
