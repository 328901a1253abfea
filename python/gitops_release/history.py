"""Find, in the config repo's own history, the image an overlay ran at a given version.

Two passes over the commits that touched the overlay folder, newest first:

1. deploy commits: their ``Image:`` and ``Overlay:`` trailers (``Overlay`` is the overlay the
   deploy named; a ``prod`` deploy also wrote its ``prod-*`` siblings) point at a candidate, and
   the overlay's files at that commit must confirm it (trailers are text anyone with push access
   can write; the files are what ran);
2. every commit that touched the folder: its files are read (the same discovery and parsing as
   a deploy) until one runs an image whose tag agrees with the version.

Only the overlay folder's own files are read at each commit (``git ls-tree`` and ``git cat-file``
into a temporary folder), so the cost follows the overlay, not the repository.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gitops_release.errors import GitopsReleaseError, InputError, ManifestError
from gitops_release.gitops import Git
from gitops_release.manifests import read_image
from gitops_release.policy import Hold, tag_agrees
from gitops_release.reference import ImageReference, parse_reference

MAX_COMMITS = 1000  # how far back pass 1 looks (one git log)
MAX_READS = 200  # how many commits pass 2 reads files of
MAX_TREE_FILES = 2000  # files of the app's folder materialized per commit read


@dataclass(frozen=True)
class Found:
    image: ImageReference
    commit: str
    how: str  # "trailers" or "files"


def _deploy_commits(git: Git, path: str) -> list[tuple[str, dict[str, str]]]:
    """(sha, trailers) of the commits that touched ``path``, newest first."""
    out = git.run("log", "-z", f"--max-count={MAX_COMMITS}", "--format=%H%n%(trailers:only,unfold)",
                  "--", path).stdout
    commits = []
    for record in out.split("\0"):
        sha, _, block = record.partition("\n")
        if not sha:
            continue
        trailers: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(": ")
            if sep:
                trailers[key.strip()] = value.strip()
        commits.append((sha.strip(), trailers))
    return commits


def _covers(overlay: str, path: str) -> bool:
    """A deploy naming ``overlay`` wrote ``path`` (itself, or a prod-* sibling of prod)."""
    return Hold(overlay, "", "", "", "").covers(path)


def image_at(git: Git, commit: str, path: str, event: str, app: str,
             container: str = "") -> ImageReference | None:
    """The image the overlay ``path`` ran at ``commit``, read from its files; None when it held
    no target (or nothing readable) then."""
    parts = PurePosixPath(path).parts
    # The overlay's kustomize tree at that commit: the app's folder (what holds base/ and
    # overlays/), else the overlay's parent; symlinks and submodules are not materialized.
    top = parts[: parts.index("overlays")] if "overlays" in parts[1:] else parts[:-1] or parts
    listing = git.run("ls-tree", "-r", "-z", commit, "--", "/".join(top) + "/",
                      check=False).stdout
    with tempfile.TemporaryDirectory(prefix="gitops-release-history-") as temp:
        for entry in listing.split("\0")[:MAX_TREE_FILES]:
            meta, _, name = entry.partition("\t")
            fields = meta.split()
            if len(fields) != 3 or fields[1] != "blob" or fields[0] not in ("100644", "100755"):
                continue
            try:
                data = git.run("cat-file", "blob", fields[2]).stdout
            except UnicodeDecodeError:
                continue  # not text: no manifest of ours
            target = Path(temp, *PurePosixPath(name).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                target.write_text(data, encoding="utf-8")
            except UnicodeEncodeError:
                continue  # git's text held undecodable bytes: not a manifest of ours
        if not Path(temp, *parts).is_dir():
            return None
        try:
            previous = read_image(Path(temp), path, app, event, container)
            return parse_reference(previous, "image") if previous else None
        except (ManifestError, GitopsReleaseError):
            return None


def find_image(git: Git, path: str, version: str, event: str, app: str,
               container: str = "") -> Found:
    """The image ``path`` ran at ``version``, newest first; InputError naming 'to' when none."""
    commits = _deploy_commits(git, path)
    for sha, trailers in commits:
        overlay, image_text = trailers.get("Overlay", ""), trailers.get("Image", "")
        if not overlay or not image_text or not _covers(overlay, path):
            continue
        try:
            image = parse_reference(image_text, "image")
        except GitopsReleaseError:
            continue
        if tag_agrees(image, version) and image_at(git, sha, path, event, app, container) == image:
            return Found(image, sha, "trailers")
    for sha, _ in commits[:MAX_READS]:
        ran = image_at(git, sha, path, event, app, container)
        if ran is not None and tag_agrees(ran, version):
            return Found(ran, sha, "files")
    raise InputError(f"{path} never ran a {app!r} image tagged {version!r} in the last "
                     f"{min(len(commits), MAX_COMMITS)} commits that touched it", input_name="to",
                     hint="Give a version the overlay ran (git log -- <path> shows them), and "
                     "--app when the container is not named after the app folder")
