"""Parsing a large file on two cores (``jsonl.halves``) gives exactly what one pass gives.

The split only happens from ``parse.SPLIT_AT`` lines in a process with one thread, so each case
runs in a fresh interpreter with the threshold lowered: the records, the warnings and the first
bad line's error are compared with the single-pass result of the same text."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

_SCRIPT = textwrap.dedent("""
    import importlib, json, os, sys, threading
    from bdgit.errors import ImportFormatError
    P = importlib.import_module("bdgit.jsonl.parse")
    forks = []
    real_fork = os.fork
    def fork():
        forks.append(1)
        return real_fork()
    os.fork = fork

    def run(text, split):
        P.SPLIT_AT = 4 if split else 10**9
        try:
            recs, warns = P.parse(text, strict=STRICT, known=KNOWN)
        except ImportFormatError as e:
            return {"error": e.message, "line": e.line}
        return {"records": [[r.line_no, r.line, r.id, r.obj, r.created_us, r.updated_us] for r in recs],
                "warnings": warns}

    cfg = json.loads(sys.stdin.read())
    STRICT, KNOWN = cfg["strict"], cfg["known"]
    assert threading.active_count() == 1
    split = run(cfg["text"], True)
    assert forks, "the second half was not parsed in a child"
    print(json.dumps({"split": split, "single": run(cfg["text"], False)}))
""")


def _line(k: int, **extra: object) -> str:
    obj = {"id": f"bd-{k}", "title": f"issue {k}", "created_at": "2025-01-01T00:00:00Z",
           "updated_at": f"2025-01-02T00:00:{k % 60:02d}+02:00",
           "dependencies": [{"issue_id": f"bd-{k}", "depends_on_id": f"bd-{k + 1}", "type": "blocks"}]}
    obj.update(extra)
    return json.dumps(obj)


def _both(text: str, strict: bool = False, known: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _SCRIPT], input=json.dumps(
        {"text": text, "strict": strict, "known": known}), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_same_records_and_warnings() -> None:
    lines = [_line(k) for k in range(1, 40)]
    lines[3] = _line(4, status="weird")
    lines[30] = _line(31, issue_type="odd", priority=None)
    lines.insert(20, "")  # a blank line is skipped, numbering stays
    lines[35] = lines[35] + "\r"
    got = _both("\n".join(lines) + "\n")
    assert got["split"] == got["single"]
    assert len(got["single"]["records"]) == 39
    assert [w.split(":")[0] for w in got["single"]["warnings"]] == ["line 4", "line 32"]


@pytest.mark.parametrize("bad", [2, 25, 37])
def test_first_bad_line_is_named(bad: int) -> None:
    lines = [_line(k) for k in range(1, 40)]
    lines[bad - 1] = '{"id": "bd-x", "title": '
    lines[37] = '{"id": "../etc", "title": "t", "created_at": "2025-01-01T00:00:00Z"}'
    got = _both("\n".join(lines))
    assert got["split"] == got["single"]
    assert got["single"]["line"] == bad


def test_strict_error_in_second_half() -> None:
    lines = [_line(k) for k in range(1, 40)]
    lines[29] = _line(30, status="weird")
    got = _both("\n".join(lines), strict=True)
    assert got["split"] == got["single"]
    assert got["single"]["line"] == 30


def test_known_lines_stay_undecoded_until_used() -> None:
    lines = [_line(k) for k in range(1, 40)]
    known = {f"bd-{k}": lines[k - 1] for k in (3, 33)}
    got = _both("\n".join(lines), known=known)
    assert got["split"] == got["single"]
    assert len(got["split"]["records"]) == 39
