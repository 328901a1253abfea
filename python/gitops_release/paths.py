"""Overlay paths from a dispatch payload, checked before anything is read or written.

A path is relative, has no ``..`` or empty component, does not enter ``.git``, stays inside the
config root, and no component on the way is a symlink (each is checked with ``lstat``, so a
symlink planted in the config repo cannot send a write outside it).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath

from gitops_release.errors import PathError

COMPONENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*", re.ASCII)
MAX_PATH_LENGTH = 1024


def _fail(input_name: str, value: str, why: str) -> PathError:
    return PathError(f"{value!r} {why}", input_name=input_name,
                     hint="Use a relative folder inside the config root, such as "
                     "apps/<name>/overlays/<env>, made of letters, digits, '.', '_' and '-'")


def check_relative(value: str, input_name: str) -> PurePosixPath:
    """Validate the text of a relative path (no file system access)."""
    if value in ("", "."):
        if input_name == "config-root":
            return PurePosixPath(".")
        raise _fail(input_name, value, "is empty")
    if len(value) > MAX_PATH_LENGTH:
        raise _fail(input_name, value[:64] + "...", f"is longer than {MAX_PATH_LENGTH} characters")
    if value.startswith("/") or "\\" in value or re.match(r"[A-Za-z]:", value):
        raise _fail(input_name, value, "is absolute")
    parts = value.rstrip("/").split("/")
    for part in parts:
        if part == "..":
            raise _fail(input_name, value, "contains '..'")
        if part == ".git":
            raise _fail(input_name, value, "points into .git")
        if part in ("", "."):
            raise _fail(input_name, value, "has an empty or '.' component")
        if not COMPONENT_RE.fullmatch(part):
            raise _fail(input_name, value, f"has the component {part!r} with characters other "
                        "than letters, digits, '.', '_' and '-'")
    return PurePosixPath(*parts)


def check_no_symlinks(root: Path, rel: PurePosixPath, input_name: str, value: str) -> Path:
    """``root / rel`` after checking every component on the way with ``lstat``: each must exist,
    none may be a symlink, and the last must be a directory."""
    current = root
    for part in rel.parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise _fail(input_name, value, f"does not exist (no {part!r} in "
                        f"{current.parent.relative_to(root).as_posix() or '.'})") from None
        if stat.S_ISLNK(info.st_mode):
            raise _fail(input_name, value, f"goes through the symlink {part!r}; the receiver "
                        "never follows symlinks")
    if not current.is_dir():
        raise _fail(input_name, value, "is not a folder")
    return current


def resolve_overlay(repo_root: Path, config_root: str, path: str) -> Path:
    """The overlay folder ``path`` (relative to the repository), checked to lie in ``config_root``."""
    root_rel = check_relative(config_root, "config-root")
    rel = check_relative(path, "path")
    if root_rel.parts and rel.parts[: len(root_rel.parts)] != root_rel.parts:
        raise _fail("path", path, f"is outside the config root {config_root!r}")
    if root_rel.parts:
        check_no_symlinks(repo_root, root_rel, "config-root", config_root)
    return check_no_symlinks(repo_root, rel, "path", path)


def check_file(path: Path, input_name: str, value: str) -> bool:
    """True when ``path`` is a regular file; a symlink in its place is an error."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise _fail(input_name, value, f"holds {path.name!r} as a symlink; the receiver never "
                    "follows symlinks")
    return stat.S_ISREG(info.st_mode)


def fan_out_siblings(overlay: Path, config_root: Path, skipped: list[str]) -> list[Path]:
    """For an overlay named ``prod``: its sibling folders ``prod-*`` (real folders, sorted), only
    inside ``config_root``; a symlinked sibling is skipped and said so in ``skipped``."""
    if overlay.name != "prod":
        return []
    parent = overlay.parent
    root, where = config_root.absolute(), parent.absolute()
    if where != root and root not in where.parents:
        skipped.append(f"prod-* siblings of {overlay.name} are outside config-root; not fanned out")
        return []
    found = []
    for entry in sorted(parent.iterdir()):
        if entry.name.startswith("prod-") and COMPONENT_RE.fullmatch(entry.name):
            info = os.lstat(entry)
            if stat.S_ISLNK(info.st_mode):
                skipped.append(f"{entry.name} is a symlink; the receiver never follows symlinks, "
                               "so it was left as it is")
            elif stat.S_ISDIR(info.st_mode):
                found.append(entry)
    return found
