"""The CLI entrypoint: flags and env vars, error reporting, exit codes."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_release.cli import COMMANDS, build_parser, load_command, main
from gitops_release.errors import InputError
from gitops_release.inputs import parse_bool, parse_int, parse_list


def test_every_command_has_a_spec_named_like_it() -> None:
    for name in COMMANDS:
        assert load_command(name).SPEC.name == name


def test_flags_are_the_input_names() -> None:
    parser = build_parser()
    for name in COMMANDS:
        spec = load_command(name).SPEC
        sub = parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
        flags = {opt for action in sub._actions for opt in action.option_strings}
        assert {item.flag for item in spec.inputs} <= flags


def test_error_becomes_annotation_summary_and_exit_1(tmp_path: Path) -> None:
    summary = tmp_path / "summary"
    summary.touch()
    out = io.StringIO()
    code = main(["image-update", "--image", "Bad Image", "--release", "app@v1", "--path", "x"],
                {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}, out)
    assert code == 1
    assert out.getvalue().startswith("::error title=image-update%3A Invalid image reference::"
                                      "input 'image': 'Bad Image' is not a valid image reference")
    assert summary.read_text().startswith("### :x: image-update failed\n")


def test_missing_required_input_names_it() -> None:
    out = io.StringIO()
    assert main(["image-update", "--release", "app@v1", "--path", "x"], {}, out) == 1
    assert "input 'image': is required and was not given" in out.getvalue()


def test_env_var_is_read_when_flag_absent() -> None:
    out = io.StringIO()
    env = {"GITOPS_RELEASE_IMAGE": "r.io/UPPER", "GITOPS_RELEASE_RELEASE": "a@1",
           "GITOPS_RELEASE_PATH": "p"}
    assert main(["image-update"], env, out) == 1
    assert "'r.io/UPPER' is not a valid image reference" in out.getvalue()


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False),
    ("FALSE", False)])
def test_strict_booleans(value: str, expected: bool) -> None:
    assert parse_bool("push", value) is expected


@pytest.mark.parametrize("value", ["yes", "1", "on", "tRue", "", " true"])
def test_strict_booleans_reject(value: str) -> None:
    with pytest.raises(InputError, match="input 'push'"):
        parse_bool("push", value)


def test_parse_int_and_list() -> None:
    assert parse_int("max-attempts", " 5 ", minimum=1, maximum=20) == 5
    with pytest.raises(InputError, match="out of range"):
        parse_int("max-attempts", "50", minimum=1, maximum=20)
    with pytest.raises(InputError, match="not a whole number"):
        parse_int("max-attempts", "-1", minimum=1, maximum=20)
    assert parse_list("a, b\nc,,\n") == ("a", "b", "c")


def test_module_entrypoint_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "gitops_release", "--version"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("gitops-release ")
