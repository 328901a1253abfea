"""Pull-request mode of the receiver against the example config repo (bare origin) and the local
GitHub API, whose pull requests act on that same bare repo: one branch and one pull request per
overlay, superseded by the next release, the base branch untouched until the merge."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.harness.github_api import GitHubAPI
from tests.harness.gitrepo import GitRepo, make_repo
from tests.harness.outputs import read_outputs
from tests.unit.test_receiver import EXAMPLE, PROD, deploy, web_api

TOKEN = "ghs_pullRequestToken0123456789"
BRANCH = f"gitops-release/{PROD}"


@pytest.fixture
def config_repo(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)


@pytest.fixture
def api(github_api: GitHubAPI, config_repo: GitRepo) -> GitHubAPI:
    github_api.add_repo(config_repo.full_name, git=config_repo.bare)
    github_api.add_token(TOKEN, repos=[config_repo.full_name])
    return github_api


def receive(repo: GitRepo, tmp_path: Path, api: GitHubAPI, version: str,
            *extra: str) -> tuple[int, str, dict[str, str]]:
    code, log, out = deploy(repo, tmp_path, *web_api(version, PROD), "--write-mode",
                            "pull-request", "--token", TOKEN, *extra,
                            env={"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "acme/config"})
    return code, log, read_outputs(out) if out else {}


def pulls(api: GitHubAPI, state: str = "all") -> list[dict[str, Any]]:
    request = urllib.request.Request(f"{api.url}/repos/acme/config/pulls?state={state}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return list(json.loads(response.read()))


def test_a_deploy_opens_one_pull_request_and_leaves_the_base_alone(
        config_repo: GitRepo, tmp_path: Path, api: GitHubAPI) -> None:
    base = config_repo.origin_head()

    code, log, out = receive(config_repo, tmp_path, api, "v1.5.0")

    assert code == 0, log
    assert config_repo.origin_head() == base  # main untouched
    [pr] = pulls(api)
    assert out["pull-request-url"] == pr["html_url"] == "https://github.com/acme/config/pull/1"
    assert pr["title"] == f"Deploy web-api@v1.5.0 ({PROD})"
    assert (pr["head"]["ref"], pr["base"]["ref"], pr["state"]) == (BRANCH, "main", "open")
    assert "Release: `web-api@v1.5.0`" in pr["body"]
    assert "+          image: registry.example.com/acme/web-api:v1.5.0" in pr["body"]
    branch_files = config_repo.origin_git("show", "--name-only", "--format=", BRANCH).split()
    assert len(branch_files) == 3  # prod and its prod-* siblings, one commit
    assert config_repo.git("rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def test_a_newer_release_supersedes_the_open_pull_request(config_repo: GitRepo, tmp_path: Path,
                                                          api: GitHubAPI) -> None:
    assert receive(config_repo, tmp_path, api, "v1.5.0")[0] == 0
    first = config_repo.origin_git("rev-parse", BRANCH).strip()

    code, log, out = receive(config_repo, tmp_path, api, "v1.6.0")

    assert code == 0, log
    [pr] = pulls(api)  # still one pull request: updated, not a second one
    assert pr["title"] == f"Deploy web-api@v1.6.0 ({PROD})"
    assert out["pull-request-url"] == pr["html_url"]
    head = config_repo.origin_git("rev-parse", BRANCH).strip()
    assert head != first and pr["head"]["sha"] == head
    parent = config_repo.origin_git("rev-parse", f"{BRANCH}~1").strip()
    assert parent == config_repo.origin_head()  # rebuilt on main, not stacked on the old one
    assert "web-api:v1.6.0" in config_repo.origin_show(f"{PROD}/deployment.yaml", BRANCH)


def test_the_downgrade_guard_compares_with_the_base_branch(config_repo: GitRepo, tmp_path: Path,
                                                           api: GitHubAPI) -> None:
    code, log, out = receive(config_repo, tmp_path, api, "v1.3.9")  # main runs v1.4.0
    assert code == 0, log
    assert out["refused"] == "true" and out["pull-request-url"] == ""
    assert pulls(api) == []
    assert config_repo.origin_git("branch", "--list", BRANCH).strip() == ""


def test_merging_the_pull_request_deploys(config_repo: GitRepo, tmp_path: Path,
                                          api: GitHubAPI) -> None:
    assert receive(config_repo, tmp_path, api, "v1.5.0")[0] == 0
    request = urllib.request.Request(f"{api.url}/repos/acme/config/pulls/1/merge", method="PUT",
                                     data=b'{"merge_method": "merge"}',
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
    assert "web-api:v1.5.0" in config_repo.origin_show(f"{PROD}/deployment.yaml")


def test_a_token_that_cannot_open_pull_requests_fails_clearly(config_repo: GitRepo,
                                                              tmp_path: Path,
                                                              api: GitHubAPI) -> None:
    api.add_token(TOKEN, repos=["acme/other"])
    code, log, _ = receive(config_repo, tmp_path, api, "v1.5.0")
    assert code == 1
    assert "the GitHub API answered 404" in log and "Pull requests: write" in log
    assert config_repo.origin_git("branch", "--list", BRANCH).strip() == ""  # nothing pushed


def test_an_unknown_write_mode_names_the_input(config_repo: GitRepo, tmp_path: Path,
                                               api: GitHubAPI) -> None:
    code, log, _ = receive(config_repo, tmp_path, api, "v1.5.0", "--write-mode", "email")
    assert code == 1
    assert "input 'write-mode': 'email' is not a write mode" in log


def test_the_policys_write_mode_is_honoured_over_the_input(config_repo: GitRepo, tmp_path: Path,
                                                          api: GitHubAPI) -> None:
    """An environments rule with write-mode: pull-request, and the input push (the workflow's
    default): the deploy opens the pull request, main untouched. The setting was returned by
    the policy and never used, so the release was pushed straight to main."""
    (config_repo.work / "gitops-release.yaml").write_text(
        "environments:\n  - match: prod*\n    write-mode: pull-request\n")
    config_repo.commit_all("prod through pull requests")
    config_repo.push()
    base = config_repo.origin_head()
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0", PROD), "--write-mode",
                            "push", "--token", TOKEN,
                            env={"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "acme/config"})
    assert code == 0, log
    assert "gitops-release.yaml asks for write-mode: pull-request there" in log, log
    assert config_repo.origin_head() == base
    [pr] = pulls(api)
    assert pr["head"]["ref"] == BRANCH and pr["state"] == "open"


def test_the_body_shows_the_payloads_text_as_code() -> None:
    """source.run_url passes validation (http(s), no spaces) with markdown and HTML in its
    fragment: in the body it was rendered, a link and an image a reviewer would take for the
    page's own. Every payload value is a code span, whatever backticks it holds."""
    from gitops_release.pullrequest import _body

    url = ("https://github.com/acme/web/actions/runs/1#**Approved**_by_[security-team]"
           "(https://evil.example/login)<br><img/src=https://evil.example/pixel.png>")
    body = _body({"release": "web@1.1.0", "image": "registry.example.com/acme/web:1.1.0",
                  "source": json.dumps({"repository": "acme/web", "run_url": url,
                                        "sha": "`a``b`"})}, "--- a/x\n+++ b/x\n")
    assert f"Source run url: `{url}`" in body
    assert "Source sha: ``` `a``b` ```" in body
    assert "Release: `web@1.1.0`" in body
