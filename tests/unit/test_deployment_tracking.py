"""The sender's GitHub Deployment and `wait: true`, against the local GitHub API (a real HTTP
server): the deployment it creates, the id in the payload, and the outcome the receiver reports
(posted here by the API's delivery hook over raw HTTP, as a receiver would)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gitops_release.deployment_tracking import wait_for_outcome
from gitops_release.errors import WaitTimeoutError
from gitops_release.github_client import octokit, run_context
from tests.harness.github_api import GitHubAPI
from tests.unit.test_dispatch import REPO, SHA, TOKEN, Run, dispatch

APP = "acme/my-api"
FAST = {"GITOPS_RELEASE_WAIT_INTERVAL": "0.05"}


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo(REPO)
    github_api.add_repo(APP)
    github_api.add_token(TOKEN, repos=[REPO, APP])
    github_api.add_token("config-bot", repos=[REPO, APP], login="config-bot")
    return github_api


def post_status(api: GitHubAPI, deployment_id: int, state: str, description: str = "",
                log_url: str = "") -> None:
    body = json.dumps({"state": state, "description": description, "log_url": log_url}).encode()
    request = urllib.request.Request(f"{api.url}/repos/{APP}/deployments/{deployment_id}/statuses",
                                     data=body, method="POST",
                                     headers={"Authorization": "Bearer config-bot"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201


def receiver_reports(api: GitHubAPI, *statuses: tuple[str, str, str]) -> None:
    """Act as the config repo's receiver: report ``statuses`` to the payload's deployment."""
    def hook(owner: str, repo: str, event_type: str, payload: dict[str, Any]) -> None:
        for state, description, log_url in statuses:
            post_status(api, payload["source"]["deployment_id"], state, description, log_url)

    api.on_dispatch = hook


def sent(api: GitHubAPI) -> dict[str, Any]:
    [request] = api.dispatch_requests()
    return dict(request.body["client_payload"])


def outputs(run: Run) -> dict[str, str]:
    lines = run.output.splitlines()
    return {line.split("<<")[0]: lines[i + 1] for i, line in enumerate(lines) if "<<" in line}


def test_environment_creates_a_deployment_whose_id_travels_in_the_payload(
        api: GitHubAPI, tmp_path: Path) -> None:
    run = dispatch(tmp_path, api.url, "--environment", "prod")

    assert run.code == 0, run.stdout
    [created] = [r for r in api.requests if r.path == f"/repos/{APP}/deployments"]
    assert created.body == {
        "ref": SHA, "task": "deploy", "auto_merge": False, "required_contexts": [],
        "payload": {"image": "127.0.0.1:5000/my-api:v1.2.3", "release": "my-api@v1.2.3",
                    "path": "apps/my-api/overlays/prod", "config_repository": REPO},
        "environment": "prod", "description": "my-api@v1.2.3 to apps/my-api/overlays/prod",
        "transient_environment": False, "production_environment": True}
    [deployment] = api.deployments_of(APP)
    assert (deployment["sha"], deployment["environment"]) == (SHA, "prod")
    assert sent(api)["source"]["deployment_id"] == deployment["id"]
    assert outputs(run)["deployment-id"] == str(deployment["id"])
    assert api.requests[-1].path == f"/repos/{REPO}/dispatches"  # created before the dispatch


def test_a_deployment_that_cannot_be_created_is_a_warning_without_wait(
        github_api: GitHubAPI, tmp_path: Path) -> None:
    github_api.add_repo(REPO)
    github_api.add_repo(APP)
    github_api.add_token(TOKEN, repos=[REPO])  # may dispatch, may not touch the app repo

    run = dispatch(tmp_path, github_api.url, "--environment", "prod")

    assert run.code == 0, run.stdout
    assert "::warning title=Deployment not tracked::no deployment created in acme/my-api" in \
        run.stdout
    assert "Deployments: read and write" in run.stdout
    assert "deployment_id" not in sent(github_api)["source"]
    assert "deployment-id" not in outputs(run)


def test_with_wait_a_deployment_that_cannot_be_created_fails_before_dispatching(
        github_api: GitHubAPI, tmp_path: Path) -> None:
    github_api.add_repo(REPO)
    github_api.add_repo(APP)
    github_api.add_token(TOKEN, repos=[REPO])

    run = dispatch(tmp_path, github_api.url, "--environment", "prod", "--wait", "true")

    assert run.code == 1
    assert "::error title=dispatch%3A Deployment not tracked::input 'token': the GitHub API " \
           "answered 404" in run.stdout
    assert github_api.dispatch_requests() == []


def test_wait_succeeds_with_the_config_commit(api: GitHubAPI, tmp_path: Path) -> None:
    commit = "https://github.com/acme/k8s-configurations/commit/" + "c" * 40
    receiver_reports(api, ("in_progress", "Deploying my-api@v1.2.3", ""),
                     ("success", "Deployed my-api@v1.2.3 to apps/my-api/overlays/prod", commit))

    run = dispatch(tmp_path, api.url, "--environment", "prod", "--wait", "true", env=FAST)

    assert run.code == 0, run.stdout
    assert outputs(run)["deployment-state"] == "success"
    assert outputs(run)["deployment-log-url"] == commit
    assert f"Config commit: {commit}\n" in run.summary
    assert "(Deployed my-api@v1.2.3 to apps/my-api/overlays/prod)" in run.stdout


@pytest.mark.parametrize(("state", "description", "expected"), [
    ("failure", "Refused (held): prod is held until Monday", "the config repo refused the deploy "
     "(failure): Refused (held): prod is held until Monday"),
    ("inactive", "Refused (downgrade): my-api@v1.2.3 is older than v1.3.0",
     "the config repo refused the deploy (inactive): Refused (downgrade): my-api@v1.2.3 is older "
     "than v1.3.0"),
    ("error", "apps/my-api/overlays/prod has nothing to update", "the config repo failed the "
     "deploy (error): apps/my-api/overlays/prod has nothing to update"),
], ids=["held", "downgrade", "error"])
def test_wait_fails_the_run_with_the_receivers_reason(api: GitHubAPI, tmp_path: Path, state: str,
                                                      description: str, expected: str) -> None:
    run_url = "https://github.com/acme/k8s-configurations/actions/runs/9"
    receiver_reports(api, ("in_progress", "", ""), (state, description, run_url))

    run = dispatch(tmp_path, api.url, "--environment", "prod", "--wait", "true", env=FAST)

    assert run.code == 1, run.stdout
    assert f"::error title=dispatch%3A Deploy refused or failed::{expected}. See {run_url}" in \
        run.stdout
    assert len(api.dispatch_requests()) == 1


def test_wait_times_out_saying_where_to_look(api: GitHubAPI) -> None:
    rest = octokit(TOKEN, api.url).rest
    number = rest.get_repo(APP).create_deployment(ref=SHA, environment="prod",
                                                  required_contexts=[]).id
    post_status(api, number, "in_progress", "Deploying")
    seen: list[str] = []

    with pytest.raises(WaitTimeoutError) as caught:
        wait_for_outcome(rest, repository=APP, deployment_id=number, timeout=0.3, interval=0.05,
                         where="Look at https://github.com/acme/k8s-configurations/actions.",
                         log=seen.append)

    assert str(caught.value) == (
        f"input 'wait-timeout': no final status for deployment {number} of {APP} after 0 min "
        "(last: in_progress: Deploying). The dispatch was accepted. Look at "
        "https://github.com/acme/k8s-configurations/actions. Raise wait-timeout if deploys take "
        "longer")
    assert seen == [f"deployment {number}: in_progress (Deploying)"]


@pytest.mark.parametrize(("extra", "message"), [
    (("--wait", "true"), "input 'wait': true needs a deployment to wait for"),
    (("--wait", "yes"), "input 'wait': 'yes' is not a boolean"),
    (("--environment", "prod", "--wait-timeout", "0"), "input 'wait-timeout': 0 is out of range"),
    (("--environment", "prod env"), "input 'environment': 'prod env' is not an environment name"),
    (("--environment", "prod", "--source", json.dumps({"deployment_id": 7})),
     "input 'environment': is set and source holds a deployment_id too"),
], ids=["wait-without-deployment", "wait-not-bool", "timeout-zero", "environment-space",
        "environment-and-id"])
def test_bad_inputs_send_nothing(api: GitHubAPI, tmp_path: Path, extra: tuple[str, ...],
                                 message: str) -> None:
    run = dispatch(tmp_path, api.url, *extra)
    assert run.code == 1
    assert message in run.stdout, run.stdout
    assert api.requests == []


def test_run_context_comes_from_actions_toolkit() -> None:
    context = run_context({"GITHUB_REPOSITORY": APP, "GITHUB_SHA": SHA, "GITHUB_RUN_ID": "42",
                           "GITHUB_REF": "refs/tags/v1.2.3",
                           "GITHUB_SERVER_URL": "https://ghe.example.com"})
    assert (context.repository, context.sha, context.ref, context.run_id) == (
        APP, SHA, "refs/tags/v1.2.3", 42)
    assert context.run_url == f"https://ghe.example.com/{APP}/actions/runs/42"
    assert run_context({"GITHUB_REPOSITORY": "not-a-repo"}).repository == ""
