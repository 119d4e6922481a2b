"""Input checks shared by every way in (IDs, text, JSON depth, bounded reads) and terminal-safe text."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bdgit import intake
from testing import REPO_ROOT
from bdgit.cli.safetext import clean, clean_data
from bdgit.errors import UsageError, ValidationError


@pytest.mark.parametrize("good", ["bd-1", "test-42", "bd-a3f8.1.2", "my_proj-x9", "a-b-c-1"])
def test_valid_ids(good: str) -> None:
    assert intake.check_id(good) == good


@pytest.mark.parametrize("bad", ["../../t-77", "../t-1", "t-1/../../x", "t..x-1", "-1", "t-", "t 1", "t-1\n",
                                 "t-\x1b[2J", "t-1/2", "", 42, None, "t-" + "1" * 300])
def test_invalid_ids(bad: object) -> None:
    with pytest.raises(ValidationError, match="invalid id"):
        intake.check_id(bad)


def test_dep_targets() -> None:
    assert intake.check_dep_target("external:gastown:gt-5kjn") == "external:gastown:gt-5kjn"
    assert intake.check_dep_target("bd-3") == "bd-3"
    for bad in ("external:../x", "external:a/b:c", "external:", "../bd-1"):
        with pytest.raises(ValidationError):
            intake.check_dep_target(bad)


def test_surrogates_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="lone surrogate U\\+D800"):
        intake.check_text("a\ud800b", "title")
    assert intake.strings_problem({"title": "ok", "labels": ["x", "y\udcff"]}) is not None
    assert "labels[1]" in (intake.strings_problem({"labels": ["x", "y\udcff"]}) or "")
    assert intake.strings_problem({"title": "fine ✓", "n": 3, "deps": [{"id": "bd-1"}]}) is None
    with pytest.raises(ValidationError):
        intake.check_strings({"a\ud800": 1})


def test_deep_json_is_a_value_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nested too deeply"):
        intake.loads(deep)
    assert intake.loads('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}


def test_read_input_refuses_devices_and_directories(tmp_path: Path) -> None:
    for dev in ("/dev/zero", "/dev/urandom"):
        with pytest.raises(UsageError, match="device"):
            intake.read_input(dev)
    with pytest.raises(UsageError, match="directory"):
        intake.read_input(str(tmp_path))
    with pytest.raises(UsageError, match="not found"):
        intake.read_input(str(tmp_path / "missing.jsonl"))


def test_read_input_bounds(tmp_path: Path) -> None:
    f = tmp_path / "big.jsonl"
    f.write_bytes(b"x" * 1000)
    assert len(intake.read_input(str(f), limit=1000)) == 1000
    with pytest.raises(ValidationError, match="at most 999"):
        intake.read_input(str(f), limit=999)
    (tmp_path / "bad.jsonl").write_bytes(b'{"a":1}\n{"b":"\xff"}\n')
    with pytest.raises(UsageError, match="line 2"):
        intake.read_input(str(tmp_path / "bad.jsonl"))


def test_read_input_from_an_endless_fifo_stops_at_the_bound(tmp_path: Path) -> None:
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "wb") as w:
            try:
                while True:
                    w.write(b"\0" * 65536)
            except BrokenPipeError:
                pass
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    with pytest.raises(ValidationError, match="more than 100000 bytes"):
        intake.read_input(str(fifo), limit=100_000)
    t.join(5)


def test_read_input_stdin_pipe_is_bounded() -> None:
    code = ("import sys; from bdgit import intake\n"
            "try:\n    intake.read_input('-', limit=5000)\nexcept Exception as e:\n    print(type(e).__name__)\n")
    p = subprocess.run([sys.executable, "-c", code], input=b"y" * 20000, capture_output=True,
                       env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert p.stdout.strip() == b"ValidationError", p.stderr


# --- terminal-safe text ------------------------------------------------------------------------

def test_clean_escapes_terminal_controls() -> None:
    evil = "ok\x1b[2J\x1b]0;pwned\x07\rover\x9b1m\u202etxt.exe"
    out = clean(evil)
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out
    assert "\x9b" not in out
    assert out == "ok\\x1b[2J\\x1b]0;pwned\\x07\\rover\\x9b1m\\u202etxt.exe"
    assert clean("two\nlines\tand tab", multiline=True) == "two\nlines\tand tab"
    assert clean("two\nlines") == "two\\nlines"
    assert clean("plain ✓ ünïcode 日本") == "plain ✓ ünïcode 日本"


def test_clean_data_keeps_prose_newlines_only() -> None:
    rec = {"id": "bd-1", "title": "a\nb", "description": "line1\nline2\x1b[K", "labels": ["x\x1b"],
           "priority": 1, "comments": [{"text": "hi\nthere\x07", "author": "m\r"}]}
    out = clean_data(rec)
    assert out["title"] == "a\\nb"
    assert out["description"] == "line1\nline2\\x1b[K"
    assert out["labels"] == ["x\\x1b"]
    assert out["comments"][0] == {"text": "hi\nthere\\x07", "author": "m\\r"}
    assert out["priority"] == 1
    assert rec["title"] == "a\nb"  # the original is left as it was
