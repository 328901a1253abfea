"""What the tag rules read, read once: the event's ref and sha, its name and payload, the clock
(metadata-action's ``context.ts``), and the OCI labels of the image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from gitops_release.errors import InputError


@dataclass(frozen=True)
class Context:
    """What the rules read: the event's ref and sha, its name and payload, and the clock."""

    ref: str
    sha: str = ""
    event_name: str = "push"
    payload: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    short_sha_length: int = 7

    @property
    def branch(self) -> str:
        return self.ref[len("refs/heads/"):] if self.ref.startswith("refs/heads/") else ""

    @property
    def tag(self) -> str:
        return self.ref[len("refs/tags/"):] if self.ref.startswith("refs/tags/") else ""

    @property
    def short_sha(self) -> str:
        return self.sha[: self.short_sha_length]

    @property
    def default_branch(self) -> str:
        repository = self.payload.get("repository")
        return str(repository.get("default_branch", "")) if isinstance(repository, dict) else ""



def context_from_environ(environ: Mapping[str, str], now: datetime | None = None) -> Context:
    """The context of the running workflow, read from the ``GITHUB_*`` variables."""
    import json
    from pathlib import Path

    payload: dict[str, Any] = {}
    event_path = environ.get("GITHUB_EVENT_PATH", "")
    if event_path and Path(event_path).is_file():
        try:
            loaded = json.loads(Path(event_path).read_text(encoding="utf-8"))
            payload = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            payload = {}
    length = environ.get("DOCKER_METADATA_SHORT_SHA_LENGTH", "7")
    return Context(ref=environ.get("GITHUB_REF", ""), sha=environ.get("GITHUB_SHA", ""),
                   event_name=environ.get("GITHUB_EVENT_NAME", ""), payload=payload,
                   now=now or datetime.now(timezone.utc),
                   short_sha_length=int(length) if length.isdigit() else 7)


def labels(version: str, environ: Mapping[str, str], created: datetime,
           extra: Sequence[str] = ()) -> dict[str, str]:
    """OCI labels from the ``GITHUB_*`` variables, then the user's ``key=value`` lines, by key."""
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = environ.get("GITHUB_REPOSITORY", "")
    result = {
        "org.opencontainers.image.created": created.astimezone(timezone.utc)
        .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "org.opencontainers.image.revision": environ.get("GITHUB_SHA", ""),
        "org.opencontainers.image.source": f"{server}/{repository}" if repository else "",
        "org.opencontainers.image.title": repository.rsplit("/", 1)[-1],
        "org.opencontainers.image.version": version,
    }
    for line in extra:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{line!r} is not key=value", input_name="labels")
        result[key.strip()] = value
    return dict(sorted(result.items()))
