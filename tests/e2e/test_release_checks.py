"""release.yml's early checks and secret-free outputs, end to end through act: the example app
repo's dev workflow (or a caller written here) calls the reusable workflow; the validate job
must stop a missing or unusable secret before anything is built, naming the secret."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.e2e.test_release_workflow import CONFIG, DEV, DIGEST, TIMESTAMP, TOKEN, api, app, registry
from tests.harness.act import Act, ActResult
from tests.harness.github_api import GitHubAPI
from tests.harness.gitrepo import GitRepo
from tests.harness.services import Registry

pytestmark = pytest.mark.e2e
__all__ = ["api", "app", "registry"]  # fixtures shared with test_release_workflow

PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "acme/web-api",
                                                 "default_branch": "main"}}


def secrets_for(registry: Registry, **changes: str | None) -> dict[str, str]:
    values: dict[str, str | None] = {
        "CR_ENDPOINT": registry.host, "CR_USERNAME": registry.username,
        "CR_PASSWORD": registry.password, "GITHUB_PAT": TOKEN, **changes}
    return {k: v for k, v in values.items() if v is not None}


def release(act: Act, app: GitRepo, api: GitHubAPI, secrets: dict[str, str], *,
            workflow: str = DEV, event_name: str = "push",
            event: dict[str, object] | None = None) -> ActResult:
    return act.run(app.work, event_name, event or PUSH, workflow=workflow, secrets=secrets,
                   env={"GITHUB_API_URL": api.url, "GITOPS_RELEASE_DISPATCH_BACKOFF": "0.05"},
                   timeout=900)


def release_showing(message: str, act: Act, app: GitRepo, api: GitHubAPI,
                    secrets: dict[str, str], **kwargs: object) -> ActResult:
    """Run the release until its log shows ``message``, at most three times: act 0.2.89 in host
    mode sometimes loses the output of a step that exits within milliseconds (see
    test_release_workflow's target_env test). Every run must fail the same way."""
    result = release(act, app, api, secrets, **kwargs)  # type: ignore[arg-type]
    for _ in range(2):
        if message in result.log:
            break
        assert not result.ok, str(result)
        result = release(act, app, api, secrets, **kwargs)  # type: ignore[arg-type]
    return result


def assert_stopped_before_the_build(result: ActResult, registry: Registry, api: GitHubAPI) -> None:
    assert not result.ok, str(result)
    assert "Build and push the image" not in result.log, str(result)
    assert registry.tags("web-api") == []
    assert [r for r in api.requests if r.method == "POST"] == []


def test_unset_github_pat_fails_in_validate_naming_the_secret(
        act: Act, registry: Registry, api: GitHubAPI, docker_engine: None, app: GitRepo) -> None:
    result = release_showing("Missing secret GITHUB_PAT", act, app, api,
                             secrets_for(registry, GITHUB_PAT=None))

    assert_stopped_before_the_build(result, registry, api)
    assert "::error title=Missing secret GITHUB_PAT::The secret GITHUB_PAT is empty" in result.log
    assert api.requests == []
    assert registry.password not in result.log


def test_username_without_password_fails_naming_cr_password(
        act: Act, registry: Registry, api: GitHubAPI, docker_engine: None, app: GitRepo) -> None:
    result = release_showing("Missing secret CR_PASSWORD", act, app, api,
                             secrets_for(registry, CR_PASSWORD=None))

    assert_stopped_before_the_build(result, registry, api)
    assert ("::error title=Missing secret CR_PASSWORD::The secret CR_USERNAME is set but "
            "CR_PASSWORD is empty") in result.log, str(result)
    assert "Missing secret GITHUB_PAT" not in result.log


def test_config_repo_the_token_cannot_see_fails_before_the_build(
        act: Act, registry: Registry, github_api: GitHubAPI, docker_engine: None,
        app: GitRepo) -> None:
    github_api.add_repo(CONFIG)
    github_api.add_token(TOKEN, repos=["acme/another-repo"])  # valid, but not for the config repo

    result = release_showing("Config repository not visible", act, app, github_api,
                             secrets_for(registry))

    assert_stopped_before_the_build(result, registry, github_api)
    assert {(r.method, r.path, r.status) for r in github_api.requests} == {
        ("GET", f"/repos/{CONFIG}", 404)}
    assert (f"The secret GITHUB_PAT cannot see the config repository {CONFIG} (404 Not Found)"
            in result.log), str(result)
    assert TOKEN not in result.log


def test_invalid_token_fails_before_the_build(
        act: Act, registry: Registry, github_api: GitHubAPI, docker_engine: None,
        app: GitRepo) -> None:
    github_api.add_repo(CONFIG)
    github_api.add_token("ghp_someone_else")

    result = release_showing("GITHUB_PAT refused", act, app, github_api, secrets_for(registry))

    assert_stopped_before_the_build(result, registry, github_api)
    assert {r.status for r in github_api.requests} == {401}
    assert "The secret GITHUB_PAT was refused" in result.log and "401 Bad credentials" in result.log
    assert TOKEN not in result.log


FORK_CALLER = """\
name: PR release
on: pull_request
permissions: {}
jobs:
  deploy:
    permissions:
      contents: read
    uses: gitops-release/gitops-release/.github/workflows/release.yml@v1
    secrets: inherit # zizmor: ignore[secrets-inherit]
    with:
      target_env: dev
      config_root_folder: apps
      image_name: web-api
"""


def test_fork_pull_request_says_why_the_secrets_are_empty(
        act: Act, registry: Registry, api: GitHubAPI, docker_engine: None, app: GitRepo) -> None:
    (app.work / ".github" / "workflows" / "pr.yaml").write_text(FORK_CALLER, encoding="utf-8")
    app.commit_all("Release from pull requests")
    event = {"pull_request": {"number": 7, "head": {"ref": "patch-1", "sha": "0" * 40,
                                                    "repo": {"full_name": "mallory/web-api"}},
                              "base": {"ref": "main", "repo": {"full_name": "acme/web-api"}}},
             "repository": {"full_name": "acme/web-api", "default_branch": "main"}}

    # GitHub passes no secret to a fork's pull request: none is given here either.
    result = release_showing("This run is a pull request from the fork", act, app, api, {},
                             workflow=".github/workflows/pr.yaml", event_name="pull_request",
                             event=event)

    assert_stopped_before_the_build(result, registry, api)
    assert "Missing secret CR_ENDPOINT" in result.log and "Missing secret GITHUB_PAT" in result.log
    assert "This run is a pull request from the fork mallory/web-api" in result.log, str(result)


OUTPUTS_CALLER = """\
name: Release and report
on: push
permissions: {}
jobs:
  deploy:
    permissions:
      contents: read
    uses: gitops-release/gitops-release/.github/workflows/release.yml@v1
    secrets: inherit # zizmor: ignore[secrets-inherit]
    with:
      target_env: dev
      config_root_folder: apps
      image_name: web-api
      platforms: linux/amd64
  report:
    needs: deploy
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions: {}
    steps:
      - env:
          IMAGE_NAME: ${{ needs.deploy.outputs.image_name }}
          VERSION: ${{ needs.deploy.outputs.version }}
          DIGEST: ${{ needs.deploy.outputs.digest }}
          RELEASE: ${{ needs.deploy.outputs.release }}
        run: echo "outputs=$IMAGE_NAME|$VERSION|$DIGEST|$RELEASE|"
"""


def test_secret_free_outputs_reach_the_caller(
        act: Act, registry: Registry, api: GitHubAPI, docker_engine: None, app: GitRepo,
        record_property: Callable[[str, object], None]) -> None:
    (app.work / ".github" / "workflows" / "report.yaml").write_text(OUTPUTS_CALLER,
                                                                    encoding="utf-8")
    app.commit_all("Report the release")

    result = release(act, app, api, secrets_for(registry), workflow=".github/workflows/report.yaml")

    assert result.ok, str(result)
    found = re.search(r"outputs=(web-api)\|(\d{17})\|(sha256:[0-9a-f]{64})\|(web-api@\d{17})\|",
                      result.log)
    assert found, str(result)
    _, version, digest, release_name = found.groups()
    assert TIMESTAMP.fullmatch(version) and DIGEST.fullmatch(digest)
    assert release_name == f"web-api@{version}"
    assert registry.manifest("web-api", version)[1] == digest
    for value in found.groups():  # none of them holds a secret, so GitHub passes them on
        assert registry.host not in value and registry.password not in value
