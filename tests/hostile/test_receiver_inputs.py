"""Hostile input to the receiver (image-update / cronjob-update), as a dispatch payload from any
repo holding a token could carry it. Every case must: exit non-zero, name the input in the error,
leave the work tree and the origin byte-identical, write no attacker text to GITHUB_OUTPUT or
GITHUB_ENV, and print nothing a runner would parse as a workflow command of its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.gitrepo import GitRepo
from tests.hostile.conftest import Snapshot, StepResult, assert_no_workflow_command_leak

GOOD = {
    "image": "registry.example.com/web:v1.1.0",
    "release": "web@v1.1.0",
    "path": "apps/web/overlays/dev",
}

# (id, input name, hostile value)
IMAGE_CASES = [
    ("image-shell-subst", "$(touch /tmp/pwned)"),
    ("image-backticks", "registry.example.com/web:`id`"),
    ("image-semicolon", "registry.example.com/web:v1;rm -rf /"),
    ("image-newline-set-output", "registry.example.com/web:v1\n::set-output name=changed::true"),
    ("image-workflow-command", "::add-mask::x"),
    ("image-crlf", "registry.example.com/web:v1\r\nX: y"),
    ("image-nul", "registry.example.com/web:v1\x00"),
    ("image-cyrillic-lookalike", "registry.example.com/w\u0435b:v1"),
    ("image-non-ascii-tag", "registry.example.com/web:v1\u2011rc"),
    ("image-fullwidth-colon", "registry.example.com/web\uff1av1"),
    ("image-name-too-long", "registry.example.com/" + "a" * 260 + ":v1"),
    ("image-tag-too-long", "registry.example.com/web:" + "t" * 129),
    ("image-digest-short", "registry.example.com/web:v1@sha256:" + "a" * 63),
    ("image-digest-uppercase", "registry.example.com/web:v1@sha256:" + "A" * 64),
    ("image-digest-unknown-algo", "registry.example.com/web:v1@md5:" + "a" * 32),
    ("image-uppercase-path", "registry.example.com/Web:v1"),
    ("image-yaml-flow", "{image: evil}"),
    ("image-yaml-anchor", "&a registry.example.com/web:v1"),
    ("image-space", "registry.example.com/web v1"),
]
RELEASE_CASES = [
    ("release-no-at", "web-v1.1.0"),
    ("release-empty-version", "web@"),
    ("release-empty-name", "@v1.1.0"),
    ("release-shell-subst", "web@$(id)"),
    ("release-semicolon", "web@v1;reboot"),
    ("release-newline-yaml", "web@v1\n  - name: EVIL\n    value: x"),
    ("release-set-output", "web@v1\n::set-output name=changed::true"),
    ("release-nul", "web@v1\x00"),
    ("release-escape-seq", "web@v1\x1b[31m"),
    ("release-yaml-tag", "web@!!python/object:os.system"),
    ("release-yaml-alias", "web@*alias"),
    ("release-unicode", "web@v1\u200b"),
    ("release-too-long", "web@" + "1" * 300),
]
PATH_CASES = [
    ("path-absolute", "/etc"),
    ("path-absolute-in-repo", "/apps/web/overlays/dev"),
    ("path-dotdot", "../outside"),
    ("path-dotdot-middle", "apps/web/../../../outside"),
    ("path-dotdot-end", "apps/web/overlays/dev/.."),
    ("path-dot-dotdot", "apps/./web/overlays/./../../.."),
    ("path-backslash-dotdot", "apps\\..\\..\\outside"),
    ("path-encoded-dotdot", "apps/%2e%2e/%2e%2e/outside"),
    ("path-git", ".git"),
    ("path-git-hooks", ".git/hooks"),
    ("path-nested-git", "apps/web/.git"),
    ("path-symlink-dir-outside", "apps/links/overlays/dev"),
    ("path-symlink-file-outside", "apps/links/overlays/prod"),
    ("path-symlink-inside", "apps/links/overlays/inside"),
    ("path-missing", "apps/nope/overlays/dev"),
    ("path-nul", "apps/web/overlays/dev\x00"),
    ("path-newline", "apps/web/overlays/dev\n::error::x"),
    ("path-tilde", "~/apps/web/overlays/dev"),
    ("path-unicode-dots", "apps/\u2024\u2024/outside"),
]
SOURCE_CASES = [
    ("source-nested-deep", "[" * 4000 + "]" * 4000),
    ("source-not-json", "{repository: acme/web"),
    ("source-newline-set-output", '{"ref": "refs/heads/x\n::set-output name=changed::true"}'),
    ("source-run-url-javascript", '{"run_url": "javascript:alert(1)"}'),
    ("source-ref-shell", '{"ref": "refs/heads/$(touch /tmp/pwned)"}'),
]
CASES = ([(cid, "image", value) for cid, value in IMAGE_CASES]
         + [(cid, "release", value) for cid, value in RELEASE_CASES]
         + [(cid, "path", value) for cid, value in PATH_CASES]
         + [(cid, "source", value) for cid, value in SOURCE_CASES])


def _check_refused(result: StepResult, input_name: str, value: str, before: Snapshot,
                   repo: GitRepo) -> None:
    assert result.returncode != 0, result.stdout
    assert f"input '{input_name}" in result.stdout, result.stdout  # or input_name.<key>
    assert Snapshot.of(repo) == before
    assert_no_workflow_command_leak(result.stdout)
    assert result.env_file == ""
    if value.strip():
        assert value not in result.output_file
    assert "\x00" not in result.stdout + result.summary_file


@pytest.mark.parametrize(("input_name", "value"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_image_update_refuses(config_repo: GitRepo, run_step: Callable[..., StepResult],
                              input_name: str, value: str) -> None:
    before = Snapshot.of(config_repo)
    result = run_step("image-update", {**GOOD, input_name: value}, config_repo.work)
    _check_refused(result, input_name, value, before, config_repo)


@pytest.mark.parametrize(("input_name", "value"), [
    ("path", "apps/web-evil/overlays/dev"),  # sibling-prefix of config-root apps/web
    ("path", "apps/web/../web-evil/overlays/dev"),
], ids=["config-root-sibling-prefix", "config-root-dotdot-to-sibling"])
def test_path_must_stay_inside_config_root(config_repo: GitRepo,
                                           run_step: Callable[..., StepResult],
                                           input_name: str, value: str) -> None:
    before = Snapshot.of(config_repo)
    result = run_step("image-update", {**GOOD, "config-root": "apps/web", input_name: value},
                      config_repo.work)
    _check_refused(result, input_name, value, before, config_repo)


def test_config_root_itself_is_checked(config_repo: GitRepo,
                                       run_step: Callable[..., StepResult]) -> None:
    before = Snapshot.of(config_repo)
    result = run_step("image-update", {**GOOD, "config-root": "../"}, config_repo.work)
    _check_refused(result, "config-root", "../", before, config_repo)


def test_cronjob_update_refuses_hostile_path(config_repo: GitRepo,
                                             run_step: Callable[..., StepResult]) -> None:
    before = Snapshot.of(config_repo)
    result = run_step("cronjob-update", {**GOOD, "path": "../../etc"}, config_repo.work)
    _check_refused(result, "path", "../../etc", before, config_repo)


def test_nothing_pwned() -> None:
    """The shell-substitution cases above would have created this file had any value reached a
    shell."""
    assert not Path("/tmp/pwned").exists()
