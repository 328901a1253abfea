"""The render proof's renders: a render started ahead is used only for exactly the same input;
the deploy's plan made ahead, in the background, leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from gitops_release import render
from gitops_release.discovery import discover
from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, make_repo

pytestmark = pytest.mark.skipif(shutil.which("kustomize") is None, reason="needs kustomize")

BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example.com/acme/web:v1.0.0
"""
PATCH = BASE.replace("v1.0.0", "v1.1.0")  # the overlay's strategic-merge patch
FILES = {
    "apps/web/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "apps/web/base/deployment.yaml": BASE,
    "apps/web/overlays/dev/kustomization.yaml":
        "resources:\n  - ../../base\npatches:\n  - path: deployment.yaml\n",
    "apps/web/overlays/dev/deployment.yaml": PATCH,
}


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kustomize on PATH that logs each call, then runs the real one."""
    real = shutil.which("kustomize")
    assert real is not None
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "calls.log"
    wrapper = folder / "kustomize"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _git_repo(tmp_path: Path) -> GitRepo:
    template = tmp_path / "template"
    for rel, text in FILES.items():
        (template / rel).parent.mkdir(parents=True, exist_ok=True)
        (template / rel).write_text(text)
    return make_repo(tmp_path / "repos", "acme", "config", template)


def _repo(tmp_path: Path) -> Path:
    return _git_repo(tmp_path).work


def test_a_deploy_renders_twice_with_its_first_render_started_ahead(
        tmp_path: Path, counted: Path) -> None:
    repo = _git_repo(tmp_path)
    code, log, outputs = run_cli(repo, tmp_path, [
        "image-update", "--image", "registry.example.com/acme/web:v1.2.0",
        "--release", "web@v1.2.0", "--path", "apps/web/overlays/dev", "--push", "false"])
    assert code == 0, log
    assert outputs["changed"] == "false" and outputs["commit"], log  # committed, not pushed
    assert "image: registry.example.com/acme/web:v1.2.0" in \
        (repo.work / "apps/web/overlays/dev/deployment.yaml").read_text()
    assert _calls(counted) == 2  # "before" (started ahead, then used) and "after"


def test_a_render_started_ahead_is_not_used_for_other_files(tmp_path: Path, counted: Path) -> None:
    root = _repo(tmp_path)
    render.prerender(discover(root, "apps/web/overlays/dev"))
    patch = root / "apps/web/overlays/dev/deployment.yaml"
    patch.write_text(PATCH.replace("v1.1.0", "v1.5.0"))  # changed after the render started
    with render.Scratch(discover(root, "apps/web/overlays/dev")) as scratch:
        out = scratch.render({})
    images = [c["image"] for c in out[0]["spec"]["template"]["spec"]["containers"]]
    assert images == ["registry.example.com/acme/web:v1.5.0"]
    assert _calls(counted) == 2


def test_the_same_input_renders_once(tmp_path: Path, counted: Path) -> None:
    root = _repo(tmp_path)
    tree = discover(root, "apps/web/overlays/dev")
    with render.Scratch(tree) as first, render.Scratch(tree) as second:
        planned = {"apps/web/overlays/dev/deployment.yaml": PATCH.replace("v1.1.0", "v2.0.0")}
        assert first.render({}) == second.render({})
        assert first.render(planned) == second.render(planned)
        assert first.render({}) != first.render(planned)
    assert _calls(counted) == 2


def test_a_failed_render_names_no_scratch_folder(tmp_path: Path, counted: Path) -> None:
    root = _repo(tmp_path)
    tree = discover(root, "apps/web/overlays/dev")
    render.prerender(tree)
    broken = {"apps/web/overlays/dev/kustomization.yaml": "resources:\n  - missing.yaml\n"}
    with render.Scratch(tree) as scratch, pytest.raises(render.RenderError) as failed:
        scratch.render(broken)
    assert "gitops-release-render-" not in str(failed.value)
    assert "missing.yaml" in str(failed.value)


def test_a_deploy_that_fails_early_leaves_no_render_behind(
        tmp_path: Path, counted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan made in the background while the deploy starts is waited for, also when the
    deploy stops at once (here: an identity git refuses): no scratch copy stays behind."""
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    repo = _git_repo(tmp_path)
    code, log, _ = run_cli(repo, tmp_path, [
        "image-update", "--image", "registry.example.com/acme/web:v1.3.0",
        "--release", "web@v1.3.0", "--path", "apps/web/overlays/dev", "--git-user-name", "."])
    assert code == 1 and "git-user-name" in log, log
    assert _calls(counted) >= 1  # the background plan did start rendering
    assert list(scratch_root.iterdir()) == []
