"""The one exception hierarchy raised by the core, and its wire form.

Every error carries a message (what happened), an optional hint (what to do next), a ``kind``
(a stable machine-readable name), an exit code, and ``details``: JSON-able facts that a
program may use (the line of a bad JSONL record, the path of a cycle, the per-operation
results of a failed batch). ``to_wire``/``from_wire`` carry all of it across the daemon's
socket, so a failure is the same error object with and without a daemon; the CLI prints it
(``Error: <message>`` and the hint) and exits with its code. Nothing below the CLI prints.

Light on purpose: the CLI's daemon path imports this module.
"""
from __future__ import annotations

from typing import Any


class BdError(Exception):
    """Base of every error the core raises on purpose.

    ``details`` are keyword arguments, each JSON-able; subclasses that need a computed message
    offer a classmethod constructor instead of their own ``__init__`` (so that ``from_wire``
    can rebuild any of them from message, hint and details alone)."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, hint={self.hint!r}, details={self.details!r})"

    def to_wire(self) -> dict[str, Any]:
        """The error as the fields of a failed response: ``error``, ``kind`` and, when set,
        ``hint`` and ``details``."""
        out: dict[str, Any] = {"error": self.message, "kind": self.kind}
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class UsageError(BdError):
    """Bad flags or arguments: the request itself is wrong."""

    exit_code = 2
    kind = "usage"


class ValidationError(BdError):
    """A value is not acceptable (empty title, priority out of range, unknown status, ...)."""

    kind = "validation"


class NotFoundError(BdError):
    """An issue (or other object) named by the caller does not exist."""

    kind = "not_found"


class ConflictError(BdError):
    """The change contradicts the current state (duplicate ID, existing edge, ...)."""

    kind = "conflict"


class CycleError(ConflictError):
    """Adding a dependency would create a cycle; ``details["cycle"]`` is the path A -> ... -> A."""

    kind = "cycle"

    @classmethod
    def of(cls, cycle: list[str]) -> CycleError:
        path = " → ".join(cycle)
        return cls(f"cannot add dependency: would create a cycle ({path})",
                   "remove one of the existing edges first (bd dep remove) or pick another direction",
                   cycle=list(cycle))

    @property
    def cycle(self) -> list[str]:
        return list(self.details.get("cycle") or [])


class NoDatabaseError(BdError):
    """No beads database was found for the current directory."""

    kind = "no_database"


class DatabaseError(BdError):
    """The database file cannot be used (not SQLite, damaged, unreadable)."""

    kind = "database"


class LockTimeoutError(BdError):
    """Another writer held the workspace lock for longer than we may wait."""

    kind = "lock_timeout"


class ImportFormatError(BdError):
    """A JSONL input is malformed; ``details["line"]`` is the 1-based line number."""

    kind = "import_format"

    @classmethod
    def at(cls, line: int | None, message: str, hint: str | None = None) -> ImportFormatError:
        """The error for ``line`` (the message says "line N: ...")."""
        if line is None:
            return cls(message, hint)
        return cls(f"line {line}: {message}", hint, line=line)

    @property
    def line(self) -> int | None:
        return self.details.get("line")


class CollisionError(BdError):
    """An import found issues that share an ID with a different issue."""

    kind = "collision"


class BatchFailed(BdError):
    """An atomic batch failed and was rolled back; ``results`` says what happened to each
    operation (``details``: ``index`` and ``operation`` of the one that failed)."""

    kind = "batch_failed"

    @classmethod
    def of(cls, index: int, operation: str, err: BdError, results: list[dict[str, Any]]) -> BatchFailed:
        return cls(f"batch rolled back: operation {index} ({operation}) failed: {err}", err.hint,
                   index=index, operation=operation, results=results)

    @property
    def results(self) -> list[dict[str, Any]]:
        return list(self.details.get("results") or [])

    @property
    def index(self) -> int | None:
        return self.details.get("index")


class ReadOnlyError(BdError):
    """A write was asked for under ``--readonly`` (or a read-only request to the daemon)."""

    kind = "read_only"

    @classmethod
    def refusing(cls, op: str) -> ReadOnlyError:
        return cls(f"{op.replace('_', ' ')} changes the database, and this bd runs read-only (--readonly)",
                   "run it without --readonly", operation=op)


class DaemonError(BdError):
    """The daemon could not be reached, started, stopped, or it refused a request."""

    kind = "daemon"


class DeadlineExceeded(DaemonError):
    """A request's deadline passed before it was answered (or before it ran)."""

    kind = "timeout"


class VersionMismatch(DaemonError):
    """The daemon runs another bdgit version than the client."""

    kind = "version_mismatch"


class GitError(BdError):
    """A git operation failed or git is in a state where we must not act."""

    kind = "git"


class GitContention(GitError):
    """Transient failures (the remote moved, its ref lock held by another push, the network)
    went on past the retry limits. Nothing is lost: running again later can succeed.
    ``details``: ``reason`` (the last failure's class), ``git`` (git's words), ``attempts``,
    ``seconds``, ``sync`` (what the sync did before it gave up). Its own exit code (75,
    EX_TEMPFAIL) lets a CI job tell "try again" from "fix something"."""

    exit_code = 75
    kind = "git_contention"


class GitRefused(GitError):
    """The remote refused for a reason that retrying cannot change: a protected branch, a
    hook that declined, a missing remote or branch, or a rejection bd does not know.
    ``details``: ``reason``, ``git`` (git's words), ``remote``."""

    kind = "git_refused"


class GitAuthError(GitRefused):
    """The remote did not accept our credentials (or there were none to give)."""

    kind = "git_auth"


class UnsafePathError(BdError):
    """A file or directory bd would use is not safe to use: a symbolic link, a hard link, a FIFO
    or device where a file belongs, another user's, or writable by other users. Nothing was
    read or written through it; ``details["path"]`` names it."""

    kind = "unsafe_path"

    @classmethod
    def at(cls, path: str, problem: str, hint: str | None = None) -> UnsafePathError:
        """The error for ``path`` (the message says "<path> <problem>")."""
        return cls(f"{path} {problem}", hint, path=str(path))

    @property
    def path(self) -> str:
        return str(self.details.get("path") or "")


class StorageError(BdError):
    """The disk refused a write or a read (full, read-only, an I/O error)."""

    kind = "storage"


class NotExportedError(BdError):
    """A write was committed to the database, but the JSONL could not be updated.

    Not a failure of the write: the change is saved and the JSONL catches up with the next
    successful flush. Its own exit code tells scripts not to repeat the write."""

    kind = "not_exported"
    exit_code = 4


class InternalError(BdError):
    """Something failed that bd did not expect: a bug, reported without a traceback."""

    exit_code = 70  # EX_SOFTWARE
    kind = "internal"


#: every kind, for ``from_wire`` (each class declares its own ``kind``)
KINDS: dict[str, type[BdError]] = {cls.kind: cls for cls in (
    BdError, UsageError, ValidationError, NotFoundError, ConflictError, CycleError, NoDatabaseError,
    DatabaseError, LockTimeoutError, ImportFormatError, CollisionError, BatchFailed, DaemonError,
    DeadlineExceeded, VersionMismatch, GitError, GitContention, GitRefused, GitAuthError, UnsafePathError,
    StorageError, NotExportedError, InternalError, ReadOnlyError)}


def from_wire(resp: dict[str, Any]) -> BdError:
    """The core error a failed response (``to_wire``'s fields) describes. An unknown kind (a
    newer daemon) gives a BdError that keeps the kind."""
    kind = resp.get("kind") or "error"
    details = resp.get("details")
    if not isinstance(details, dict):
        details = {}
    if "results" not in details and isinstance(resp.get("data"), dict) and "results" in resp["data"]:
        details = {**details, "results": resp["data"]["results"]}  # a batch failure's per-operation results
    hint = resp.get("hint") if isinstance(resp.get("hint"), str) else None
    cls = KINDS.get(kind, BdError)
    err = cls(str(resp.get("error") or "the daemon reported an error"), hint, **details)
    if cls is BdError and kind != "error":
        err.kind = kind
    return err


def internal(exc: BaseException) -> InternalError:
    """An unexpected exception as the error reported for it (no traceback; see ``--debug``)."""
    return InternalError(f"internal error: {type(exc).__name__}: {exc}",
                         "this is a bug in bd; run the command again with --debug (or BD_DEBUG=1) "
                         "to see where it happened, and report it")
