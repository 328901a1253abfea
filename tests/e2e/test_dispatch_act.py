"""actions/dispatch under act: a workflow calls `gitops-release/gitops-release/actions/dispatch@v1`
against the local GitHub API, which records the request and delivers the event to a config repo's
`repository_dispatch` workflow with act, the way GitHub would."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.act import Act
from tests.harness.github_api import ActDelivery, GitHubAPI, iter_results
from tests.harness.gitrepo import GitRepo

pytestmark = pytest.mark.e2e

TOKEN = "ghp_e2eSECRETdispatchToken0123456789"
CONFIG = "acme/k8s-configurations"

APP_WORKFLOW = """\
name: release
on: push
permissions: {}
jobs:
  dispatch:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - id: dispatch
        uses: gitops-release/gitops-release/actions/dispatch@v1
        with:
          token: ${{ secrets.GITHUB_PAT }}
          repository: acme/k8s-configurations
          event-type: ${{ vars.EVENT_TYPE }}
          image: 127.0.0.1:5000/my-api:20261126101500123
          release: my-api@20261126101500123
          path: apps/my-api/overlays/dev
          digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
          github-api-url: ${{ vars.API_URL }}
          max-attempts: '3'
      - name: show payload
        env:
          PAYLOAD: ${{ steps.dispatch.outputs.payload }}
        run: echo "payload output=$PAYLOAD"
"""

RECEIVER = """\
name: receive {types}
on:
  repository_dispatch:
    types: [{types}]
permissions: {{}}
jobs:
  receive:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    steps:
      - name: echo payload
        env:
          EVENT: ${{{{ github.event.action }}}}
          IMAGE: ${{{{ github.event.client_payload.image }}}}
          RELEASE: ${{{{ github.event.client_payload.release }}}}
          OVERLAY: ${{{{ github.event.client_payload.path }}}}
          SOURCE_REPO: ${{{{ github.event.client_payload.source.repository }}}}
        run: echo "received [$EVENT] image=$IMAGE release=$RELEASE path=$OVERLAY from=$SOURCE_REPO"
"""


def make_app(make_git_repo: Callable[..., GitRepo]) -> GitRepo:
    app = make_git_repo("acme", "my-api")
    (app.work / ".github" / "workflows").mkdir(parents=True)
    (app.work / ".github" / "workflows" / "release.yml").write_text(APP_WORKFLOW, encoding="utf-8")
    app.commit_all("Add release workflow")
    app.push()
    return app


def run_app(act: Act, app: GitRepo, api: GitHubAPI, event_type: str = "new-image") -> str:
    result = act.run(app.work, "push", {"ref": "refs/heads/main"},
                     secrets={"GITHUB_PAT": TOKEN},
                     variables={"API_URL": api.url, "EVENT_TYPE": event_type},
                     # act takes GITHUB_REPOSITORY from the insteadOf-rewritten origin (a path)
                     env={"GITOPS_RELEASE_DISPATCH_BACKOFF": "0.1",
                          "GITHUB_REPOSITORY": app.full_name})
    assert result.ok, result
    assert TOKEN not in result.log
    return result.log


def test_action_sends_the_contract_through_act(
        act: Act, github_api: GitHubAPI, make_git_repo: Callable[..., GitRepo]) -> None:
    github_api.add_repo(CONFIG)
    github_api.add_token(TOKEN, repos=[CONFIG])
    github_api.fail_next(502)  # retried once by the action
    app = make_app(make_git_repo)

    log = run_app(act, app, github_api)

    assert [r.status for r in github_api.requests] == [502, 204]
    request = github_api.requests[-1]
    head = app.git("rev-parse", "HEAD").strip()
    assert request.path == f"/repos/{CONFIG}/dispatches"
    assert request.auth_scheme == "token"
    source = request.body["client_payload"].pop("source")
    assert request.body == {"event_type": "new-image", "client_payload": {
        "image": "127.0.0.1:5000/my-api:20261126101500123",
        "release": "my-api@20261126101500123",
        "path": "apps/my-api/overlays/dev",
        "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}
    assert source["repository"] == "acme/my-api"
    assert source["sha"] == head
    assert source["ref"] == "refs/heads/main"
    assert re.fullmatch(r"https://github\.com/acme/my-api/actions/runs/\d+", source["run_url"])
    assert ('payload output={"image":"127.0.0.1:5000/my-api:20261126101500123",'
            '"release":"my-api@20261126101500123"') in log
    assert "attempt 1/3: 502 Server Error; retrying in" in log


def test_action_fails_on_401_and_says_why(
        act: Act, github_api: GitHubAPI, make_git_repo: Callable[..., GitRepo]) -> None:
    github_api.add_repo(CONFIG)
    github_api.add_token("ghp_someone_else")
    app = make_app(make_git_repo)

    # github-api-url given as '': the runner's GITHUB_API_URL is used
    result = act.run(app.work, "push", {"ref": "refs/heads/main"}, secrets={"GITHUB_PAT": TOKEN},
                     variables={"API_URL": "", "EVENT_TYPE": "new-image"},
                     env={"GITHUB_API_URL": github_api.url})

    assert not result.ok
    assert [r.status for r in github_api.requests] == [401]
    assert ("input 'token': the GitHub API answered 401: Bad credentials. The token is invalid or "
            "expired") in result.log, result
    assert TOKEN not in result.log
    assert "payload output=" not in result.log


def make_config(make_git_repo: Callable[..., GitRepo]) -> GitRepo:
    config = make_git_repo("acme", "k8s-configurations")
    folder = config.work / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "image.yml").write_text(RECEIVER.format(types="new-image"), encoding="utf-8")
    (folder / "job.yml").write_text(RECEIVER.format(types="new-job-image"), encoding="utf-8")
    config.commit_all("Add receivers")
    config.push()
    return config


@pytest.mark.parametrize(("event_type", "workflow"), [
    ("new-image", ".github/workflows/image.yml"),
    ("new-job-image", ".github/workflows/job.yml"),
])
def test_dispatch_is_delivered_to_the_matching_receiver(
        act: Act, github_api: GitHubAPI, make_git_repo: Callable[..., GitRepo],
        event_type: str, workflow: str, tmp_path: Path) -> None:
    config = make_config(make_git_repo)
    github_api.add_repo(CONFIG)
    github_api.add_token(TOKEN, repos=[CONFIG])
    github_api.on_dispatch = ActDelivery(act, [config])
    app = make_app(make_git_repo)

    run_app(act, app, github_api, event_type)
    [run] = iter_results(github_api.wait_for_deliveries(timeout=300))

    assert list(run.runs) == [workflow]  # act alone would have run both receivers
    assert run.ok, run
    assert (f"received [{event_type}] image=127.0.0.1:5000/my-api:20261126101500123 "
            "release=my-api@20261126101500123 path=apps/my-api/overlays/dev from=acme/my-api"
            ) in run.log, run
    assert run.workdir.is_dir()
    assert config.git("-C", str(run.workdir), "rev-parse", "HEAD") == config.git("rev-parse",
                                                                                  "HEAD")
