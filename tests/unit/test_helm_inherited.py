"""Helm values whose image keys leave part of the image to the chart, and keys the caller names.

Shapes written after public charts: kube-state-metrics (``image.sha`` beside the tag, named with
``helm-digest-key``). Each case runs with helm (the render decides) and without it (the templates
check decides), and asserts the values written and the image rendered, or a refusal naming the
file, the key and the fix, with nothing written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files

DIGEST = "sha256:" + "b" * 64


@pytest.fixture(params=["helm", "no-helm"])
def helm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Each case with helm on PATH (the render decides) and without it (the templates check)."""
    if request.param == "helm":
        assert shutil.which("helm"), "the tests need helm on PATH: ./scripts/setup installs it"
        return True
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "helm"
                        else which(name, *a, **k))
    return False


def _deploy(repo: GitRepo, tmp_path: Path, path: str, image: str, release: str,
            *extra: str) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, ["image-update", "--image", image, "--release", release,
                                    "--path", path, "--push", "false", *extra])


def _rendered(repo: GitRepo, path: str) -> list[str]:
    """The images of the chart's render, as the working tree holds it."""
    out = subprocess.run(["helm", "template", "x", str(repo.work / path)], capture_output=True,
                         text=True, check=True).stdout
    return [line.split("image:", 1)[1].strip().strip('"') for line in out.splitlines()
            if line.strip().startswith("image:")]


def _deployment(name: str, image: str) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n"
            f"  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n"
            f"    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n"
            f"        - name: {name}\n{image}")


# -- kube-state-metrics: image.sha, the chart's digest key ------------------------------------

KSM_VALUES = ("image:\n  registry: registry.k8s.io\n  repository: kube-state-metrics/"
              "kube-state-metrics\n  # If unset use v + .Charts.appVersion\n  tag: \"\"\n"
              "  sha: \"\"\n  pullPolicy: IfNotPresent\n")
KSM_IMAGE = (
    "          {{- if .Values.image.sha }}\n"
    "          image: {{ printf \"%s/%s:%s@%s\" .Values.image.registry .Values.image.repository "
    "(default (printf \"v%s\" .Chart.AppVersion) .Values.image.tag) .Values.image.sha }}\n"
    "          {{- else }}\n"
    "          image: {{ printf \"%s/%s:%s\" .Values.image.registry .Values.image.repository "
    "(default (printf \"v%s\" .Chart.AppVersion) .Values.image.tag) }}\n"
    "          {{- end }}\n")
KSM = {"ksm/Chart.yaml": "apiVersion: v2\nname: kube-state-metrics\nversion: 8.4.0\n"
       "appVersion: 2.20.0\n",
       "ksm/values.yaml": KSM_VALUES,
       "ksm/templates/deployment.yaml": _deployment("kube-state-metrics", KSM_IMAGE)}
KSM_NEW = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.21.0"


def test_a_named_digest_key_is_written_without_a_named_tag_key(tmp_path: Path,
                                                                helm: bool) -> None:
    """helm-digest-key image.sha alone (the block found by its repository): the digest goes
    there. It was honoured only beside helm-tag-key, with a warning to set the flag set."""
    repo = repo_of_files(tmp_path, KSM)
    code, log, _ = _deploy(repo, tmp_path, "ksm", KSM_NEW, "kube-state-metrics@v2.21.0",
                           "--digest", DIGEST, "--helm-digest-key", "image.sha")
    assert code == 0, log
    assert "digest not pinned" not in log, log
    assert (repo.work / "ksm/values.yaml").read_text() == KSM_VALUES.replace(
        'tag: ""', 'tag: "v2.21.0"').replace('sha: ""', f'sha: "{DIGEST}"')
    if helm:
        assert "rendered with `helm template` before and after" in log, log
        assert _rendered(repo, "ksm") == [f"{KSM_NEW}@{DIGEST}"]


def test_a_named_digest_key_of_another_block_is_refused(tmp_path: Path, helm: bool) -> None:
    """A digest key elsewhere than beside the tag is never moved silently beside it."""
    repo = repo_of_files(tmp_path, KSM)
    code, log, _ = _deploy(repo, tmp_path, "ksm", KSM_NEW, "kube-state-metrics@v2.21.0",
                           "--digest", DIGEST, "--helm-digest-key", "global.image.sha")
    assert code == 1, log
    assert "ksm/values.yaml: helm-digest-key global.image.sha is not beside the image's tag " \
        "key (image)" in log, log
    assert "Set helm-digest-key: image.sha" in log, log
    assert (repo.work / "ksm/values.yaml").read_text() == KSM_VALUES
