"""The receiver's side of closing the loop: set the status of the app repository's GitHub
Deployment named by the payload (``source.repository`` + ``source.deployment_id``).

``in_progress`` when the deploy starts; then ``success`` (log URL: the deploy commit, or this run
when there was nothing to change), ``inactive`` when refused as a downgrade (an older release
arrived late: superseded), ``failure`` when refused by a hold, freeze or policy, or when the deploy
failed, with the reason as the description (140 characters at most, GitHub's limit).

The deployment is checked first: ``GET /repos/{source.repository}/deployments/{id}`` must answer
200 (an id of another repository answers 404) and, when the payload names a commit, be a
deployment of that commit. Anything else is a warning and nothing is reported: a status report
never fails a deploy. Standard library only (urllib, imported when a deployment is named), so
the receiver loads no GitHub client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitops_release import __version__
from gitops_release.errors import GitopsReleaseError
from gitops_release.runner import Runner

TIMEOUT = 15
DESCRIPTION_MAX = 140
DEFAULT_API_URL = "https://api.github.com"
ACCESS_HINT = ("the config repo's token (GITHUB_PAT) needs 'Deployments: read and write' on the "
               "app repository to report there")


@dataclass(frozen=True)
class DeploymentLink:
    """A deployment the receiver may report to."""

    api_url: str
    token: str
    repository: str
    deployment_id: int
    run_url: str
    server_url: str
    config_repository: str


class OutcomeRunner(Runner):
    """The step's runner, also keeping the outputs the receiver sets and its notices (the
    reason of a refusal), which the status report is made from."""

    def __init__(self, inner: Runner) -> None:  # shares the inner runner's files and stdout
        self.__dict__.update(inner.__dict__)
        self._inner = inner
        self.outputs: dict[str, str] = {}
        self.notices: list[tuple[str, str]] = []

    def set_output(self, name: str, value: str) -> None:
        self.outputs[name] = value
        self._inner.set_output(name, value)  # an outer OutcomeRunner keeps it too

    def notice(self, message: str, title: str = "") -> None:
        self.notices.append((title, message))
        self._inner.notice(message, title)


def _request(link: DeploymentLink, method: str, path: str,
             body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
    import urllib.error  # only when a deployment is named: a deploy without one skips http
    import urllib.request

    url = f"{link.api_url}/repos/{link.repository}/deployments/{link.deployment_id}{path}"
    if not url.startswith(("https://", "http://")):
        return 0, None
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {link.token}", "Accept": "application/vnd.github+json",
                 "X-GitHub-Api-Version": "2022-11-28", "Content-Type": "application/json",
                 "User-Agent": f"gitops-release/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def _source(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        return {}  # the receiver itself reports a source that is not JSON
    return data if isinstance(data, dict) else {}


def link_from(raw: Mapping[str, str], environ: Mapping[str, str],
              warn: Callable[[str], None]) -> DeploymentLink | None:
    """The deployment to report to, checked, or None (with a warning when one was named)."""
    from gitops_release.dispatch import validate_api_url
    from gitops_release.payload import validate_deployment_id, validate_repository

    source = _source(raw.get("source", ""))
    if source.get("deployment_id") is None:
        return None
    try:
        deployment_id = validate_deployment_id(source["deployment_id"])
        repository = str(source.get("repository", ""))
        validate_repository(repository, "source.repository")
        api_url = validate_api_url(environ.get("GITHUB_API_URL") or DEFAULT_API_URL,
                                   "GITHUB_API_URL")
    except GitopsReleaseError as exc:
        warn(f"deployment status not reported: {exc}")
        return None
    token = raw.get("token", "").strip()
    if not token:
        warn(f"deployment {deployment_id} of {repository}: no token, status not reported; "
             f"{ACCESS_HINT}")
        return None
    server = (environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
    config, run_id = environ.get("GITHUB_REPOSITORY", ""), environ.get("GITHUB_RUN_ID", "")
    link = DeploymentLink(api_url, token, repository, deployment_id,
                          f"{server}/{config}/actions/runs/{run_id}" if config and run_id else "",
                          server, config)
    return _checked(link, str(source.get("sha", "")), warn)


def _checked(link: DeploymentLink, sha: str,
             warn: Callable[[str], None]) -> DeploymentLink | None:
    status, data = _request(link, "GET", "")
    where = f"deployment {link.deployment_id} of {link.repository}"
    if status == 404:
        warn(f"{where} does not exist or is not visible to this token: ignored, status not "
             f"reported. Either the id belongs to another repository, or {ACCESS_HINT}")
        return None
    if status != 200 or not isinstance(data, dict):
        warn(f"{where} could not be read ({status or 'no answer'}): status not reported; "
             f"{ACCESS_HINT}")
        return None
    if sha and data.get("sha") != sha:
        warn(f"{where} is of commit {str(data.get('sha'))[:12]}, not {sha[:12]}: ignored, status "
             "not reported")
        return None
    return link


def set_status(link: DeploymentLink, state: str, description: str, log_url: str,
               warn: Callable[[str], None]) -> bool:
    """POST one status; a failure is a warning (the deploy's own result stands)."""
    text = description if len(description) <= DESCRIPTION_MAX else \
        description[:DESCRIPTION_MAX - 1] + "…"
    body = {"state": state, "description": text, "auto_inactive": True,
            **({"log_url": log_url} if log_url else {})}
    status, _ = _request(link, "POST", "/statuses", body)
    if status != 201:
        warn(f"deployment {link.deployment_id} of {link.repository}: the status {state} was not "
             f"recorded ({status or 'no answer'}); {ACCESS_HINT}")
        return False
    return True


def outcome(link: DeploymentLink, tap: OutcomeRunner, release: str,
            path: str) -> tuple[str, str, str]:
    """(state, description, log URL) from the receiver's outputs and notices."""
    outputs = tap.outputs
    if outputs.get("refused") == "true":
        reason = outputs.get("refused-reason") or "downgrade"
        said = next((f"{title}: {message}" for title, message in reversed(tap.notices)
                     if "refused" in title.lower()), f"{release} was refused")
        return ("inactive" if reason == "downgrade" else "failure",
                f"Refused ({reason}): {said}", link.run_url)
    pull_request = outputs.get("pull-request-url", "")
    if pull_request:
        return ("success", f"{release} to {path}: a pull request awaits review and merge",
                pull_request)
    commit = outputs.get("commit", "")
    if commit:
        url = f"{link.server_url}/{link.config_repository}/commit/{commit}" \
            if link.config_repository else link.run_url
        return "success", f"Deployed {release} to {path} ({commit[:12]})", url
    return "success", f"{release} already deployed to {path}: nothing to change", link.run_url


def report_around(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str],
                  deploy: Callable[[Runner], None]) -> None:
    """Run ``deploy`` and report its outcome to the payload's deployment, when there is one
    (not for a dry run or ``push: false``: nothing reaches the clusters then)."""
    from gitops_release.inputs import FALSE_VALUES, TRUE_VALUES

    def warn(text: str) -> None:
        runner.warning(text, title="Deployment status")

    if raw.get("dry-run") in TRUE_VALUES or raw.get("push") in FALSE_VALUES:
        deploy(runner)
        return
    link = link_from(raw, environ, warn)
    if link is None:
        deploy(runner)
        return
    release, path = raw.get("release", "").strip(), raw.get("path", "").strip()
    set_status(link, "in_progress", f"Deploying {release} to {path}", link.run_url, warn)
    tap = OutcomeRunner(runner)
    try:
        deploy(tap)
    except Exception as exc:
        title = exc.title if isinstance(exc, GitopsReleaseError) else type(exc).__name__
        set_status(link, "failure", f"{title}: {exc}", link.run_url, warn)
        raise
    state, description, url = outcome(link, tap, release, path)
    if set_status(link, state, description, url, warn):
        runner.info(f"reported {state} to deployment {link.deployment_id} of {link.repository}")
