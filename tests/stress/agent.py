"""A stress-test agent: a real process that talks to the daemon with bdgit.rpc.client.Client.

    python agent.py SOCKET NAME MODE COUNT

Prints one JSON line per acknowledged result (``{"ack": id, "t": time.monotonic()}``: the clock
is the machine's, so a parent can compare), and ``{"error": ...}`` lines for failures, flushing
after each so a parent that kills the daemon sees every ack.
"""
from __future__ import annotations

import json
import sys
import time

from bdgit.errors import BdError
from bdgit.rpc.client import Client


def say(obj: dict) -> None:
    if "ack" in obj:
        obj["t"] = time.monotonic()
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    sock, name, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with Client(sock, actor=name, timeout=60) as c:
        for i in range(count):
            try:
                if mode == "create":
                    say({"ack": c.execute("create", {"title": f"{name} issue {i}"})["id"]})
                elif mode == "batch":
                    res = c.batch([("create", {"title": f"{name} batch {i} a"}),
                                   ("create", {"title": f"{name} batch {i} b", "dependencies": ["$0"]})])
                    for r in res:
                        say({"ack": r["data"]["id"]})
                elif mode == "failing-batch":
                    try:
                        c.batch([("create", {"title": f"{name} doomed {i}"}),
                                 ("update", {"id": "nope-0", "status": "closed"})])
                        say({"error": "a failing batch succeeded"})
                    except BdError:
                        say({"rolled_back": i})
                elif mode == "mixed":
                    k = i % 5
                    if k == 0:
                        say({"ack": c.execute("create", {"title": f"{name} mixed {i}"})["id"]})
                    elif k == 1:
                        issues = c.execute("list", {"limit": 5})
                        if issues:
                            c.execute("update", {"id": issues[0]["id"], "notes": f"{name} {i}"})
                    elif k == 2:
                        issues = c.execute("list", {"limit": 1})
                        if issues:
                            c.execute("show", {"id": issues[0]["id"]})
                    elif k == 3:
                        c.execute("list")
                    else:
                        c.execute("ready", {"limit": 10})
                    say({"op": i})
                else:
                    raise SystemExit(f"unknown mode {mode}")
            except BdError as e:
                say({"error": str(e)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
