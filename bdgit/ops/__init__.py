"""The operation table: the one implementation of every operation.

``run(store, op, args, actor)`` is what both transports call: direct mode in-process, the
daemon for each request. A write runs inside one transaction (``Store.tx``); ``batch`` runs
several operations in one transaction (atomic, the default) or one each (``atomic: false``).
Handlers take ``(ctx, Args)`` and return JSON-able data; they raise only ``BdError``.
"""
from __future__ import annotations

import sqlite3
from typing import Any

from ..errors import BatchFailed, BdError, UsageError
from ..store import Store
from ..store.failures import database_error
from ..validate import Args
from .answer import Rows
from .registry import OPS, Ctx, Handler, Op, op

__all__ = ["OPS", "Ctx", "Handler", "Op", "op", "is_write", "run", "run_batch", "run_stream", "streams"]


def is_write(name: str, args: Any = None) -> bool:
    """Whether ``name`` changes the database (a batch is a write if any member is)."""
    if name == "batch":
        return True
    o = OPS.get(name)
    if o is None:
        return False
    if name in ("import", "delete", "rename_prefix", "migrate_hash_ids") and isinstance(args, dict) \
            and args.get("dry_run"):
        return False
    if name == "delete" and isinstance(args, dict) and not args.get("force", True):
        return False
    if name == "ready":  # ready --claim takes the issue it finds
        return isinstance(args, dict) and args.get("claim") in (True, "true", "1", "yes")
    if name in _WRITES_WHEN:
        # checks that repair only when asked: a plain check is a read (runs beside writers)
        return isinstance(args, dict) and bool(args.get(_WRITES_WHEN[name]))
    if name == "epic_close_eligible" and isinstance(args, dict) and args.get("dry_run"):
        return False
    return o.write


_WRITES_WHEN = {"repair_deps": "fix", "validate": "fix", "pollution": "clean"}


def run(store: Store, name: str, args: Any, actor: str, ctx: Ctx | None = None) -> Any:
    """Run one operation; writes commit before this returns. Raises BdError."""
    if name == "batch":
        return run_batch(store, args, actor, ctx)
    o = OPS.get(name)
    if o is None:
        raise UsageError(f"unknown operation: {name}", "see 'bd help' for the operations")
    ctx = ctx or Ctx(store, actor)
    a = Args(name.replace("_", " "), args)
    try:
        if is_write(name, args):
            with store.tx():
                store.begin_op()  # one version per operation, also inside a batch
                outer, store.touched = store.touched, set()
                try:
                    result = o.handler(ctx, a)
                    # a write by a lease's holder renews it (a new issue has none; heartbeat renews itself)
                    if store.touched and name not in _NO_RENEW:
                        from . import leases
                        leases.renew_touched(ctx, store.touched)
                finally:
                    if outer is not None:
                        outer.update(store.touched)
                    store.touched = outer
                return result
        return o.handler(ctx, a)
    except sqlite3.IntegrityError:
        raise  # a broken invariant: a bug, reported as an internal error
    except sqlite3.DatabaseError as e:  # damaged, locked or full: say which, not a traceback
        raise database_error(store.path, e) from e


_NO_RENEW = frozenset({"create", "heartbeat", "import"})


def streams(name: str, args: Any) -> bool:
    """Whether ``run_stream`` answers ``name`` (a read with an ``Op.stream``)."""
    if name == "batch" or is_write(name, args):
        return False
    o = OPS.get(name)
    return o is not None and o.stream is not None


def run_stream(store: Store, name: str, args: Any, actor: str, ctx: Ctx | None = None) -> Rows:
    """``run`` of a read that ``streams``, as a ``answer.Rows`` (its IDs read, nothing rendered
    yet). Precondition: inside ``store.read_snapshot()``, until the rows are rendered. Raises
    BdError."""
    o = OPS[name]
    assert o.stream is not None and not is_write(name, args)
    try:
        rows: Rows = o.stream(ctx or Ctx(store, actor), Args(name.replace("_", " "), args))
        return rows
    except sqlite3.IntegrityError:
        raise
    except sqlite3.DatabaseError as e:
        raise database_error(store.path, e) from e


def run_batch(store: Store, args: Any, actor: str, ctx: Ctx | None = None) -> dict[str, Any]:
    """Run ``args.operations`` in order.

    Atomic (default): one transaction; on the first failure everything is rolled back, the
    failing result says why, the others say they were rolled back, and BatchFailed carries it.
    ``atomic: false``: beads' semantics - each operation commits by itself and the batch stops
    at the first failure, whose result is the last one.
    """
    a = Args("batch", args)
    ops_in = a.raw.get("operations")
    if not isinstance(ops_in, list) or not ops_in:
        raise UsageError("invalid batch args: operations must be a non-empty list")
    for i, item in enumerate(ops_in):
        if not isinstance(item, dict) or not isinstance(item.get("operation"), str):
            raise UsageError(f"invalid batch args: operations[{i}] needs an 'operation' string")
        if item["operation"] == "batch":
            raise UsageError(f"invalid batch args: operations[{i}] is a batch; batches do not nest")
    atomic = a.flag("atomic", True)
    ctx = ctx or Ctx(store, actor)
    results: list[dict[str, Any]] = []
    if not atomic:
        for item in ops_in:
            try:
                data = run(store, item["operation"], _subst(item.get("args"), results), actor, ctx)
                results.append({"success": True, "data": data})
            except BdError as e:
                results.append({"success": False, **e.to_wire()})
                break
        return {"results": results, "atomic": False,
                "success": all(r["success"] for r in results)}
    failed_at = -1
    err: BdError | None = None
    try:
        with store.tx():
            for i, item in enumerate(ops_in):
                try:
                    data = run(store, item["operation"], _subst(item.get("args"), results), actor, ctx)
                except BdError as e:
                    failed_at, err = i, e
                    raise
                results.append({"success": True, "data": data})
    except BdError:
        assert err is not None
        out = []
        for i, item in enumerate(ops_in):
            if i < failed_at:
                out.append({"success": False, "rolled_back": True,
                            "error": f"rolled back: operation {failed_at} ({ops_in[failed_at]['operation']}) failed"})
            elif i == failed_at:
                out.append({"success": False, **err.to_wire()})
            else:
                out.append({"success": False, "skipped": True, "error": "not run: an earlier operation failed"})
        raise BatchFailed.of(failed_at, ops_in[failed_at]["operation"], err, out) from err
    return {"results": results, "atomic": True, "success": True}


def _subst(args: Any, results: list[dict[str, Any]]) -> Any:
    """Let later batch operations name IDs created earlier: ``"$0"`` is the id returned by
    operation 0, ``"$1.id"`` likewise; works in strings and lists of strings."""
    if not results:
        return args

    def one(v: Any) -> Any:
        if isinstance(v, str) and v.startswith("$"):
            ref = v[1:].split(".", 1)
            if ref[0].isdigit() and int(ref[0]) < len(results):
                data = results[int(ref[0])].get("data")
                key = ref[1] if len(ref) > 1 else "id"
                if isinstance(data, dict) and key in data:
                    return data[key]
        if isinstance(v, str) and "$" in v and ":" in v:  # "blocks:$0" in dependency lists
            t, _, rest = v.partition(":")
            return f"{t}:{one(rest)}"
        return v

    if isinstance(args, dict):
        return {k: ([one(x) for x in v] if isinstance(v, list) else one(v)) for k, v in args.items()}
    return args

