"""Widen a sparse checkout when a deploy needs files outside it.

The receiver workflows check out only the overlay's app folder (cone mode, from a partial clone:
see image-update.yml). A kustomization may pull in resources, components or bases from elsewhere
in the repository (`../../../shared/components/x`); before the receiver reads or renders those,
it calls ``widen`` with the folders it needs. In a full checkout (no sparse checkout, e.g. under
act or on a laptop) nothing happens. In a partial clone the blobs of the added folders are
fetched from the remote on demand, so ``git_config`` carries what the fetch needs (the token's
one-off ``http.extraheader``, never stored).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from gitops_release.errors import GitError, PathError


def is_sparse(repo_root: Path) -> bool:
    out = subprocess.run(["git", "config", "--bool", "core.sparseCheckout"], cwd=repo_root,
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() == "true"


def _checked(rel_paths: Iterable[str]) -> list[str]:
    """The paths, each checked to be relative to the repository root and inside it."""
    out: set[str] = set()
    for rel in rel_paths:
        path = PurePosixPath(rel)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise PathError(f"{rel!r} is not a path inside the repository",
                            hint="Give paths relative to the repository root, without '..'")
        if str(path) not in ("", "."):
            out.add(str(path))
    return sorted(out)


def _folders(repo_root: Path, rel_paths: Iterable[str],
             env: Mapping[str, str] | None) -> list[str]:
    """The folders that hold ``rel_paths`` in the checked-out commit: a folder itself, a file's
    (or a submodule's) parent. A path the commit does not hold is left out. One ``ls-tree``, which
    reads trees only: no blob is fetched to tell a file from a folder."""
    paths = _checked(rel_paths)
    if not paths:
        return []
    listing = subprocess.run(["git", "ls-tree", "-z", "HEAD", "--", *paths], cwd=repo_root,
                             env=env, capture_output=True, text=True, check=False).stdout
    folders: set[str] = set()
    for entry in listing.split("\0"):
        meta, _, rel = entry.partition("\t")
        if not rel or rel not in paths:
            continue
        folder = rel if meta.split(" ")[1:2] == ["tree"] else str(PurePosixPath(rel).parent)
        if folder not in ("", "."):
            folders.add(folder)
    return sorted(f for f in folders  # one inside another is in the cone of that one
                  if not any(f.startswith(other + "/") for other in folders))


def widen(repo_root: Path, rel_paths: Iterable[str], git_config: Sequence[str] = (),
          env: Mapping[str, str] | None = None, checked: bool = False) -> list[str]:
    """Add the folders of ``rel_paths`` to a cone-mode sparse checkout; returns those added
    (none when the checkout is not sparse or already has them). Only folders the checked-out
    commit holds are added: a path that is nowhere in the repository stays the kustomization's
    error. ``env``: git's environment (the receiver's carries the token for the fetch);
    ``checked``: the caller knows that the checkout is sparse."""
    if not checked and not is_sparse(repo_root):
        return []
    listed = subprocess.run(["git", "sparse-checkout", "list"], cwd=repo_root, env=env,
                            capture_output=True, text=True, check=False).stdout.split()
    wanted = [f for f in _folders(repo_root, rel_paths, env)
              if not any(f == have or f.startswith(have + "/") for have in listed)]
    if not wanted:
        return []
    config = [arg for item in git_config for arg in ("-c", item)]
    result = subprocess.run(["git", *config, "sparse-checkout", "add", "--", *wanted],
                            cwd=repo_root, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GitError(f"could not add {', '.join(wanted)} to the sparse checkout: "
                       f"{result.stderr.strip()[-400:]}",
                       hint="Check that the folders exist on the branch and the token can fetch")
    return wanted
