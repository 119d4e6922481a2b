"""Commands for agents sharing one tracker: ``bd heartbeat`` (keep leases) and ``bd watch``
(the daemon's change feed). Claiming is ``bd ready --claim`` and ``bd update --claim``."""
from __future__ import annotations

import sys
from typing import Annotated

from ...errors import DaemonError
from ...model import short_time
from .. import render as r
from ..decl import Arg, Opt, command
from ..runtime import Globals, emit


@command("heartbeat", examples=["bd heartbeat              # every lease you hold",
                                "bd heartbeat proj-3 --lease 1h --json"])
def heartbeat(
    g: Globals,
    ids: Annotated[list[str] | None, Arg(help="Issue IDs (default: every lease you hold).")] = None,
    lease: Annotated[str | None, Opt("--lease", help="A new length for the leases (30m, 1h, 90s).")] = None,
) -> int:
    """Renew your leases, so the issues you work on are not returned to ready."""
    res = g.call("heartbeat", {"ids": ids or None, "lease": lease})
    if g.json:
        emit(res)
        return 0
    if not res["renewed"]:
        r.out("No leases held by you")
    for item in res["renewed"]:
        r.out(f"{r.green('✓')} Renewed the lease on {r.bold(item['id'])} until "
              f"{short_time(item['lease']['expires_at'], seconds=True, local=True)}")
    return 0


@command("watch", examples=["bd watch", "bd watch --json | jq -c 'select(.type == \"closed\")'",
                            "bd watch --json --since 120 --stream 3f9c0a1b2c3d4e5f", "bd watch -n 1"])
def watch(
    g: Globals,
    since: Annotated[int | None, Opt("--since", help="Resume after this event's seq (with --stream).")] = None,
    stream: Annotated[str | None, Opt("--stream", help="The stream the --since seq belongs to.")] = None,
    limit: Annotated[int, Opt("-n", "--limit", help="Stop after this many changes (0 = run until Ctrl-C).")] = 0,
) -> int:
    """Print every committed change as it happens (the daemon's change feed)."""
    from ...backends.daemon import DaemonBackend
    b = g.backend()
    if not isinstance(b, DaemonBackend):
        raise DaemonError("bd watch needs a running daemon: the change feed lives in it",
                          "start one with 'bd daemon start'")
    with b.client.subscribe(since, stream=stream) as sub:
        hello = {"type": "subscribed", "stream": sub.stream, "seq": sub.seq}
        if g.json:
            sys.stdout.write(r.compact(hello) + "\n")
        else:
            r.err(f"Watching changes (stream {sub.stream}, after #{sub.seq}); Ctrl-C to stop")
        sys.stdout.flush()
        n = 0
        for event in sub:
            if g.json:
                sys.stdout.write(r.compact(event) + "\n")
            else:
                r.change(event)
            sys.stdout.flush()
            if event.get("type") != "gap":
                n += 1
                if limit and n >= limit:
                    break
    return 0
