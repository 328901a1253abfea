"""The sender's side of closing the loop: a GitHub Deployment in the app repository for the
target environment, whose id travels in the payload (``source.deployment_id``), and, with
``wait: true``, polling its statuses until the config repo's receiver reports the outcome.

The receiver sets ``in_progress``, then ``success`` (``log_url``: the deploy commit), ``inactive``
(refused as a downgrade) or ``failure`` (refused by a hold or policy, or an error), with the reason
as the description (gitops_release.deployments). ``error`` counts as a failure too.

Requests go through actions-toolkit's Octokit (github_client.octokit), retried like the dispatch
(5xx, connection errors, rate limits: dispatch.retrying).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_release.dispatch import RetryPolicy, _Retry, _server_message, rate_limit_delay, retrying
from gitops_release.errors import DeploymentError, DeployOutcomeError, WaitTimeoutError
from gitops_release.runner import neutralize

TERMINAL_STATES = ("success", "failure", "error", "inactive")
TASK = "deploy"
ACCESS_HINT = ("The token (GITHUB_PAT) needs 'Deployments: read and write' on the app repository "
               "(fine-grained token), 'repo' (classic), or a GitHub App installed on it with "
               "Deployments write")


@dataclass(frozen=True)
class Outcome:
    """The deployment's final status."""

    state: str
    description: str
    log_url: str

    @property
    def ok(self) -> bool:
        return self.state == "success"


def is_production(environment: str) -> bool:
    return environment in ("prod", "production") or environment.startswith("prod-")


def _classify(exc: Any, now: float) -> _Retry:
    status = int(exc.status)
    message = _server_message(exc.data)
    if status in (403, 429):
        delay = rate_limit_delay(status, exc.headers, message, now)
        if delay is not None:
            return _Retry(f"{status} rate limited", min(delay, 120.0))
    if status >= 500:
        return _Retry(f"{status} {message}")
    raise DeploymentError(f"the GitHub API answered {status}: {message}", input_name="token",
                          hint=ACCESS_HINT)


def create_deployment(rest: Any, *, repository: str, sha: str, environment: str,
                      payload: Mapping[str, object], description: str, policy: RetryPolicy,
                      api_url: str, log: Callable[[str], None],
                      sleep: Callable[[float], None] = time.sleep) -> int:
    """Create the Deployment of commit ``sha`` to ``environment`` in ``repository``; its id.

    ``auto_merge: false`` and ``required_contexts: []``: the image of this exact commit is
    already built, so GitHub must neither merge the default branch into it nor wait for checks."""
    repo = rest.get_repo(repository)  # the client is lazy: no request yet

    def create() -> Any:
        return repo.create_deployment(
            ref=sha, task=TASK, auto_merge=False, required_contexts=[], payload=dict(payload),
            environment=environment, description=description[:140],
            transient_environment=False, production_environment=is_production(environment))

    deployment, _ = retrying(create, classify=_classify, policy=policy, api_url=api_url, log=log,
                             sleep=sleep)
    return int(deployment.id)


def latest_status(rest: Any, repository: str, deployment_id: int) -> Mapping[str, Any] | None:
    """The newest status of the deployment, None when it has none yet."""
    _, data = rest.requester.requestJsonAndCheck(
        "GET", f"/repos/{repository}/deployments/{deployment_id}/statuses",
        parameters={"per_page": 1})
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None


def wait_for_outcome(rest: Any, *, repository: str, deployment_id: int, timeout: float,
                     interval: float, where: str, log: Callable[[str], None],
                     sleep: Callable[[float], None] = time.sleep,
                     clock: Callable[[], float] = time.monotonic) -> Outcome:
    """Poll the deployment's statuses until a final one; raise DeployOutcomeError when it is not
    ``success``, WaitTimeoutError (saying where to look: ``where``) after ``timeout`` seconds."""
    import requests.exceptions
    from github import GithubException

    deadline = clock() + timeout
    seen = ("", "")
    while True:
        try:
            status = latest_status(rest, repository, deployment_id)
        except GithubException as exc:
            retry = _classify(exc, time.time())  # raises on 401/403/404
            log(f"reading deployment {deployment_id}: {retry.reason}; trying again")
            status = None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            log(f"reading deployment {deployment_id}: {type(exc).__name__}; trying again")
            status = None
        if status is not None:
            state, text = str(status.get("state", "")), str(status.get("description") or "")
            if (state, text) != seen:
                seen = (state, text)
                log(neutralize(f"deployment {deployment_id}: {state}"
                               f"{f' ({text})' if text else ''}"))
            if state in TERMINAL_STATES:
                return _final(Outcome(state, text, str(status.get("log_url") or "")),
                              repository, deployment_id)
        left = deadline - clock()
        if left <= 0:
            last = f"{seen[0]}{f': {seen[1]}' if seen[1] else ''}" if seen[0] else "no status"
            raise WaitTimeoutError(
                f"no final status for deployment {deployment_id} of {repository} after "
                f"{timeout / 60:.0f} min (last: {last})", input_name="wait-timeout",
                hint=f"The dispatch was accepted. {where} Raise wait-timeout if deploys take longer")
        sleep(min(interval, left))


def _final(outcome: Outcome, repository: str, deployment_id: int) -> Outcome:
    if outcome.ok:
        return outcome
    verb = "refused" if outcome.state == "inactive" or outcome.description.lower().startswith(
        "refused") else "failed"
    raise DeployOutcomeError(
        f"the config repo {verb} the deploy ({outcome.state}): "
        f"{outcome.description or 'no reason given'}",
        hint=f"See {outcome.log_url}" if outcome.log_url else
        f"See the deployment {deployment_id} of {repository} and the config repo's Actions runs")
