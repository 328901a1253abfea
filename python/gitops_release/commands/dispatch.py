"""`gitops-release dispatch`: send a repository_dispatch event to the config repo.

Everything is validated before anything is sent; the token is masked before anything is printed.
Tuning (and tests) through environment variables, not inputs:
``GITOPS_RELEASE_DISPATCH_BACKOFF`` (seconds, base of the exponential backoff, default 1) and
``GITOPS_RELEASE_DISPATCH_MAX_WAIT`` (seconds, the longest rate-limit wait, default 120).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gitops_release.errors import InputError
from gitops_release.inputs import CommandSpec, InputSpec, check_text, parse_int
from gitops_release.payload import (
    DispatchPayload,
    Source,
    build_payload,
    default_source,
    parse_source_text,
    validate_event_type,
    validate_repository,
)
from gitops_release.runner import Runner, md_escape

DEFAULT_API_URL = "https://api.github.com"
BACKOFF_ENV = "GITOPS_RELEASE_DISPATCH_BACKOFF"
MAX_WAIT_ENV = "GITOPS_RELEASE_DISPATCH_MAX_WAIT"

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
    ),
    outputs={"payload": "The client_payload sent, as compact JSON"},
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
    return DispatchInputs(
        token=token,
        repository=repository,
        event_type=validate_event_type(raw["event-type"].strip()),
        payload=payload,
        api_url=validate_api_url(check_text("github-api-url", api_url)),
        max_attempts=parse_int("max-attempts", raw["max-attempts"], minimum=1, maximum=20),
        notes=tuple(notes),
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

    inputs = read_inputs(raw, environ)
    policy = RetryPolicy(max_attempts=inputs.max_attempts,
                         backoff=_seconds(environ, BACKOFF_ENV, 1.0),
                         max_wait=_seconds(environ, MAX_WAIT_ENV, 120.0))
    data = inputs.payload.to_json()
    pretty = json.dumps(data, indent=2, ensure_ascii=False)
    for note in inputs.notes:
        runner.notice(note, title="dispatch")
    runner.info(f"Dispatching {inputs.event_type} to {inputs.repository} via {inputs.api_url}")
    with runner.group("client_payload"), runner.verbatim():
        runner.info(pretty)
    result = send_dispatch(token=inputs.token, api_url=inputs.api_url,
                           repository=inputs.repository, event_type=inputs.event_type,
                           client_payload=data, policy=policy, log=runner.warning)
    runner.info(f"Dispatched {inputs.event_type} to {inputs.repository}: HTTP {result.status} "
                f"after {result.attempts} attempt(s)")
    runner.set_output("payload", inputs.payload.serialize())
    runner.summary(
        f"### :rocket: Dispatched `{inputs.event_type}` to {md_escape(inputs.repository)}\n\n"
        f"| | |\n|---|---|\n"
        f"| Repository | {md_escape(inputs.repository)} |\n"
        f"| Event type | {md_escape(inputs.event_type)} |\n"
        f"| Release | {md_escape(inputs.payload.release)} |\n"
        f"| Path | {md_escape(inputs.payload.path)} |\n"
        f"| Attempts | {result.attempts} |\n"
        f"| Config repo runs | {runs_link(environ, inputs.repository)} |\n\n"
        f"{code_block(pretty)}\n\n"
        "The config repo runs its `repository_dispatch` workflows from its default branch.\n"
    )


def runs_link(environ: Mapping[str, str], repository: str) -> str:
    """A link to the config repository's repository_dispatch runs (the receiver's), from
    ``GITHUB_SERVER_URL``; plain text when the server URL does not look like one."""
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if not (re.fullmatch(r"https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._/-]*)?", server)
            and re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository)):
        return "-"
    url = f"{server}/{repository}/actions?query=event%3Arepository_dispatch"
    return f"[{md_escape(repository)} actions]({url})"
