"""`gitops-release dispatch` against the local GitHub API server (a real HTTP server, no mocks):
exact request bodies, which answers fail at once, which are retried and how long it waits."""

from __future__ import annotations

import io
import json
import random
import re
import socket
import time
from pathlib import Path

import pytest

from gitops_release.cli import main
from gitops_release.commands.dispatch import code_block
from gitops_release.dispatch import RetryPolicy, backoff_delay, rate_limit_delay
from tests.harness.github_api import GitHubAPI

TOKEN = "ghp_0123456789abcdefSECRETtoken"
REPO = "acme/k8s-configurations"
SHA = "0123456789abcdef0123456789abcdef01234567"
EXPECTED_PAYLOAD = {
    "image": "127.0.0.1:5000/my-api:v1.2.3",
    "release": "my-api@v1.2.3",
    "path": "apps/my-api/overlays/prod",
    "digest": "sha256:" + "ab" * 32,
    "source": {"repository": "acme/my-api", "sha": SHA, "ref": "refs/tags/v1.2.3",
               "run_url": "https://github.com/acme/my-api/actions/runs/42"},
}
RUNNER_ENV = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/my-api", "GITHUB_SHA": SHA,
              "GITHUB_REF": "refs/tags/v1.2.3", "GITHUB_SERVER_URL": "https://github.com",
              "GITHUB_RUN_ID": "42", "GITOPS_RELEASE_DISPATCH_BACKOFF": "0.05"}


class Run:
    def __init__(self, code: int, stdout: str, output: str, summary: str, seconds: float) -> None:
        self.code, self.stdout, self.output, self.summary = code, stdout, output, summary
        self.seconds = seconds


def dispatch(tmp_path: Path, api_url: str, *extra: str, token: str = TOKEN,
             env: dict[str, str] | None = None) -> Run:
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("")
    summary.write_text("")
    out = io.StringIO()
    args = ["dispatch", "--token", token, "--repository", REPO,
            "--image", EXPECTED_PAYLOAD["image"], "--release", "my-api@v1.2.3",
            "--path", "apps/my-api/overlays/prod", "--digest", "sha256:" + "ab" * 32,
            "--github-api-url", api_url, *extra]
    environ = {**RUNNER_ENV, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
               **(env or {})}
    start = time.monotonic()
    code = main(args, environ, out)
    return Run(code, out.getvalue(), output.read_text(), summary.read_text(),
               time.monotonic() - start)


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo(REPO)
    github_api.add_token(TOKEN, repos=[REPO])
    return github_api


def assert_token_never_printed(run: Run) -> None:
    for line in (run.stdout + run.output + run.summary).splitlines():
        if TOKEN in line:
            assert line == f"::add-mask::{TOKEN}", line
    assert run.stdout.startswith(f"::add-mask::{TOKEN}\n")


def test_happy_path_sends_exactly_the_contract(api: GitHubAPI, tmp_path: Path) -> None:
    run = dispatch(tmp_path, api.url)

    assert run.code == 0, run.stdout
    [request] = api.requests
    assert (request.method, request.path, request.status) == (
        "POST", f"/repos/{REPO}/dispatches", 204)
    assert request.body == {"event_type": "new-image", "client_payload": EXPECTED_PAYLOAD}
    assert request.auth_scheme == "token"
    assert request.headers["user-agent"].startswith("gitops-release/")
    payload = json.dumps(EXPECTED_PAYLOAD, separators=(",", ":"))
    assert re.fullmatch(rf"payload<<(ghadelimiter_[0-9a-f]{{32}})\n{re.escape(payload)}\n\1\n",
                        run.output), run.output
    assert run.summary.startswith("### :rocket: Dispatched `new-image` to acme/k8s-configurations\n")
    assert "```json\n" + json.dumps(EXPECTED_PAYLOAD, indent=2) + "\n```" in run.summary
    assert ("| Config repo runs | [acme/k8s-configurations actions](https://github.com/"
            "acme/k8s-configurations/actions?query=event%3Arepository_dispatch) |") in run.summary
    assert_token_never_printed(run)


def test_event_type_and_explicit_source(api: GitHubAPI, tmp_path: Path) -> None:
    source = {"repository": "acme/jobs", "sha": SHA, "ref": "refs/heads/main",
              "run_url": "https://ghe.example.com/acme/jobs/actions/runs/7"}
    run = dispatch(tmp_path, api.url, "--event-type", "new-job-image",
                   "--source", json.dumps(source))
    assert run.code == 0, run.stdout
    [request] = api.requests
    assert request.body["event_type"] == "new-job-image"
    assert request.body["client_payload"]["source"] == source


@pytest.mark.parametrize(("setup", "status", "input_name", "hint"), [
    ("bad-token", 401, "token", "The token is invalid or expired"),
    ("unknown-repo", 404, "repository", "a fine-grained token needs 'Contents: write'"),
    ("no-access", 404, "repository", "GITHUB_TOKEN cannot dispatch to another repository"),
    ("rejected", 422, "event-type", "the payload was rejected"),
], ids=["401", "404-repo", "404-access", "422"])
def test_client_errors_fail_at_once(api: GitHubAPI, tmp_path: Path, setup: str, status: int,
                                    input_name: str, hint: str) -> None:
    token, extra = TOKEN, []
    if setup == "bad-token":
        token = "ghp_expired"
    elif setup == "unknown-repo":
        extra = ["--repository", "acme/k8s-configuration"]  # the last flag wins
    elif setup == "no-access":
        api.add_token(TOKEN, repos=["acme/other"])
    else:
        api.fail_next(422, message="Invalid request.\n\nNo more than 10 properties are allowed.")

    run = dispatch(tmp_path, api.url, *extra, token=token)

    assert run.code == 1
    assert len(api.requests) == 1
    assert api.requests[0].status == status
    error = next(line for line in run.stdout.splitlines() if line.startswith("::error"))
    assert f"input '{input_name}': the GitHub API answered {status}" in error
    assert hint in error
    assert run.output == ""  # no payload output on failure
    if setup == "rejected":
        assert "No more than 10 properties are allowed" in error


def test_500_then_204_retries_once(api: GitHubAPI, tmp_path: Path) -> None:
    api.fail_next(500)
    run = dispatch(tmp_path, api.url)
    assert run.code == 0, run.stdout
    assert [r.status for r in api.requests] == [500, 204]
    assert api.requests[0].body == api.requests[1].body
    assert "::warning::attempt 1/5: 500 Server Error; retrying in 0.0" in run.stdout


def test_every_5xx_exhausts_max_attempts(api: GitHubAPI, tmp_path: Path) -> None:
    for status in (502, 503, 500):
        api.fail_next(status)
    run = dispatch(tmp_path, api.url, "--max-attempts", "3")
    assert run.code == 1
    assert [r.status for r in api.requests] == [502, 503, 500]
    assert "no success after 3 attempts; the last: 500 Server Error" in run.stdout


def test_429_honours_retry_after(api: GitHubAPI, tmp_path: Path) -> None:
    api.fail_next(429, retry_after=1)
    run = dispatch(tmp_path, api.url)
    assert run.code == 0, run.stdout
    assert [r.status for r in api.requests] == [429, 204]
    assert run.seconds >= 1.0  # waited retry-after, not the 0.05 s backoff
    assert "retrying in 1.00 s" in run.stdout


def test_403_rate_limit_waits_for_reset(api: GitHubAPI, tmp_path: Path) -> None:
    api.fail_next(403, rate_limit_reset=int(time.time()) + 1)
    run = dispatch(tmp_path, api.url)
    assert run.code == 0, run.stdout
    assert [r.status for r in api.requests] == [403, 204]
    assert run.seconds >= 1.0


def test_403_rate_limit_beyond_the_cap_fails_saying_when(api: GitHubAPI, tmp_path: Path) -> None:
    api.fail_next(403, rate_limit_reset=int(time.time()) + 3000)
    run = dispatch(tmp_path, api.url)
    assert run.code == 1
    assert len(api.requests) == 1
    assert re.search(r"the rate limit resets at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, in 300\d s, "
                     r"longer than the 120 s this step waits\. Run the job again after ",
                     run.stdout), run.stdout


def test_403_without_rate_limit_is_an_access_problem(api: GitHubAPI, tmp_path: Path) -> None:
    api.fail_next(403, message="Resource not accessible by integration")
    run = dispatch(tmp_path, api.url)
    assert run.code == 1
    assert len(api.requests) == 1
    assert "403: Resource not accessible by integration" in run.stdout
    assert "GITHUB_TOKEN cannot dispatch to another repository" in run.stdout


def test_connection_refused_bounded_retries(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = dispatch(tmp_path, f"http://127.0.0.1:{port}", "--max-attempts", "3")
    assert run.code == 1
    assert run.stdout.count("::warning::attempt ") == 2
    assert (f"no success after 3 attempts; the last: cannot reach http://127.0.0.1:{port}: "
            "ConnectionError") in run.stdout
    assert run.seconds < 5
    assert_token_never_printed(run)


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--image", "127.0.0.1:5000/My-Api:v1", "input 'image'"),
    ("--path", "../secrets", "input 'path'"),
    ("--event-type", "deploy", "input 'event-type'"),
    ("--repository", "acme", "input 'repository'"),
    ("--source", "{not json", "input 'source'"),
    ("--max-attempts", "0", "input 'max-attempts'"),
    ("--github-api-url", "ftp://example.com", "input 'github-api-url'"),
    ("--github-api-url", "https://user:pw@example.com", "input 'github-api-url'"),
], ids=["image", "path", "event-type", "repository", "source", "max-attempts", "api-scheme",
        "api-credentials"])
def test_bad_input_sends_nothing(api: GitHubAPI, tmp_path: Path, flag: str, value: str,
                                 message: str) -> None:
    run = dispatch(tmp_path, api.url, flag, value)
    assert run.code == 1
    assert message in run.stdout
    assert api.requests == []


def test_token_with_a_newline_is_refused_without_echoing_it(api: GitHubAPI, tmp_path: Path) -> None:
    run = dispatch(tmp_path, api.url, token=f"{TOKEN}\nX-Evil: 1")
    assert run.code == 1
    assert "input 'token': contains spaces, control or non-ASCII characters" in run.stdout
    assert api.requests == []
    assert_token_never_printed(run)


def test_default_api_url_comes_from_the_runner(api: GitHubAPI, tmp_path: Path) -> None:
    run = dispatch(tmp_path, "", env={"GITHUB_API_URL": api.url})
    assert run.code == 0, run.stdout
    assert len(api.requests) == 1


@pytest.mark.parametrize(("headers", "message", "expected"), [
    ({"retry-after": "7"}, "", 7.0),
    ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1010"}, "", 11.0),
    ({}, "You have exceeded a secondary rate limit", 60.0),
    ({"x-ratelimit-remaining": "12"}, "Resource not accessible by integration", None),
], ids=["retry-after", "reset", "secondary", "not-a-limit"])
def test_rate_limit_delay(headers: dict[str, str], message: str, expected: float | None) -> None:
    assert rate_limit_delay(403, headers, message, now=1000.0) == expected


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=5.0)
    rng = random.Random(1)  # noqa: S311 - jitter, seeded for the test
    delays = [backoff_delay(n, policy, rng) for n in range(1, 6)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(5.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_code_block_cannot_be_closed_by_the_content() -> None:
    assert code_block('{"a": 1}') == '```json\n{"a": 1}\n```'
    assert code_block('{"ref": "refs/heads/a```b"}').startswith("````json\n")
