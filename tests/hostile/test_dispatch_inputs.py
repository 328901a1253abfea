"""Hostile input to the sender's dispatch, run as a composite step would run it, against the real
local GitHub API server. A dispatch that goes out cannot be called back, so every case must: exit
non-zero, name the input in the error, send NOTHING (zero requests recorded by the server), write
nothing to GITHUB_OUTPUT, and print nothing a runner would parse as a workflow command of its own.

Values may hold ``{api}`` (the server's URL) and ``{hostport}`` (its 127.0.0.1:port), so that a bad
API URL still points at the server: had it been used, the server would have recorded it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.github_api import GitHubAPI
from tests.hostile.conftest import StepResult, assert_no_workflow_command_leak

TOKEN = "ghp_hostileSuiteTOKEN0123456789abcdef"
REPO = "acme/k8s-configurations"
SHA = "0123456789abcdef0123456789abcdef01234567"
SOURCE = {"repository": "acme/web", "sha": SHA, "ref": "refs/tags/v1.1.0",
          "run_url": "https://github.com/acme/web/actions/runs/42"}
GOOD = {
    "token": TOKEN,
    "repository": REPO,
    "event-type": "new-image",
    "image": "127.0.0.1:5000/web:v1.1.0",
    "release": "web@v1.1.0",
    "path": "apps/web/overlays/dev",
    "digest": "sha256:" + "ab" * 32,
    "source": json.dumps(SOURCE),
    "github-api-url": "{api}",
    "max-attempts": "1",
}


def _source(**changes: object) -> str:
    return json.dumps({**SOURCE, **changes})


# (id, input name as the error names it, input set, hostile value)
CASES: list[tuple[str, str, str, str]] = [
    # image
    ("dispatch-image-shell-subst", "image", "image", "$(touch /tmp/pwned)"),
    ("dispatch-image-backticks", "image", "image", "127.0.0.1:5000/web:`touch /tmp/pwned`"),
    ("dispatch-image-semicolon", "image", "image", "127.0.0.1:5000/web:v1;curl evil.example"),
    ("dispatch-image-set-output", "image", "image",
     "127.0.0.1:5000/web:v1\n::set-output name=payload::evil"),
    ("dispatch-image-nul", "image", "image", "127.0.0.1:5000/web:v1\x00evil"),
    ("dispatch-image-non-ascii-tag", "image", "image", "127.0.0.1:5000/web:v1.1.0\u00e9"),
    ("dispatch-image-cyrillic-lookalike", "image", "image", "127.0.0.1:5000/w\u0435b:v1.1.0"),
    ("dispatch-image-no-tag", "image", "image", "127.0.0.1:5000/web"),
    ("dispatch-image-bad-digest", "image", "image",
     "127.0.0.1:5000/web:v1.1.0@sha256:" + "a" * 63),
    ("dispatch-image-too-long", "image", "image", "127.0.0.1:5000/" + "a" * 600 + ":v1"),
    # release
    ("dispatch-release-shell-subst", "release", "release", "web@$(touch /tmp/pwned)"),
    ("dispatch-release-error-command", "release", "release", "web@v1\n::error::pwned"),
    ("dispatch-release-osc-escape", "release", "release", "web@v1\x1b]0;pwned\x07"),
    ("dispatch-release-zero-width", "release", "release", "web@v1\u200b"),
    ("dispatch-release-too-long", "release", "release", "web@" + "1" * 200),
    ("dispatch-release-yaml-tag", "release", "release", "web@!!python/object:os.system"),
    # path
    ("dispatch-path-dotdot", "path", "path", "../x"),
    ("dispatch-path-absolute", "path", "path", "/etc"),
    ("dispatch-path-git-hooks", "path", "path", ".git/hooks"),
    ("dispatch-path-dotdot-deep", "path", "path", "apps/web/../../.."),
    ("dispatch-path-backslash", "path", "path", "apps\\..\\..\\x"),
    ("dispatch-path-warning-command", "path", "path", "apps/web\n::warning::pwned"),
    ("dispatch-path-nul", "path", "path", "apps/web\x00/overlays"),
    ("dispatch-path-too-long", "path", "path", "a/" * 600 + "dev"),
    # digest
    ("dispatch-digest-short", "digest", "digest", "sha256:" + "a" * 63),
    ("dispatch-digest-not-hex", "digest", "digest", "sha256:" + "g" * 64),
    ("dispatch-digest-uppercase", "digest", "digest", "sha256:" + "A" * 64),
    ("dispatch-digest-md5", "digest", "digest", "md5:" + "a" * 32),
    ("dispatch-digest-set-output", "digest", "digest",
     "sha256:" + "a" * 64 + "\n::set-output name=payload::evil"),
    ("dispatch-digest-differs-from-image", "digest", "image+digest", "sha256:" + "cd" * 32),
    # source (the one free-form input: it is where 11 keys or 64 KB would have to come from)
    ("dispatch-source-not-json", "source", "source", "{not json"),
    ("dispatch-source-array", "source", "source", '["acme/web"]'),
    ("dispatch-source-eleven-keys", "source", "source",
     json.dumps({f"key{i}": "x" * 10 for i in range(11)})),
    ("dispatch-source-over-64kb", "source.run_url", "source",
     _source(run_url="https://github.com/" + "a" * 70_000)),
    ("dispatch-source-nested-deep", "source", "source", "[" * 5000 + "]" * 5000),
    ("dispatch-source-nested-object", "source.repository", "source",
     _source(repository={"owner": "acme"})),
    ("dispatch-source-number", "source.sha", "source", _source(sha=1)),
    ("dispatch-source-repo-dotdot", "source.repository", "source", _source(repository="../x")),
    ("dispatch-source-sha-shell", "source.sha", "source", _source(sha="$(touch /tmp/pwned)")),
    ("dispatch-source-ref-set-output", "source.ref", "source",
     _source(ref="refs/heads/main\n::set-output name=payload::evil")),
    ("dispatch-source-run-url-javascript", "source.run_url", "source",
     _source(run_url="javascript:alert(1)")),
    ("dispatch-source-run-url-bad-ipv6", "source.run_url", "source",
     _source(run_url="http://[::1/actions/runs/1")),
    # event type
    ("dispatch-event-type-101-chars", "event-type", "event-type", "n" * 101),
    ("dispatch-event-type-newline", "event-type", "event-type",
     "new-image\n::set-output name=payload::evil"),
    ("dispatch-event-type-semicolon", "event-type", "event-type", "new-image;id"),
    ("dispatch-event-type-unknown", "event-type", "event-type", "deploy"),
    ("dispatch-event-type-nul", "event-type", "event-type", "new-image\x00"),
    # repository
    ("dispatch-repo-dotdot", "repository", "repository", "../x"),
    ("dispatch-repo-three-parts", "repository", "repository", "a/b/c"),
    ("dispatch-repo-space", "repository", "repository", "acme/k8s configurations"),
    ("dispatch-repo-dot-dot-name", "repository", "repository", "acme/.."),
    ("dispatch-repo-owner-only", "repository", "repository", "acme"),
    ("dispatch-repo-header-injection", "repository", "repository", "acme/x\r\nHost: evil"),
    ("dispatch-repo-percent-encoded", "repository", "repository", "acme/%2e%2e"),
    ("dispatch-repo-leading-dash", "repository", "repository", "-acme/x"),
    ("dispatch-repo-query", "repository", "repository", "acme/x?admin=1"),
    ("dispatch-repo-non-ascii", "repository", "repository", "acme/k8s-c\u043enfigurations"),
    # token
    ("dispatch-token-newline-header", "token", "token", TOKEN + "\nX-Evil: 1"),
    ("dispatch-token-set-output", "token", "token", TOKEN + "\n::set-output name=payload::x"),
    ("dispatch-token-space", "token", "token", "token " + TOKEN),
    ("dispatch-token-escape", "token", "token", TOKEN + "\x1b[2K"),
    ("dispatch-token-non-ascii", "token", "token", TOKEN + "\u00e9"),
    ("dispatch-token-blank", "token", "token", "   "),
    # API URL
    ("dispatch-api-url-credentials", "github-api-url", "github-api-url",
     "http://user:pw@{hostport}"),
    ("dispatch-api-url-password-only", "github-api-url", "github-api-url",
     "http://:" + TOKEN + "@{hostport}"),
    ("dispatch-api-url-ftp", "github-api-url", "github-api-url", "ftp://{hostport}"),
    ("dispatch-api-url-file", "github-api-url", "github-api-url", "file:///etc/passwd"),
    ("dispatch-api-url-javascript", "github-api-url", "github-api-url", "javascript:alert(1)"),
    ("dispatch-api-url-query", "github-api-url", "github-api-url", "{api}/?access_token=x"),
    ("dispatch-api-url-fragment", "github-api-url", "github-api-url", "{api}/#frag"),
    ("dispatch-api-url-bad-ipv6", "github-api-url", "github-api-url", "http://[::1"),
    ("dispatch-api-url-port-range", "github-api-url", "github-api-url", "http://127.0.0.1:99999"),
    ("dispatch-api-url-port-text", "github-api-url", "github-api-url", "http://127.0.0.1:http"),
    ("dispatch-api-url-space", "github-api-url", "github-api-url", "http://127.0.0.1 .evil/"),
    ("dispatch-api-url-newline", "github-api-url", "github-api-url",
     "{api}\n::set-output name=payload::evil"),
    # max-attempts
    ("dispatch-max-attempts-zero", "max-attempts", "max-attempts", "0"),
    ("dispatch-max-attempts-21", "max-attempts", "max-attempts", "21"),
    ("dispatch-max-attempts-negative", "max-attempts", "max-attempts", "-1"),
    ("dispatch-max-attempts-fullwidth", "max-attempts", "max-attempts", "\uff15"),
    ("dispatch-max-attempts-shell", "max-attempts", "max-attempts", "5; touch /tmp/pwned"),
]


def _fill(value: str, api: GitHubAPI) -> str:
    return value.replace("{api}", api.url).replace("{hostport}", api.url.removeprefix("http://"))


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo(REPO)
    github_api.add_token(TOKEN, repos=[REPO])
    return github_api


def dispatch(run_step: Callable[..., StepResult], api: GitHubAPI, tmp_path: Path,
             **changes: str) -> StepResult:
    inputs = {name: _fill(value, api) for name, value in {**GOOD, **changes}.items()}
    return run_step("dispatch", inputs, tmp_path)


def test_the_good_inputs_do_reach_the_server(api: GitHubAPI, tmp_path: Path,
                                             run_step: Callable[..., StepResult]) -> None:
    """The baseline every case below changes one input of: it is sent, once, with a 204."""
    result = dispatch(run_step, api, tmp_path)
    assert result.returncode == 0, result.stdout
    assert [r.status for r in api.dispatch_requests()] == [204]
    assert api.requests[0].body["client_payload"]["source"] == SOURCE
    assert result.output_file.startswith("payload<<ghadelimiter_")


@pytest.mark.parametrize(("named", "input_name", "value"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_dispatch_refuses_and_sends_nothing(api: GitHubAPI, tmp_path: Path,
                                            run_step: Callable[..., StepResult],
                                            named: str, input_name: str, value: str) -> None:
    if input_name == "image+digest":
        changes = {"image": "127.0.0.1:5000/web:v1.1.0@sha256:" + "ab" * 32, "digest": value}
    else:
        changes = {input_name: value}
    result = dispatch(run_step, api, tmp_path, **changes)
    value = _fill(value, api)

    assert result.returncode != 0, result.stdout
    assert api.requests == []
    error = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(error) == 1, result.stdout
    assert f"input '{named}'" in error[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.output_file == ""
    assert result.env_file == ""
    assert_no_workflow_command_leak(result.stdout)
    assert "\x00" not in result.stdout + result.summary_file
    log = "\n".join(line for line in result.stdout.splitlines()
                     if not line.startswith("::add-mask::"))  # the mask must hold the raw value
    if any(ch in value for ch in "\n\r\x1b"):  # never verbatim where a reader would render it
        assert value not in log + result.summary_file
    if "`" in value:  # Markdown code spans in the summary are escaped
        assert value not in result.summary_file
    if input_name == "token":  # only ever in the runner's mask commands
        for line in result.stdout.splitlines():
            assert TOKEN not in line or line.startswith("::add-mask::"), line


def test_nothing_pwned() -> None:
    """The shell-substitution cases above would have created this file had any value reached a
    shell."""
    assert not Path("/tmp/pwned").exists()
