"""sparse.widen: a cone-mode sparse checkout of a partial clone grows to the folders a render
needs, fetching their blobs; a full checkout is left alone; paths outside the repo are refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops_release.errors import PathError
from gitops_release.sparse import is_sparse, widen

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    work = tmp_path / "seed"
    for rel in ("apps/web/overlays/dev/kustomization.yaml", "apps/web/base/kustomization.yaml",
                "shared/components/probes/kustomization.yaml", "other/big.yaml"):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(f"# {rel}\n")
    git(tmp_path, "init", "-q", "--initial-branch=main", str(work))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    return bare


def sparse_clone(origin: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", "--filter=blob:none", "--no-checkout", f"file://{origin}",
        str(dest))
    git(dest, "sparse-checkout", "set", "--cone", "apps/web")
    git(dest, "checkout", "-q", "main")
    return dest


def test_widen_adds_the_folders_and_fetches_their_files(origin: Path, tmp_path: Path) -> None:
    clone = sparse_clone(origin, tmp_path / "clone")
    assert is_sparse(clone)
    assert not (clone / "shared").exists()

    added = widen(clone, ["shared/components/probes/kustomization.yaml", "apps/web/base"])

    assert added == ["shared/components/probes"]
    assert (clone / "shared/components/probes/kustomization.yaml").read_text() == (
        "# shared/components/probes/kustomization.yaml\n")
    assert not (clone / "other").exists()
    assert widen(clone, ["shared/components/probes"]) == []  # already there


def test_a_full_checkout_is_left_alone(origin: Path, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", str(origin), str(tmp_path / "full"))
    assert widen(tmp_path / "full", ["shared/components/probes"]) == []


@pytest.mark.parametrize("bad", ["../elsewhere", "/etc", "apps/../../x"])
def test_paths_outside_the_repository_are_refused(origin: Path, tmp_path: Path, bad: str) -> None:
    clone = sparse_clone(origin, tmp_path / "clone")
    with pytest.raises(PathError, match="is not a path inside the repository"):
        widen(clone, [bad])
