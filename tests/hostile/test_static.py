"""Static rules on every workflow and action.yml of the bundle and its examples: least privilege,
pinned third-party code, no credentials left in a checkout, no expression expanded into a shell,
no receiver concurrency group that drops deploys (GitHub keeps one pending
run per group), a timeout on every job; and zizmor (pedantic) and GitHub's schemas
clean, run from here so that a finding fails the test suite too."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.harness.services import REPO_ROOT

WORKFLOWS = sorted(
    [*REPO_ROOT.glob(".github/workflows/*.y*ml"),
     *REPO_ROOT.glob("examples/*/.github/workflows/*.y*ml")])
ACTIONS = sorted([REPO_ROOT / "action.yml", *REPO_ROOT.glob("actions/*/action.yml")])
ALL = WORKFLOWS + ACTIONS
OWN = re.compile(r"gitops-release/gitops-release(/[\w./-]+)?@v\d+(\.\d+\.\d+)?")  # @vX or, in a
# released commit, @vX.Y.Z (scripts/pin_refs.py)
PINNED = re.compile(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
RECEIVERS = {"image-update.yml", "cronjob-update.yml"}


def _id(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def steps_of(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of a workflow's jobs or a composite action."""
    data = load(path)
    if path.name == "action.yml":
        for n, step in enumerate(data["runs"].get("steps", [])):
            yield f"step {n}", step
        return
    for job_id, job in data["jobs"].items():
        for n, step in enumerate(job.get("steps", [])):
            yield f"job {job_id} step {n}", step


def test_the_files_are_found() -> None:
    assert {p.name for p in WORKFLOWS} >= {"release.yml", "image-update.yml",
                                           "cronjob-update.yml", "ci.yml",
                                           "app-image-update.yml", "dev-release-version.yaml"}
    assert len(ACTIONS) == 7


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_permissions_empty_at_the_top_granted_per_job(path: Path) -> None:
    data = load(path)
    assert data.get("permissions") == {}, "top-level permissions must be {}"
    for job_id, job in data["jobs"].items():
        assert "permissions" in job, f"job {job_id} must state its permissions"
        grants = job["permissions"]
        assert isinstance(grants, dict), f"job {job_id}: permissions as a map, not {grants!r}"
        assert "write-all" not in str(grants) and "read-all" not in str(grants)


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_third_party_uses_are_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        found = USES_LINE.match(line)
        if found is None:
            continue
        ref, rest = found.group("ref").strip("'\""), found.group("rest")
        if ref.startswith("./") or OWN.fullmatch(ref):
            continue
        assert PINNED.fullmatch(ref), f"line {number}: {ref} is not pinned by a full SHA"
        assert re.search(r"#\s*v\d+(\.\d+)*\b", rest), f"line {number}: no '# vX.Y.Z' comment"


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_checkout_states_persist_credentials(path: Path) -> None:
    for where, step in steps_of(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert "persist-credentials" in (step.get("with") or {}), where


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_no_expression_inside_run(path: Path) -> None:
    for where, step in steps_of(path):
        assert "${{" not in str(step.get("run", "")), f"{where}: pass it through env:"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_id)
def test_every_job_with_steps_has_a_timeout(path: Path) -> None:
    for job_id, job in load(path)["jobs"].items():
        if "steps" in job:  # a job that calls a reusable workflow takes the callee's timeouts
            assert isinstance(job.get("timeout-minutes"), int), f"job {job_id}"


def _concurrency_of(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, concurrency) for the workflow and each job, a string group given as a map."""
    found = [("workflow", data["concurrency"])] if "concurrency" in data else []
    found += [(f"job {job_id}", job["concurrency"]) for job_id, job in data["jobs"].items()
              if "concurrency" in job]
    return [(where, {"group": c} if isinstance(c, str) else c) for where, c in found]


@pytest.mark.parametrize("name", sorted(RECEIVERS))
def test_receivers_have_no_deploy_group_without_a_queue(name: str) -> None:
    """On GitHub a concurrency group holds one running and one pending run; a third arrival
    cancels the pending one, so a burst of deploys to one overlay would lose some. Only
    `queue: max` keeps them all (act 0.2.89 rejects that key, so the receivers have no group and
    the push loop settles concurrent deploys)."""
    data = load(REPO_ROOT / ".github" / "workflows" / name)
    for where, group in _concurrency_of(data):
        assert group.get("queue") == "max", (
            f"{name} {where}: a concurrency group without `queue: max` drops the third of three "
            "deploys to the same target on GitHub; remove the group or add `queue: max`")
        assert group.get("cancel-in-progress") is False, f"{name} {where}"


@pytest.mark.parametrize("name", sorted(RECEIVERS))
def test_receivers_say_why_they_have_no_group(name: str) -> None:
    text = (REPO_ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8")
    assert "No concurrency group, on purpose" in text and "queue: max" in text
    assert "max-attempts" in load(REPO_ROOT / ".github" / "workflows" / name)["on"][
        "workflow_call"]["inputs"], "the push loop's retry budget must be the caller's to raise"


def test_release_concurrency_is_keyed_per_target() -> None:
    """The sender's group is per app and environment: a pending build replaced by a newer one
    (a later push or tag of the same app) is superseded, not lost; the receiver keeps order."""
    groups = _concurrency_of(load(REPO_ROOT / ".github" / "workflows" / "release.yml"))
    assert groups, "release.yml: no job-level concurrency"
    for where, group in groups:
        key = group["group"]
        # the target path is <config_root_folder>/<image_name>/overlays/<target_env>
        assert "inputs.image_name" in key and "inputs.target_env" in key, (where, key)
        assert group["cancel-in-progress"] is False  # a push is never cancelled midway


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: run ./scripts/setup"
    return found


def test_zizmor_pedantic_finds_nothing() -> None:
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--persona", "pedantic", "--config",
         str(REPO_ROOT / ".github" / "zizmor.yml"), *map(str, ALL)],
        capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


@pytest.mark.parametrize(("schema", "files"), [
    ("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", ACTIONS)],
    ids=["workflows", "actions"])
def test_github_schemas_validate(schema: str, files: list[Path]) -> None:
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", schema,
                             *map(str, files)],
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout
