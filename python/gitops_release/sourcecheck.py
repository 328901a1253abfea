"""Optional check of a release's ``source`` through the GitHub REST API (standard library only).

``GET /repos/{owner}/{repo}/actions/runs/{run_id}`` (read access to the source repository:
``actions: read`` for an App or fine-grained token) must show that ``source.run_url`` is a run of
``source.repository`` whose ``head_sha`` is ``source.sha``.

What it proves: that the source repository really ran a workflow on that commit, so a dispatch
cannot cite a repository, commit or run that does not exist, or pair a run with another commit.
What it does not prove: that this run sent the dispatch or built this image — anyone holding the
dispatch token can cite any real run of an allowed repository; that the commit is on a protected
branch or tag; or what the image contains. It narrows forgery to replaying real runs; the image
repository and tag rules of the policy, and the registry's own access control, do the rest.

Modes (``apps[].verify-source`` in the policy): ``off`` (default) asks nothing; ``auto`` verifies
when the token can read the source repository and notes it when it cannot; ``required`` refuses
a release that cannot be verified.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gitops_release.errors import SourceCheckError
from gitops_release.policy import Refusal

if TYPE_CHECKING:  # urllib.request costs 60 ms of imports: only a deploy that checks needs it
    import urllib.request

RUN_PATH_RE = re.compile(r"/(?P<owner>[A-Za-z0-9-]{1,39})/(?P<repo>[A-Za-z0-9._-]{1,100})/actions/"
                         r"runs/(?P<run>[0-9]{1,20})(?:/attempts/[0-9]{1,5})?/?", re.ASCII)
TIMEOUT = 10.0
Fetch = Callable[["urllib.request.Request", float], Any]


@dataclass(frozen=True)
class SourceClaim:
    """What the release says it came from (payload.source)."""

    repository: str
    sha: str
    run_url: str


@dataclass(frozen=True)
class SourceVerdict:
    """``verified``: the API confirmed the claim. ``refusal``: refuse the deploy. ``note``: what
    to tell the user when neither (e.g. the token cannot read the source repository)."""

    verified: bool
    refusal: Refusal | None = None
    note: str = ""


def _open(request: urllib.request.Request, timeout: float) -> Any:
    import urllib.request

    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) API URL only


def _get(api_url: str, path: str, token: str, fetch: Fetch) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    from gitops_release.dispatch import validate_api_url

    url = validate_api_url(api_url) + path  # http(s) only, no credentials in it
    request = urllib.request.Request(url, headers={  # noqa: S310 - scheme checked above
        "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
        "Authorization": f"Bearer {token}", "User-Agent": "gitops-release"})
    try:
        with fetch(request, TIMEOUT) as response:
            return int(response.status), json.loads(response.read().decode("utf-8") or "null")
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise SourceCheckError(f"the GitHub API answered {exc.code} for {path}",
                                   hint="A server-side or rate-limit failure; run the job again") \
                from None
        return exc.code, None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise SourceCheckError(f"the GitHub API at {api_url} could not be asked for {path}: {exc}",
                               hint="Check github-api-url and the network; run the job again") \
            from None


def _refuse(message: str) -> SourceVerdict:
    return SourceVerdict(False, Refusal("policy", message, "apps[].verify-source"))


def verify_source(claim: SourceClaim | None, mode: str, *, api_url: str, server_url: str,
                  token: str, fetch: Fetch = _open) -> SourceVerdict:
    """Check ``claim`` per ``mode`` (off | auto | required)."""
    if mode == "off":
        return SourceVerdict(False)
    strict = mode == "required"
    if claim is None or not (claim.repository and claim.sha and claim.run_url):
        message = "the release names no source repository, sha and run_url to verify"
        return _refuse(message) if strict else SourceVerdict(False, note=message)
    url = urlsplit(claim.run_url)
    match = RUN_PATH_RE.fullmatch(url.path)
    server = urlsplit(server_url)
    if match is None or (url.scheme, url.netloc.lower()) != (server.scheme, server.netloc.lower()):
        return _refuse(f"source.run_url {claim.run_url} is not a workflow run URL on {server_url}")
    cited = f"{match['owner']}/{match['repo']}"
    if cited.lower() != claim.repository.lower():
        return _refuse(f"source.run_url is a run of {cited}, not of {claim.repository}")
    status, run = _get(api_url, f"/repos/{cited}/actions/runs/{match['run']}", token, fetch)
    if status == 200 and isinstance(run, dict):
        repo = str((run.get("repository") or {}).get("full_name", ""))
        if repo.lower() != claim.repository.lower():
            return _refuse(f"run {match['run']} belongs to {repo or 'no repository'}, "
                           f"not {claim.repository}")
        if run.get("head_sha") != claim.sha:
            return _refuse(f"run {match['run']} of {claim.repository} ran commit "
                           f"{run.get('head_sha')}, not {claim.sha}")
        return SourceVerdict(True, note=f"run {match['run']} of {claim.repository} ran {claim.sha}")
    if status == 404:
        repo_status, _ = _get(api_url, f"/repos/{cited}", token, fetch)
        if repo_status == 200:  # the token sees the repository, so the run does not exist
            return _refuse(f"{claim.repository} has no workflow run {match['run']}")
    message = (f"the token cannot read {claim.repository}'s workflow runs (HTTP {status}), so "
               "the source was not verified")
    return _refuse(message) if strict else SourceVerdict(False, note=message)
