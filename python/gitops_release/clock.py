"""The current time, pinnable for tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from gitops_release.errors import InputError


def now_utc(environ: Mapping[str, str]) -> datetime:
    """The current time; ``GITOPS_RELEASE_NOW`` (YYYY-MM-DDTHH:MM:SSZ) pins it for tests."""
    pinned = environ.get("GITOPS_RELEASE_NOW", "").strip()
    if pinned:
        try:
            return datetime.strptime(pinned, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise InputError(f"{pinned!r} is not YYYY-MM-DDTHH:MM:SSZ",
                             input_name="GITOPS_RELEASE_NOW") from None
    return datetime.now(timezone.utc)
