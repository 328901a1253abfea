"""Send a repository_dispatch event: ``POST /repos/{owner}/{repo}/dispatches`` through
actions-toolkit's Octokit (PyGithub; see github_client.py).

PyGithub's ``Repository.create_repository_dispatch`` answers ``False`` for every non-204 status
and drops it, so the request goes through the Requester (``requestJsonAndCheck`` raises
``GithubException`` with status and headers) and the retries are ours, PyGithub's are off:

- 401, 404, 422 and other 4xx: fail at once, saying what to check.
- 403/429 rate limits: wait ``retry-after`` seconds, or until ``x-ratelimit-reset`` when
  ``x-ratelimit-remaining`` is 0, or a minute for a secondary limit without either; a wait
  longer than ``max_wait`` fails at once, saying when to retry.
- 5xx and connection errors: exponential backoff with jitter, at most ``max_attempts`` requests.
  The receiver is idempotent (the same event twice gives one commit), so a retry after a lost
  answer is safe.

The token is only ever handed to actions-toolkit and PyGithub; no message here contains it.
"""

from __future__ import annotations

import random
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from gitops_release.errors import DispatchError, InputError
from gitops_release.runner import neutralize

SECONDARY_LIMIT_WAIT = 60.0  # GitHub: without retry-after or a reset time, wait at least a minute
ACCESS_HINT = (
    "Check the repository name, and that the token can write to it: a fine-grained token needs "
    "'Contents: write' on the config repository, a classic token the 'repo' scope. The workflow's "
    "own GITHUB_TOKEN cannot dispatch to another repository: pass a PAT or a GitHub App token"
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: requests in all, backoff base and cap, the longest rate-limit wait."""

    max_attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_wait: float = 120.0


@dataclass(frozen=True)
class DispatchResult:
    """What the API answered in the end."""

    status: int
    attempts: int
    rate_limit_remaining: str | None


class _Retry(Exception):
    """One failed attempt that may be retried after ``delay`` seconds (None: backoff)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


def validate_api_url(value: str, input_name: str = "github-api-url") -> str:
    """An http(s) base URL without credentials, query or fragment; no trailing slash."""
    text = value.strip()
    try:
        url = urllib.parse.urlsplit(text)
        _ = url.port  # raises ValueError on a port that is not a number up to 65535
    except ValueError:
        url = urllib.parse.urlsplit("")
    if (url.scheme not in {"http", "https"} or not url.hostname
            or not all("!" <= ch <= "~" for ch in text)):
        raise InputError(f"{value!r} is not an http(s) URL", input_name=input_name,
                         hint="Use the API's base URL, e.g. https://api.github.com or "
                              "https://github.example.com/api/v3")
    if url.username or url.password or url.query or url.fragment:
        raise InputError("must not hold credentials, a query or a fragment",
                         input_name=input_name, hint="Pass the token as the 'token' input")
    return text.rstrip("/")


def validate_token(value: str, input_name: str = "token") -> str:
    """A token is printable ASCII without spaces (one with a newline would break the header, and
    the HTTP library would quote it in its error)."""
    token = value.strip()
    if not token:
        raise InputError("is empty", input_name=input_name,
                         hint="Pass a PAT or GitHub App token, e.g. ${{ secrets.GITHUB_PAT }}")
    if not all("!" <= ch <= "~" for ch in token):
        raise InputError("contains spaces, control or non-ASCII characters", input_name=input_name,
                         hint="Check the secret holds only the token")
    return token


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _server_message(data: Any) -> str:
    message = data.get("message") if isinstance(data, dict) else data
    text = neutralize(str(message or "no message")).replace("\n", " ")
    errors = data.get("errors") if isinstance(data, dict) else None
    if errors:
        text += f" ({neutralize(str(errors)).replace(chr(10), ' ')[:300]})"
    return text[:500]


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def rate_limit_delay(status: int, headers: Mapping[str, Any] | None, message: str,
                     now: float) -> float | None:
    """Seconds to wait before retrying a 403/429, or None when it is not a rate limit."""
    retry_after = _header(headers, "retry-after")
    if retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after.strip())
    remaining = _header(headers, "x-ratelimit-remaining")
    reset = _header(headers, "x-ratelimit-reset")
    if remaining == "0" and reset is not None and reset.strip().isdigit():
        return max(0.0, float(reset.strip()) - now) + 1.0
    lowered = message.lower()
    if status == 429 or "rate limit" in lowered or "retry your request again later" in lowered:
        return SECONDARY_LIMIT_WAIT
    return None


def _classify(exc: Any, repository: str, now: float, policy: RetryPolicy) -> _Retry:
    """Turn a GithubException into a retry, or raise the DispatchError it means."""
    status = int(exc.status)
    message = _server_message(exc.data)
    said = f"the GitHub API answered {status}: {message}"
    if status == 401:
        raise DispatchError(said, input_name="token",
                            hint="The token is invalid or expired: create a new one and update "
                                 "the secret (e.g. GITHUB_PAT)")
    if status == 404:
        raise DispatchError(said, input_name="repository", hint=ACCESS_HINT)
    if status == 422:
        raise DispatchError(f"{said}; the payload was rejected", input_name="event-type",
                            hint="Check event-type (1-100 characters) and the payload (at most "
                                 "10 top-level keys, less than 64 KB)")
    if status in {403, 429}:
        delay = rate_limit_delay(status, exc.headers, message, now)
        if delay is None:
            raise DispatchError(said, input_name="token", hint=ACCESS_HINT)
        if delay > policy.max_wait:
            raise DispatchError(
                f"{said}; the rate limit resets at {_utc(now + delay)}, in {delay:.0f} s, longer "
                f"than the {policy.max_wait:.0f} s this step waits",
                input_name="token", hint=f"Run the job again after {_utc(now + delay)}")
        return _Retry(f"{status} rate limited", delay)
    if status >= 500:
        return _Retry(f"{status} {message}")
    raise DispatchError(said, input_name="repository",
                        hint=f"Check the request to {repository} and the API URL")


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Exponential backoff with jitter: base·2^(attempt-1), capped, times a factor in [0.5, 1]."""
    ceiling = min(policy.max_backoff, policy.backoff * (2.0 ** (attempt - 1)))
    return ceiling * rng.uniform(0.5, 1.0)


T = TypeVar("T")


def retrying(action: Callable[[], T], *, classify: Callable[[Any, float], _Retry],
             policy: RetryPolicy, api_url: str, log: Callable[[str], None],
             sleep: Callable[[float], None] = time.sleep,
             rng: random.Random | None = None) -> tuple[T, int]:
    """Run ``action`` (one API request through PyGithub) until it succeeds, retrying what
    ``classify`` turns into a ``_Retry`` (it raises what may not be retried), connection errors
    and timeouts; ``(result, attempts)``, or a DispatchError after ``policy.max_attempts``."""
    import requests.exceptions
    from github import GithubException

    rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
    last = ""
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return action(), attempt
        except GithubException as exc:
            retry = classify(exc, time.time())
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            retry = _Retry(f"cannot reach {api_url}: {type(exc).__name__}")
        except ValueError:  # a body that looks like JSON and is not (a broken proxy)
            retry = _Retry("the answer was not JSON")
        last = retry.reason
        if attempt == policy.max_attempts:
            break
        delay = retry.delay if retry.delay is not None else backoff_delay(attempt, policy, rng)
        log(f"attempt {attempt}/{policy.max_attempts}: {retry.reason}; retrying in {delay:.2f} s")
        sleep(delay)
    raise DispatchError(
        f"no success after {policy.max_attempts} attempts; the last: {last}",
        input_name="github-api-url",
        hint="Check the API URL and GitHub's status, then run the job again (max-attempts "
             "sets how often to try)")


def send_dispatch(*, token: str, api_url: str, repository: str, event_type: str,
                  client_payload: Mapping[str, object], policy: RetryPolicy,
                  log: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
                  rng: random.Random | None = None, client: Any = None) -> DispatchResult:
    """POST the event, retrying what may be retried; raise DispatchError when it cannot succeed.
    ``client``: the Octokit's PyGithub client (github_client.octokit), made here when None."""
    from gitops_release.github_client import octokit

    owner, _, name = repository.partition("/")
    url = f"/repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}/dispatches"
    body = {"event_type": event_type, "client_payload": dict(client_payload)}
    rest = client if client is not None else octokit(token, api_url).rest
    try:
        (headers, _), attempts = retrying(
            lambda: rest.requester.requestJsonAndCheck("POST", url, input=body),
            classify=lambda exc, now: _classify(exc, repository, now, policy),
            policy=policy, api_url=api_url, log=log, sleep=sleep, rng=rng)
    finally:
        if client is None:
            rest.close()
    return DispatchResult(204, attempts, _header(headers, "x-ratelimit-remaining"))
