"""The optional source check against the local GitHub API stand-in (real HTTP on 127.0.0.1):
GET /repos/{owner}/{repo}/actions/runs/{run_id} must show the claimed repository and commit."""

from __future__ import annotations

import pytest

from gitops_release.errors import SourceCheckError
from gitops_release.sourcecheck import SourceClaim, SourceVerdict, verify_source
from tests.harness.github_api import GitHubAPI, add_run

SHA = "c" * 40
RUN = "https://github.com/acme/web-api/actions/runs/42"


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo("acme/web-api")
    github_api.add_repo("acme/other")
    github_api.add_token("reader", ["acme/web-api"])
    add_run(github_api, "acme/web-api", 42, SHA)
    add_run(github_api, "acme/other", 7, SHA)
    return github_api


def check(api: GitHubAPI, claim: SourceClaim | None, mode: str = "required",
          token: str = "reader") -> SourceVerdict:
    return verify_source(claim, mode, api_url=api.url, server_url="https://github.com",
                         token=token)


@pytest.mark.parametrize(("claim", "message"), [
    (SourceClaim("acme/web-api", SHA, RUN), None),
    (SourceClaim("ACME/Web-API", SHA, RUN + "/attempts/2"), None),
    (SourceClaim("acme/web-api", "d" * 40, RUN),
     f"run 42 of acme/web-api ran commit {SHA}, not {'d' * 40}"),
    (SourceClaim("acme/web-api", SHA, "https://github.com/acme/web-api/actions/runs/43"),
     "acme/web-api has no workflow run 43"),
    (SourceClaim("acme/web-api", SHA, "https://github.com/acme/other/actions/runs/7"),
     "source.run_url is a run of acme/other, not of acme/web-api"),
    (SourceClaim("acme/web-api", SHA, "https://evil.example.net/acme/web-api/actions/runs/42"),
     "is not a workflow run URL on https://github.com"),
    (SourceClaim("acme/web-api", SHA, "https://github.com/acme/web-api/pull/42"),
     "is not a workflow run URL"),
    (SourceClaim("acme/other", SHA, "https://github.com/acme/other/actions/runs/7"),
     "the token cannot read acme/other's workflow runs (HTTP 404)"),
    (None, "the release names no source repository, sha and run_url to verify"),
], ids=["verified", "case-and-attempt", "other-commit", "no-such-run", "run-of-another-repo",
        "another-server", "not-a-run-url", "unreadable-repo", "no-claim"])
def test_required(api: GitHubAPI, claim: SourceClaim | None, message: str | None) -> None:
    verdict = check(api, claim)
    if message is None:
        assert verdict.verified and verdict.refusal is None
    else:
        assert not verdict.verified and verdict.refusal is not None
        assert verdict.refusal.reason == "policy"
        assert message in verdict.refusal.message


def test_auto_notes_what_it_cannot_read_and_still_refuses_a_forgery(api: GitHubAPI) -> None:
    unreadable = check(api, SourceClaim("acme/other", SHA, "https://github.com/acme/other/"
                                        "actions/runs/7"), mode="auto")
    assert unreadable == SourceVerdict(False, None, "the token cannot read acme/other's workflow "
                                       "runs (HTTP 404), so the source was not verified")
    forged = check(api, SourceClaim("acme/web-api", "d" * 40, RUN), mode="auto")
    assert forged.refusal is not None
    assert check(api, None, mode="auto").refusal is None


def test_off_asks_nothing(api: GitHubAPI) -> None:
    assert check(api, SourceClaim("acme/web-api", "d" * 40, RUN), mode="off") == SourceVerdict(False)
    assert api.requests == []


def test_the_request_is_authenticated_and_versioned(api: GitHubAPI) -> None:
    check(api, SourceClaim("acme/web-api", SHA, RUN))
    (request,) = api.requests
    assert (request.method, request.path, request.auth_scheme) == (
        "GET", "/repos/acme/web-api/actions/runs/42", "bearer")
    assert request.headers["x-github-api-version"] == "2022-11-28"


def test_bad_credentials_are_not_a_verification(api: GitHubAPI) -> None:
    verdict = check(api, SourceClaim("acme/web-api", SHA, RUN), token="wrong")
    assert verdict.refusal is not None and "HTTP 401" in verdict.refusal.message


def test_server_errors_are_errors_not_refusals(api: GitHubAPI) -> None:
    api.fail_next(502)
    with pytest.raises(SourceCheckError, match="the GitHub API answered 502"):
        check(api, SourceClaim("acme/web-api", SHA, RUN))
