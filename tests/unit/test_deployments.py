"""The receiver reports a deploy's outcome to the app repo's GitHub Deployment named in the
payload (source.deployment_id), against the local GitHub API and a real config repo with a bare
origin; a deployment it cannot verify is a warning and never changes the deploy's result."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.harness.github_api import GitHubAPI
from tests.harness.gitrepo import GitRepo, make_repo
from tests.harness.outputs import read_outputs
from tests.unit.test_receiver import DEV, EXAMPLE, PROD, deploy, web_api

APP = "acme/web-api"
SHA = "c" * 40
TOKEN = "ghs_configRepoToken0123456789"
RUN = "https://github.com/acme/config/actions/runs/7"


@pytest.fixture
def config_repo(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo(APP)
    github_api.add_repo("acme/other-app")
    github_api.add_token("sender", repos=[APP, "acme/other-app"])
    github_api.add_token(TOKEN, repos=[APP], login="config-bot")
    return github_api


def create_deployment(api: GitHubAPI, repo: str = APP, sha: str = SHA) -> int:
    body = json.dumps({"ref": sha, "environment": "prod", "required_contexts": []}).encode()
    request = urllib.request.Request(f"{api.url}/repos/{repo}/deployments", data=body,
                                     method="POST", headers={"Authorization": "Bearer sender"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(json.loads(response.read())["id"])


def receive(repo: GitRepo, tmp_path: Path, api: GitHubAPI, deployment_id: int, *args: str,
            source: dict[str, object] | None = None) -> tuple[int, str, str]:
    data = source if source is not None else {"repository": APP, "sha": SHA,
                                              "deployment_id": deployment_id}
    return deploy(repo, tmp_path, *args, "--source", json.dumps(data, indent=2),
                  "--token", TOKEN,
                  env={"GITHUB_API_URL": api.url, "GITHUB_SERVER_URL": "https://github.com",
                       "GITHUB_REPOSITORY": "acme/config", "GITHUB_RUN_ID": "7"})


def statuses(api: GitHubAPI, deployment_id: int) -> list[dict[str, str]]:
    request = urllib.request.Request(
        f"{api.url}/repos/{APP}/deployments/{deployment_id}/statuses",
        headers={"Authorization": "Bearer sender"})
    with urllib.request.urlopen(request, timeout=5) as response:
        found = json.loads(response.read())
    return [{k: s[k] for k in ("state", "description", "log_url")} for s in reversed(found)]


def test_a_deploy_reports_in_progress_then_success_with_the_commit(
        config_repo: GitRepo, tmp_path: Path, api: GitHubAPI) -> None:
    number = create_deployment(api)

    code, log, out = receive(config_repo, tmp_path, api, number, *web_api("v1.5.0"))

    assert code == 0, log
    commit = read_outputs(out)["commit"]
    assert commit == config_repo.origin_head()
    assert statuses(api, number) == [
        {"state": "in_progress", "description": f"Deploying web-api@v1.5.0 to {DEV}",
         "log_url": RUN},
        {"state": "success", "description": f"Deployed web-api@v1.5.0 to {DEV} ({commit[:12]})",
         "log_url": f"https://github.com/acme/config/commit/{commit}"}]
    assert f"reported success to deployment {number} of {APP}" in log
    receiver_requests = api.requests[1:4]  # after the sender's create, before the test's reads
    assert [(r.method, r.headers["x-github-api-version"]) for r in receiver_requests] == [
        ("GET", "2022-11-28"), ("POST", "2022-11-28"), ("POST", "2022-11-28")]


def test_a_downgrade_refusal_makes_the_deployment_inactive_with_the_reason(
        config_repo: GitRepo, tmp_path: Path, api: GitHubAPI) -> None:
    number = create_deployment(api)

    code, log, out = receive(config_repo, tmp_path, api, number, *web_api("v1.3.9", PROD))

    assert code == 0, log
    assert read_outputs(out)["refused"] == "true"
    final = statuses(api, number)[-1]
    assert final["state"] == "inactive" and final["log_url"] == RUN
    assert final["description"].startswith(
        "Refused (downgrade): Downgrade refused: v1.3.9 is older than v1.4.0")
    assert len(final["description"]) <= 140


def test_a_failed_deploy_reports_failure_and_still_fails(config_repo: GitRepo, tmp_path: Path,
                                                         api: GitHubAPI) -> None:
    number = create_deployment(api)
    head = config_repo.origin_head()

    code, log, _ = receive(config_repo, tmp_path, api, number, *web_api(
        "v1.5.0", "apps/web-api/overlays/nowhere"))

    assert code == 1, log
    assert [s["state"] for s in statuses(api, number)] == ["in_progress", "failure"]
    assert "apps/web-api/overlays/nowhere" in statuses(api, number)[-1]["description"]
    assert config_repo.origin_head() == head


@pytest.mark.parametrize(("case", "warning"), [
    ("other-repo", "does not exist or is not visible to this token: ignored"),
    ("other-commit", "is of commit dddddddddddd, not cccccccccccc: ignored"),
    ("no-token-access", "does not exist or is not visible to this token: ignored"),
    ("unreachable", "could not be read (no answer)"),
    ("bad-id", "input 'source.deployment_id': must be an integer, not str"),
], ids=["other-repo", "other-commit", "no-token-access", "unreachable", "bad-id"])
def test_a_deployment_that_cannot_be_verified_is_ignored_with_a_warning(
        config_repo: GitRepo, tmp_path: Path, api: GitHubAPI, case: str, warning: str) -> None:
    number = create_deployment(api, repo="acme/other-app" if case == "other-repo" else APP,
                               sha="d" * 40 if case == "other-commit" else SHA)
    source: dict[str, object] = {"repository": APP, "sha": SHA, "deployment_id": number}
    if case == "no-token-access":
        api.add_token(TOKEN, repos=["acme/config"])
    if case == "bad-id":
        source["deployment_id"] = str(number)
    if case == "unreachable":
        api.__exit__(None, None, None)

    code, log, out = receive(config_repo, tmp_path, api, number, *web_api("v1.5.0"),
                             source=source)

    assert code == 0, log
    assert read_outputs(out)["changed"] == "true"
    assert config_repo.origin_log()[0] == "Deploy web-api@v1.5.0"
    assert "::warning title=Deployment status::" in log and warning in log, log
    if case != "unreachable":
        repo = "acme/other-app" if case == "other-repo" else APP
        assert api.deployment_statuses(repo, number) == []


def test_without_a_deployment_id_no_request_is_made(config_repo: GitRepo, tmp_path: Path,
                                                    api: GitHubAPI) -> None:
    code, log, _ = receive(config_repo, tmp_path, api, 0, *web_api("v1.5.0"),
                           source={"repository": APP, "sha": SHA})
    assert code == 0, log
    assert api.requests == []
    assert "Deployment status" not in log


def test_a_dry_run_reports_nothing(config_repo: GitRepo, tmp_path: Path, api: GitHubAPI) -> None:
    number = create_deployment(api)
    code, log, _ = receive(config_repo, tmp_path, api, number, *web_api("v1.5.0"),
                           "--dry-run", "true")
    assert code == 0, log
    assert statuses(api, number) == []
