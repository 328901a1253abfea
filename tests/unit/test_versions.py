"""Version ordering: semver (v prefix, missing parts, prereleases) and 17-digit timestamps."""

from __future__ import annotations

import pytest

from gitops_release.versions import Order, compare, parse_version


@pytest.mark.parametrize(("current", "new", "expected"), [
    ("v1.2.3", "v1.2.4", Order.NEWER),
    ("v1.2.4", "v1.2.3", Order.OLDER),
    ("v5", "v6", Order.NEWER),
    ("v6", "v5.9.9", Order.OLDER),
    ("v6", "v6.0.0", Order.SAME),
    ("1.2", "v1.2.0", Order.SAME),
    ("v1.10.0", "v1.9.0", Order.OLDER),
    ("1.0.0-rc.1", "1.0.0", Order.NEWER),
    ("1.0.0", "1.0.0-rc.1", Order.OLDER),
    ("1.0.0-alpha", "1.0.0-alpha.1", Order.NEWER),
    ("1.0.0-rc.2", "1.0.0-rc.10", Order.NEWER),
    ("1.0.0+build.1", "1.0.0+build.2", Order.SAME),
    # numbers inside an identifier of letters and digits compare as numbers
    ("1.29.1-debian-12-r9", "1.29.1-debian-12-r10", Order.NEWER),
    ("1.29.1-debian-12-r10", "1.29.1-debian-12-r9", Order.OLDER),
    ("1.29.1-debian-12-r19", "1.29.1-debian-12-r20", Order.NEWER),
    ("1.29.1-debian-12-r10", "1.29.2-debian-12-r0", Order.NEWER),
    ("1.29.1-debian-12-r3", "1.29.1-debian-13-r0", Order.NEWER),
    ("1.0.0-rc9", "1.0.0-rc10", Order.NEWER),
    ("1.0.0-beta10", "1.0.0-rc1", Order.NEWER),
    ("1.0.0-rc10", "1.0.0", Order.NEWER),
    ("1.0.0-r9", "1.0.0-r09", Order.OLDER),
    ("1.0.0-1", "1.0.0-a", Order.NEWER),
    ("1.0.0-a", "1.0.0-1", Order.OLDER),
    ("1.0.0-alpha.1", "1.0.0-alpha", Order.OLDER),
    ("20261126101500123", "20261126101500124", Order.NEWER),
    ("20261126101500123", "20251231235959999", Order.OLDER),
    ("20261126101500123", "v1.2.3", Order.INCOMPARABLE),
    ("v1.2.3", "20261126101500123", Order.INCOMPARABLE),
    ("latest", "v1.2.3", Order.INCOMPARABLE),
    ("v1.2.3", "main", Order.INCOMPARABLE),
    ("v01.2.3", "v1.2.4", Order.INCOMPARABLE),
    ("latest", "latest", Order.SAME),
], ids=lambda v: str(v))
def test_compare(current: str, new: str, expected: Order) -> None:
    assert compare(current, new) is expected


@pytest.mark.parametrize("text", ["2026112610150012", "202611261015001234", "v1.2.3.4", "1.2-",
                                  "", "v", "x1.2.3"])
def test_outside_both_schemes(text: str) -> None:
    assert parse_version(text) is None


def test_timestamp_is_not_read_as_a_semver_major() -> None:
    parsed = parse_version("20261126101500123")
    assert parsed is not None and parsed.scheme == "timestamp"
