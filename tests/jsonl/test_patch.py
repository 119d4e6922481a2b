"""The JSONL after a write: patched (only the changed lines are new), canonical, atomic.

A flush of a few dirty issues into the file our last write left copies the rest of the old file
and writes the new lines (``jsonl/lines.py``); the result is byte for byte the whole rewrite's.
A file that is not our last write (a pull, a hand edit) is rewritten whole. A crash (kill -9)
between a write and its patch, before or after the rename, leaves a file the next start repairs.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from testing import REPO_ROOT, run_bd
from testing.daemon import Daemon

from bdgit import jsonl
from bdgit.backends.direct import DirectBackend
from bdgit.jsonl import lines as lines_mod
from bdgit.jsonl.lines import digest_text, find_line
from bdgit.store import Store
from bdgit.workspace import find


def _canonical(ws: Any) -> None:
    """The file is the database's canonical export, and its digest is the one recorded."""
    s = Store(ws.db_path)
    try:
        text = ws.jsonl_path.read_text()
        assert text == jsonl.render(jsonl.export_lines(s))
        assert s.get_meta("jsonl_digest") == digest_text(text)
        assert s.dirty_ids() == []
    finally:
        s.close()


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the flushes that patched (rather than rewrote) the file."""
    calls: list[int] = []
    real = lines_mod.plan

    def plan(*a: Any, **kw: Any) -> Any:
        out = real(*a, **kw)
        if out is not None:
            calls.append(len(out.changed))
        return out
    monkeypatch.setattr(lines_mod, "plan", plan)
    return calls


def test_a_write_patches_its_line_and_nothing_else(beads_repo: Path, patched: list[int]) -> None:
    ws = find(cwd=beads_repo)
    b = DirectBackend(ws, "tester")
    try:
        ids = [b.call("create", {"title": f"issue {n}", "priority": n % 5})["id"] for n in range(30)]
        before = ws.jsonl_path.read_bytes()
        b.call("update", {"id": ids[17], "title": "renamed <&> \u2028 here"})
        after = ws.jsonl_path.read_bytes()
        old = [ln for ln in before.splitlines() if json.loads(ln)["id"] == ids[17]]
        new = [ln for ln in after.splitlines() if json.loads(ln)["id"] == ids[17]]
        assert after == before.replace(old[0], new[0])
        assert patched and patched[-1] == 1
        _canonical(ws)
    finally:
        b.close()


def test_random_writes_keep_the_file_canonical(beads_repo: Path, patched: list[int]) -> None:
    ws = find(cwd=beads_repo)
    b = DirectBackend(ws, "tester")
    rnd = random.Random(5)
    ids: list[str] = []
    try:
        for n in range(120):
            k = rnd.random()
            if k < 0.4 or len(ids) < 3:
                ids.append(b.call("create", {"title": f"t{n}", "description": "x" * rnd.randint(0, 300)})["id"])
            elif k < 0.7:
                b.call("update", {"id": rnd.choice(ids), "notes": "n" * rnd.randint(0, 500)})
            elif k < 0.8:
                b.call("close", {"id": rnd.choice(ids)})
            elif k < 0.9:
                b.call("delete", {"id": ids.pop(rnd.randrange(len(ids))), "force": True})
            else:
                # another process rewrote the file with the same lines (a checkout, an editor that
                # sorts): nothing to import, and the next write rewrites it whole, canonical again
                lines = ws.jsonl_path.read_text().splitlines()
                rnd.shuffle(lines)
                ws.jsonl_path.write_text("\n".join(lines) + "\n\n")
                continue
            if n % 15 == 0:
                b.call("create", {"title": f"check {n}"})  # a change: the file is written
                _canonical(ws)
        b.call("create", {"title": "last"})
        _canonical(ws)
        assert len(patched) > 40  # most writes patched
    finally:
        b.close()


def test_find_line_in_a_sorted_file() -> None:
    ids = sorted(f"bd-{k}" for k in range(1, 300))
    data = "".join(json.dumps({"id": i, "title": "t"}, separators=(",", ":")) + "\n" for i in ids).encode()
    for i in ids:
        start, end, found = find_line(data, i.encode())
        assert found and json.loads(data[start:end])["id"] == i
    for missing in ("bd-0", "bd-1000", "bd-150a", "zz", "a"):
        start, end, found = find_line(data, missing.encode())
        assert not found and start == end
        assert data[:start].count(b"\n") == sum(1 for i in ids if i < missing)


_CRASH = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    real = os.replace
    def replace(src, dst, *a, **kw):
        if dst.endswith("issues.jsonl") and {after!r}:
            real(src, dst, *a, **kw)
        if dst.endswith("issues.jsonl"):
            os.kill(os.getpid(), signal.SIGKILL)  # between the file and the database's record of it
        return real(src, dst, *a, **kw)
    os.replace = replace
    from bdgit.cli.main import main
    main(sys.argv[1:])
""")


@pytest.mark.parametrize("after_rename", [False, True])
@pytest.mark.parametrize("repair", ["direct", "daemon"])
def test_a_crash_between_the_write_and_its_patch_is_repaired(beads_repo: Path, after_rename: bool,
                                                              repair: str) -> None:
    ws = find(cwd=beads_repo)
    for n in range(20):
        assert run_bd("--no-daemon", "create", f"issue {n}", cwd=beads_repo).returncode == 0
    script = _CRASH.format(root=str(REPO_ROOT), after=after_rename)
    p = subprocess.run([sys.executable, "-c", script, "--no-daemon", "update", "test-7", "--title", "crashed"],
                       cwd=beads_repo, capture_output=True, text=True, env={**os.environ, "BEADS_AUTO_START_DAEMON": "false"})
    assert p.returncode == -9, p.stderr
    if repair == "direct":
        assert run_bd("--no-daemon", "update", "test-3", "--priority", "1", cwd=beads_repo).returncode == 0
    else:
        d = Daemon(beads_repo).start(flush_interval=0.05)
        d.stop()  # the start exports what is dirty; the stop's flush leaves nothing behind
    _canonical(ws)
    titles = {json.loads(ln)["id"]: json.loads(ln)["title"] for ln in ws.jsonl_path.read_text().splitlines()}
    assert titles["test-7"] == "crashed"
    assert not [f for f in os.listdir(ws.beads_dir) if ".tmp." in f]


def test_a_write_after_importing_a_sorted_file_patches_it(beads_repo: Path, patched: list[int]) -> None:
    """A pulled or cloned file sorted by id takes the next write's patch: its other lines stay
    byte for byte (a line is never rewritten for its formatting alone)."""
    ws = find(cwd=beads_repo)
    objs = [{"id": f"test-{n}", "title": f"pulled {n}", "status": "open", "priority": 2, "issue_type": "task",
             "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-02T00:00:00Z"} for n in range(1, 40)]
    lines = sorted(json.dumps(o) for o in objs)  # not our compact form: another writer's
    ws.jsonl_path.write_text("\n".join(lines) + "\n")
    b = DirectBackend(ws, "tester")
    try:
        b.call("update", {"id": "test-17", "title": "changed here"})
        after = ws.jsonl_path.read_text().splitlines()
        assert patched and patched[-1] == 1
        assert [ln for ln in after if '"test-17"' not in ln] == [ln for ln in lines if '"test-17"' not in ln]
        assert b.call("show", {"id": "test-17"})["title"] == "changed here"
        s = Store(ws.db_path)
        try:
            assert s.get_meta("jsonl_digest") == digest_text(ws.jsonl_path.read_text())
        finally:
            s.close()
    finally:
        b.close()
