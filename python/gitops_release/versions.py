"""Version ordering for the receiver: an environment only moves forward.

Two schemes are compared, and only with themselves:

* semver, as the app's git tags are written: a leading ``v`` allowed, a missing minor or patch read
  as 0 (``v5`` < ``v6`` < ``v6.0.1``), a major of at most 8 digits, prereleases ordered by the
  semver rules (``1.0.0-rc.1`` < ``1.0.0``), build metadata ignored; except that the numbers
  inside an identifier of letters and digits are compared as numbers (``rc9`` < ``rc10``, and
  Bitnami's image revisions ``1.29.1-debian-12-r9`` < ``1.29.1-debian-12-r10``), where semver
  compares the characters (``r10`` before ``r9``) and would call every such bump a downgrade;
* the 17-digit UTC timestamp ``YYYYMMDDHHmmssSSS`` that branch builds are tagged with.

Anything else (``latest``, a branch name, a change of scheme) cannot be ordered: it is reported as
incomparable and the caller deploys it with a notice.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

TIMESTAMP_RE = re.compile(r"[0-9]{17}", re.ASCII)
SEMVER_RE = re.compile(
    r"v?(?P<core>(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)){0,2})"
    r"(?P<rest>(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)",
    re.ASCII,
)


MAX_MAJOR_DIGITS = 8


class Order(enum.Enum):
    """How a new version relates to the one an environment runs."""

    OLDER = "older"
    SAME = "same"
    NEWER = "newer"
    INCOMPARABLE = "incomparable"


@dataclass(frozen=True)
class ParsedVersion:
    """A version in one scheme: ``timestamp`` (an int) or ``semver`` (a semver.Version)."""

    scheme: str
    key: Any


def parse_version(text: str) -> ParsedVersion | None:
    """The version in its scheme, or None when it is in neither."""
    if TIMESTAMP_RE.fullmatch(text):
        return ParsedVersion("timestamp", int(text))
    match = SEMVER_RE.fullmatch(text)
    if match is None:
        return None
    import semver  # imported here: only a deploy that compares versions pays for it

    parts = match["core"].split(".")
    if len(parts[0]) > MAX_MAJOR_DIGITS:
        return None  # a date or build number of another length, not a version
    parts += ["0"] * (3 - len(parts))
    try:
        return ParsedVersion("semver", semver.Version.parse(".".join(parts) + match["rest"]))
    except ValueError:
        return None


def compare(current: str, new: str) -> Order:
    """Order ``new`` relative to ``current``."""
    if current == new:
        return Order.SAME
    old_v, new_v = parse_version(current), parse_version(new)
    if old_v is None or new_v is None or old_v.scheme != new_v.scheme:
        return Order.INCOMPARABLE
    if old_v.scheme == "semver":
        result = _semver_order(new_v.key, old_v.key)  # build metadata does not take part
    else:
        result = (new_v.key > old_v.key) - (new_v.key < old_v.key)
    if result < 0:
        return Order.OLDER
    return Order.NEWER if result > 0 else Order.SAME


DIGITS_RE = re.compile(r"([0-9]+)", re.ASCII)


def _semver_order(a: Any, b: Any) -> int:
    """semver's order of ``a`` and ``b`` (semver.Version), numbers inside alphanumeric
    prerelease identifiers compared as numbers."""
    core = (a.major, a.minor, a.patch), (b.major, b.minor, b.patch)
    if core[0] != core[1]:
        return -1 if core[0] < core[1] else 1
    if not a.prerelease or not b.prerelease:  # a release comes after its prereleases
        return (not a.prerelease) - (not b.prerelease)
    left, right = a.prerelease.split("."), b.prerelease.split(".")
    for x, y in zip(left, right, strict=False):
        if x == y:
            continue
        if x.isdigit() or y.isdigit():  # numeric identifiers come before alphanumeric ones
            kx, ky = (0, int(x), "") if x.isdigit() else (1, 0, x), \
                (0, int(y), "") if y.isdigit() else (1, 0, y)
            return -1 if kx < ky else 1
        nx, ny = _natural(x), _natural(y)
        if nx != ny:
            return -1 if nx < ny else 1
        return -1 if x < y else 1  # equal as numbers (r09, r9): by the characters
    return (len(left) > len(right)) - (len(left) < len(right))


def _natural(identifier: str) -> list[tuple[int, int, str]]:
    """``debian-12-r9`` as [text 'debian-', 12, text '-r', 9]: numbers compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in DIGITS_RE.split(identifier) if part]
