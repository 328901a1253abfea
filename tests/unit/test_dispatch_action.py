"""actions/dispatch/action.yml is the dispatch command's contract: the same inputs, defaults and
outputs, every input through env:, and an entrypoint that does not load PyGithub until it sends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from gitops_release.cli import load_command

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_command("dispatch").SPEC
# action.yml defaults that are expressions; the command falls back to the same value itself
EXPRESSION_DEFAULTS = {"github-api-url": "${{ github.api_url }}"}


def action() -> Any:
    return YAML(typ="safe").load((ROOT / "actions" / "dispatch" / "action.yml").read_text())


def test_inputs_are_the_spec_inputs() -> None:
    declared = action()["inputs"]
    assert list(declared) == [item.name for item in SPEC.inputs]
    for item in SPEC.inputs:
        expected = EXPRESSION_DEFAULTS.get(item.name, item.default)
        assert declared[item.name].get("default", "") == expected, item.name
        assert declared[item.name]["required"] is item.required, item.name
        assert declared[item.name]["description"].strip(), item.name


def test_every_input_goes_through_env_and_run_has_no_expressions() -> None:
    (step,) = action()["runs"]["steps"]
    assert step["env"] == {item.env: f"${{{{ inputs.{item.name} }}}}" for item in SPEC.inputs}
    assert "${{" not in step["run"]
    assert step["run"] == '"$GITHUB_ACTION_PATH/../../scripts/action-run" dispatch dispatch'


def test_outputs_are_the_spec_outputs() -> None:
    outputs = action()["outputs"]
    assert list(outputs) == list(SPEC.outputs) == ["payload", "deployment-id", "deployment-state",
                                                   "deployment-log-url"]
    for name in outputs:
        assert outputs[name]["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


def test_dispatch_extra_exists() -> None:
    assert 'dispatch = ["PyGithub' in (ROOT / "pyproject.toml").read_text()


def test_command_module_does_not_import_pygithub() -> None:
    code = ("import sys, gitops_release.commands.dispatch, gitops_release.payload;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('github', 'requests')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={"PYTHONPATH": str(ROOT / "python")})
    assert result.stdout.strip() == "[]"
