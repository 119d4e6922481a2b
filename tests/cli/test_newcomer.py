"""What a newcomer trying bd meets: clear refusals, clear hints, nothing done silently."""
from __future__ import annotations

from pathlib import Path

import pytest

from bdgit.errors import ConflictError, DaemonError
from bdgit.workspace.initialize import init_workspace


def test_init_inside_a_workspace_refuses_and_says_which(beads_repo: Path) -> None:
    sub = beads_repo / "src" / "pkg"
    sub.mkdir(parents=True)
    with pytest.raises(ConflictError) as e:
        init_workspace(sub, "pkg")
    assert str(beads_repo / ".beads") in e.value.message and "--nested" in (e.value.hint or "")
    assert not (sub / ".beads").exists()
    made = init_workspace(sub, "pkg", nested=True)
    assert Path(made["database"]).parent == sub / ".beads"


def test_home_beads_dir_is_not_a_workspace(tmp_path: Path) -> None:
    home = Path.home()
    (home / ".beads").mkdir()
    (home / ".beads" / "default.db").write_bytes(b"")
    proj = home / "proj"
    proj.mkdir()
    init_workspace(proj, "proj")
    assert (proj / ".beads" / "proj.db").exists()


def test_the_python_client_without_a_daemon_says_how_to_start_one(beads_repo: Path) -> None:
    from bdgit.rpc.client import Client
    with pytest.raises(DaemonError) as e:
        Client(str(beads_repo)).execute("list", {})
    assert "bd daemon start" in str(e.value)
