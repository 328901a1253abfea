"""The local GitHub API's deployments, deployment statuses, pull requests and git refs answer with
GitHub's documented status codes (raw HTTP, no client library); pull requests and refs act on a
real bare git repository."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from tests.harness.github_api import GitHubAPI
from tests.harness.gitrepo import GitRepo

APP = "acme/web-api"
SHA = "a" * 40


def call(api: GitHubAPI, method: str, path: str, body: Any = None,
         token: str | None = "good") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api.url + path, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, json.loads(raw) if raw else None


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo(APP)
    github_api.add_repo("acme/other")
    github_api.add_token("good", repos=[APP, "acme/other"], login="release-bot")
    github_api.add_token("config-only", repos=["acme/other"])
    return github_api


def deploy(api: GitHubAPI, environment: str = "prod", repo: str = APP, **extra: Any) -> int:
    status, body = call(api, "POST", f"/repos/{repo}/deployments",
                        {"ref": SHA, "environment": environment, "auto_merge": False,
                         "required_contexts": [], **extra})
    assert status == 201, body
    return int(body["id"])


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"ref": SHA, "environment": "prod", "required_contexts": []}, 201, None),
    ({"ref": SHA}, 201, None),
    ({"environment": "prod"}, 422, "Validation Failed"),
    ({"ref": "main"}, 422, "No ref found for: main"),
    ({"ref": SHA, "required_contexts": ["ci/test"]}, 409, "Commit status checks failed"),
    ({"ref": SHA, "environment": 3}, 422, "Validation Failed"),
    ({"ref": SHA, "auto_merge": "yes"}, 422, "Validation Failed"),
], ids=["created", "defaults", "no-ref", "unknown-ref", "contexts", "bad-environment",
        "bad-auto-merge"])
def test_create_deployment(api: GitHubAPI, body: dict[str, Any], status: int,
                           message: str | None) -> None:
    got, answer = call(api, "POST", f"/repos/{APP}/deployments", body)
    assert got == status, answer
    if message is not None:
        assert message in answer["message"]
        return
    assert answer["sha"] == SHA and answer["ref"] == SHA
    assert answer["environment"] == body.get("environment", "production")
    assert answer["creator"]["login"] == "release-bot"
    assert answer["statuses_url"] == f"{api.url}/repos/{APP}/deployments/{answer['id']}/statuses"
    assert answer["production_environment"] is ("environment" not in body)


def test_deployment_ids_belong_to_their_repository(api: GitHubAPI) -> None:
    mine, theirs = deploy(api), deploy(api, repo="acme/other")
    assert call(api, "GET", f"/repos/{APP}/deployments/{mine}")[0] == 200
    assert call(api, "GET", f"/repos/{APP}/deployments/{theirs}")[0] == 404
    assert call(api, "POST", f"/repos/{APP}/deployments/{theirs}/statuses",
                {"state": "success"})[0] == 404
    assert call(api, "GET", f"/repos/{APP}/deployments/{theirs}/statuses")[0] == 404
    assert call(api, "GET", f"/repos/{APP}/deployments/999999")[0] == 404


def test_token_without_access_gets_404_and_no_token_401(api: GitHubAPI) -> None:
    assert call(api, "POST", f"/repos/{APP}/deployments", {"ref": SHA},
                token="config-only")[0] == 404
    assert call(api, "POST", f"/repos/{APP}/deployments", {"ref": SHA}, token="nope")[0] == 401
    assert call(api, "GET", f"/repos/{APP}/deployments", token=None)[0] == 401


def test_list_deployments_filters_and_orders_newest_first(api: GitHubAPI) -> None:
    dev, prod = deploy(api, "dev"), deploy(api, "prod")
    status, listed = call(api, "GET", f"/repos/{APP}/deployments")
    assert status == 200 and [d["id"] for d in listed] == [prod, dev]
    status, listed = call(api, "GET", f"/repos/{APP}/deployments?environment=dev&sha={SHA}")
    assert [d["id"] for d in listed] == [dev]


@pytest.mark.parametrize(("body", "status"), [
    ({"state": "in_progress"}, 201),
    ({"state": "success", "log_url": "https://github.com/acme/cfg/commit/1", "description": "ok"},
     201),
    ({"state": "done"}, 422),
    ({}, 422),
    ({"state": "failure", "description": "x" * 141}, 422),
    ({"state": "failure", "description": "x" * 140}, 201),
], ids=["in-progress", "success", "unknown-state", "no-state", "description-141",
        "description-140"])
def test_create_deployment_status(api: GitHubAPI, body: dict[str, Any], status: int) -> None:
    number = deploy(api)
    got, answer = call(api, "POST", f"/repos/{APP}/deployments/{number}/statuses", body)
    assert got == status, answer
    if status == 201:
        assert answer["state"] == body["state"]
        assert answer["log_url"] == body.get("log_url", "")
        assert answer["deployment_url"].endswith(f"/deployments/{number}")
        assert api.deployment_statuses(APP, number) == [body["state"]]
    else:
        assert answer["message"] == "Validation Failed"
        assert api.deployment_statuses(APP, number) == []


def test_statuses_list_newest_first_and_get_one(api: GitHubAPI) -> None:
    number = deploy(api)
    for state in ("queued", "in_progress", "success"):
        assert call(api, "POST", f"/repos/{APP}/deployments/{number}/statuses",
                    {"state": state})[0] == 201
    status, listed = call(api, "GET", f"/repos/{APP}/deployments/{number}/statuses")
    assert status == 200 and [s["state"] for s in listed] == ["success", "in_progress", "queued"]
    first = listed[-1]["id"]
    assert call(api, "GET", f"/repos/{APP}/deployments/{number}/statuses/{first}")[1][
        "state"] == "queued"
    assert call(api, "GET", f"/repos/{APP}/deployments/{number}/statuses/1")[0] == 404


def test_success_makes_earlier_non_production_deployments_inactive(api: GitHubAPI) -> None:
    old, transient, prod_old = (deploy(api, "dev"), deploy(api, "dev", transient_environment=True),
                                deploy(api, "prod", production_environment=True))
    for number in (old, transient, prod_old):
        call(api, "POST", f"/repos/{APP}/deployments/{number}/statuses", {"state": "success"})
    new, prod_new = deploy(api, "dev"), deploy(api, "prod", production_environment=True)
    call(api, "POST", f"/repos/{APP}/deployments/{new}/statuses", {"state": "success"})
    call(api, "POST", f"/repos/{APP}/deployments/{prod_new}/statuses", {"state": "success"})
    assert api.deployment_statuses(APP, old) == ["success", "inactive"]
    assert api.deployment_statuses(APP, transient) == ["success"]
    assert api.deployment_statuses(APP, prod_old) == ["success"]
    keep = deploy(api, "dev")
    call(api, "POST", f"/repos/{APP}/deployments/{keep}/statuses",
         {"state": "success", "auto_inactive": False})
    assert api.deployment_statuses(APP, new) == ["success"]


# -- pull requests and refs on a real bare repository ------------------------------------------

@pytest.fixture
def config(api: GitHubAPI, make_git_repo: Callable[..., GitRepo]) -> GitRepo:
    repo = make_git_repo("acme", "k8s-configurations")
    api.add_repo(repo.full_name, git=repo.bare)
    api.add_token("cfg", repos=[repo.full_name])
    return repo


def branch_with_commit(repo: GitRepo, branch: str, name: str = "change.txt",
                       text: str = "change\n") -> str:
    repo.git("checkout", "-q", "-B", branch, "origin/main")
    (repo.work / name).write_text(text, encoding="utf-8")
    sha = repo.commit_all(f"Change {name} on {branch}")
    repo.git("push", "-q", "-f", "origin", f"HEAD:refs/heads/{branch}")
    repo.git("checkout", "-q", "main")
    return sha


def pulls(api: GitHubAPI, method: str, rest: str = "", body: Any = None) -> tuple[int, Any]:
    return call(api, method, f"/repos/acme/k8s-configurations/pulls{rest}", body, token="cfg")


def test_pull_request_lifecycle_merges_for_real(api: GitHubAPI, config: GitRepo) -> None:
    head = branch_with_commit(config, "gitops-release/apps/web-api/overlays/prod")
    status, pr = pulls(api, "POST", body={"title": "Deploy web-api@v1.2.3", "body": "diff",
                                          "head": "gitops-release/apps/web-api/overlays/prod",
                                          "base": "main"})
    assert status == 201, pr
    assert (pr["number"], pr["state"], pr["head"]["sha"], pr["mergeable"]) == (1, "open", head,
                                                                               True)
    status, listed = pulls(api, "GET",
                           "?head=acme:gitops-release/apps/web-api/overlays/prod&base=main")
    assert [p["number"] for p in listed] == [1]
    assert pulls(api, "GET", "/1/merge")[0] == 404
    assert pulls(api, "PUT", "/1/merge", {"sha": "b" * 40})[0] == 409
    status, merged = pulls(api, "PUT", "/1/merge", {"sha": head, "merge_method": "squash"})
    assert status == 200 and merged["merged"] is True
    assert config.origin_head() == merged["sha"]
    parents = config.origin_git("log", "-1", "--format=%P", merged["sha"]).split()
    assert len(parents) == 1  # a squash merge
    assert config.origin_show("change.txt") == "change\n"
    assert pulls(api, "GET", "/1/merge")[0] == 204
    assert pulls(api, "GET", "/1")[1]["state"] == "closed"
    assert pulls(api, "PUT", "/1/merge", {})[0] == 405  # closed
    assert pulls(api, "GET", "?state=open")[1] == []


@pytest.mark.parametrize(("body", "message"), [
    ({"head": "feature", "base": "main"}, None),  # missing title
    ({"title": "t", "head": "nope", "base": "main"}, None),
    ({"title": "t", "head": "feature", "base": "nope"}, None),
    ({"title": "t", "head": "main", "base": "main"}, "No commits between main and main"),
], ids=["no-title", "unknown-head", "unknown-base", "no-commits"])
def test_create_pull_request_validation(api: GitHubAPI, config: GitRepo, body: dict[str, Any],
                                        message: str | None) -> None:
    branch_with_commit(config, "feature")
    status, answer = pulls(api, "POST", body=body)
    assert status == 422, answer
    assert answer["message"] == "Validation Failed"
    if message is not None:
        assert answer["errors"][0]["message"] == message


def test_second_open_pull_request_for_a_head_is_refused_until_closed(api: GitHubAPI,
                                                                      config: GitRepo) -> None:
    branch_with_commit(config, "feature")
    body = {"title": "t", "head": "acme:feature", "base": "main"}
    assert pulls(api, "POST", body=body)[0] == 201
    status, answer = pulls(api, "POST", body=body)
    assert status == 422
    assert answer["errors"][0]["message"] == "A pull request already exists for acme:feature."
    assert pulls(api, "PATCH", "/1", {"state": "shut"})[0] == 422
    status, closed = pulls(api, "PATCH", "/1", {"state": "closed", "title": "Superseded"})
    assert (status, closed["state"], closed["title"]) == (200, "closed", "Superseded")
    assert pulls(api, "POST", body=body)[1]["number"] == 2
    assert pulls(api, "GET", "/9")[0] == 404


def test_conflicting_pull_request_is_not_mergeable(api: GitHubAPI, config: GitRepo) -> None:
    branch_with_commit(config, "feature", "same.txt", "theirs\n")
    (config.work / "same.txt").write_text("ours\n", encoding="utf-8")
    config.commit_all("Conflicting change on main")
    config.push("main")
    _, pr = pulls(api, "POST", body={"title": "t", "head": "feature", "base": "main"})
    assert pr["mergeable"] is False and pr["mergeable_state"] == "dirty"
    before = config.origin_head()
    assert pulls(api, "PUT", "/1/merge", {"merge_method": "merge"}) == (
        405, {"message": "Pull Request is not mergeable", "documentation_url":
              "https://docs.github.com/rest"})
    assert pulls(api, "PUT", "/1/merge", {"merge_method": "rebase"})[0] == 405
    assert pulls(api, "PUT", "/1/merge", {"merge_method": "octopus"})[0] == 422
    assert config.origin_head() == before


def refs(api: GitHubAPI, method: str, rest: str, body: Any = None) -> tuple[int, Any]:
    return call(api, method, f"/repos/acme/k8s-configurations/git/{rest}", body, token="cfg")


def test_refs_create_update_delete(api: GitHubAPI, config: GitRepo) -> None:
    main = config.origin_head()
    side = branch_with_commit(config, "side")
    assert refs(api, "GET", "ref/heads/gitops-release/x")[0] == 404
    status, made = refs(api, "POST", "refs", {"ref": "refs/heads/gitops-release/x", "sha": main})
    assert status == 201 and made["object"]["sha"] == main
    assert config.origin_git("rev-parse", "gitops-release/x").strip() == main
    assert refs(api, "POST", "refs", {"ref": "refs/heads/gitops-release/x", "sha": main}) == (
        422, {"message": "Reference already exists", "documentation_url":
              "https://docs.github.com/rest"})
    assert refs(api, "POST", "refs", {"ref": "heads/x", "sha": main})[0] == 422
    assert refs(api, "POST", "refs", {"ref": "refs/heads/y", "sha": "c" * 40})[0] == 422
    assert refs(api, "PATCH", "refs/heads/gitops-release/x", {"sha": side})[0] == 200
    assert refs(api, "PATCH", "refs/heads/gitops-release/x", {"sha": main})[1]["message"] == (
        "Update is not a fast forward")
    assert refs(api, "PATCH", "refs/heads/gitops-release/x", {"sha": main, "force": True})[0] == 200
    assert refs(api, "GET", "ref/heads/gitops-release/x")[1]["object"]["sha"] == main
    assert [r["ref"] for r in refs(api, "GET", "matching-refs/heads/gitops-release")[1]] == [
        "refs/heads/gitops-release/x"]
    assert refs(api, "DELETE", "refs/heads/gitops-release/x") == (204, None)
    assert refs(api, "DELETE", "refs/heads/gitops-release/x")[0] == 422
    assert refs(api, "PATCH", "refs/heads/gone", {"sha": main})[0] == 422


def test_repository_without_git_is_empty_for_pulls_and_refs(api: GitHubAPI) -> None:
    assert call(api, "GET", f"/repos/{APP}/git/ref/heads/main")[0] == 409
    assert call(api, "POST", f"/repos/{APP}/pulls", {"title": "t", "head": "a",
                                                     "base": "main"})[0] == 409


def test_deployment_ref_is_resolved_in_the_git_repo(api: GitHubAPI, config: GitRepo) -> None:
    status, answer = call(api, "POST", "/repos/acme/k8s-configurations/deployments",
                          {"ref": "main", "environment": "dev"}, token="cfg")
    assert status == 201 and answer["sha"] == config.origin_head()
    assert call(api, "POST", "/repos/acme/k8s-configurations/deployments",
                {"ref": SHA}, token="cfg")[0] == 422  # no such commit in the repository
