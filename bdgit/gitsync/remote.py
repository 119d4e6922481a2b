"""Talking to the remote: what a failed ``git fetch`` / ``git push`` means, and how long to retry.

Many clones pushing to one remote at the same moment (agents in CI jobs) make most pushes fail
at first, for reasons that pass: the remote moved since we fetched (``[rejected] (fetch
first)``, ``non-fast-forward``), or another push held the remote's ref lock when ours wanted it
(``[remote rejected] (failed to update ref)``, ``cannot lock ref``, ``is at X but expected Y``).
Those are *transient*: fetch, merge and push again, after a short random wait. Others do not
pass by waiting: credentials refused, a protected branch, a hook that declined, a remote or
branch that does not exist. Those are *permanent*: reported at once, with git's own words and
what to do.

``classify`` reads git's own output (``--porcelain`` status lines on stdout, ``remote:`` and
``fatal:`` lines on stderr) and its exit status (0 pushed, 1 a ref was rejected, 128 git gave
up before any ref was sent). What it does not recognise is permanent: retrying what we do not
understand would only hide it for the length of the time limit.

Light: no pygit2, no SQLite (the daemon's push thread and ``bd sync`` share it).
"""
from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import GitAuthError, GitContention, GitError, GitRefused

#: transient kinds: retried (fetch, merge, push again)
MOVED = "remote_moved"          # non-fast-forward / fetch first: another clone pushed first
REF_LOCKED = "ref_locked"       # the remote's ref lock was held by another push (or it moved under it)
LOCAL_LOCK = "local_lock"       # a lock of this clone (a remote-tracking ref, packed-refs) held by our other git
NETWORK = "network"             # the connection failed or the server had a passing error (5xx)
TRANSIENT = (MOVED, REF_LOCKED, LOCAL_LOCK, NETWORK)

#: permanent kinds: reported at once
AUTH = "auth"                   # credentials refused or missing
PROTECTED = "protected"         # a protected branch
HOOK = "hook_declined"          # a pre-receive / update hook refused
NO_REMOTE = "no_remote"         # no such remote, not a repository, repository not found
NO_BRANCH = "no_branch"         # the remote has no such branch
REJECTED = "rejected"           # another refusal of the remote (checked-out branch, shallow, ...)
UNKNOWN = "unknown"             # git failed in a way bd does not recognise


@dataclass(frozen=True)
class Failure:
    """Why one ``git fetch`` or ``git push`` failed."""

    op: str            # "fetch" or "push"
    kind: str          # one of the kinds above
    reason: str        # git's own words, one line
    returncode: int

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "kind": self.kind, "reason": self.reason}


_REMOTE_LINE = re.compile(r"^remote:\s?", re.M)
#: git's "Another git process seems to be running ... remove the file manually": advice we never pass on
_LOCK_ADVICE = re.compile(r"\.?\s*(Another git process seems to be running.*)$", re.S)

_AUTH = re.compile(r"authentication failed|could not read (username|password)|terminal prompts disabled|"
                   r"permission denied|access denied|invalid username or password|"
                   r"returned error: 40[13]|host key verification failed|"
                   r"the project you were looking for could not be found or you don't have permission|"
                   r"unable to get password|bad credentials|401 unauthorized|403 forbidden", re.I)
_PROTECTED = re.compile(r"protected branch|gh006|not allowed to push code to protected|"
                        r"not allowed to force push|branch is protected|denied by branch permission", re.I)
_NO_REMOTE = re.compile(r"does not appear to be a git repository|no such remote|repository not found|"
                        r"repository '[^']*' not found|not found: repository|returned error: 404|"
                        r"no configured push destination|no remote repository specified", re.I)
_NO_BRANCH = re.compile(r"couldn't find remote ref|no such ref was fetched|remote ref does not exist|"
                        r"unable to delete '[^']*': remote ref does not exist", re.I)
_REF_LOCK = re.compile(r"failed to update ref|cannot lock ref|failed to lock|unable to lock|"
                       r"incorrect old value provided|but expected|reference already exists|"
                       r"unable to create '[^']*\.lock'|ref update aborted|in use by another|"
                       r"atomic transaction failed", re.I)
_NETWORK = re.compile(r"could not resolve host|failed to connect|couldn't connect|connection (refused|reset|timed out|"
                      r"closed)|operation timed out|timed out|early eof|the remote end hung up|rpc failed|"
                      r"returned error: 5\d\d|remote failed to report status|broken pipe|"
                      r"unexpected disconnect|ssl|gnutls|network is unreachable|temporary failure|"
                      r"http/2 stream|transfer closed|empty reply from server", re.I)


def _status_lines(stdout: str) -> list[tuple[str, str]]:
    """(flag, summary) of each ``--porcelain`` ref line: ``!`` rejected, ``=`` up to date, ..."""
    out = []
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1:
            out.append((parts[0], parts[2].strip()))
    return out


def _remote_says(stderr: str) -> str:
    """What the remote printed (its ``remote:`` lines), without git's advice about lock files."""
    lines = [_REMOTE_LINE.sub("", ln).rstrip() for ln in stderr.splitlines() if ln.startswith("remote:")]
    text = " ".join(x.strip() for x in lines if x.strip())
    return _LOCK_ADVICE.sub("", text).strip()


def _fatal(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith(("fatal:", "error:")) and "failed to push some refs" not in line:
            return line.split(":", 1)[1].strip()
    return ""


def classify(op: str, returncode: int, stdout: str, stderr: str) -> Failure | None:
    """Why a ``git fetch`` or ``git push --porcelain`` failed (None: it did not fail)."""
    rejected = [s for f, s in _status_lines(stdout) if f == "!"]
    if returncode == 0 and not rejected:
        return None
    said = _remote_says(stderr)
    status = rejected[0] if rejected else ""
    fatal = _fatal(stderr)
    words = " | ".join(x for x in (status, said, fatal) if x)
    if not words:
        last = (stderr.strip() or stdout.strip()).splitlines()
        words = last[-1] if last else f"git {op} exited with {returncode}"
    everything = f"{stdout}\n{stderr}"

    def failure(kind: str) -> Failure:
        return Failure(op, kind, _short(words), returncode)

    # the order matters: a protected branch is refused by a hook; a refused login ends with
    # "the remote end hung up"; "Could not read from remote repository" follows many causes. A
    # ref the remote answered for is judged by that answer (a "Permission denied" of the
    # remote's disk is not a login problem); credentials fail before any ref is answered.
    if _PROTECTED.search(everything):
        return failure(PROTECTED)
    if not status and _AUTH.search(everything):
        return failure(AUTH)
    if status.startswith("[rejected]"):
        if "fetch first" in status or "non-fast-forward" in status or "stale info" in status:
            return failure(MOVED)
        return failure(REJECTED)  # (already exists) of a tag, (needs force), ...
    if status.startswith("[remote rejected]"):
        if "hook declined" in status:
            return failure(HOOK)
        if _REF_LOCK.search(status) or _REF_LOCK.search(said):
            return failure(REF_LOCKED)
        return failure(REJECTED)
    if status.startswith("[remote failure]"):
        return failure(NETWORK)
    if _NO_BRANCH.search(everything):
        return failure(NO_BRANCH)
    if _NO_REMOTE.search(everything):
        return failure(NO_REMOTE)
    if _REF_LOCK.search(everything):  # our own side: a remote-tracking ref or packed-refs being updated
        return failure(LOCAL_LOCK)
    if _NETWORK.search(everything):
        return failure(NETWORK)
    return failure(UNKNOWN)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --- what to do about a permanent failure -----------------------------------------------------

def refusal(f: Failure, remote: str, branch: str) -> GitError:
    """The error for a permanent failure: what happened (git's words), and what to do."""
    what = f"git {f.op} {'to' if f.op == 'push' else 'from'} {remote} failed"
    details: dict[str, Any] = {"reason": f.kind, "git": f.reason, "remote": remote, "branch": branch}
    if f.kind == AUTH:
        return GitAuthError(f"{what}: the remote did not accept our credentials ({f.reason})",
                            f"check the credentials git uses for {remote} (git remote -v shows its URL; a CI job "
                            "needs a token or key with write access), then run bd sync again", **details)
    if f.kind == PROTECTED:
        return GitRefused(f"{what}: {branch} is a protected branch on the remote ({f.reason})",
                          "let issues travel on a branch of their own (bd config set sync.branch beads-sync), "
                          "or ask for the right to push, then run bd sync again", **details)
    if f.kind == HOOK:
        return GitRefused(f"{what}: a hook on the remote declined the push ({f.reason})",
                          "what the hook printed says what it wants; fix that, then run bd sync again "
                          "(your issues are committed locally, nothing is lost)", **details)
    if f.kind == NO_REMOTE:
        return GitRefused(f"{what}: the remote does not exist or is not a repository ({f.reason})",
                          "check the remote's URL (git remote -v) and the branch's upstream (git branch -vv)",
                          **details)
    if f.kind == NO_BRANCH:
        return GitRefused(f"{what}: the remote has no branch {branch} ({f.reason})",
                          "check the branch's upstream (git branch -vv); bd sync creates the remote branch "
                          "when it pushes", **details)
    if f.kind == REJECTED:
        return GitRefused(f"{what}: the remote refused ({f.reason})",
                          "git's message says why; fix that, then run bd sync again", **details)
    return GitError(f"{what}: {f.reason}", "run bd sync again once git's message above is dealt with", **details)


# --- the retry policy --------------------------------------------------------------------------

#: configuration keys (``bd config set``) and their defaults
RETRY_TIMEOUT_KEY, RETRY_TIMEOUT = "sync.retry_timeout", 120.0
RETRY_MAX_KEY, RETRY_MAX = "sync.retry_max", 50
BACKOFF_KEY, BACKOFF = "sync.backoff", 0.05
BACKOFF_MAX_KEY, BACKOFF_MAX = "sync.backoff_max", 2.0


@dataclass
class RetryPolicy:
    """Bounded, jittered exponential backoff with a total time limit.

    The n-th retry (n = 0, 1, ...) waits a random time in [``base`` * 2^n / 2, ``base`` * 2^n],
    at most ``cap``: random so that clones that failed together do not come back together, and
    growing so that a busy remote gets fewer attempts per second. No more than ``max_retries``
    retries, and none that would start after ``timeout`` seconds since the first attempt."""

    timeout: float = RETRY_TIMEOUT
    max_retries: int = RETRY_MAX
    base: float = BACKOFF
    cap: float = BACKOFF_MAX
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_config(cls, conf: Mapping[str, str], timeout: float | None = None) -> RetryPolicy:
        """The policy the workspace's configuration sets (``timeout`` overrides its time limit).
        Unreadable values fall back to the defaults; negative ones count as 0."""
        def number(key: str, default: float) -> float:
            try:
                return max(float(conf.get(key) or default), 0.0)
            except ValueError:
                return default
        return cls(timeout=max(timeout, 0.0) if timeout is not None else number(RETRY_TIMEOUT_KEY, RETRY_TIMEOUT),
                   max_retries=int(number(RETRY_MAX_KEY, RETRY_MAX)),
                   base=number(BACKOFF_KEY, BACKOFF), cap=number(BACKOFF_MAX_KEY, BACKOFF_MAX))

    def delay(self, n: int) -> float:
        top = min(self.cap, self.base * (2 ** min(n, 30)))
        return self.rng.uniform(top / 2, top)

    def as_dict(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "max_retries": self.max_retries, "backoff": self.base,
                "backoff_max": self.cap}


class Retries:
    """The retries of one sync: counts them, says why, waits, and gives up within the policy."""

    def __init__(self, policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep,
                 stopping: Callable[[], bool] = lambda: False) -> None:
        self.policy = policy
        self.start = time.monotonic()
        self.log: list[dict[str, Any]] = []
        self.sleep = sleep
        self.stopping = stopping

    @property
    def count(self) -> int:
        return len(self.log)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        for r in self.log:
            by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + 1
        return {"count": self.count, "by_kind": by_kind, "reasons": list(self.log)}

    def wait(self, f: Failure, remote: str, branch: str, partial: Callable[[], dict[str, Any]]) -> float:
        """After a transient failure: wait before the next attempt and return the wait, or raise
        GitContention when the policy has no retry left (``partial()``: what the sync did)."""
        n = self.count
        delay = self.policy.delay(n)
        out_of_time = self.elapsed() + delay > self.policy.timeout
        if n >= self.policy.max_retries or out_of_time or self.stopping():
            why = ("the time limit" if out_of_time else "stopping") if n < self.policy.max_retries else \
                "the retry limit"
            raise GitContention(
                f"git {f.op} {'to' if f.op == 'push' else 'from'} {remote} kept failing: gave up after "
                f"{n + 1} attempt(s) in {self.elapsed():.1f}s ({why}); last: {f.reason}",
                _contention_hint(f, branch), reason=f.kind, git=f.reason, attempts=n + 1,
                seconds=round(self.elapsed(), 3), remote=remote, branch=branch, sync=partial())
        self.log.append({"attempt": n + 1, "kind": f.kind, "op": f.op, "reason": f.reason,
                         "waited": round(delay, 3)})
        self.sleep(delay)
        return delay


def _contention_hint(f: Failure, branch: str) -> str:
    hint = ("nothing is lost (your issues are committed locally); run bd sync again, or give it more time: "
            f"bd config set {RETRY_TIMEOUT_KEY} 300")
    if f.kind == REF_LOCKED:
        hint += (f"; if the remote's lock on {branch} never goes away, a crashed push may have left it "
                 "behind on the server: its administrator can tell")
    elif f.kind == NETWORK:
        hint += "; check the network and the remote's URL (git remote -v)"
    elif f.kind == LOCAL_LOCK:
        hint += "; another git command of this clone holds a lock: let it finish"
    return hint
