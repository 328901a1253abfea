"""sparse.widen: a cone-mode sparse checkout of a partial clone grows to the folders a render
needs, fetching their blobs; a full checkout is left alone; paths outside the repo are refused."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from gitops_release.errors import PathError
from gitops_release.sparse import is_sparse, widen
from tests.unit.test_render import BASE

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          check=True).stdout


def origin_of(tmp_path: Path, files: dict[str, str]) -> Path:
    """A bare origin (partial clones allowed) holding ``files`` (path → text) in one commit."""
    work = tmp_path / "seed"
    for rel, text in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(tmp_path, "init", "-q", "--initial-branch=main", str(work))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "seed")
    bare = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    return bare


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return origin_of(tmp_path, {rel: f"# {rel}\n" for rel in (
        "apps/web/overlays/dev/kustomization.yaml", "apps/web/base/kustomization.yaml",
        "shared/components/probes/kustomization.yaml", "other/big.yaml")})


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


def test_a_file_of_any_name_adds_its_folder(tmp_path: Path) -> None:
    """A generator's env file in a shared folder (``../../../shared/common.env``): git tells a
    file from a folder, not the file's suffix (``common.env`` was taken for a folder)."""
    origin = origin_of(tmp_path, {"apps/web/dev/kustomization.yaml": "# k\n",
                                  "shared/common.env": "LOG_LEVEL=info\n",
                                  "shared/settings.d/x.properties": "a=b\n",
                                  "elsewhere/y.yaml": "# y\n"})
    clone = sparse_clone(origin, tmp_path / "clone")

    added = widen(clone, ["shared/common.env", "shared/settings.d", "nowhere/z.env"])

    assert added == ["shared"]  # settings.d is inside it; a path nowhere is left alone
    assert (clone / "shared/common.env").read_text() == "LOG_LEVEL=info\n"
    assert (clone / "shared/settings.d/x.properties").is_file()
    assert not (clone / "elsewhere").exists()


def test_a_full_checkout_is_left_alone(origin: Path, tmp_path: Path) -> None:
    git(tmp_path, "clone", "-q", str(origin), str(tmp_path / "full"))
    assert widen(tmp_path / "full", ["shared/components/probes"]) == []


@pytest.mark.parametrize("bad", ["../elsewhere", "/etc", "apps/../../x"])
def test_paths_outside_the_repository_are_refused(origin: Path, tmp_path: Path, bad: str) -> None:
    clone = sparse_clone(origin, tmp_path / "clone")
    with pytest.raises(PathError, match="is not a path inside the repository"):
        widen(clone, [bad])


def test_the_receiver_workflows_checkout_gives_a_deploy_a_sparse_index(tmp_path: Path) -> None:
    """The checkout of image-update.yml, done with git as actions/checkout does it (its step
    environment reaches the git it runs), then the workflow's own "Keep the index sparse" step:
    the index holds one entry per folder outside the app's, and stays so through a deploy."""
    from ruamel.yaml import YAML

    from tests.harness.gitrepo import make_repo
    from tests.unit.test_receiver import DEV, EXAMPLE, deploy, web_api

    repo = make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)
    repo.origin_git("config", "uploadpack.allowFilter", "true")
    steps = YAML(typ="safe").load((Path(__file__).parents[2] / ".github" / "workflows" /
                                   "image-update.yml").read_text())["jobs"]["update"]["steps"]
    checkout_env = {**ENV, **steps[1]["env"]}
    clone = tmp_path / "runner"
    git(tmp_path, "clone", "-q", "--filter=blob:none", "--no-checkout", f"file://{repo.bare}",
        str(clone))
    for args in (("sparse-checkout", "set", "apps/web-api"), ("checkout", "-q", "main")):
        subprocess.run(["git", *args], cwd=clone, env=checkout_env, check=True)
    subprocess.run(["bash", "-e", "-c", steps[2]["run"]], cwd=clone, env=ENV, check=True)

    def sparse_entries() -> bool:
        """Whether the index file on disk is sparse: it carries git's "sdir" extension (no
        path of the repository holds those letters)."""
        return b"sdir" in (clone / ".git" / "index").read_bytes()

    assert "sdir" not in git(repo.work, "ls-files")
    assert sparse_entries(), "the checkout wrote a full index"
    code, log, _ = deploy(replace(repo, work=clone), tmp_path, *web_api("v1.5.0"))
    assert code == 0, log
    assert "web-api:v1.5.0" in repo.origin_show(f"{DEV}/deployment.yaml")
    assert sparse_entries(), "the deploy expanded the index"
    assert git(clone, "status", "--porcelain") == ""


def _workflow_checkout(repo_bare: Path, clone: Path, folder: str) -> None:
    """The receiver workflows' checkout, with git: a partial clone of ``folder`` only, with a
    sparse index (see image-update.yml)."""
    git(clone.parent, "clone", "-q", "--filter=blob:none", "--no-checkout", f"file://{repo_bare}",
        str(clone))
    git(clone, "-c", "index.sparse=true", "sparse-checkout", "set", "--cone", folder)
    git(clone, "-c", "index.sparse=true", "checkout", "-q", "main")
    git(clone, "config", "index.sparse", "true")
    git(clone, "config", "sparse.expectFilesOutsideOfPatterns", "true")


def _shared_base_repo(tmp_path: Path, extra: str = "") -> Path:
    """An overlay whose base lives outside the app's folder, and that base's own base further
    away (what the workflows' sparse checkout of ``apps/web`` leaves out)."""
    files = {
        "apps/web/overlays/dev/kustomization.yaml":
            "resources:\n  - ../../../../platform/bases/web\n" + extra,
        "platform/bases/web/kustomization.yaml":
            "resources:\n  - deployment.yaml\ncomponents:\n  - ../../components/labels\n",
        "platform/bases/web/deployment.yaml": BASE,
        "platform/components/labels/kustomization.yaml":
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            "commonLabels:\n  team: web\n",
        "other/big.yaml": "# not needed\n",
    }
    return origin_of(tmp_path, files)


def _deploy(clone: Path) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    env = {**ENV, "PYTHONPATH": str(Path(__file__).parents[2] / "python"),
           "PATH": os.environ["PATH"]}
    return subprocess.run([sys.executable, "-m", "gitops_release", "image-update",
                           "--image", "registry.example.com/acme/web:v1.1.0",
                           "--release", "web@v1.1.0", "--path", "apps/web/overlays/dev"],
                          cwd=clone, env=env, capture_output=True, text=True, check=False)


@pytest.mark.skipif(__import__("shutil").which("kustomize") is None, reason="needs kustomize")
def test_a_deploy_in_the_workflows_checkout_adds_the_bases_outside_the_app_folder(
        tmp_path: Path) -> None:
    """The workflows check out the app's folder; an overlay built on a base elsewhere in the
    repository (and that base on a component further away) gets those folders added, round by
    round, then renders, deploys and pushes. Folders it does not need stay out."""
    bare = _shared_base_repo(tmp_path)
    clone = tmp_path / "runner"
    _workflow_checkout(bare, clone, "apps/web")
    assert not (clone / "platform").exists()
    result = _deploy(clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "changed=true" in result.stdout
    shown = git(bare, "show", "main:platform/bases/web/kustomization.yaml")
    assert "resources" in shown  # the base is not edited: the overlay gets an images: entry
    assert "newTag: v1.1.0" in git(bare, "show", "main:apps/web/overlays/dev/kustomization.yaml")
    listed = git(clone, "sparse-checkout", "list").split()
    assert {"apps/web", "platform/bases/web", "platform/components/labels"} <= set(listed)
    assert not (clone / "other").exists()
    assert git(clone, "status", "--porcelain") == ""


def test_a_base_that_is_nowhere_in_the_repository_is_the_kustomizations_error(
        tmp_path: Path) -> None:
    bare = _shared_base_repo(tmp_path, "  - ../missing-base\n")
    clone = tmp_path / "runner"
    _workflow_checkout(bare, clone, "apps/web")
    result = _deploy(clone)
    assert result.returncode == 1, result.stdout
    assert "apps/web/overlays/missing-base" in result.stdout + result.stderr
    assert "apps/web/overlays/missing-base" not in git(clone, "sparse-checkout", "list")
    assert git(clone, "status", "--porcelain") == ""
