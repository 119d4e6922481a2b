"""Which socket a client may dial, and who answers on it.

The daemon listens on ``.beads/bd.sock``; when that path is too long for a unix socket, in a
short private directory ``<tmp>/bd-<uid>/<digest>/bd.sock`` named by the pointer file
``.beads/bd.sock.path``. Both the pointer and the directory could have been made by someone
else (a clone can commit a pointer; another local user can create ``/tmp/bd-<uid>`` first and
listen there), so a client:

- follows a pointer only when it is a regular file of ours naming a socket inside *our own*
  short directory: ``bd-<our uid>`` and the directory below it, both ours and 0700;
- dials only a socket (never a symlink) of ours, and after ``connect`` checks with
  ``SO_PEERCRED`` that the listening process runs as our uid, before sending a byte.

Light on purpose (_socket, os): the daemon-mode client path imports it.
"""
from __future__ import annotations

import _socket
import os
import stat
import sys
from pathlib import Path

from ..workspace import safefs
from ..errors import UnsafePathError

POINTER_NAME = "bd.sock.path"
SOCKET_NAME = "bd.sock"
#: the pointer holds one path; anything longer is not ours
_POINTER_LIMIT = 4096


def short_dir_name() -> str:
    """The name of this user's short socket directory under the temp directory."""
    return f"bd-{safefs.uid()}"


def prepare_short_dir(sock_path: Path) -> None:
    """Daemon side: create (0700) or check both private directories above a short socket path.
    Raises UnsafePathError when either exists but is not ours or is open to others."""
    base = sock_path.parent.parent
    if base.name != short_dir_name():
        raise UnsafePathError.at(str(sock_path), f"is not inside a directory named {short_dir_name()}")
    for d in (base, sock_path.parent):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        # ours (else UnsafePathError: another user made it first) and 0700, even if an older
        # bd or another umask made it more open
        safefs.make_private(d)
        safefs.check_dir(d, private=True)


def _check_target(target: Path, pointer: Path) -> None:
    why = None
    if not target.is_absolute() or ".." in target.parts:
        why = "does not name an absolute path"
    elif target.name != SOCKET_NAME or target.parent.parent.name != short_dir_name():
        why = f"points outside this user's socket directory ({short_dir_name()}): {target}"
    if why:
        raise UnsafePathError.at(str(pointer), f"{why}; bd does not follow it",
                              "a daemon of yours rewrites it when it starts; remove the file if no daemon runs")
    try:
        safefs.check_dir(target.parent.parent, private=True)
        safefs.check_dir(target.parent, private=True)
    except FileNotFoundError:
        raise UnsafePathError.at(str(pointer), f"names {target}, which does not exist",
                                 "a stale pointer: 'bd daemon start' replaces it") from None
    except UnsafePathError as e:
        raise UnsafePathError.at(str(pointer), f"points into {e.message}; bd does not follow it",
                                 e.hint) from None


def find_socket(beads_dir: Path) -> Path:
    """The socket a client should dial for ``beads_dir``: the pointer's target when there is a
    pointer and it is trustworthy, else ``.beads/bd.sock``. Raises UnsafePathError for a pointer
    that is not ours, or that points anywhere but into our own private socket directory."""
    pointer = beads_dir / POINTER_NAME
    try:
        raw = safefs.read_bytes(pointer, limit=_POINTER_LIMIT)
    except (FileNotFoundError, NotADirectoryError):
        return beads_dir / SOCKET_NAME
    text = raw.decode("utf-8", "surrogateescape").strip()
    if not text:
        return beads_dir / SOCKET_NAME
    target = Path(text)
    _check_target(target, pointer)
    return target


def check_socket(path: str | os.PathLike[str]) -> None:
    """``path`` is a socket of ours (not a symlink to one). Raises FileNotFoundError when there
    is nothing there, UnsafePathError for anything else."""
    st = os.lstat(path)
    p = os.fspath(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError.at(p, "is a symbolic link; bd only dials its own daemon's socket",
                              "remove it: a daemon of yours creates the real socket when it starts")
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafePathError.at(p, "is not a socket", "remove it: a daemon of yours creates the socket when it starts")
    safefs.check_owned(p, st)


def peer_uid(sock: _socket.socket) -> int:
    """The uid of the process at the other end of a connected unix socket (``SO_PEERCRED``)."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)  # struct ucred: pid, uid, gid
    return int.from_bytes(raw[4:8], sys.byteorder)


def check_peer(sock: _socket.socket, path: str | os.PathLike[str]) -> None:
    """Raise UnsafePathError unless the listener on the connected ``sock`` runs as our uid.
    Call it after ``connect`` and before sending anything."""
    theirs = peer_uid(sock)
    if theirs != safefs.uid():
        raise UnsafePathError.at(os.fspath(path), f"is served by a process of {safefs._owner(theirs)}, not by "
                              "you; bd sent it nothing", "another user is listening where your daemon "
                              "should; bd works without the daemon meanwhile ('bd daemon start' needs "
                              "the place free)")
