"""The per-job venv bootstrap of the composite actions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitops_release.bootstrap import requirements
from tests.harness.services import REPO_ROOT

PYPROJECT = REPO_ROOT / "pyproject.toml"


def test_image_update_pulls_neither_docker_client_nor_pygithub() -> None:
    reqs = " ".join(requirements(PYPROJECT, "image-update")).lower()
    assert "ruamel.yaml" in reqs and "semver" in reqs
    assert "python-on-whales" not in reqs and "pygithub" not in reqs
    assert "actions-toolkit" not in reqs


def test_each_sender_extra_has_only_its_client() -> None:
    assert any("python-on-whales" in r for r in requirements(PYPROJECT, "build-push"))
    assert not any("PyGithub" in r for r in requirements(PYPROJECT, "build-push"))
    assert any("PyGithub" in r for r in requirements(PYPROJECT, "dispatch"))


def test_all_follows_self_references() -> None:
    reqs = requirements(PYPROJECT, "all")
    assert {r.split(">")[0].split("=")[0] for r in reqs} >= {
        "ruamel.yaml", "semver", "python-on-whales", "PyGithub"}


def test_unknown_extra_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match="unknown extra 'nope'"):
        requirements(PYPROJECT, "nope")


def test_action_run_reuses_the_venv_and_runs_from_the_checkout(tmp_path: Path) -> None:
    """Cold: creates the venv (pip from the package index); warm: reuses it, no install."""
    env = {**os.environ, "GITOPS_RELEASE_VENV_ROOT": str(tmp_path),
           "GITOPS_RELEASE_IMAGE": "bad image", "GITOPS_RELEASE_RELEASE": "a@1",
           "GITOPS_RELEASE_PATH": "p"}
    env.pop("GITHUB_OUTPUT", None)
    script = str(REPO_ROOT / "scripts" / "action-run")
    cold = subprocess.run([script, "image-update", "image-update"], env=env,
                          capture_output=True, text=True, check=False)
    assert cold.returncode == 1, cold.stderr
    assert "::group::Installing gitops-release[image-update]" in cold.stdout
    assert "'bad image' is not a valid image reference" in cold.stdout
    venvs = [p for p in tmp_path.glob("gitops-release-*-image-update-py*") if p.is_dir()]
    assert len(venvs) == 1 and (venvs[0] / ".gitops-release-ready").is_file()
    warm = subprocess.run([script, "image-update", "image-update"], env=env,
                          capture_output=True, text=True, check=False)
    assert warm.returncode == 1
    assert "Installing" not in warm.stdout
    assert "'bad image' is not a valid image reference" in warm.stdout


def test_a_lock_is_split_into_parts_that_keep_every_entry_whole(tmp_path: Path) -> None:
    from gitops_release.bootstrap import split_lock

    lock = REPO_ROOT / "requirements" / "dispatch.txt"
    parts = split_lock(lock, tmp_path, 2)
    assert len(parts) == 2
    entries = [e for e in lock.read_text().split("\n") if e and not e.startswith((" ", "#"))]
    dealt = [line for part in parts for line in part.read_text().split("\n")
             if line and not line.startswith((" ", "#"))]
    assert sorted(dealt) == sorted(entries)
    hashes = sorted(line.strip() for line in lock.read_text().splitlines() if "--hash=" in line)
    assert sorted(line.strip() for part in parts for line in part.read_text().splitlines()
                  if "--hash=" in line) == hashes
    small = REPO_ROOT / "requirements" / "image-update.txt"
    assert len(split_lock(small, tmp_path, 2)) == 1  # 3 packages: one pip
