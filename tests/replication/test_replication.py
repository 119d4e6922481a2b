"""The replication core: versions, the line codec, the merge rules, whole-file merges, IDs.

Each rule of docs/JSONL.md has a test here, in memory (no database, no git)."""
from __future__ import annotations

import json
from typing import Any

import pytest
from testing import DATA_DIR
from testing.replication import Clone, iso, line_of, m3, state_of

from bdgit.errors import ImportFormatError
from bdgit.model import dumps_compact
from bdgit.replication import clock, ids
from bdgit.replication.filemerge import merge_texts
from bdgit.replication.merge import join
from bdgit.replication.record import ABSENT, DELETED, STATUS, decode, encode

SNAPSHOTS = sorted(p.name for p in DATA_DIR.glob("*.jsonl"))


def obj(line: str) -> dict[str, Any]:
    return json.loads(line)


def pair() -> tuple[Clone, Clone, str]:
    """Two clones with one shared issue; returns them and the shared (base) line."""
    a, b = Clone("aaaaaaaa"), Clone("bbbbbbbb")
    st = a.create("bd-1", "first")
    b.receive("bd-1", st)
    return a, b, line_of(st)


# --- the clock ---------------------------------------------------------------------------------

def test_version_text_round_trips_and_orders() -> None:
    for v in [(1, 0, "abc"), (1_760_000_000_000, 0, "k2f9q1ab"), (1_760_000_000_000, 35, ""), (0, 0, "")]:
        assert clock.decode(clock.encode(v)) == v
    assert clock.encode((1_760_000_000_000, 0, "k2f9q1ab")).count(".") == 1  # no counter: shorter
    for bad in ["", "x", "a.b.c.d", "1.2.N!", 5, None, "..", "1..x"]:
        with pytest.raises(ValueError):
            clock.decode(bad)


def test_tick_is_strictly_increasing_even_when_the_wall_clock_goes_back() -> None:
    s = (0, 0)
    seen = []
    for now in [100, 100, 99, 50, 101, 101]:
        s = clock.tick(s, now)
        seen.append(s)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


def test_an_edit_after_seeing_a_version_beats_it_whatever_the_clocks() -> None:
    hour = 3_600_000
    s = clock.observe((0, 0), (5_000_000 + hour, 3, "zzzzzzzz"))  # a version from a clock 1 h ahead
    mine = clock.tick(s, 5_000_000)
    assert (mine[0], mine[1], "aaaaaaaa") > (5_000_000 + hour, 3, "zzzzzzzz")


def test_node_ids_are_random_base36() -> None:
    ids_ = {clock.new_node_id() for _ in range(50)}
    assert len(ids_) == 50 and all(len(n) == clock.NODE_LEN and n.isalnum() and n.islower() or n.isdigit()
                                   for n in ids_)


def test_bump_is_above_the_base_and_at_updated_at_when_later() -> None:
    base = (1000, 4, "n")
    assert clock.bump(base, 999_000) == (1000, 5, "") > base
    assert clock.bump(base, 2_000_000) == (2000, 0, "") > base


# --- the codec -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SNAPSHOTS)
def test_every_snapshot_line_decodes_and_encodes_to_the_same_object(name: str) -> None:
    for raw in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
        o = json.loads(raw)
        e = encode(state_of(o))
        assert "_v" not in e  # an unedited beads line is written without versions
        e = {k: v for k, v in e.items() if not (k == "description" and v == "" and k not in o)}
        for x in (e, o):  # dependencies come in canonical order
            if "dependencies" in x:
                x["dependencies"] = sorted(x["dependencies"], key=lambda d: json.dumps(d, sort_keys=True))
        assert e == o


def test_tombstones_decode_as_deleted_and_keep_beads_shape() -> None:
    lines = (DATA_DIR / "2025-12-28-tombstones.jsonl").read_text(encoding="utf-8").splitlines()
    tombs = [state_of(x) for x in lines if '"status":"tombstone"' in x]
    assert len(tombs) == 251 and all(t.is_tombstone for t in tombs)
    t = tombs[0]
    assert t.value(DELETED)["deleted_by"] and t.value(DELETED)["original_type"]
    e = encode(t)
    assert e["status"] == "tombstone" and "closed_at" not in e


def test_a_new_issue_has_one_default_version_and_an_edit_adds_one_entry() -> None:
    a = Clone("aaaaaaaa")
    st = a.create("bd-1", "t")
    v = encode(st)["_v"]
    assert list(v) == ["@"]
    st = a.set("bd-1", "priority", 0)
    v = encode(st)["_v"]
    assert set(v) == {"@", "priority"} and v["priority"] != v["@"]
    line = line_of(st)
    assert line.endswith("}}") and line.index('"_v"') > line.index('"updated_at"')  # last key


def test_codec_round_trip_keeps_versions_removed_elements_and_cleared_fields() -> None:
    a = Clone("aaaaaaaa")
    a.create("bd-1", "t", assignee="me")
    a.label("bd-1", "x")
    a.label("bd-1", "y")
    a.label("bd-1", "x", False)
    a.dep("bd-1", "bd-9")
    a.dep("bd-1", "bd-9", None)
    a.clear("bd-1", "assignee")
    a.comment("bd-1", "hello")
    st = a.delete("bd-1")
    line = line_of(st)
    back = state_of(line)
    assert line_of(back) == line
    assert back.labels["x"][0] is False and back.deps["bd-9"][0] is None
    assert back.regs["assignee"][0] is ABSENT
    o = obj(line)
    assert o["labels"] == ["y"] and "dependencies" not in o and "assignee" not in o
    assert o["status"] == "tombstone" and o["_v"]["status"][1] == "open"  # the hidden status


def test_comments_keep_beads_ids_and_are_identified_by_content() -> None:
    line = ('{"id":"bd-1","title":"t","description":"","status":"open","priority":2,"issue_type":"task",'
            '"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z","comments":['
            '{"id":2,"issue_id":"bd-1","author":"a","text":"hi","created_at":"2025-01-01T00:00:00Z"}]}')
    assert line_of(state_of(line)) == line
    # the same comment without beads' id (another clone) is one comment, with the id kept
    other = obj(line)
    other["comments"] = [{"author": "a", "text": "hi", "created_at": "2025-01-01T01:00:00+01:00"}]
    merged = m3(None, line, dumps_compact(other))
    assert len(obj(merged)["comments"]) == 1 and obj(merged)["comments"][0]["id"] == 2


def test_a_bad_version_object_is_read_as_a_line_without_versions() -> None:
    a = Clone("aaaaaaaa")
    o = obj(line_of(a.create("bd-1")))
    o["_v"] = {"@": "not a version!"}
    rec = decode(o)
    assert rec.default is None


# --- the merge rules -----------------------------------------------------------------------------

DISJOINT = [
    ("priority vs title", lambda c: c.set("bd-1", "priority", 0), lambda c: c.set("bd-1", "title", "renamed")),
    ("label x vs label y", lambda c: c.label("bd-1", "x"), lambda c: c.label("bd-1", "y")),
    ("comment vs close", lambda c: c.comment("bd-1", "note"), lambda c: c.close("bd-1", "done")),
    ("assignee vs description", lambda c: c.set("bd-1", "assignee", "ann"),
     lambda c: c.set("bd-1", "description", "more")),
]


@pytest.mark.parametrize("first_edits", ["a", "b"])
@pytest.mark.parametrize("case", DISJOINT, ids=[c[0] for c in DISJOINT])
def test_disjoint_edits_of_one_issue_both_survive(case: Any, first_edits: str) -> None:
    _, edit_a, edit_b = case
    a, b, base = pair()
    if first_edits == "a":
        la, lb = line_of(edit_a(a)), line_of(edit_b(b))
    else:
        lb, la = line_of(edit_b(b)), line_of(edit_a(a))
    merged = m3(base, la, lb)
    assert merged == m3(base, lb, la)  # whichever side git calls "ours"
    o = obj(merged)
    checks = {"priority vs title": o["priority"] == 0 and o["title"] == "renamed",
              "label x vs label y": o.get("labels") == ["x", "y"],
              "comment vs close": o["status"] == "closed" and len(o.get("comments", [])) == 1,
              "assignee vs description": o.get("assignee") == "ann" and o["description"] == "more"}
    assert checks[case[0]], o


def test_both_changed_the_later_version_wins_on_both_orders() -> None:
    a, b, base = pair()
    la = line_of(a.set("bd-1", "title", "from a"))
    lb = line_of(b.set("bd-1", "title", "from b"))  # b's clock reads later: a greater version
    assert obj(m3(base, la, lb))["title"] == obj(m3(base, lb, la))["title"] == "from b"


def test_a_clone_an_hour_behind_that_closes_after_seeing_an_edit_wins() -> None:
    a, b = Clone("aaaaaaaa"), Clone("bbbbbbbb", skew_ms=-3_600_000)
    b.receive("bd-1", a.create("bd-1"))
    a.receive("bd-1", b.issues["bd-1"])
    base = line_of(a.issues["bd-1"])
    edited = a.set("bd-1", "title", "edited")
    b.receive("bd-1", edited)  # b syncs, sees a's version
    closed = b.close("bd-1")
    for x, y in ((line_of(edited), line_of(closed)), (line_of(closed), line_of(edited))):
        assert obj(m3(base, x, y))["status"] == "closed"
    # the same register on both clones: b's close, made after seeing a's reopen, wins
    a.receive("bd-1", closed)
    reopened = a.reopen("bd-1")
    b.receive("bd-1", reopened)
    closed_again = b.close("bd-1")  # b's wall clock reads an hour earlier than a's reopen
    assert closed_again.regs["status"][1] > reopened.regs["status"][1]
    assert obj(m3(line_of(closed), line_of(reopened), line_of(closed_again)))["status"] == "closed"
    assert obj(line_of(closed))["updated_at"] >= obj(line_of(edited))["updated_at"]  # never backwards


def test_a_concurrent_edit_never_resurrects_a_delete_and_a_restore_brings_it_back() -> None:
    a, b, base = pair()
    deleted = line_of(a.delete("bd-1"))
    edited = line_of(b.set("bd-1", "title", "edited later"))  # a later clock, but concurrent
    merged = m3(base, deleted, edited)
    assert merged == m3(base, edited, deleted)
    o = obj(merged)
    assert o["status"] == "tombstone" and o["title"] == "edited later"  # kept, hidden
    a.receive("bd-1", state_of(merged))
    restored = a.restore("bd-1")
    r = obj(line_of(restored))
    assert r["status"] == "open" and r["title"] == "edited later"
    # the restore wins over the old tombstone whichever way it meets it
    assert obj(m3(base, line_of(restored), merged))["status"] == "open"


def test_a_close_concurrent_with_a_delete_is_kept_for_a_restore() -> None:
    a, b, base = pair()
    deleted = line_of(a.delete("bd-1"))
    closed = line_of(b.close("bd-1", "done"))
    merged = m3(base, closed, deleted)
    assert obj(merged)["status"] == "tombstone" and obj(merged)["close_reason"] == "done"
    a.receive("bd-1", state_of(merged))
    assert obj(line_of(a.restore("bd-1")))["status"] == "closed"


def test_two_deletes_the_later_says_who() -> None:
    a, b, base = pair()
    da, db = line_of(a.delete("bd-1", "dup")), line_of(b.delete("bd-1", "obsolete"))
    assert obj(m3(base, da, db))["delete_reason"] == obj(m3(base, db, da))["delete_reason"] == "obsolete"


def test_label_removed_here_and_another_added_there() -> None:
    a, b = Clone("aaaaaaaa"), Clone("bbbbbbbb")
    a.create("bd-1")
    st = a.label("bd-1", "x")
    b.receive("bd-1", st)
    base = line_of(st)
    la = line_of(a.label("bd-1", "x", False))
    lb = line_of(b.label("bd-1", "y"))
    assert obj(m3(base, la, lb)).get("labels") == ["y"]
    # a re-add made after seeing the removal wins
    b.receive("bd-1", state_of(la))
    again = line_of(b.label("bd-1", "x"))
    assert obj(m3(la, la, again))["labels"] == ["x", "y"]


def test_dependency_removed_on_one_side_added_on_the_other() -> None:
    a, b = Clone("aaaaaaaa"), Clone("bbbbbbbb")
    a.create("bd-1")
    st = a.dep("bd-1", "bd-2")
    b.receive("bd-1", st)
    base = line_of(st)
    la = line_of(a.dep("bd-1", "bd-2", None))
    lb = line_of(b.dep("bd-1", "bd-3", "related"))
    deps = obj(m3(base, la, lb))["dependencies"]
    assert [(d["depends_on_id"], d["type"]) for d in deps] == [("bd-3", "related")]


def test_a_missing_line_is_not_a_deletion() -> None:
    a, b, base = pair()
    la = line_of(a.set("bd-1", "title", "x"))
    assert m3(base, la, None) == la
    assert m3(base, None, None) == base


def test_an_older_file_never_reverts_a_newer_change() -> None:
    a = Clone("aaaaaaaa")
    a.create("bd-1")
    old = line_of(a.label("bd-1", "keep"))
    a.set("bd-1", "title", "newer")
    a.label("bd-1", "added-later")
    a.label("bd-1", "keep", False)
    new = line_of(a.comment("bd-1", "c"))
    # an import of the old file (git reset/stash/checkout): base = what we last exported
    assert m3(new, old, new) == new
    assert m3(new, new, old) == new


def test_a_beads_client_edit_of_a_line_without_versions_merges_by_field() -> None:
    a = Clone("aaaaaaaa")
    st = a.create("bd-1", "t")
    base = line_of(st)
    ours = line_of(a.set("bd-1", "priority", 0))
    # a beads client rewrites the base line: no _v, new notes, later updated_at
    theirs = obj(base)
    theirs.pop("_v")
    theirs["notes"] = "from beads"
    theirs["updated_at"] = iso(1_760_000_100_000)
    merged = obj(m3(base, ours, dumps_compact(theirs)))
    assert merged["priority"] == 0 and merged["notes"] == "from beads"
    assert merged == obj(m3(base, dumps_compact(theirs), ours))


def test_two_beads_files_without_versions_merge_field_by_field() -> None:
    base = {"id": "bd-1", "title": "t", "description": "", "status": "open", "priority": 2, "issue_type": "task",
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}
    x = dict(base, title="x", updated_at="2025-01-02T00:00:00Z")
    y = dict(base, priority=1, labels=["l"], updated_at="2025-01-03T00:00:00Z")
    m = obj(m3(dumps_compact(base), dumps_compact(x), dumps_compact(y)))
    assert (m["title"], m["priority"], m["labels"], m["updated_at"]) == ("x", 1, ["l"], "2025-01-03T00:00:00Z")
    # both changed the title: the later updated_at wins
    y2 = dict(y, title="y")
    assert obj(m3(dumps_compact(base), dumps_compact(x), dumps_compact(y2)))["title"] == "y"


def test_a_hand_edit_that_keeps_the_versions_counts_as_an_edit() -> None:
    a, b = Clone("aaaaaaaa"), Clone("bbbbbbbb")
    a.create("bd-1")
    st = a.label("bd-1", "x")
    b.receive("bd-1", st)
    base = line_of(st)
    hand = obj(base)
    hand["title"] = "typo fixed"
    hand["labels"] = []  # removed by hand, the _v untouched
    ours = line_of(b.set("bd-1", "priority", 1))
    for m in (obj(m3(base, dumps_compact(hand), ours)), obj(m3(base, ours, dumps_compact(hand)))):
        assert m["title"] == "typo fixed" and m["priority"] == 1 and "labels" not in m


def test_a_tombstone_from_beads_stays_deleted_against_an_older_live_line() -> None:
    lines = (DATA_DIR / "2025-12-28-tombstones.jsonl").read_text(encoding="utf-8").splitlines()
    tomb = next(x for x in lines if '"status":"tombstone"' in x)
    live = obj(tomb)
    for k in ("deleted_at", "deleted_by", "delete_reason", "original_type"):
        live.pop(k)
    live["status"] = "open"
    live["updated_at"] = live["created_at"]
    old = dumps_compact(live)
    for x, y in ((old, tomb), (tomb, old)):
        assert obj(m3(old, x, y))["status"] == "tombstone"
        assert obj(m3(None, x, y))["status"] == "tombstone"


def test_join_of_a_state_with_itself_and_an_older_self() -> None:
    a = Clone("aaaaaaaa")
    a.create("bd-1")
    old = a.issues["bd-1"]
    new = a.set("bd-1", "notes", "n")
    assert line_of(join(new, new)) == line_of(new)
    assert line_of(join(old, new)) == line_of(join(new, old)) == line_of(new)


# --- whole files -----------------------------------------------------------------------------------

def _issue(i: str, created: str, title: str = "t", **kw: Any) -> str:
    o = {"id": i, "title": title, "description": "", "status": "open", "priority": 2, "issue_type": "task",
         "created_at": created, "updated_at": created}
    o.update(kw)
    return dumps_compact(o)


def test_file_merge_is_symmetric_and_takes_unchanged_sides_verbatim() -> None:
    a, b = Clone("aaaaaaaa"), Clone("bbbbbbbb")
    s1, s2 = a.create("bd-1"), a.create("bd-2")
    for s in (s1, s2):
        b.receive(s.id, s)
    spaced = json.dumps(obj(line_of(s2)))  # another writer's formatting
    base = line_of(s1) + "\n" + spaced + "\n"
    ours = line_of(a.set("bd-1", "title", "A")) + "\n" + spaced + "\n"
    theirs = line_of(b.set("bd-1", "priority", 0)) + "\n" + spaced + "\n" + line_of(b.create("bd-3")) + "\n"
    r1, r2 = merge_texts(base, ours, theirs), merge_texts(base, theirs, ours)
    assert r1.text == r2.text and r1.both_changed == ["bd-1"]
    lines = r1.text.splitlines()
    assert [obj(x)["id"] for x in lines] == ["bd-1", "bd-2", "bd-3"]
    assert lines[1] == spaced  # an issue nobody changed keeps its line byte for byte
    assert (obj(lines[0])["title"], obj(lines[0])["priority"]) == ("A", 0)


def test_file_merge_keeps_issues_a_side_dropped() -> None:
    base = _issue("bd-1", "2025-01-01T00:00:00Z") + "\n" + _issue("bd-2", "2025-01-01T00:00:00Z") + "\n"
    ours = _issue("bd-1", "2025-01-01T00:00:00Z") + "\n"
    r = merge_texts(base, ours, base)
    assert r.text == base and r.kept_absent == ["bd-2"]


def test_file_merge_refuses_conflict_markers_and_garbage() -> None:
    with pytest.raises(ImportFormatError):
        merge_texts("", "<<<<<<< HEAD\n", "")
    with pytest.raises(ImportFormatError):
        merge_texts("", "", "not json\n")


def test_sequential_collision_renumbers_the_issue_not_in_the_base() -> None:
    base = _issue("bd-1", "2025-01-01T00:00:00.100000Z") + "\n"
    mine = _issue("bd-2", "2025-01-02T00:00:00.200000Z", "mine", description="see bd-2")
    dep_on_mine = _issue("bd-3", "2025-01-02T00:00:01.300000Z", "uses mine", dependencies=[
        {"issue_id": "bd-3", "depends_on_id": "bd-2", "type": "blocks", "created_at": "2025-01-02T00:00:02Z",
         "created_by": "me"}])
    pushed = _issue("bd-2", "2025-01-03T00:00:00.400000Z", "pushed")
    ours = base + mine + "\n" + dep_on_mine + "\n"
    theirs = base + pushed + "\n"
    # neither is in the base: the one a remote-tracking ref has keeps its ID
    r = merge_texts(base, ours, theirs, pushed=lambda i, us: us == 1735862400400000)
    r2 = merge_texts(base, theirs, ours, pushed=lambda i, us: us == 1735862400400000)
    assert r.text == r2.text
    assert r.renumbered_ours == {"bd-2": "bd-4"} and r2.renumbered_theirs == {"bd-2": "bd-4"}
    got = {obj(x)["id"]: obj(x) for x in r.text.splitlines()}
    assert got["bd-2"]["title"] == "pushed" and got["bd-4"]["title"] == "mine"
    assert got["bd-4"]["description"] == "see bd-4"
    assert got["bd-3"]["dependencies"][0]["depends_on_id"] == "bd-4"
    # without remote knowledge: the later-created one moves, whichever side it is on
    r3 = merge_texts(base, ours, theirs)
    assert r3.renumbered_theirs == {"bd-2": "bd-4"} and r3.text == merge_texts(base, theirs, ours).text
    # in hash-ID mode nothing is renumbered (and hash IDs never collide this way)
    assert not merge_texts(base, ours, theirs, renumber=False).renumbered_ours


def test_an_id_twice_in_one_file_becomes_one_line() -> None:
    a = Clone("aaaaaaaa")
    a.create("bd-1")
    l1 = line_of(a.label("bd-1", "x"))
    l2 = line_of(a.set("bd-1", "title", "later"))
    r = merge_texts("", l1 + "\n" + l2 + "\n", "")
    assert r.text.count("\n") == 1 and obj(r.text)["title"] == "later"


# --- hash IDs --------------------------------------------------------------------------------------

def test_hash_id_length_grows_with_the_database() -> None:
    assert ids.hash_length(0) == 4
    assert ids.hash_length(400) == 4
    assert ids.hash_length(1000) == 5
    assert ids.hash_length(10_000) == 6
    assert ids.hash_length(10 ** 9) == 8


def test_hash_ids_are_deterministic_never_all_digits_and_lengthen_on_collision() -> None:
    one = ids.new_hash_id("bd", "t", "d", "me", 123, 0, lambda i: False)
    assert one == ids.new_hash_id("bd", "t", "d", "me", 123, 0, lambda i: False)
    assert ids.is_hash_id(one) and len(one) == len("bd-") + 4
    taken: set[str] = set()
    got = []
    for _ in range(12):  # every nonce of length 4 taken, then 5
        i = ids.new_hash_id("bd", "t", "d", "me", 123, 0, taken.__contains__)
        taken.add(i)
        got.append(i)
    assert len(set(got)) == 12 and {len(i) for i in got} == {7, 8}
    many = {ids.new_hash_id("p", f"t{n}", "", "me", n, 100, lambda i: False) for n in range(3000)}
    assert all(not i.split("-")[1].isdigit() for i in many)


def test_rewrite_mentions_whole_words_only() -> None:
    assert ids.rewrite_mentions("bd-1, bd-10 and xbd-1 (bd-1.2)", {"bd-1": "bd-9"}) == "bd-9, bd-10 and xbd-1 (bd-1.2)"
    assert ids.plan_renumber(["bd-2", "bd-1"], {"bd-1", "bd-2", "bd-7"}) == {"bd-1": "bd-8", "bd-2": "bd-9"}


def test_the_status_register_is_one_value() -> None:
    a, b, base = pair()
    la = line_of(a.close("bd-1", "fixed"))
    lb = line_of(b.reopen("bd-1"))  # later: a reopen clears closed_at and the reason together
    m = obj(m3(base, la, lb))
    assert m["status"] == "open" and "closed_at" not in m and "close_reason" not in m
    assert state_of(la).regs[STATUS][0]["close_reason"] == "fixed"


# --- the stored version object -------------------------------------------------------------------

def test_stored_versions_match_what_the_codec_writes() -> None:
    from bdgit.replication import versions as V
    from bdgit.replication.record import with_versions
    a = Clone("aaaaaaaa")
    st = a.create("bd-1")
    v = V.initial(st.regs["title"][1])
    st = a.set("bd-1", "title", "x")
    V.stamp(v, ["title"], st.regs["title"][1])
    st = a.close("bd-1", "done")
    V.stamp(v, ["status", "closed_at", "close_reason"], st.regs[STATUS][1])
    st = a.label("bd-1", "l")
    V.stamp_elem(v, "labels", "l", st.labels["l"][1])
    e = encode(st)
    assert e["_v"] == v
    plain = encode(st, versions=False)
    assert with_versions(plain, v) == e
    assert V.top(v) == st.top()
    V.hide_status(v, "closed", "2025-01-01T00:00:00Z")
    assert isinstance(v["status"], list) and V.unhide_status(v) == ("closed", "2025-01-01T00:00:00Z")
    assert V.rename_elem(v, "labels", {"l": "m"}) and v["labels"] == {"m": e["_v"]["labels"]["l"]}
    assert V.loads(V.dumps(v)) == v and V.loads("garbage") == {} and V.dumps({}) == ""
