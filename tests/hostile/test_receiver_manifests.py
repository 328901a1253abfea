"""Hostile or broken manifests in the config repo: a clear error naming the file, nothing
written, no commit, no push — including when only one prod-* overlay of a fan-out is bad."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.gitrepo import GitRepo
from tests.hostile.conftest import DEPLOYMENT, Snapshot, StepResult, assert_no_workflow_command_leak

GOOD = {
    "image": "registry.example.com/web:v1.1.0",
    "release": "web@v1.1.0",
    "path": "apps/web/overlays/dev",
}

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}]\n" for i in range(9))

MANIFESTS = [
    ("malformed-yaml", "apiVersion: apps/v1\nkind: Deployment\nspec: [unclosed\n"),
    ("duplicate-keys", DEPLOYMENT.replace("kind: Deployment\n", "kind: Deployment\nkind: Job\n")),
    ("alias-bomb", BOMB),
    ("binary-garbage", "\x00\x01\x02\xff"),
    ("tab-indentation", DEPLOYMENT.replace("  template:", "\ttemplate:")),
    ("no-matching-container", DEPLOYMENT.replace("- name: web", "- name: api")),
    ("two-matching-containers", DEPLOYMENT.replace("- name: sidecar", "- name: web")),
    ("no-containers", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                      "spec:\n  template:\n    spec: {}\n"),
    ("huge-file", DEPLOYMENT + "# " + "x" * (8 * 1024 * 1024) + "\n"),
]


def _commit(repo: GitRepo, rel: str, text: str) -> None:
    path = repo.work / rel
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    repo.commit_all(f"Break {rel}")
    repo.push()


@pytest.mark.parametrize("text", [m[1] for m in MANIFESTS], ids=[m[0] for m in MANIFESTS])
def test_broken_manifest_is_refused(config_repo: GitRepo, run_step: Callable[..., StepResult],
                                    text: str) -> None:
    _commit(config_repo, "apps/web/overlays/dev/deployment.yaml", text)
    before = Snapshot.of(config_repo)
    result = run_step("image-update", GOOD, config_repo.work)
    assert result.returncode != 0, result.stdout
    assert "deployment.yaml" in result.stdout, result.stdout
    assert Snapshot.of(config_repo) == before
    assert_no_workflow_command_leak(result.stdout)


def test_one_bad_prod_overlay_stops_the_whole_fan_out(
        config_repo: GitRepo, run_step: Callable[..., StepResult]) -> None:
    _commit(config_repo, "apps/web/overlays/prod-eu/deployment.yaml", "spec: [unclosed\n")
    before = Snapshot.of(config_repo)
    result = run_step("image-update", {**GOOD, "path": "apps/web/overlays/prod"}, config_repo.work)
    assert result.returncode != 0, result.stdout
    assert "prod-eu/deployment.yaml" in result.stdout, result.stdout
    assert Snapshot.of(config_repo) == before
    assert "v1.1.0" not in config_repo.origin_show("apps/web/overlays/prod/deployment.yaml")


def test_python_tag_is_data_not_code(config_repo: GitRepo,
                                     run_step: Callable[..., StepResult]) -> None:
    """A document with a python/object tag is kept as it is (round-trip), never constructed."""
    tagged = "---\nx: !!python/object/apply:os.system ['touch /tmp/gitops-release-pwned']\n"
    (config_repo.work / "apps/web/overlays/dev/kustomization.yaml").unlink()  # a plain folder
    _commit(config_repo, "apps/web/overlays/dev/deployment.yaml", DEPLOYMENT + tagged)
    result = run_step("image-update", GOOD, config_repo.work)
    assert result.returncode == 0, result.stdout
    shown = config_repo.origin_show("apps/web/overlays/dev/deployment.yaml")
    assert shown.endswith(tagged)
    assert "image: registry.example.com/web:v1.1.0" in shown
    assert not Path("/tmp/gitops-release-pwned").exists()
