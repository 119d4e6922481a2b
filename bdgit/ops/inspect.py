"""What the database is: schema, migrations and invariants (beads' ``info --schema`` and
``migrate --inspect``, which agents read before deciding to migrate)."""
from __future__ import annotations

from typing import Any

from .. import BEADS_COMPAT_VERSION
from ..store import schema
from ..validate import Args
from .registry import Ctx, op

#: what bdgit checks holds before and after every migration (names, as beads lists them)
INVARIANTS = ("required_config_present", "foreign_keys_valid", "issue_count_stable")


def _tables(ctx: Ctx) -> list[str]:
    return [r["name"] for r in ctx.store.conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def _schema_version(ctx: Ctx) -> int:
    return int(ctx.store.conn.execute("SELECT max(version) AS v FROM schema_migrations").fetchone()["v"] or 0)


def _sample_ids(ctx: Ctx) -> list[str]:
    return [r["id"] for r in ctx.store.conn.execute("SELECT id FROM issues ORDER BY created_us, id LIMIT 3")]


@op("schema_info", write=False)
def schema_info(ctx: Ctx, a: Args) -> dict[str, Any]:
    """``{"tables", "schema_version", "config": {"issue_prefix"}, "sample_issue_ids",
    "detected_prefix"}``; detected_prefix comes from the oldest issue's id."""
    samples = _sample_ids(ctx)
    detected = samples[0].rsplit("-", 1)[0] if samples else ""
    prefix = ctx.store.get_config("issue_prefix")
    return {"tables": _tables(ctx), "schema_version": str(_schema_version(ctx)),
            "config": {"issue_prefix": prefix} if prefix else {}, "sample_issue_ids": samples,
            "detected_prefix": detected}


@op("migrate_inspect", write=False)
def migrate_inspect(ctx: Ctx, a: Args) -> dict[str, Any]:
    """The migration plan: every registered migration (applied or pending), the current state,
    warnings and the invariants checked around a migration."""
    c = ctx.store.conn
    applied = {r["version"]: r["applied_at"] for r in c.execute("SELECT version, applied_at FROM schema_migrations")}
    migrations = [{"name": f"{v:04d}_{name.replace(' ', '_')}", "description": name, "version": v,
                   "applied": v in applied, "applied_at": applied.get(v)} for v, name, _ in schema.MIGRATIONS]
    count = int(c.execute("SELECT count(*) AS n FROM issues WHERE status != 'tombstone'").fetchone()["n"])
    prefix = ctx.store.get_config("issue_prefix")
    warnings = []
    missing = []
    if count and not prefix:
        missing.append("issue_prefix")
        samples = _sample_ids(ctx)
        warnings.append("issue_prefix config not set (detected: "
                        f"{samples[0].rsplit('-', 1)[0] if samples else '?'})")
    current = _schema_version(ctx)
    if current != schema.LATEST:
        warnings.append(f"schema version {current} is behind {schema.LATEST}: the next bd command migrates it")
    return {
        "registered_migrations": migrations,
        "current_state": {"schema_version": str(current), "latest_schema_version": str(schema.LATEST),
                          "issue_count": count, "config": {"issue_prefix": prefix} if prefix else {},
                          "missing_config": missing, "db_exists": True, "bd_version": BEADS_COMPAT_VERSION},
        "warnings": warnings,
        "invariants_to_check": list(INVARIANTS),
    }
