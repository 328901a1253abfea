"""actions/release-control is the contract of rollback, hold and unhold: one action, the union of
their inputs (same names and defaults), every input mapped through env:, the command checked
before it runs; the reusable workflow and the config-repo example call it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from gitops_release.cli import load_command
from gitops_release.inputs import InputSpec

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("rollback", "hold", "unhold")


def load(rel: str) -> Any:
    return YAML(typ="safe").load((ROOT / rel).read_text())


def union() -> dict[str, InputSpec]:
    inputs: dict[str, InputSpec] = {}
    for name in COMMANDS:
        for item in load_command(name).SPEC.inputs:
            assert inputs.setdefault(item.name, item).default == item.default, item.name
    return inputs


def test_inputs_are_the_commands_inputs() -> None:
    declared = load("actions/release-control/action.yml")["inputs"]
    inputs = union()
    assert list(declared) == ["command", *inputs]
    for name, item in inputs.items():
        assert declared[name].get("default", "") == item.default, name
        assert declared[name]["required"] is (name == "path"), name


def test_every_input_is_mapped_through_env_and_the_command_is_checked() -> None:
    (step,) = load("actions/release-control/action.yml")["runs"]["steps"]
    assert step["env"] == {"GITOPS_RELEASE_COMMAND": "${{ inputs.command }}",
                           **{item.env: f"${{{{ inputs.{name} }}}}" for name, item in union().items()}}
    assert "${{" not in step["run"]
    assert "rollback|hold|unhold) ;;" in step["run"]
    assert step["run"].rstrip().endswith(
        '"$GITHUB_ACTION_PATH/../../scripts/action-run" "$GITOPS_RELEASE_COMMAND" image-update')


def test_outputs_are_the_commands_outputs() -> None:
    outputs = load("actions/release-control/action.yml")["outputs"]
    expected: dict[str, str] = {}
    for name in COMMANDS:
        expected.update(load_command(name).SPEC.outputs)
    assert list(outputs) == list(expected)
    for key, value in outputs.items():
        assert value["value"] == f"${{{{ steps.run.outputs.{key} }}}}"


def test_reusable_workflow_checks_out_full_history_and_calls_the_action() -> None:
    job = load(".github/workflows/release-control.yml")["jobs"]["control"]
    checkout, control = job["steps"]
    assert checkout["with"] == {"persist-credentials": False, "fetch-depth": 0}
    assert control["uses"] == "gitops-release/gitops-release/actions/release-control@v1"
    assert set(control["with"]) <= {"command", *union()}
    assert job["concurrency"] == {"group": "gitops-release-${{ inputs.path }}",
                                  "cancel-in-progress": False}


def test_config_repo_example_offers_the_three_actions() -> None:
    workflow = load("examples/config-repo/.github/workflows/release-control.yml")
    assert workflow["on"]["workflow_dispatch"]["inputs"]["action"]["options"] == list(COMMANDS)
    job = workflow["jobs"]["control"]
    assert job["uses"] == "gitops-release/gitops-release/.github/workflows/release-control.yml@v1"
    called = load(".github/workflows/release-control.yml")["on"]["workflow_call"]["inputs"]
    assert set(job["with"]) <= set(called)
