"""The CLI outside GitHub Actions: other CIs' variables, help text, boolean flags, exit codes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gitops_release.ci import effective_environ
from gitops_release.cli import build_parser, main
from gitops_release.tags import context_from_environ

GITLAB_TAG = {"GITLAB_CI": "true", "CI_COMMIT_TAG": "v1.2.3", "CI_COMMIT_SHA": "a" * 40,
              "CI_PROJECT_PATH": "acme/web-api", "CI_SERVER_URL": "https://gitlab.example.com",
              "CI_PIPELINE_ID": "77"}


@pytest.mark.parametrize(("environ", "ref", "sha"), [
    (GITLAB_TAG, "refs/tags/v1.2.3", "a" * 40),
    ({"GITLAB_CI": "true", "CI_COMMIT_BRANCH": "main", "CI_COMMIT_SHA": "b" * 40},
     "refs/heads/main", "b" * 40),
    ({**GITLAB_TAG, "GITHUB_REF": "refs/tags/v9.9.9"}, "refs/tags/v9.9.9", "a" * 40),
    ({**GITLAB_TAG, "GITHUB_ACTIONS": "true"}, "", ""),
    ({}, "", ""),
], ids=["gitlab-tag", "gitlab-branch", "github-var-wins", "on-a-github-runner", "nothing"])
def test_other_ci_variables_stand_in_for_github_ones(environ: dict[str, str], ref: str,
                                                     sha: str) -> None:
    context = context_from_environ(effective_environ(environ))
    assert (context.ref, context.sha) == (ref, sha)


def test_gitlab_tag_pipeline_gets_the_tag_as_version_not_a_timestamp(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    out = io.StringIO()
    code = main(["build-push", "--registry", "127.0.0.1:1", "--image-name", "app"],
                {**GITLAB_TAG, "PATH": str(empty)}, out)
    assert code == 1  # no docker here: it stops right after computing the tags
    assert out.getvalue().splitlines()[0].startswith("version v1.2.3; tags: v1.2.3, ")


def test_required_flags_are_marked_and_exit_codes_documented() -> None:
    text = build_parser("image-update").format_help()
    sub = build_parser("image-update")._subparsers._group_actions[0].choices["image-update"]  # type: ignore[union-attr]
    help_text = " ".join(sub.format_help().split())
    assert "--image IMAGE (required) Full image reference" in help_text
    assert "--digest DIGEST (required)" not in help_text
    assert "2 usage error" in " ".join(text.split())
    assert "0 done, nothing to do, or refused" in help_text


@pytest.mark.parametrize(("argv", "expected"), [
    (["--dry-run"], "true"), (["--dry-run", "false"], "false"), (["--dry-run", "TRUE"], "TRUE"),
    ([], None)], ids=["alone", "false", "TRUE", "absent"])
def test_boolean_flags_alone_mean_true(argv: list[str], expected: str | None) -> None:
    args = vars(build_parser("image-update").parse_args(["image-update", *argv]))
    assert args["dry-run"] == expected


@pytest.mark.parametrize(("argv", "code"), [
    (["image-update", "--bogus"], 2), (["nope"], 2), ([], 2), (["--help"], 0),
    (["image-update", "--release", "a@v1", "--path", "p"], 1)],
    ids=["unknown-flag", "unknown-command", "no-command", "help", "missing-required"])
def test_exit_codes(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert main(argv, {}, out) == code
    if code == 1:
        assert out.getvalue() == ("error: image-update: Invalid input: input 'image': is required "
                                  "and was not given. Pass it as the action input 'image' or the "
                                  "flag --image\n")


def test_off_a_runner_a_token_is_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    token = "ghp_offRunnerSecret0123456789"
    code = main(["dispatch", "--token", token, "--repository", "acme/cfg", "--image", "bad image",
                 "--release", "a@1", "--path", "p"], {}, out)
    assert code == 1
    assert token not in out.getvalue() and "::" not in out.getvalue()
    assert out.getvalue().startswith("error: dispatch: ")
