"""Runner I/O: exact file contents and log lines, checked against GitHub's own toolkit."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from gitops_release.runner import Runner, escape_data, escape_property, md_escape, neutralize

ON_RUNNER = {"GITHUB_ACTIONS": "true"}


def make_runner(tmp_path: Path) -> tuple[Runner, io.StringIO, Path, Path]:
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.touch()
    summary.touch()
    out = io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output),
           "GITHUB_STEP_SUMMARY": str(summary)}
    return Runner(env, out), out, output, summary


def test_output_uses_heredoc_with_random_delimiter(tmp_path: Path) -> None:
    runner, _, output, _ = make_runner(tmp_path)
    runner.set_output("files", "a.yaml\nb.yaml")
    runner.set_output("changed", "true")
    text = output.read_text()
    match = re.fullmatch(r"files<<(ghadelimiter_[0-9a-f]{32})\na\.yaml\nb\.yaml\n\1\n"
                         r"changed<<(ghadelimiter_[0-9a-f]{32})\ntrue\n\2\n", text)
    assert match is not None, text
    assert match.group(1) != match.group(2)


def test_output_value_cannot_forge_another_output(tmp_path: Path) -> None:
    runner, _, output, _ = make_runner(tmp_path)
    runner.set_output("image", "x\nchanged=true\nEOF")
    lines = output.read_text().splitlines()
    assert lines[0].startswith("image<<ghadelimiter_")
    assert lines[-1] == lines[0].split("<<", 1)[1]
    assert len(lines) == 5


def test_without_runner_outputs_are_printed(tmp_path: Path) -> None:
    out = io.StringIO()
    Runner(ON_RUNNER, out).set_output("changed", "true")
    assert out.getvalue() == "changed=true\n"


def test_annotation_is_escaped() -> None:
    out = io.StringIO()
    Runner(ON_RUNNER, out).error("bad\n::set-output name=x::y 100%", title="a:b,c")
    assert out.getvalue() == "::error title=a%3Ab%2Cc::bad%0A::set-output name=x::y 100%25\n"


def test_annotations_match_actions_toolkit(capsys: pytest.CaptureFixture[str]) -> None:
    from actions_toolkit.command import escape_data as tk_data
    from actions_toolkit.command import escape_property as tk_property

    for text in ["plain", "a%b", "line1\nline2\r\n", "k:v,w", "::stop-commands::x"]:
        assert escape_data(text) == tk_data(text)
        assert escape_property(text) == tk_property(text)


def test_summary_appends(tmp_path: Path) -> None:
    runner, _, _, summary = make_runner(tmp_path)
    runner.summary("### one")
    runner.summary("two\n\n")
    assert summary.read_text() == "### one\ntwo\n"


def test_mask_each_line() -> None:
    out = io.StringIO()
    Runner(ON_RUNNER, out).mask("pw1\n\npw2")
    assert out.getvalue() == "::add-mask::pw1\n::add-mask::pw2\n"


def test_group_closes_on_error() -> None:
    out = io.StringIO()
    with pytest.raises(ValueError), Runner(ON_RUNNER, out).group("Build"):
        raise ValueError
    assert out.getvalue() == "::group::Build\n::endgroup::\n"


def test_verbatim_stops_commands_with_random_token() -> None:
    out = io.StringIO()
    with Runner(ON_RUNNER, out).verbatim():
        out.write("::error::not a command\n")
    first, body, last = out.getvalue().splitlines()
    token = first.removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert body == "::error::not a command"
    assert last == f"::{token}::"


@pytest.mark.parametrize(("text", "expected"), [
    ("::error::x", " ::error::x"),
    ("  ::warning::x", "   ::warning::x"),
    ("ok\x1b[31m", "ok\\x1b[31m"),
    ("a\nb::c", "a\nb::c"),
], ids=["command", "indented-command", "escape-seq", "mid-line"])
def test_neutralize(text: str, expected: str) -> None:
    assert neutralize(text) == expected


def test_md_escape() -> None:
    assert md_escape("<img src=x>[a](b)") == "\\<img src=x\\>\\[a\\]\\(b\\)"
