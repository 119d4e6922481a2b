"""A worker agent: a real process that loops claim / (short work) / close until nothing is ready.

    python claim_agent.py daemon SOCKET NAME [--lease L] [--work-ms MS] [--hang]
    python claim_agent.py direct WORKSPACE NAME [--lease L] [--work-ms MS] [--hang]
    python claim_agent.py racer  SOCKET NAME      # the old loop: ready, then update --claim, retry

Prints one JSON line per step, flushed (``{"claimed": id}``, ``{"closed": id}``, ``{"error": ...}``;
the racer also ``{"retry": id}`` per lost race), and ``{"done": n}`` at the end. ``--hang``
claims one issue and then waits to be killed, as an agent that crashed mid-work.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Callable

from bdgit.errors import BdError, ConflictError


def say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("daemon", "direct", "racer"))
    p.add_argument("target")
    p.add_argument("name")
    p.add_argument("--lease")
    p.add_argument("--work-ms", type=float, default=0.0)
    p.add_argument("--hang", action="store_true")
    o = p.parse_args()
    call: Callable[[str, dict[str, Any]], Any]
    if o.mode == "direct":
        from bdgit.backends.direct import DirectBackend
        from bdgit.workspace import find
        backend = DirectBackend(find(cwd=o.target), o.name, lock_timeout=120)
        call = backend.call
    else:
        from bdgit.rpc.client import Client
        client = Client(o.target, actor=o.name, timeout=120)
        call = client.execute
    claim_args: dict[str, Any] = {"claim": True}
    if o.lease:
        claim_args["lease"] = o.lease
    n = 0
    while True:
        try:
            if o.mode == "racer":
                issue_id = race(call)
                if issue_id is None:
                    break
            else:
                got = call("ready", claim_args)
                if not got:
                    break
                issue_id = got[0]["id"]
            say({"claimed": issue_id})
            if o.hang:
                time.sleep(3600)
            if o.work_ms:
                time.sleep(o.work_ms / 1000)
            call("close", {"id": issue_id, "reason": f"done by {o.name}"})
            say({"closed": issue_id})
            n += 1
        except BdError as e:
            say({"error": f"{type(e).__name__}: {e}"})
            return 1
    say({"done": n})
    return 0


def race(call: Callable[[str, dict[str, Any]], Any]) -> str | None:
    """The loop agents ran before ``ready --claim``: read what is ready, claim the first; a
    lost race is a conflict, and the agent reads again."""
    while True:
        ready = call("ready", {"limit": 10, "unassigned": True})
        if not ready:
            return None
        try:
            call("update", {"id": ready[0]["id"], "claim": True})
            return ready[0]["id"]  # type: ignore[no-any-return]
        except ConflictError:
            say({"retry": ready[0]["id"]})


if __name__ == "__main__":
    sys.exit(main())
