"""The example config repo's Release Control workflow (workflow_dispatch), run by act: hold,
unhold and rollback commit and push to the bare-repo origin through the reusable workflow and
the bundle's action."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gitops_release.policyfile import parse_policy
from tests.e2e.test_receiver import EXAMPLE, PROD, dispatch, payload
from tests.harness.act import Act, ActResult
from tests.harness.gitrepo import GitRepo

pytestmark = pytest.mark.e2e

WORKFLOW = ".github/workflows/release-control.yml"


@pytest.fixture
def config_repo(make_git_repo: Callable[..., GitRepo]) -> GitRepo:
    return make_git_repo("acme", "k8s-config", EXAMPLE)


def control(act: Act, repo: GitRepo, **inputs: str) -> ActResult:
    event = {"inputs": inputs, "ref": "refs/heads/main",
             "repository": {"full_name": repo.full_name, "name": repo.name,
                            "owner": {"login": repo.owner}, "default_branch": "main"}}
    return act.run(repo.work, "workflow_dispatch", event, workflow=WORKFLOW,
                   secrets={"GITHUB_PAT": "ghp_e2eT0kenValue"}, extra_args=["--actor", "octo-ops"])


def test_hold_then_unhold_from_the_actions_tab(act: Act, config_repo: GitRepo) -> None:
    result = control(act, config_repo, action="hold", path=PROD, reason="INC-9")
    assert result.ok, result
    assert config_repo.origin_log()[0] == f"Hold {PROD}"
    (hold,) = parse_policy(config_repo.origin_show("gitops-release.yaml")).holds
    assert (hold.path, hold.reason, hold.by) == (PROD, "INC-9", "octo-ops")
    result = control(act, config_repo, action="unhold", path=PROD)
    assert result.ok, result
    assert config_repo.origin_log()[0] == f"Unhold {PROD}"
    assert parse_policy(config_repo.origin_show("gitops-release.yaml")).holds == ()
    assert "ghp_e2eT0kenValue" not in result.log


def test_rollback_from_the_actions_tab(act: Act, config_repo: GitRepo) -> None:
    assert dispatch(act, config_repo, "new-image", payload("v1.5.0", PROD)).ok
    result = control(act, config_repo, action="rollback", path=PROD, version="v1.4.0",
                     reason="v1.5.0 is slow")
    assert result.ok, result
    assert config_repo.origin_log()[:2] == [f"Roll back {PROD} to web-api@v1.4.0",
                                           "Deploy web-api@v1.5.0"]
    assert "web-api:v1.4.0" in config_repo.origin_show(f"{PROD}/deployment.yaml")
    (hold,) = parse_policy(config_repo.origin_show("gitops-release.yaml")).holds
    assert (hold.path, hold.version) == (PROD, "v1.4.0")


def test_an_unknown_overlay_fails_and_pushes_nothing(act: Act, config_repo: GitRepo) -> None:
    head = config_repo.origin_head()
    result = control(act, config_repo, action="hold", path="apps/web-api/overlays/qa",
                     reason="x")
    assert not result.ok
    assert "'apps/web-api/overlays/qa' does not exist" in result.log
    assert config_repo.origin_head() == head


def test_held_prod_refuses_a_release_until_the_workflow_lifts_the_hold(act: Act,
                                                                        config_repo: GitRepo) -> None:
    assert control(act, config_repo, action="hold", path=PROD, reason="INC-9").ok
    held = config_repo.origin_head()
    refused = dispatch(act, config_repo, "new-image", payload("v1.5.0", PROD))
    assert refused.ok, refused
    assert config_repo.origin_head() == held
    assert "held" in refused.log
    assert control(act, config_repo, action="unhold", path=PROD).ok
    assert dispatch(act, config_repo, "new-image", payload("v1.5.0", PROD)).ok
    assert config_repo.origin_log()[0] == "Deploy web-api@v1.5.0"
