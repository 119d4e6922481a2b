"""Operations about the workspace itself: ping, info, configuration."""
from __future__ import annotations

import os
from typing import Any

from .. import BEADS_COMPAT_VERSION, __version__
from ..errors import ValidationError
from ..validate import Args
from . import leases
from .exchange import jsonl_path
from .registry import Ctx, op


@op("ping", write=False)
def ping(ctx: Ctx, a: Args) -> dict[str, Any]:
    return {"message": "pong", "version": BEADS_COMPAT_VERSION, "bdgit_version": __version__}


@op("info", write=False)
def info(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    return {
        "database_path": str(s.path), "jsonl_path": str(jsonl_path(ctx)), "issue_prefix": s.prefix,
        "issue_count": s.conn.execute("SELECT count(*) AS n FROM issues WHERE status != 'tombstone'").fetchone()["n"],
        "dirty_issues": s.dirty_count(), "schema_version": s.conn.execute(
            "SELECT max(version) AS v FROM schema_migrations").fetchone()["v"],
        "version": BEADS_COMPAT_VERSION, "bdgit_version": __version__, "pid": os.getpid(),
    }


@op("config_get", write=False)
def config_get(ctx: Ctx, a: Args) -> dict[str, Any]:
    key = a.req("key")
    return {"key": key, "value": ctx.store.get_config(key)}


@op("config_set", write=True)
def config_set(ctx: Ctx, a: Args) -> dict[str, Any]:
    key, value = a.req("key"), a.text("value", "") or ""
    if key == "issue_prefix":
        raise ValidationError("use 'bd rename-prefix' to change the issue prefix")
    if key == leases.CONFIG_KEY:
        leases.parse_duration(value, leases.CONFIG_KEY)  # refuse what a claim could not use
    ctx.store.set_config(key, value)
    return {"key": key, "value": value}


@op("config_list", write=False)
def config_list(ctx: Ctx, a: Args) -> dict[str, str]:
    return ctx.store.all_config()
