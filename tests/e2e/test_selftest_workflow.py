"""The self-test workflow (.github/workflows/selftest.yml) under act, on a copy of this checkout:
every job, the expected failures included, ends as the file says, and the gate job passes only
then. On GitHub the same file runs on real runners."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.act import Act, snapshot_bundle
from tests.harness.gitrepo import GitRepo

pytestmark = pytest.mark.e2e

JOBS = ("image-update edits an overlay and commits", "cronjob-update edits a CronJob overlay",
        "image-update fails on a bad image reference (expected failure)",
        "dispatch fails before sending anything (expected failure)",
        "build-push builds both platforms (no push)",
        "build-push fails on a registry that is not there (expected failure)",
        "the root action fails on a bad image name (expected failure)")


def test_selftest_passes_with_its_expected_failures(act: Act, docker_engine: None,
                                                    make_git_repo: Callable[..., GitRepo],
                                                    tmp_path: Path) -> None:
    repo = make_git_repo("gitops-release", "gitops-release",
                         template=snapshot_bundle(tmp_path / "snapshot"))

    result = act.run(repo.work, "push", {"ref": "refs/heads/main", "repository": {
        "full_name": repo.full_name, "default_branch": "main"}},
        workflow=".github/workflows/selftest.yml", timeout=900)

    assert result.ok, str(result)
    for job in JOBS:
        assert f"[Self-test/{job}" in result.log, job
    for name in ("image-update", "cronjob-update", "dispatch-rejects-bad-input", "build-push",
                 "build-push-rejects-unreachable-registry", "root-action-rejects-bad-input",
                 "image-update-rejects-bad-input"):
        assert f"{name}: success" in result.log, name


def test_the_gate_fails_when_an_expected_failure_does_not_fail(
        act: Act, docker_engine: None, make_git_repo: Callable[..., GitRepo],
        tmp_path: Path) -> None:
    snapshot = snapshot_bundle(tmp_path / "snapshot")
    workflow = snapshot / ".github" / "workflows" / "selftest.yml"
    text = workflow.read_text(encoding="utf-8")
    # the expected-failure job gets a valid image: the action succeeds, so that job fails
    broken = text.replace("          image: Not An Image\n",
                          "          image: registry.example.com/acme/web-api:20991231235959999\n"
                          "          push: 'false'\n", 1)
    assert broken != text
    workflow.write_text(broken, encoding="utf-8")
    repo = make_git_repo("gitops-release", "gitops-release", template=snapshot)

    result = act.run(repo.work, "push", {"ref": "refs/heads/main", "repository": {
        "full_name": repo.full_name, "default_branch": "main"}},
        workflow=".github/workflows/selftest.yml", timeout=900)

    assert not result.ok, str(result)
    assert "image-update-rejects-bad-input: failure" in result.log, str(result)
    assert "::error title=Self-test failed::image-update-rejects-bad-input" in result.log or \
        "Self-test failed" in result.log
