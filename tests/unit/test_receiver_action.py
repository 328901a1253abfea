"""The receiver actions' contract: action.yml declares exactly the command's inputs and outputs, maps
every input through env:, and the entrypoint stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops_release.cli import load_command
from tests.harness.act import released_version

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["image-update", "cronjob-update"]


def action(name: str) -> dict:  # type: ignore[type-arg]
    return YAML(typ="safe").load((ROOT / "actions" / name / "action.yml").read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", COMMANDS)
def test_action_inputs_are_the_spec_inputs(name: str) -> None:
    spec = load_command(name).SPEC
    declared = action(name)["inputs"]
    assert list(declared) == [item.name for item in spec.inputs]
    for item in spec.inputs:
        assert declared[item.name].get("default", "") == item.default, item.name
        assert declared[item.name]["required"] is item.required, item.name


@pytest.mark.parametrize("name", COMMANDS)
def test_every_input_is_mapped_through_env_and_run_has_no_expressions(name: str) -> None:
    spec = load_command(name).SPEC
    (step,) = action(name)["runs"]["steps"]
    assert step["env"] == {item.env: f"${{{{ inputs.{item.name} }}}}" for item in spec.inputs}
    assert "${{" not in step["run"]
    assert step["run"] == f'"$GITHUB_ACTION_PATH/../../scripts/action-run" {name} {name}'


@pytest.mark.parametrize("name", COMMANDS)
def test_action_outputs_are_the_spec_outputs(name: str) -> None:
    outputs = action(name)["outputs"]
    assert list(outputs) == list(load_command(name).SPEC.outputs)
    for key, value in outputs.items():
        assert value["value"] == f"${{{{ steps.run.outputs.{key} }}}}"


def test_reusable_workflows_pass_the_payload_inputs() -> None:
    for name in COMMANDS:
        workflow = YAML(typ="safe").load((ROOT / ".github" / "workflows" / f"{name}.yml").read_text())
        job = workflow["jobs"]["update"]
        assert "concurrency" not in job  # see test_static: no group without `queue: max`
        folder, checkout, keep, update = job["steps"]
        assert checkout["with"] == {"persist-credentials": False, "filter": "blob:none",
                                    "sparse-checkout": "${{ steps.sparse.outputs.folder }}",
                                    "sparse-checkout-cone-mode": True}
        assert checkout["env"] == {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "index.sparse",
                                   "GIT_CONFIG_VALUE_0": "true"}
        assert "git config --local index.sparse true" in keep["run"]
        assert folder["id"] == "sparse" and folder["env"] == {"OVERLAY": "${{ inputs.path }}"}
        assert update["uses"] in {f"gitops-release/gitops-release/actions/{name}@{ref}"
                                  for ref in ("v1", f"v{released_version()}")}
        assert set(update["with"]) <= {item.name for item in load_command(name).SPEC.inputs}


def test_import_of_image_update_stays_light() -> None:
    code = ("import sys, time; t = time.perf_counter(); import gitops_release.cli as c; "
            "c.build_parser('image-update'); c.load_command('image-update'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'ruamel', 'semver', 'github', 'python_on_whales', 'requests'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(ROOT / "python")})
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("path", "folder"), [
    ("apps/web-api/overlays/prod", "apps/web-api"),
    ("apps/team/web-api/overlays/dev", "apps/team/web-api"),
    ("clusters/eu/web-api", "clusters/eu"),
    ("web-api", "web-api"),
    ("apps/../secrets/overlays/dev", None),
], ids=["overlay", "nested", "no-overlays", "top-level", "dot-dot"])
def test_the_sparse_folder_step_picks_the_app_folder(path: str, folder: str | None,
                                                      tmp_path: Path) -> None:
    """The workflow's own bash step, run as the runner runs it."""
    workflow = YAML(typ="safe").load((ROOT / ".github" / "workflows" / "image-update.yml").read_text())
    step = workflow["jobs"]["update"]["steps"][0]
    output = tmp_path / "output"
    output.touch()
    result = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True,
                            check=False, env={"OVERLAY": path, "GITHUB_OUTPUT": str(output),
                                              "PATH": "/usr/bin:/bin"})
    if folder is None:
        assert result.returncode == 1 and "Invalid path" in result.stdout
    else:
        assert result.returncode == 0, result.stderr
        assert output.read_text() == f"folder={folder}\n"
