"""The local GitHub API answers like GitHub's documented dispatch contract (raw HTTP, no client
library), records what it got, and delivers accepted events off the request thread."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.act import Act
from tests.harness.github_api import (
    ActDelivery,
    GitHubAPI,
    dispatch_event,
    dispatch_types,
    matching_workflows,
)
from tests.harness.gitrepo import GitRepo

REPO = "acme/k8s-configurations"


def post(api: GitHubAPI, path: str, body: Any, token: str | None = "good",
         scheme: str = "Bearer") -> tuple[int, dict[str, Any] | None, dict[str, str]]:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(api.url + path, data=data, method="POST")
    if token is not None:
        request.add_header("Authorization", f"{scheme} {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo(REPO)
    github_api.add_repo("acme/other")
    github_api.add_token("good", repos=[REPO])
    return github_api


GOOD = {"event_type": "new-image", "client_payload": {"image": "r/a:1"}}


@pytest.mark.parametrize(("token", "path", "body", "status", "message"), [
    ("good", f"/repos/{REPO}/dispatches", GOOD, 204, None),
    (None, f"/repos/{REPO}/dispatches", GOOD, 401, "Requires authentication"),
    ("bad", f"/repos/{REPO}/dispatches", GOOD, 401, "Bad credentials"),
    ("good", "/repos/acme/other/dispatches", GOOD, 404, "Not Found"),
    ("good", "/repos/acme/missing/dispatches", GOOD, 404, "Not Found"),
    ("good", f"/repos/{REPO}/dispatches", "{nope", 400, "Problems parsing JSON"),
    ("good", f"/repos/{REPO}/dispatches", {"client_payload": {}}, 422, "wasn't supplied"),
    ("good", f"/repos/{REPO}/dispatches", {"event_type": ""}, 422, "wasn't supplied"),
    ("good", f"/repos/{REPO}/dispatches", {"event_type": "x" * 101}, 422, "too long"),
    ("good", f"/repos/{REPO}/dispatches", {"event_type": "a", "client_payload": []}, 422,
     "is not an object"),
    ("good", f"/repos/{REPO}/dispatches",
     {"event_type": "a", "client_payload": {str(i): i for i in range(11)}}, 422,
     "No more than 10 properties"),
], ids=["204", "no-auth", "bad-token", "no-access", "unknown-repo", "not-json", "no-event",
        "empty-event", "long-event", "payload-array", "11-keys"])
def test_dispatch_contract(api: GitHubAPI, token: str | None, path: str, body: Any, status: int,
                           message: str | None) -> None:
    got, answer, headers = post(api, path, body, token)
    assert got == status, answer
    if message is None:
        assert answer is None
        assert int(headers["x-ratelimit-remaining"]) == 4999
        assert headers["x-ratelimit-limit"] == "5000"
    else:
        assert answer is not None
        assert message in answer["message"]
        assert answer["documentation_url"].startswith("https://docs.github.com/")
    [recorded] = api.requests
    assert recorded.status == status
    assert "authorization" not in recorded.headers
    assert "good" not in json.dumps(dict(recorded.headers))


def test_token_scheme_accepted_and_recorded(api: GitHubAPI) -> None:
    assert post(api, f"/repos/{REPO}/dispatches", GOOD, scheme="token")[0] == 204
    assert api.requests[0].auth_scheme == "token"
    assert api.requests[0].body == GOOD


def test_faults_are_served_in_order_then_normal_answers(api: GitHubAPI) -> None:
    api.fail_next(502)
    api.fail_next(429, retry_after=1)
    api.fail_next(403, rate_limit_reset=1234)
    first, second, third, fourth = (post(api, f"/repos/{REPO}/dispatches", GOOD) for _ in range(4))
    assert first[0] == 502
    assert (second[0], second[2]["retry-after"]) == (429, "1")
    assert (third[0], third[2]["x-ratelimit-remaining"], third[2]["x-ratelimit-reset"]) == (
        403, "0", "1234")
    assert fourth[0] == 204
    assert len(api.deliveries) == 1  # only the 204 is delivered


def test_delivery_does_not_hold_back_the_204(api: GitHubAPI) -> None:
    release = threading.Event()
    seen: list[tuple[str, str, str, dict[str, Any]]] = []

    def slow_hook(owner: str, repo: str, event_type: str, payload: dict[str, Any]) -> str:
        release.wait(10)
        seen.append((owner, repo, event_type, payload))
        return "delivered"

    api.on_dispatch = slow_hook
    start = time.monotonic()
    assert post(api, f"/repos/{REPO}/dispatches", GOOD)[0] == 204
    assert time.monotonic() - start < 2
    assert not api.deliveries[0].done
    release.set()
    [delivery] = api.wait_for_deliveries(timeout=10)
    assert delivery.result == "delivered"
    assert seen == [("acme", "k8s-configurations", "new-image", {"image": "r/a:1"})]


def test_hook_failure_is_kept_on_the_delivery(api: GitHubAPI) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("boom")

    api.on_dispatch = broken
    post(api, f"/repos/{REPO}/dispatches", GOOD)
    [delivery] = api.wait_for_deliveries(timeout=10)
    assert isinstance(delivery.error, RuntimeError)


def test_get_repository_and_rate_limit(api: GitHubAPI) -> None:
    request = urllib.request.Request(f"{api.url}/repos/{REPO}",
                                     headers={"Authorization": "token good"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["default_branch"] == "main"
    request = urllib.request.Request(f"{api.url}/rate_limit", headers={"Authorization": "token good"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["rate"]["limit"] == "5000"


def test_event_json_is_githubs_shape() -> None:
    event = dispatch_event("acme", "cfg", "new-job-image", {"image": "r/a:1"}, "trunk")
    assert event["action"] == "new-job-image"
    assert event["branch"] == "trunk"
    assert event["client_payload"] == {"image": "r/a:1"}
    assert event["repository"]["full_name"] == "acme/cfg"
    assert event["repository"]["default_branch"] == "trunk"


@pytest.mark.parametrize(("on", "expected"), [
    ("repository_dispatch", []),
    ("[push, repository_dispatch]", []),
    ("\n  repository_dispatch:\n    types: [new-image]", ["new-image"]),
    ("\n  repository_dispatch:\n    types: new-job-image", ["new-job-image"]),
    ("\n  repository_dispatch:", []),
    ("push", None),
], ids=["string", "list", "types", "types-string", "null", "other-event"])
def test_dispatch_types(tmp_path: Path, on: str, expected: list[str] | None) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text(f"name: w\non: {on}\njobs: {{}}\n", encoding="utf-8")
    assert dispatch_types(workflow) == expected


def test_matching_workflows_filter_on_types(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "a.yml").write_text("on:\n  repository_dispatch:\n    types: [new-image]\n")
    (folder / "b.yaml").write_text("on:\n  repository_dispatch:\n    types: [new-job-image]\n")
    (folder / "c.yml").write_text("on: repository_dispatch\n")
    (folder / "d.yml").write_text("on: push\n")
    assert [p.name for p in matching_workflows(tmp_path, "new-image")] == ["a.yml", "c.yml"]
    assert [p.name for p in matching_workflows(tmp_path, "new-job-image")] == ["b.yaml", "c.yml"]


def test_two_delivery_workers_deliver_at_the_same_time() -> None:
    both_running = threading.Barrier(2, timeout=5)

    def hook(owner: str, repo: str, event_type: str, payload: dict[str, Any]) -> str:
        both_running.wait()  # raises BrokenBarrierError if the deliveries ran one after another
        return payload["image"]

    with GitHubAPI(delivery_workers=2) as api:
        api.add_repo(REPO)
        api.add_token("good")
        api.on_dispatch = hook
        for image in ("r/a:1", "r/b:1"):
            body = {"event_type": "new-image", "client_payload": {"image": image}}
            assert post(api, f"/repos/{REPO}/dispatches", body)[0] == 204
        deliveries = api.wait_for_deliveries(timeout=10)
    assert sorted(d.result for d in deliveries) == ["r/a:1", "r/b:1"]
    assert [d.error for d in deliveries] == [None, None]


def test_act_delivery_runs_nothing_when_no_workflow_listens(
        make_git_repo: Callable[..., GitRepo], tmp_path: Path) -> None:
    config = make_git_repo("acme", "k8s-configurations")
    folder = config.work / ".github" / "workflows"
    folder.mkdir(parents=True)
    (folder / "ci.yml").write_text("on: push\njobs: {}\n")
    (folder / "jobs.yml").write_text("on:\n  repository_dispatch:\n    types: [new-job-image]\n")
    config.commit_all("Add workflows")
    config.push()
    delivery = ActDelivery(Act(bundle=tmp_path, venv_root=tmp_path), [config])

    run = delivery("acme", "k8s-configurations", "new-image", {"image": "r/a:1"})

    assert run.runs == {}  # GitHub starts no run; act is never called
    assert (run.workdir / ".github" / "workflows" / "jobs.yml").is_file()  # origin's main
    with pytest.raises(LookupError, match="no config repo acme/other"):
        delivery("acme", "other", "new-image", {})
