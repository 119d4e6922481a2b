"""Hostile input through every door: terminal escapes in pulled data, endless or deeply nested
input, surrogates, path-like IDs, and a broken JSONL with a way out that works."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from testing.hostile import bd, clean_exit, ok, refused

from bdgit.rpc import peer

TS = "2025-03-01T10:00:00Z"


def _line(**fields: object) -> str:
    rec = {"id": "test-1", "title": "t", "status": "open", "priority": 2, "issue_type": "task",
           "created_at": TS, "updated_at": TS, **fields}
    return json.dumps(rec, ensure_ascii=False) + "\n"


def _pull(repo: Path, text: str) -> None:
    """What a ``git pull`` does: the JSONL changes under bd."""
    (repo / ".beads" / "issues.jsonl").write_text(text)


# --- 8. terminal escapes in data ------------------------------------------------------------------

EVIL = "Fix\x1b[2J\x1b]0;owned\x07\rlogin\x9b31m\u202eexe.txt"


def test_control_characters_are_escaped_in_human_output(beads_repo: Path) -> None:
    _pull(beads_repo, _line(title=EVIL, description="line one\nline two\x1b[1A\x1b[K", labels=["l\x1bx"],
                            assignee="eve\x07", comments=[{"author": "m\x1b", "text": "c\rx", "created_at": TS}]))
    for args in (("list",), ("show", "test-1"), ("ready",), ("search", "Fix"), ("label", "list", "test-1")):
        p = ok(bd(*args, cwd=beads_repo))
        for bad in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
            assert bad not in p.stdout, (args, p.stdout)
    shown = ok(bd("show", "test-1", cwd=beads_repo)).stdout
    assert "\\x1b[2J" in shown and "line one\nline two" in shown
    exact = json.loads(ok(bd("show", "test-1", "--json", cwd=beads_repo)).stdout)
    exact = exact[0] if isinstance(exact, list) else exact
    assert exact["title"] == EVIL and exact["labels"] == ["l\x1bx"] and exact["assignee"] == "eve\x07"


def test_control_characters_in_errors_are_escaped(beads_repo: Path) -> None:
    p = bd("show", "test-\x1b[2J", cwd=beads_repo)
    assert p.returncode != 0 and "\x1b" not in p.stderr


# --- 9. input bounds and one validation for every way in ---------------------------------------------

@pytest.mark.parametrize("dev", ["/dev/zero", "/dev/urandom"])
def test_import_refuses_devices_at_once(beads_repo: Path, dev: str) -> None:
    t0 = time.monotonic()
    refused(bd("import", "-i", dev, cwd=beads_repo, timeout=30), dev)
    assert time.monotonic() - t0 < 20


def test_import_from_a_pipe_is_bounded(beads_repo: Path) -> None:
    p = bd("import", cwd=beads_repo, input="x" * 200_000, env={"BD_MAX_INPUT_BYTES": "100000"})
    refused(p, "100000")


def test_deeply_nested_line_is_a_parse_error_naming_the_line(beads_repo: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text(_line(id="test-5") + '{"id": "test-6", "title": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    refused(bd("import", "-i", str(deep), cwd=beads_repo), "line 2", "nested too deeply")
    _pull(beads_repo, deep.read_text())  # the same line arriving by git
    refused(bd("list", cwd=beads_repo), "issues.jsonl", "line 2")


def test_surrogate_over_rpc_is_a_validation_error(daemon: dict, beads_repo: Path) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(peer.find_socket(beads_repo / ".beads")))
    s.sendall(b'{"operation":"create","args":{"title":"bad \\ud800 title"}}\n')
    s.settimeout(10)
    resp = json.loads(s.makefile().readline())
    s.close()
    assert resp["success"] is False and resp["kind"] == "validation", resp
    assert "surrogate" in resp["error"]


def test_surrogate_on_the_command_line_is_a_validation_error(beads_repo: Path) -> None:
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "bdgit", "create", os.fsencode("bad \udcff")], cwd=beads_repo,
                       capture_output=True, text=True, env=dict(os.environ))
    refused(p, "surrogate")


BAD_ID = "../../t-77"


def test_path_like_id_is_refused_by_every_door(beads_repo: Path, tmp_path: Path, daemon: dict) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(_line(id=BAD_ID))
    refused(bd("import", "-i", str(f), cwd=beads_repo), BAD_ID, "line 1")  # import (via the daemon)
    refused(bd("--no-daemon", "import", "-i", str(f), cwd=beads_repo), BAD_ID)  # import, direct
    refused(bd("create", "X", "--id", BAD_ID, cwd=beads_repo), BAD_ID)  # create
    dep = tmp_path / "dep.jsonl"
    dep.write_text(_line(id="test-2", dependencies=[{"issue_id": "test-2", "depends_on_id": BAD_ID,
                                                     "type": "blocks"}]))
    refused(bd("import", "-i", str(dep), cwd=beads_repo), BAD_ID)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # RPC
    s.connect(str(peer.find_socket(beads_repo / ".beads")))
    s.sendall(json.dumps({"operation": "create", "args": {"title": "x", "id": BAD_ID}}).encode() + b"\n")
    s.settimeout(10)
    resp = json.loads(s.makefile().readline())
    s.close()
    assert resp["kind"] == "validation", resp
    # the merge driver
    base, ours, theirs = (tmp_path / n for n in ("base", "ours", "theirs"))
    base.write_text("")
    ours.write_text(_line(id="test-3"))
    theirs.write_text(_line(id=BAD_ID))
    p = bd("merge-driver", str(base), str(ours), str(theirs), ".beads/issues.jsonl", cwd=beads_repo)
    assert p.returncode != 0 and BAD_ID in p.stderr
    clean_exit(p)
    assert ours.read_text() == _line(id="test-3")
    listed = ok(bd("list", "--json", cwd=beads_repo)).stdout
    assert BAD_ID not in listed


def test_path_like_id_in_a_pulled_jsonl_is_refused(beads_repo: Path) -> None:
    ok(bd("create", "Mine", cwd=beads_repo))
    text = (beads_repo / ".beads" / "issues.jsonl").read_text()
    _pull(beads_repo, text + _line(id=BAD_ID))
    refused(bd("list", cwd=beads_repo), "issues.jsonl", "line 2", BAD_ID)


# --- 10. a broken JSONL: named file and line, and a way out that works ---------------------------------

def _break(repo: Path) -> Path:
    for t in ("One", "Two", "Three"):
        ok(bd("create", t, cwd=repo))
    jl = repo / ".beads" / "issues.jsonl"
    lines = jl.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"', "", 1)  # one quote removed by hand
    jl.write_text("".join(lines))
    return jl


def test_broken_jsonl_names_file_and_line_everywhere(beads_repo: Path) -> None:
    _break(beads_repo)
    for args in (("list",), ("create", "Four"), ("show", "test-1"), ("ready",), ("stats",)):
        p = refused(bd(*args, cwd=beads_repo), "issues.jsonl", "line 3")
        assert "bd export --force" in p.stderr
    d = bd("doctor", cwd=beads_repo)
    clean_exit(d)
    assert d.returncode != 0 and "line 3" in d.stdout + d.stderr
    fix = bd("doctor", "--fix", cwd=beads_repo)
    clean_exit(fix)
    assert fix.returncode != 0  # it cannot fix a hand-broken line; it must not say all is well


def test_export_force_is_a_way_out_that_works(beads_repo: Path) -> None:
    jl = _break(beads_repo)
    broken = jl.read_text()
    p = ok(bd("export", "--force", cwd=beads_repo))
    kept = [f for f in jl.parent.iterdir() if f.name.startswith("issues.jsonl.") and f.read_text() == broken]
    assert kept, "the broken file was not kept aside"
    assert kept[0].name in p.stderr + p.stdout
    ok(bd("create", "Four", cwd=beads_repo))
    titles = [json.loads(ln)["title"] for ln in jl.read_text().splitlines()]
    assert titles == ["One", "Two", "Three", "Four"]
    ok(bd("doctor", cwd=beads_repo))


def test_fixing_the_line_is_a_way_out_that_works(beads_repo: Path) -> None:
    jl = _break(beads_repo)
    lines = jl.read_text().splitlines(keepends=True)
    lines[2] = '"' + lines[2] if not lines[2].startswith("{") else lines[2].replace("{id", '{"id', 1)
    jl.write_text("".join(lines))
    ok(bd("list", cwd=beads_repo))
    ok(bd("create", "Four", cwd=beads_repo))
