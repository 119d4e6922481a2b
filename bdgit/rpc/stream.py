"""A response whose ``data`` is a long list of issues, sent as it is rendered: ``Streamed``.

The bytes are the ones ``protocol.encode`` writes for the whole response: one line,
``{"success":true,"data":[...]`` then the keys after ``data`` (``notices``, ``request_id``)
as the encoder orders them, then ``}`` and the newline. ``json.dumps`` of a list is ``[``, its
items' encodings joined by ``,``, then ``]``; each chunk is encoded as a list and its brackets
cut, so the joined chunks are that list's encoding byte for byte. The daemon holds one chunk
(``answer.CHUNK`` issues) as objects and ~256 KB of encoded text at a time, not the answer.

Failures. The answer's IDs are read first and the first chunk rendered before the first byte
is sent, both inside the read snapshot that every later chunk reads too (``Store.read_snapshot``),
so that a bad filter, a missing parent or a database that cannot be read is an ordinary error
response. A failure after the first byte (an I/O error of the database mid-answer, a bug)
cannot become an error response any more: the daemon logs it and closes the connection
without the line's newline. What the client has then is a line cut short, never a complete
one: the response is one JSON object whose closing brace comes last, so no prefix of it
parses (``rpc.client`` reports that the daemon closed the connection without answering). A client that hangs up
mid-answer costs the daemon the chunk it was sending: the send fails, the snapshot ends and
the reader goes back to the pool.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from ..ops.answer import Rows

#: encoded bytes gathered before each send (fewer system calls than one per chunk)
SEND_BYTES = 256 * 1024


class StreamBroken(OSError):
    """A streamed answer failed after its first byte was sent: the connection must close."""


class Streamed:
    """``{"success": True, "data": rows, **tail}`` to send with ``send``; ``close`` (always,
    once) ends what the answer read in. ``tail`` is filled until the last chunk is sent
    (``notices``, then ``request_id``)."""

    __slots__ = ("rows", "first", "rest", "tail", "notices", "_close")

    def __init__(self, rows: Rows, notices: list[str], close: Callable[[], None]) -> None:
        self.rows = rows
        self.rest: Iterator[list[dict[str, Any]]] = rows.chunks()
        #: rendered before anything is sent: its failure is still an error response
        self.first = next(self.rest, None)
        self.notices = notices  # the handler's ctx.notices: rendering may add to them
        self.tail: dict[str, Any] = {}
        self._close = close

    def close(self) -> None:
        close, self._close = self._close, _nothing
        close()

    def send(self, write: Callable[[bytes], Any], log: Callable[[str], None] | None = None) -> None:
        """Write the whole line through ``write`` (``socket.sendall``). Raises ``OSError``
        when the client hung up, ``StreamBroken`` when rendering failed mid-answer."""
        parts: list[bytes] = [b'{"success":true,"data":[']
        size = 0
        sep = b""
        chunk = self.first
        self.first = None
        while chunk is not None:
            enc = _dumps(chunk)[1:-1].encode()
            parts.append(sep + enc)
            sep = b","
            size += len(enc)
            if size >= SEND_BYTES:
                write(b"".join(parts))
                parts, size = [], 0
            try:
                chunk = next(self.rest, None)
            except Exception as e:  # the line is begun: it can only be cut short (module docstring)
                if log is not None:
                    log(f"streamed answer failed after {len(self.rows)} issues were listed: "
                        f"{type(e).__name__}: {e}")
                raise StreamBroken(f"streamed answer failed: {e}") from e
        tail: dict[str, Any] = {}
        if self.notices:
            tail["notices"] = self.notices
        tail.update(self.tail)
        end = _dumps(tail)[1:] if tail else "}"
        parts.append(b"]" + (b"," if tail else b"") + end.encode() + b"\n")
        write(b"".join(parts))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _nothing() -> None:
    return None
