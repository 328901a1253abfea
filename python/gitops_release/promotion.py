"""Promotion by digest: give the image that was built from this commit (and tested in dev) the
release's tags, instead of building it again, so that prod runs exactly dev's bytes.

The image of a commit is found in the registry by its sha tag (``sha-<short sha>`` or the full
commit id, from a ``type=sha`` rule) or by the ``org.opencontainers.image.revision`` label that
build-push writes into every image; timestamp tags are searched newest first, at most
:data:`SEARCH_LIMIT` images. The tags are added with ``docker buildx imagetools create`` from the
image's digest (through python-on-whales), which pushes the same manifest list under the new
tags: the digest does not change, and this is checked afterwards.

``promote`` input: ``auto`` (default) promotes on a version-tag push and builds when no image of
the commit exists; ``always`` promotes on every event and fails when there is no image of the
commit; ``never`` always builds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitops_release.errors import BuildError, InputError
from gitops_release.registry import Image, RegistryClient, newest_first

if TYPE_CHECKING:
    from python_on_whales import DockerClient

MODES = ("auto", "always", "never")
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class Found:
    """The image built from the commit, and how it was recognized."""

    image: Image
    tag: str
    by: str  # "sha tag" or "revision label"


def parse_mode(value: str, input_name: str = "promote") -> str:
    mode = value.strip()
    if mode not in MODES:
        raise InputError(f"{value!r} is not a promotion mode", input_name=input_name,
                         hint="Use auto (promote on version tags, else build), always (promote "
                              "or fail) or never (always build)")
    return mode


def wanted(mode: str, ref: str) -> bool:
    """Whether to look for an image to promote: ``auto`` only on a tag push."""
    return mode == "always" or (mode == "auto" and ref.startswith("refs/tags/"))


def _sha_tags(tags: Sequence[str], sha: str, short_length: int) -> list[str]:
    short = sha[:short_length]
    return [t for t in tags if t in (sha, f"sha-{sha}", f"sha-{short}")]


def find_build(client: RegistryClient, name: str, sha: str, *, short_length: int = 7,
               skip: Sequence[str] = (), log: Callable[[str], None] = lambda _: None
               ) -> Found | None:
    """The image of ``name`` built from commit ``sha``, or None. ``skip``: tags not to consider
    as the source (the tags about to be pushed, e.g. ``latest``, which may hold another build)."""
    if not sha:
        return None
    tags = [t for t in client.tags(name) if t not in skip]
    for tag in _sha_tags(tags, sha, short_length):
        image = client.image(name, tag)
        if image is not None and image.revision in ("", sha):
            return Found(image, tag, "sha tag")
    for checked, tag in enumerate(newest_first(tags)):
        if checked >= SEARCH_LIMIT:
            log(f"looked at the newest {SEARCH_LIMIT} images of {name}; none was built from "
                f"{sha[:12]}")
            break
        image = client.image(name, tag)
        if image is not None and image.revision == sha:
            return Found(image, tag, "revision label")
    return None


def retag(docker: DockerClient, client: RegistryClient, name: str, found: Found,
          references: Sequence[str], log: Callable[[str], None]) -> None:
    """Push the found manifest (list) under ``references`` and check the digest stayed."""
    from python_on_whales.exceptions import DockerException

    source = f"{client.host}/{name}@{found.image.digest}"
    for attempt in (1, 2):
        try:
            docker.buildx.imagetools.create(sources=[source], tags=list(references))
            break
        except DockerException as exc:
            text = " ".join(((exc.stderr or "") + (exc.stdout or "")).strip().splitlines()[-3:])
            if attempt == 1 and re.search(r"\b5\d\d [A-Z]", text):
                log(f"the registry failed the re-tag ({text[-200:]}); trying again")
                continue
            raise BuildError(f"docker buildx imagetools create from {source} failed: {text}",
                             input_name="registry",
                             hint="Check that the account may push to this repository") from exc
    for reference in references:
        tag = reference.rsplit(":", 1)[1]
        got = client.manifest(name, tag)
        if got is None or got[1] != found.image.digest:
            raise BuildError(f"{reference} has the digest {got[1] if got else 'none'} after the "
                             f"promotion, not {found.image.digest}", input_name="registry",
                             hint="The registry rewrote the manifest; set promote: never to "
                                  "build instead")
        log(f"{reference} → {found.image.digest}")
