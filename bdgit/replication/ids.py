"""Issue IDs across clones: sequential collisions and their renumbering, and hash IDs.

Sequential IDs (``bd-12``) can be taken by two clones for two different issues; the one that
never reached the remote is renumbered (``plan_renumber``) and every mention follows
(``rewrite_mentions``). Hash IDs (``bd-k3f9``) are content hashes, lengthened on a collision and
never renumbered.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable

#: an issue ID as a whole word (hyphens and dots count as part of the word), in text
ID_TOKEN = re.compile(r"(?<![\w.-])([A-Za-z][A-Za-z0-9_-]*-[A-Za-z0-9]+(?:\.[0-9]+)*)(?![\w-]|\.\w)")
_NUM = re.compile(r"^(.+)-(\d+)$")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"

HASH_MIN_LEN = 4
HASH_MAX_LEN = 8
#: beads' threshold: the shortest length whose birthday-bound collision probability for the
#: database's size stays below this
MAX_COLLISION_PROB = 0.25
NONCES_PER_LENGTH = 10


def rewrite_mentions(text: str, mapping: dict[str, str]) -> str:
    """Replace whole-word mentions of the IDs in ``mapping`` (others are left alone)."""
    if not text:
        return text
    return ID_TOKEN.sub(lambda m: mapping.get(m.group(1), m.group(1)), text)


def may_collide(issue_id: str) -> bool:
    """Only sequential IDs (``prefix-N``) can be taken by two different issues. A hash ID
    (``bd-a1b2``, ``bd-0088``) names one issue wherever it appears, even when an old beads reset
    its ``created_at``: the same hash ID is the same issue."""
    suffix = issue_id.rsplit("-", 1)[-1]
    return suffix.isdigit() and not suffix.startswith("0")


def same_creation(a_us: int, b_us: int) -> bool:
    """Whether two ``created_at`` values (microseconds) can be the same issue's: equal, or within
    a second when one of them has no fraction (written by a tool that truncates or rounds).
    Two different issues made within the same second by bd itself (agents on two clones
    taking the same sequential ID) still differ in their microseconds: a collision."""
    if a_us == b_us:
        return True
    return abs(a_us - b_us) < 1_000_000 and (a_us % 1_000_000 == 0 or b_us % 1_000_000 == 0)


def num_key(i: str) -> tuple[str, int, str]:
    m = _NUM.match(i)
    return (m.group(1), int(m.group(2)), i) if m else (i, -1, i)


def plan_renumber(ids: list[str], taken: set[str]) -> dict[str, str]:
    """New IDs for ``ids``: per prefix, the next numbers after the highest taken (in ID order).
    Deterministic: the same IDs and taken set give the same plan in every clone."""
    top: dict[str, int] = {}
    for i in taken:
        m = _NUM.match(i)
        if m:
            top[m.group(1)] = max(top.get(m.group(1), 0), int(m.group(2)))
    out: dict[str, str] = {}
    for i in sorted(ids, key=num_key):
        m = _NUM.match(i)
        prefix = m.group(1) if m else i
        n = top.get(prefix, 0) + 1
        while f"{prefix}-{n}" in taken:
            n += 1
        top[prefix] = n
        out[i] = f"{prefix}-{n}"
    return out


# --- hash IDs ----------------------------------------------------------------------------------

def hash_length(n_issues: int) -> int:
    """The shortest length (4..8) whose birthday-bound probability of any collision among
    ``n_issues + 1`` IDs stays under ``MAX_COLLISION_PROB``."""
    n = n_issues + 1
    for length in range(HASH_MIN_LEN, HASH_MAX_LEN + 1):
        space = 36 ** length
        if 1 - math.exp(-n * n / (2 * space)) <= MAX_COLLISION_PROB:
            return length
    return HASH_MAX_LEN


def hash_suffix(title: str, description: str, creator: str, created_ns: int, length: int, nonce: int) -> str:
    """``length`` base-36 characters of sha256(title|description|creator|created ns|nonce)."""
    import hashlib
    digest = hashlib.sha256(f"{title}|{description}|{creator}|{created_ns}|{nonce}".encode()).digest()
    n = int.from_bytes(digest[:8], "big") % 36 ** length
    out = []
    for _ in range(length):
        n, r = divmod(n, 36)
        out.append(_B36[r])
    return "".join(reversed(out))


def new_hash_id(prefix: str, title: str, description: str, creator: str, created_ns: int,
                n_issues: int, taken: Callable[[str], bool]) -> str:
    """A hash ID no issue has (``taken(id)`` says whether one does): the database-size length
    first, ten nonces per length, then one character longer. Suffixes of only digits are
    skipped, so a hash ID is never mistaken for a sequential one. Raises ValueError when even
    8 characters collide ten times (practically impossible)."""
    for length in range(hash_length(n_issues), HASH_MAX_LEN + 1):
        for nonce in range(NONCES_PER_LENGTH):
            suffix = hash_suffix(title, description, creator, created_ns, length, nonce)
            if suffix.isdigit():
                continue
            candidate = f"{prefix}-{suffix}"
            if not taken(candidate):
                return candidate
    raise ValueError("no free hash ID after every length and nonce")


def is_hash_id(issue_id: str) -> bool:
    """Whether ``issue_id`` looks like one of our hash IDs (4..8 base-36 characters, not all digits)."""
    suffix = issue_id.rsplit("-", 1)[-1]
    return (HASH_MIN_LEN <= len(suffix) <= HASH_MAX_LEN and not suffix.isdigit()
            and all(ch in _B36 for ch in suffix))
