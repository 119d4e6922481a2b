"""Writing the JSONL: canonical lines, atomic writes, incremental flush, change detection."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BdError, ImportFormatError, StorageError
from ..intake import loads, max_input
from ..model import dumps_compact, issue_to_json
from ..store import Store
from ..workspace import safefs
from ..workspace.files import atomic_write, atomic_write_with
from . import lines as lines_mod



def sha256(data: bytes) -> str:
    # hashlib is imported on first use: loading OpenSSL costs ~3 ms, and most direct-mode
    # commands never hash anything (needs_import only hashes when the file's stat changed).
    import hashlib
    return hashlib.sha256(data).hexdigest()


def line_hash(line: str) -> str:
    return sha256(line.encode())[:32]


# --- export --------------------------------------------------------------------------------

def export_lines(store: Store, ids: list[str] | None = None, status: str | None = None,
                 progress: Any = None) -> dict[str, str]:
    """Canonical lines keyed by issue id (all issues, or ``ids``), built with bulk queries.
    ``progress(done, total)`` is called every few hundred issues when given."""
    c = store.conn
    from ..store.db import ISSUE_COLUMNS
    sql = f"SELECT {ISSUE_COLUMNS} FROM issues"
    params: list[Any] = []
    conds = []
    if status and status != "all":
        conds.append("status = ?")
        params.append(status)
    if ids is not None:
        if not ids:
            return {}
        conds.append(f"id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    rows = c.execute(sql, params).fetchall()
    if ids is not None and len(ids) <= 200:
        # a few issues (incremental flush, import's merge): per-issue queries, not whole tables
        labels = {i: lb for i in ids if (lb := store.labels(i))}
        deps = {i: dr for i in ids if (dr := store.dep_records(i))}
        comments = store.comments_for(ids)
    else:
        labels = store.labels_for()
        deps = store.all_dep_records()
        comments = store.comments_for()
    from ..replication.record import comments_json, with_versions
    from ..replication.versions import loads
    out = {}
    total = len(rows)
    for n, r in enumerate(rows, start=1):
        i = r["id"]
        cs = comments.get(i)
        obj = issue_to_json(r, labels.get(i), deps.get(i), comments_json(cs) if cs else None)
        out[i] = dumps_compact(with_versions(obj, loads(r["versions"]), r["updated_us"]) if r["versions"] else obj)
        if progress is not None and (n % 256 == 0 or n == total):
            progress(n, total)
    return out


def render(lines: dict[str, str]) -> str:
    return "".join(lines[k] + "\n" for k in sorted(lines))


def fingerprint(path: Path) -> str | None:
    """The file's size, mtime and inode (of a link itself, never its target), or None."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def read_bytes(path: Path) -> bytes:
    """The workspace JSONL's bytes: a regular file of ours, no link, at most ``max_input()``
    bytes (UnsafePathError otherwise)."""
    return safefs.read_bytes(path, limit=max_input())


def read_jsonl(path: Path) -> str:
    """The workspace JSONL's text, read as :func:`read_bytes` does, exactly (no newline
    translation). Raises ImportFormatError naming the line of bytes that are not UTF-8."""
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ImportFormatError(f"{path}: line {line}: not UTF-8 text", broken_file_hint(path, line),
                                line=line) from None


def broken_file_hint(path: Path, line: int | None) -> str:
    """The ways out of a workspace JSONL that does not parse (both work)."""
    where = f"line {line} of {path}" if line else str(path)
    return (f"fix {where} (the next bd command imports it), or run 'bd export --force' to rewrite "
            "it from the database (the broken file is kept beside it)")


def set_aside(path: Path) -> Path:
    """Move ``path`` to ``<name>.replaced-<time>`` beside it (``bd export --force``), so that
    rewriting it loses nothing. Returns the new path."""
    import time
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        target = path.with_name(f"{path.name}.replaced-{stamp}" + (f"-{n}" if n else ""))
        if not os.path.lexists(target):
            os.rename(path, target)
            return target
    raise BdError(f"cannot set {path} aside: too many earlier copies beside it")


def flush(store: Store, path: Path, *, full: bool = False, force: bool = False,
          before_replace: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Bring the workspace JSONL up to date with the database (auto-flush / export).

    Precondition: the caller holds the workspace write lock, and has absorbed the file first
    (``needs_import`` is false); otherwise this raises, so that an export never overwrites
    newer lines it has not read. Incremental unless ``full``: only dirty issues' lines change.
    ``force`` (``bd export --force``, the way out of a broken file): a file that changed is
    set aside (``set_aside``, named in the result's ``set_aside``) and rewritten whole.
    ``before_replace(new)``: called with the new content written beside the JSONL
    (``.<name>.tmp.commit``) before it replaces the JSONL (the daemon commits it first, so that
    the file in the work tree changes only with its commit); an exception from it aborts the
    flush: nothing changes, the exception propagates.

    Raises StorageError when the disk refuses the write (the database is unchanged: what was
    dirty stays dirty), UnsafePathError for a file bd must not touch."""
    path = Path(path)
    moved: Path | None = None
    with store.tx():
        if force:
            safefs.lstat_file(path)  # never set aside (or replace) what is not a file of ours
            try:
                changed_under_us = needs_import(store, path, update=False)
            except BdError:
                changed_under_us = True
            if changed_under_us:
                moved = set_aside(path)
                full = True
        elif needs_import(store, path):
            raise BdError(f"{path} changed since it was last imported; import it before exporting",
                          "run any bd command (it imports first) or 'bd import'; if it does not parse, fix the "
                          "line named, or run 'bd export --force' (the changed file is kept beside it)")
        dirty = store.dirty_ids()
        exists = os.path.lexists(path)
        if not dirty and not full and exists:
            return {"written": False, "changed": 0}
        mode = safefs.shared_mode(path.parent.parent)
        target = path if before_replace is None else path.with_name(f".{path.name}.tmp.commit")
        patch = None
        if not full and exists and len(dirty) <= lines_mod.PATCH_MAX:
            patch = _patch(store, path, dirty)
        if patch is not None:
            size, digest, changed = patch.size, patch.digest, patch.changed
            count: int | None = None
            if changed:
                _write(path, lambda: atomic_write_with(target, lambda fd: lines_mod.write(patch, path, fd), mode=mode,
                                                       exact_mode=True, check_target=True))
        else:
            if full or not exists:
                lines = export_lines(store)
                changed = sorted(set(lines) | set(dirty))
                store.replace_jsonl_base(lines)
            else:
                lines = read_lines_by_id(path)
                fresh = export_lines(store, dirty)
                changed = []
                for i in dirty:
                    new = fresh.get(i)
                    if lines.get(i) != new:
                        changed.append(i)
                    if new is None:
                        lines.pop(i, None)
                    else:
                        lines[i] = new
                store.set_jsonl_base((i, fresh.get(i)) for i in dirty)
            data = render(lines).encode()
            size, digest, count = len(data), lines_mod.digest_lines(lines.values()), len(lines)
            _write(path, lambda: atomic_write(target, data, mode=mode, exact_mode=True, check_target=True))
        if before_replace is not None and (patch is None or changed):
            try:
                before_replace(target)
                os.replace(target, path)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
        store.clear_dirty(dirty)
        store.set_meta("jsonl_digest", digest)
        fp = fingerprint(path)
        # a file git put there right after our rename is not ours: leave it to the next check
        ours = fp is not None and fp.split(":", 1)[0] == str(size)
        store.set_meta("jsonl_fingerprint", fp if ours and fp else "")
        store.set_meta("jsonl_written", fp if ours and fp else "")
    if count is None:
        count = int(digest.partition(":")[0])
    out: dict[str, Any] = {"written": True, "changed": len(changed), "issues": count}
    if moved is not None:
        out["set_aside"] = str(moved)
    return out


def _patch(store: Store, path: Path, dirty: list[str]) -> lines_mod.Patch | None:
    """The patch of the dirty issues' lines when the file is the one our last write left (its
    stat says so), else None. Records the new base lines of what it patches."""
    written = store.get_meta("jsonl_written")
    digest = store.get_meta("jsonl_digest")
    if not written or not digest or fingerprint(path) != written:
        return None
    fresh = export_lines(store, dirty)
    try:
        patch = lines_mod.plan(path, digest, fresh, dirty)
    except OSError:
        return None
    if patch is not None:
        store.set_jsonl_base((i, fresh.get(i)) for i in dirty)
    return patch


def _write(path: Path, do: Callable[[], None]) -> None:
    try:
        do()
    except OSError as e:
        raise StorageError(f"could not write {path}: {e.strerror or e}",
                           "free some disk space (or fix the permissions); the change is saved in the "
                           "database and the next write brings the file up to date",
                           path=str(path), errno=e.errno) from None


def read_for_import(path: Path) -> tuple[str, str, str | None]:
    """The workspace JSONL as (text, digest of its lines, fingerprint taken before reading).

    What an import records as absorbed must describe what it read: a file replaced meanwhile (a
    ``git reset`` or a pull in the middle of an import) then has another fingerprint and another
    digest, so it is imported in its turn and never silently taken for the one that was read."""
    fp = fingerprint(path)
    try:
        data = read_bytes(Path(path))
    except FileNotFoundError:
        return "", lines_mod.digest_text(""), None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ImportFormatError(f"{path}: line {line}: not UTF-8 text", broken_file_hint(path, line),
                                line=line) from None
    return text, lines_mod.digest_text(text), fp


def read_lines_by_id(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, raw in enumerate(read_jsonl(path).split("\n"), start=1):
        line = raw
        if not line.strip():
            continue
        if line.startswith('{"id":"'):
            end = line.index('"', 7)
            out[line[7:end]] = line
        else:
            try:
                out[loads(line)["id"]] = line
            except (ValueError, KeyError, TypeError):
                raise ImportFormatError(f"{path}: line {n}: not a JSONL record", line=n) from None
    return out


def needs_import(store: Store, path: Path, *, update: bool = True) -> bool:
    """Whether the workspace JSONL differs from what the database last wrote or read.

    Cheap when nothing changed (one stat); reads the file (its lines' digest) only when its
    stat changed. A missing file never needs importing. ``update`` records a new stat for
    unchanged content (a write; readers in the daemon pass False).
    """
    fp = fingerprint(path)
    if fp is None:
        return False
    if fp == store.get_meta("jsonl_fingerprint"):
        return False
    data = read_bytes(Path(path))
    try:
        digest = lines_mod.digest_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        return True  # the import says which line
    if digest == store.get_meta("jsonl_digest"):
        if not update:
            return False
        if not store.in_tx:
            with store.tx():
                store.set_meta("jsonl_fingerprint", fp)
        else:
            store.set_meta("jsonl_fingerprint", fp)
        return False
    return True
