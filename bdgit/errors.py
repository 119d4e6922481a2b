"""The one exception hierarchy raised by the core.

Every error carries a message (what happened), an optional hint (what to do next) and an
exit code. The CLI prints ``Error: <message>`` and the hint; the daemon sends the message
as the ``error`` of a response. Nothing below the CLI prints anything.
"""
from __future__ import annotations


class BdError(Exception):
    """Base of every error the core raises on purpose."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(BdError):
    """Bad flags or arguments: the request itself is wrong."""

    exit_code = 2
    kind = "usage"


class ValidationError(BdError):
    """A value is not acceptable (empty title, priority out of range, ...)."""

    kind = "validation"


class NotFoundError(BdError):
    """An issue (or other object) named by the caller does not exist."""

    kind = "not_found"


class ConflictError(BdError):
    """The change contradicts the current state (duplicate ID, existing edge, ...)."""

    kind = "conflict"


class CycleError(ConflictError):
    """Adding a dependency would create a cycle; ``cycle`` is the path A -> ... -> A."""

    kind = "cycle"

    def __init__(self, cycle: list[str]) -> None:
        path = " → ".join(cycle)
        super().__init__(
            f"cannot add dependency: would create a cycle ({path})",
            "remove one of the existing edges first (bd dep remove) or pick another direction",
        )
        self.cycle = cycle


class NoDatabaseError(BdError):
    """No beads database was found for the current directory."""

    kind = "no_database"


class LockTimeoutError(BdError):
    """Another writer held the workspace lock for longer than we may wait."""

    kind = "lock_timeout"


class ImportFormatError(BdError):
    """A JSONL input is malformed; ``line`` is the 1-based line number."""

    kind = "import_format"

    def __init__(self, message: str, line: int | None = None, hint: str | None = None) -> None:
        if line is not None:
            message = f"line {line}: {message}"
        super().__init__(message, hint)
        self.line = line


class CollisionError(BdError):
    """An import found issues that share an ID with a different issue."""

    kind = "collision"


class DaemonError(BdError):
    """The daemon could not be reached, started, stopped, or it refused a request."""

    kind = "daemon"


class TimeoutError_(DaemonError):
    """A request's deadline passed before it was answered (or before it ran)."""

    kind = "timeout"


class GitError(BdError):
    """A git operation failed or git is in a state where we must not act."""

    kind = "git"


class UnsafePathError(BdError):
    """A file or directory bd would use is not safe to use: a symbolic link, a hard link, a FIFO
    or device where a file belongs, another user's, or writable by other users. Nothing was
    read or written through it. ``path`` names it."""

    kind = "unsafe_path"

    def __init__(self, path: str, problem: str, hint: str | None = None) -> None:
        super().__init__(f"{path} {problem}", hint)
        self.path = path


class StorageError(BdError):
    """The disk refused a write or a read (full, read-only, I/O error, permissions)."""

    kind = "storage"


class NotExportedError(BdError):
    """A write was committed to the database, but the JSONL could not be updated.

    Not a failure of the write: the change is saved and the JSONL catches up with the next
    successful flush. A distinct exit code tells scripts not to retry the write."""

    kind = "not_exported"
    exit_code = 4


def error_from_kind(kind: str | None, message: str) -> BdError:
    """Rebuild a core error from the ``kind`` a daemon sent back, for the same exit codes."""
    for cls in _ALL:
        if cls.kind == kind:
            err = cls.__new__(cls)
            BdError.__init__(err, message)
            return err
    return BdError(message)


_ALL: tuple[type[BdError], ...] = (
    UsageError, ValidationError, NotFoundError, ConflictError, CycleError, NoDatabaseError,
    LockTimeoutError, ImportFormatError, CollisionError, DaemonError, TimeoutError_, GitError,
    UnsafePathError, StorageError, NotExportedError,
)
