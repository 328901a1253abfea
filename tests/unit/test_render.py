"""The render proof's renders: a render started ahead is used only for exactly the same input;
the deploy's plan made ahead, in the background, leaves nothing behind."""

from __future__ import annotations

import os
import shutil
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


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _git_repo(tmp_path: Path, files: dict[str, str] = FILES) -> GitRepo:
    template = tmp_path / "template"
    for rel, text in files.items():
        (template / rel).parent.mkdir(parents=True, exist_ok=True)
        (template / rel).write_text(text)
    return make_repo(tmp_path / "repos", "acme", "config", template)


def _repo(tmp_path: Path, files: dict[str, str] = FILES) -> Path:
    return _git_repo(tmp_path, files).work


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


def test_a_pushed_deploy_writes_its_commit_while_the_proof_renders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit is written (objects only) while the "after" render runs; once the proof
    holds, the push uses it: git fast-import runs in the deploy's own thread not at all."""
    import gitops_release.delivery as delivery
    from gitops_release import gitops

    repo = _git_repo(tmp_path)
    real = shutil.which("kustomize")
    slow = tmp_path / "slow"  # the render of the edit takes a second: the proof waits for it
    slow.mkdir()
    (slow / "kustomize").write_text(
        f'#!/bin/sh\ngrep -rqs v1.2.0 "$2" && sleep 1\nexec {real} "$@"\n')
    (slow / "kustomize").chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow}{os.pathsep}{os.environ['PATH']}")
    prepared: list[int] = []
    prepare = delivery.prepare_commits
    monkeypatch.setattr(delivery, "prepare_commits",
                        lambda *a, **k: prepared.append(1) or prepare(*a, **k))
    fed: list[str] = []
    feed = gitops.Git.feed
    monkeypatch.setattr(gitops.Git, "feed",
                        lambda self, args, data: fed.append(args[0]) or feed(self, args, data))
    code, log, outputs = run_cli(repo, tmp_path, [
        "image-update", "--image", "registry.example.com/acme/web:v1.2.0",
        "--release", "web@v1.2.0", "--path", "apps/web/overlays/dev"])
    assert code == 0, log
    assert outputs["changed"] == "true", log
    assert prepared == [1] and "fast-import" not in fed, (prepared, fed)
    assert outputs["commit"] == repo.git("rev-parse", "HEAD").strip() == \
        repo.origin_git("rev-parse", "main").strip()
    assert "image: registry.example.com/acme/web:v1.2.0" in repo.origin_git(
        "show", "main:apps/web/overlays/dev/deployment.yaml")
    assert repo.git("for-each-ref", "refs/gitops-release-import/") == ""
    assert repo.git("status", "--porcelain") == ""


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


def _raw(release: str) -> dict[str, str]:
    from gitops_release.receiverspec import receiver_inputs

    raw = {spec.name: spec.default for spec in receiver_inputs("Deploy {release}")}
    version = release.split("@")[1]
    raw.update(image=f"registry.example.com/acme/web:{version}", release=release,
               path="apps/web/overlays/dev", token="")
    return raw


def _plan(root: Path, release: str) -> str:
    """The planned text of the overlay's patch for ``release``, planned as a deploy plans."""
    from gitops_release.receiver import parse_settings, plan_deploy

    plan = plan_deploy(root, parse_settings(_raw(release), "new-image"))
    assert plan.refusal is None, plan.refusal
    return plan.changed[0].new_text


# A placeholder image in the base, set by the overlay's images: entry (the entry is the place).
IMAGES_ENTRY = {
    "apps/web/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "apps/web/base/deployment.yaml": BASE.replace("registry.example.com/acme/web:v1.0.0",
                                                  "web-image"),
    "apps/web/overlays/dev/kustomization.yaml":
        "namePrefix: dev-\nresources:\n  - ../../base\nimages:\n  - name: web-image\n"
        "    newName: registry.example.com/acme/web\n    newTag: v1.1.0\n",
}


@pytest.mark.parametrize("files", [FILES, IMAGES_ENTRY], ids=["patch", "images-entry"])
def test_both_renders_of_the_proof_start_before_the_receiver_plans(
        tmp_path: Path, counted: Path, files: dict[str, str]) -> None:
    """The "before" render and the likely "after" render (planned on a guess of the "before"
    one) both run before planning asks for them; planning then renders nothing more."""
    from gitops_release.receiverspec import render_ahead

    root = _repo(tmp_path, files)
    render_ahead(_raw("web@v1.4.0"), root, "new-image")
    assert len(render.RENDERS.running) == 2
    text = _plan(root, "web@v1.4.0")
    assert ("image: registry.example.com/acme/web:v1.4.0" if files is FILES
            else "newTag: v1.4.0") in text
    assert _calls(counted) == 2
    assert not render.RENDERS.running


def test_a_render_started_on_a_wrong_guess_never_proves_another_edit(
        tmp_path: Path, counted: Path) -> None:
    """Renders are used by their exact input: the render started ahead for one release is not
    the proof of a deploy of another; that deploy renders its own."""
    from gitops_release.receiverspec import render_ahead

    root = _repo(tmp_path)
    render_ahead(_raw("web@v1.4.0"), root, "new-image")
    text = _plan(root, "web@v1.6.0")
    assert "image: registry.example.com/acme/web:v1.6.0" in text and "v1.4.0" not in text
    assert _calls(counted) == 3  # before, the guess's after (unused), the real after
    render.RENDERS.close()
    assert not render.RENDERS.running


def test_inputs_that_name_no_overlay_start_no_render(tmp_path: Path, counted: Path) -> None:
    from gitops_release.receiverspec import render_ahead

    root = _repo(tmp_path)
    for path in ("../outside", "apps/missing/overlays/dev", "/etc"):
        render_ahead({**_raw("web@v1.4.0"), "path": path}, root, "new-image")
    render_ahead({**_raw("web@v1.4.0"), "write-mode": "pull-request"}, root, "new-image")
    assert _calls(counted) == 0 and not render.RENDERS.running


def test_a_receiver_command_loads_no_planner_before_it_renders() -> None:
    """image-update and cronjob-update start rendering before the receiver's modules load:
    loading the command (its inputs for the parser) imports none of them."""
    import subprocess
    import sys

    code = ("import sys, gitops_release.cli as c; c.load_command('image-update'); "
            "c.load_command('cronjob-update'); "
            "print(sorted(m for m in sys.modules if m.split('.')[-1] in "
            "('receiver', 'manifests', 'planner', 'delivery', 'ruamel')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(render.__file__).parents[1])})
    assert out.stdout.strip() == "[]"


def _deploy_with_shared_env(tmp_path: Path, env: str) -> tuple[GitRepo, tuple[int, str, dict[str, str]]]:
    """An overlay whose configMapGenerator reads ``env`` from a folder above it, deployed."""
    repo = _git_repo(tmp_path, {
        "shared/common.env": env,
        "apps/web/dev/kustomization.yaml": "resources:\n  - deployment.yaml\n"
        "configMapGenerator:\n  - name: web-common\n    envs:\n      - ../../../shared/common.env\n",
        "apps/web/dev/deployment.yaml": BASE})
    return repo, run_cli(repo, tmp_path, [
        "image-update", "--image", "registry.example.com/acme/web:v1.2.0",
        "--release", "web@v1.2.0", "--path", "apps/web/dev"])


def test_an_overlay_reading_files_outside_its_folder_renders_as_flux_builds_it(
        tmp_path: Path, counted: Path) -> None:
    """A generator's env file in a shared folder: kustomize's default load restrictor refuses
    it, Flux's kustomize-controller (and Argo CD with kustomize.buildOptions) builds without it.
    The proof renders both sides without the restrictor and says so; nothing else is relaxed."""
    repo, (code, log, outputs) = _deploy_with_shared_env(tmp_path, "LOG_LEVEL=info\n")
    assert code == 0, log
    assert outputs["changed"] == "true", log
    assert "--load-restrictor LoadRestrictionsNone" in log and "Flux builds this way" in log, log
    calls = counted.read_text().splitlines()
    assert all("--load-restrictor" in call for call in calls[-2:]), calls  # both sides
    assert "image: registry.example.com/acme/web:v1.2.0" in repo.origin_git(
        "show", "main:apps/web/dev/deployment.yaml")


def test_an_overlay_broken_without_the_restrictor_too_is_refused(
        tmp_path: Path, counted: Path) -> None:
    """Rendered without the restrictor, an overlay that still fails is refused with
    kustomize's own error: nothing else is relaxed."""
    repo, (code, log, outputs) = _deploy_with_shared_env(tmp_path, "A=1\nA=2\n")
    assert code == 1 and outputs.get("changed") != "true", log
    assert "does not render" in log and "illegally repeats the key" in log, log
    assert "Deploy" not in repo.origin_git("log", "-1", "--format=%s", "main"), log
    assert "security; file" not in log, log


def test_a_render_failure_gives_kustomizes_error_not_its_deprecation_warning(
        tmp_path: Path) -> None:
    """kustomize prints "# Warning: 'bases' is deprecated" before the error: the message led
    with the warning, and the reason (a base's invalid patches) came after it."""
    from tests.unit.test_receiver_messages import _repo

    repo = _repo(tmp_path, {
        "web/prod/kustomization.yaml": "bases:\n  - ../base\n",
        "web/base/kustomization.yaml": "resources:\n  - web.yaml\npatches:\n  - p.yaml\n",
        "web/base/p.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
        "web/base/web.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"})
    code, log, _ = run_cli(repo, tmp_path, [
        "image-update", "--image", "registry.example.com/acme/web:v1.1.0", "--release",
        "web@v1.1.0", "--path", "web/prod", "--push", "false"])
    assert code == 1, log
    reason = log.split("does not render with", 1)[1]
    assert "'bases' is deprecated" not in reason, log
    assert "invalid Kustomization" in reason.splitlines()[0], log
