"""Faults outside our control: a registry that is down, a git remote that goes away in the middle
of a push or refuses it. Each asserts the outcome: a clear error naming what failed, no dispatch
after a failed build, nothing pushed, nothing lost.

Faults covered elsewhere (not repeated here, see SECURITY.md's test map): wrong registry
credentials (tests/e2e/test_release_workflow.py::test_wrong_registry_password_sends_no_dispatch,
tests/e2e/test_build_push.py::test_wrong_password_fails_clearly_and_pushes_nothing), API 5xx then
success, 429/403 with retry-after or a reset time, 401/404/422 failing at once with one request
(tests/unit/test_dispatch.py, tests/e2e/test_release_workflow.py), one invalid prod-* overlay
during fan-out (tests/hostile/test_receiver_manifests.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.act import Act
from tests.harness.github_api import GitHubAPI
from tests.harness.gitrepo import GitRepo
from tests.harness.services import REPO_ROOT, free_port
from tests.harness.workflows import root_action_workflow
from tests.hostile.conftest import Snapshot, StepResult, assert_no_workflow_command_leak

TOKEN = "ghp_faultSuiteTOKEN0123456789abcdef"
CONFIG = "acme/k8s-configurations"
DEPLOY = {"image": "registry.example.com/web:v1.1.0", "release": "web@v1.1.0",
          "path": "apps/web/overlays/dev", "max-attempts": "5"}

ROOT_ACTION_WORKFLOW = root_action_workflow("down-app", timeout_minutes=10)


@pytest.mark.e2e
def test_registry_down_fails_the_build_and_sends_no_dispatch(
        act: Act, github_api: GitHubAPI, docker_engine: None,
        make_git_repo: Callable[..., GitRepo]) -> None:
    github_api.add_repo(CONFIG)
    github_api.add_token(TOKEN, repos=[CONFIG])
    app = make_git_repo("acme", "down-app", template=REPO_ROOT / "examples" / "app-repo")
    app.git("config", "--unset", f"url.{app.bare}.insteadOf")
    shutil.rmtree(app.work / ".github" / "workflows")
    (app.work / ".github" / "workflows").mkdir()
    (app.work / ".github" / "workflows" / "one.yml").write_text(ROOT_ACTION_WORKFLOW,
                                                                 encoding="utf-8")
    app.commit_all("One-step release")
    host = f"127.0.0.1:{free_port()}"  # nothing listens there

    result = act.run(app.work, "push", {"ref": "refs/heads/main", "repository": {
        "full_name": app.full_name, "default_branch": "main"}},
        workflow=".github/workflows/one.yml",
        secrets={"CR_ENDPOINT": host, "CR_USERNAME": "ci", "CR_PASSWORD": "pw-fault-0123456789",
                 "GITHUB_PAT": TOKEN},
        env={"GITHUB_API_URL": github_api.url}, timeout=600)

    assert not result.ok, str(result)
    # the host is the CR_ENDPOINT secret, so the runner masks it
    assert "input 'registry': cannot reach the registry ***" in result.log, str(result)
    assert github_api.requests == []
    assert "pw-fault-0123456789" not in result.log and TOKEN not in result.log


def _hook(repo: GitRepo, body: str) -> Path:
    hook = repo.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    hook.chmod(0o755)
    return hook


def test_remote_hangs_up_mid_push(config_repo: GitRepo, run_step: Callable[..., StepResult],
                                  tmp_path: Path) -> None:
    """The remote receives the pack, then dies (its receive-pack killed) and its path is gone,
    as a runner losing the network mid-push would see it: a clear error, one attempt, the clone
    restored to where it was, and once the remote is back a rerun lands the deploy."""
    head = config_repo.origin_head()
    gone = tmp_path / "moved-away.git"
    hook = _hook(config_repo, f"mv {config_repo.bare} {gone}\nkill -9 $PPID\nsleep 5\n")

    result = run_step("image-update", DEPLOY, config_repo.work)

    assert result.returncode == 1, result.stdout
    assert "::error title=image-update%3A Push interrupted::" in result.stdout
    assert "the push to origin/main did not complete:%0A" in result.stdout
    assert "hung up unexpectedly" in result.stdout
    assert "The clone was restored, nothing is kept; run the job again" in result.stdout
    assert "lost a race" not in result.stdout
    assert result.output_file == ""
    assert_no_workflow_command_leak(result.stdout)
    # nothing landed; the clone is back where it was, and a rerun in it lands the deploy
    gone.rename(config_repo.bare)
    (config_repo.bare / "hooks" / hook.name).unlink()
    assert config_repo.origin_head() == head
    assert config_repo.git("status", "--porcelain") == ""
    assert config_repo.git("rev-parse", "HEAD").strip() == head
    assert run_step("image-update", DEPLOY, config_repo.work).returncode == 0
    assert config_repo.origin_log()[0] == "Deploy web@v1.1.0"


def test_remote_gone_before_the_deploy_changes_nothing(config_repo: GitRepo,
                                                       run_step: Callable[..., StepResult],
                                                       tmp_path: Path) -> None:
    head = config_repo.git("rev-parse", "HEAD").strip()
    config_repo.bare.rename(tmp_path / "gone.git")

    result = run_step("image-update", DEPLOY, config_repo.work)

    assert result.returncode == 1, result.stdout
    assert "::error title=image-update%3A Git error::git fetch failed: " in result.stdout
    assert "does not appear to be a git repository" in result.stdout
    assert config_repo.git("rev-parse", "HEAD").strip() == head
    assert config_repo.git("status", "--porcelain", "--untracked-files=all") == ""
    assert result.output_file == ""


def test_hook_rejection_that_reads_like_a_race_is_not_retried(
        config_repo: GitRepo, run_step: Callable[..., StepResult], tmp_path: Path) -> None:
    """A pre-receive hook declines with words a race would use: the per-ref verdict says 'hook
    declined', so it fails at once (one hook run), with the hook's own message, nothing pushed."""
    runs = tmp_path / "hook-runs"
    _hook(config_repo, f"echo run >> {runs}\n"
                       "echo 'error: non-fast-forward: fetch first (policy: deploy freeze)'\n"
                       "exit 1\n")
    before = Snapshot.of(config_repo)

    result = run_step("image-update", DEPLOY, config_repo.work)

    assert result.returncode == 1, result.stdout
    assert runs.read_text().splitlines() == ["run"]
    assert "::error title=image-update%3A Push rejected::" in result.stdout
    assert "remote: error: non-fast-forward: fetch first (policy: deploy freeze)" in result.stdout
    assert "lost a race" not in result.stdout
    assert config_repo.origin_head() == before.files["HEAD"].strip()
    assert result.output_file == ""
