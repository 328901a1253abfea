"""`gitops-release dispatch`: send a repository_dispatch event to the config repo.

Everything is validated before anything is sent; the token is masked before anything is printed.
Tuning (and tests) through environment variables, not inputs:
``GITOPS_RELEASE_DISPATCH_BACKOFF`` (seconds, base of the exponential backoff, default 1) and
``GITOPS_RELEASE_DISPATCH_MAX_WAIT`` (seconds, the longest rate-limit wait, default 120) and
``GITOPS_RELEASE_WAIT_INTERVAL`` (seconds between two reads of the deployment, default 5).

With ``environment``, a GitHub Deployment of this commit is created in the app repository first
and its id sent as ``source.deployment_id``; with ``wait: true`` the step then waits for the
receiver's final status and fails with its reason (gitops_release.deployment_tracking).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitops_release.errors import DeploymentError, InputError
from gitops_release.inputs import CommandSpec, InputSpec, check_text, parse_bool, parse_int
from gitops_release.payload import (
    DispatchPayload,
    Source,
    build_payload,
    check_size,
    default_source,
    parse_source_text,
    validate_event_type,
    validate_repository,
)
from gitops_release.runner import Runner, md_escape

if TYPE_CHECKING:
    from gitops_release.dispatch import RetryPolicy
    from gitops_release.github_client import RunContext

DEFAULT_API_URL = "https://api.github.com"
BACKOFF_ENV = "GITOPS_RELEASE_DISPATCH_BACKOFF"
MAX_WAIT_ENV = "GITOPS_RELEASE_DISPATCH_MAX_WAIT"
WAIT_INTERVAL_ENV = "GITOPS_RELEASE_WAIT_INTERVAL"
_ENVIRONMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}", re.ASCII)

SPEC = CommandSpec(
    name="dispatch",
    help="Send a repository_dispatch event (new-image | new-job-image) to the config repo.",
    inputs=(
        InputSpec("token", "PAT or GitHub App token that can write to the config repo",
                  required=True, secret=True),
        InputSpec("repository", "Config repository as owner/name", required=True),
        InputSpec("event-type", "new-image or new-job-image", default="new-image"),
        InputSpec("image", "Full image reference registry/name:version[@sha256:<hex>]",
                  required=True),
        InputSpec("release", "Release as <name>@<version>", required=True),
        InputSpec("path", "Overlay folder relative to the config repo", required=True),
        InputSpec("digest", "sha256:<64 hex> of the pushed manifest (list)"),
        InputSpec("source", "JSON object {repository, sha, ref, run_url}; default: this run"),
        InputSpec("github-api-url", "GitHub API base URL; default: $GITHUB_API_URL, else "
                  f"{DEFAULT_API_URL}"),
        InputSpec("max-attempts", "Requests in all for 5xx, connection errors and rate limits",
                  default="5"),
        InputSpec("environment", "Create a GitHub Deployment of this commit for this environment "
                  "in the app repository; its id travels as source.deployment_id and the "
                  "receiver reports the outcome to it (empty: none)"),
        InputSpec("wait", "After dispatching, wait for the deployment's final status and fail "
                  "with the receiver's reason when it refused or failed the deploy",
                  default="false"),
        InputSpec("wait-timeout", "Minutes to wait for the final status (1-360)", default="10"),
    ),
    outputs={"payload": "The client_payload sent, as compact JSON",
             "deployment-id": "The id of the app repository's Deployment, empty without one",
             "deployment-state": "Its final state when waited for (success), else empty",
             "deployment-log-url": "The final status's log URL (the deploy commit), else empty"},
)


@dataclass(frozen=True)
class DispatchInputs:
    token: str
    repository: str
    event_type: str
    payload: DispatchPayload
    api_url: str
    max_attempts: int
    notes: tuple[str, ...] = ()
    environment: str = ""
    wait: bool = False
    wait_minutes: int = 10


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise InputError(f"{text!r} is not a number of seconds from 0 to 3600", input_name=name)
    return value


def read_inputs(raw: Mapping[str, str], environ: Mapping[str, str]) -> DispatchInputs:
    from gitops_release.dispatch import validate_api_url, validate_token

    token = validate_token(raw["token"])
    repository = raw["repository"].strip()
    validate_repository(repository)
    source_text = raw["source"].strip()
    notes: list[str] = []
    source: Source | None
    if source_text:
        source = parse_source_text(source_text)
    else:
        source, notes = default_source(environ)
    payload = build_payload(image=raw["image"].strip(), release=raw["release"].strip(),
                            path=raw["path"].strip(), digest=raw["digest"].strip(), source=source)
    api_url = raw["github-api-url"] or environ.get("GITHUB_API_URL", "") or DEFAULT_API_URL
    environment = check_text("environment", raw["environment"].strip(), max_length=255)
    if environment and not _ENVIRONMENT_RE.fullmatch(environment):
        raise InputError(f"{environment!r} is not an environment name", input_name="environment",
                         hint="Use letters, digits, '.', '_' and '-', e.g. prod")
    wait = parse_bool("wait", raw["wait"])
    deployment_given = payload.source is not None and payload.source.deployment_id is not None
    if environment and deployment_given:
        raise InputError("is set and source holds a deployment_id too", input_name="environment",
                         hint="Either let the action create the deployment (environment) or pass "
                              "its id in source, not both")
    if wait and not (environment or deployment_given):
        raise InputError("true needs a deployment to wait for", input_name="wait",
                         hint="Set environment (e.g. prod), or pass source.deployment_id")
    return DispatchInputs(
        token=token,
        repository=repository,
        event_type=validate_event_type(raw["event-type"].strip()),
        payload=payload,
        api_url=validate_api_url(check_text("github-api-url", api_url)),
        max_attempts=parse_int("max-attempts", raw["max-attempts"], minimum=1, maximum=20),
        notes=tuple(notes),
        environment=environment, wait=wait,
        wait_minutes=parse_int("wait-timeout", raw["wait-timeout"], minimum=1, maximum=360),
    )


def code_block(text: str) -> str:
    """A fenced Markdown code block that the text cannot close (a longer fence than any run of
    backticks in it)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}json\n{text}\n{fence}"


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
    if raw.get("token"):
        runner.mask(raw["token"].strip())
    from gitops_release.dispatch import RetryPolicy, send_dispatch
    from gitops_release.github_client import octokit, run_context

    inputs = read_inputs(raw, environ)
    policy = RetryPolicy(max_attempts=inputs.max_attempts,
                         backoff=_seconds(environ, BACKOFF_ENV, 1.0),
                         max_wait=_seconds(environ, MAX_WAIT_ENV, 120.0))
    context = run_context(environ)
    rest = octokit(inputs.token, inputs.api_url).rest
    try:
        inputs = _track(inputs, rest, context, policy, runner)
        data = inputs.payload.to_json()
        pretty = json.dumps(data, indent=2, ensure_ascii=False)
        for note in inputs.notes:
            runner.notice(note, title="dispatch")
        runner.info(f"Dispatching {inputs.event_type} to {inputs.repository} via {inputs.api_url}")
        with runner.group("client_payload"), runner.verbatim():
            runner.info(pretty)
        result = send_dispatch(token=inputs.token, api_url=inputs.api_url,
                               repository=inputs.repository, event_type=inputs.event_type,
                               client_payload=data, policy=policy, log=runner.warning, client=rest)
        runner.info(f"Dispatched {inputs.event_type} to {inputs.repository}: HTTP {result.status} "
                    f"after {result.attempts} attempt(s)")
        source = inputs.payload.source
        deployment = source.deployment_id if source else None
        runner.set_output("payload", inputs.payload.serialize())
        if deployment is not None:
            runner.set_output("deployment-id", str(deployment))
        runner.summary(_summary(inputs, result.attempts, pretty, environ))
        if inputs.wait and deployment is not None and source is not None:
            _wait(inputs, rest, source.repository or context.repository, deployment, context,
                  runner, environ)
    finally:
        rest.close()


def _summary(inputs: DispatchInputs, attempts: int, pretty: str,
             environ: Mapping[str, str]) -> str:
    return (
        f"### :rocket: Dispatched `{inputs.event_type}` to {md_escape(inputs.repository)}\n\n"
        f"| | |\n|---|---|\n"
        f"| Repository | {md_escape(inputs.repository)} |\n"
        f"| Event type | {md_escape(inputs.event_type)} |\n"
        f"| Release | {md_escape(inputs.payload.release)} |\n"
        f"| Path | {md_escape(inputs.payload.path)} |\n"
        f"| Attempts | {attempts} |\n"
        f"| Config repo runs | {runs_link(environ, inputs.repository)} |\n\n"
        f"{code_block(pretty)}\n\n"
        "The config repo runs its `repository_dispatch` workflows from its default branch.\n"
    )


def _track(inputs: DispatchInputs, rest: Any, context: RunContext, policy: RetryPolicy,
           runner: Runner) -> DispatchInputs:
    """Create the app repository's Deployment (with ``environment``) and put its id into the
    payload's source. Without ``wait`` a deployment that cannot be created is a warning."""
    from gitops_release.deployment_tracking import create_deployment

    if not inputs.environment:
        return inputs
    source = inputs.payload.source or Source()
    repository, sha = source.repository or context.repository, source.sha or context.sha
    try:
        if not repository or not sha:
            raise DeploymentError("the app repository or commit is unknown (GITHUB_REPOSITORY, "
                                  "GITHUB_SHA)", input_name="source",
                                  hint="Run on a runner, or pass source with repository and sha")
        deployment_id = create_deployment(
            rest, repository=repository, sha=sha, environment=inputs.environment,
            payload={"image": str(inputs.payload.image), "release": inputs.payload.release,
                     "path": inputs.payload.path, "config_repository": inputs.repository},
            description=f"{inputs.payload.release} to {inputs.payload.path}", policy=policy,
            api_url=inputs.api_url, log=runner.warning)
    except DeploymentError as exc:
        if inputs.wait:
            raise
        runner.warning(f"no deployment created in {repository}, so the outcome is reported only "
                       f"in the config repo: {exc}", title="Deployment not tracked")
        return inputs
    runner.info(f"created deployment {deployment_id} of {repository} for {inputs.environment}")
    payload = dataclasses.replace(inputs.payload, source=dataclasses.replace(
        source, repository=repository, sha=sha, deployment_id=deployment_id))
    check_size(payload.to_json())
    return dataclasses.replace(inputs, payload=payload)


def _wait(inputs: DispatchInputs, rest: Any, repository: str, deployment_id: int,
          context: RunContext, runner: Runner, environ: Mapping[str, str]) -> None:
    from gitops_release.deployment_tracking import wait_for_outcome

    server = context.server_url.rstrip("/")
    where = (f"Look at the config repo's runs ({server}/{inputs.repository}/actions) for "
             f"{inputs.payload.release}, and check that its receiver's token may write "
             f"deployment statuses in {repository}.")
    runner.info(f"waiting up to {inputs.wait_minutes} min for the outcome of deployment "
                f"{deployment_id}")
    outcome = wait_for_outcome(
        rest, repository=repository, deployment_id=deployment_id,
        timeout=inputs.wait_minutes * 60.0, interval=_seconds(environ, WAIT_INTERVAL_ENV, 5.0),
        where=where, log=runner.info)
    runner.set_outputs({"deployment-state": outcome.state, "deployment-log-url": outcome.log_url})
    runner.summary(f"### :white_check_mark: Deployed `{md_escape(inputs.payload.release)}`\n\n"
                   f"{md_escape(outcome.description)}\n\n"
                   + (f"Config commit: {_link(outcome.log_url)}\n" if outcome.log_url else ""))


def _link(url: str) -> str:
    """A URL from the API as a bare link when it is plainly one, else as escaped text."""
    return url if re.fullmatch(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]{1,500}", url) \
        else md_escape(url)


def runs_link(environ: Mapping[str, str], repository: str) -> str:
    """A link to the config repository's repository_dispatch runs (the receiver's), from
    ``GITHUB_SERVER_URL``; plain text when the server URL does not look like one."""
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if not (re.fullmatch(r"https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._/-]*)?", server)
            and re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository)):
        return "-"
    url = f"{server}/{repository}/actions?query=event%3Arepository_dispatch"
    return f"[{md_escape(repository)} actions]({url})"
