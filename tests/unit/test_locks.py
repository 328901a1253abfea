"""The hash-locked dependencies of the actions (requirements/<extra>.txt, made by scripts/lock):
they agree with pyproject.toml, every file is pinned by hash, and the bootstrap installs them
with hash checking (a tampered hash fails the install and leaves no venv marked ready)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gitops_release.bootstrap import LOCKED_EXTRAS, READY, requirements
from tests.harness.github_api import GitHubAPI
from tests.harness.services import REPO_ROOT

PYPROJECT = REPO_ROOT / "pyproject.toml"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?P<marker>\s*;[^\\]*)?\s*\\$")


def pins(extra: str) -> dict[str, list[str]]:
    """name → pinned versions (one per marker) of the lock of ``extra``."""
    found: dict[str, list[str]] = {}
    for line in (REPO_ROOT / "requirements" / f"{extra}.txt").read_text().splitlines():
        m = PIN.match(line)
        if m:
            found.setdefault(canonicalize_name(m.group("name")), []).append(m.group("version"))
    return found


def test_every_action_extra_has_a_lock() -> None:
    used = set()
    for action in [REPO_ROOT / "action.yml", *REPO_ROOT.glob("actions/*/action.yml")]:
        used |= set(re.findall(r"action-run\" [\w-]+ ([\w-]+)", action.read_text()))
    assert used == set(LOCKED_EXTRAS)
    for extra in LOCKED_EXTRAS:
        assert (REPO_ROOT / "requirements" / f"{extra}.txt").is_file(), "run scripts/lock"


@pytest.mark.parametrize("extra", LOCKED_EXTRAS)
def test_lock_was_made_from_the_current_pyproject(extra: str) -> None:
    header = [line for line in (REPO_ROOT / "requirements" / f"{extra}.txt").read_text().splitlines()
              if line.startswith("# pyproject: ")]
    assert header == [f"# pyproject: {'; '.join(requirements(PYPROJECT, extra))}"], (
        f"requirements/{extra}.txt is out of date with pyproject.toml: run scripts/lock {extra}")


@pytest.mark.parametrize("extra", LOCKED_EXTRAS)
def test_lock_pins_every_direct_dependency_within_its_range(extra: str) -> None:
    locked = pins(extra)
    for text in requirements(PYPROJECT, extra):
        req = Requirement(text)
        versions = locked.get(canonicalize_name(req.name))
        assert versions, f"{req.name} is not in requirements/{extra}.txt: run scripts/lock {extra}"
        for version in versions:
            assert req.specifier.contains(version, prereleases=True), (
                f"requirements/{extra}.txt pins {req.name}=={version}, outside {req.specifier}: "
                f"run scripts/lock {extra}")


@pytest.mark.parametrize("extra", LOCKED_EXTRAS)
def test_every_pin_has_hashes(extra: str) -> None:
    text = (REPO_ROOT / "requirements" / f"{extra}.txt").read_text()
    entries = re.split(r"\n(?=\S)", text)
    pinned = [e for e in entries if PIN.match(e.splitlines()[0])]
    assert pinned
    for entry in pinned:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry.splitlines()[0]
        assert not re.search(r"https?://", entry), "no index URL in a lock"


def _bundle_with(tmp_path: Path, lock_text: str) -> Path:
    root = tmp_path / "bundle"
    (root / "requirements").mkdir(parents=True)
    shutil.copy(PYPROJECT, root / "pyproject.toml")
    (root / "requirements" / "image-update.txt").write_text(lock_text)
    return root


def _installers() -> list[str]:
    return ["pip", "uv"] if shutil.which("uv") else ["pip"]


@pytest.mark.parametrize("tool", _installers())
def test_a_tampered_hash_fails_the_install(tmp_path: Path, tool: str) -> None:
    lock = (REPO_ROOT / "requirements" / "image-update.txt").read_text()
    tampered = re.sub(r"(semver==\S+ \\\n(?:    --hash=sha256:[0-9a-f]{64} \\?\n?)+)",
                      lambda m: re.sub(r"[0-9a-f]{64}", "0" * 64, m.group(1)), lock)
    assert tampered != lock
    root = _bundle_with(tmp_path, tampered)
    venv = tmp_path / "venv"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "python" / "gitops_release" / "bootstrap.py"), "--locked",
         str(root), "image-update", str(venv)],
        env={**os.environ, "GITOPS_RELEASE_INSTALLER": tool}, capture_output=True, text=True,
        check=False, timeout=300)
    assert result.returncode != 0
    assert "hash" in (result.stdout + result.stderr).lower()
    assert not (venv / READY).exists()


def test_an_extra_without_a_lock_is_a_clear_error(tmp_path: Path) -> None:
    root = _bundle_with(tmp_path, "")
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "python" / "gitops_release" / "bootstrap.py"), "--locked",
         str(root), "all", str(tmp_path / "venv")], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "no lock file" in result.stderr and "scripts/lock" in result.stderr


@pytest.mark.parametrize("tool", _installers())
def test_dispatch_runs_on_exactly_its_lock(tmp_path: Path, github_api: GitHubAPI, tool: str) -> None:
    """The dispatch lock leaves out packages its code path never imports (scripts/lock): the
    action, through scripts/action-run, creates the deployment and sends the dispatch with
    exactly the locked distributions installed."""
    repo, app, token = "acme/k8s-configurations", "acme/my-api", "ghp_lockTestToken0123456789"
    github_api.add_repo(repo)
    github_api.add_repo(app)
    github_api.add_token(token, repos=[repo, app])
    output = tmp_path / "output"
    output.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_RELEASE_", "GITHUB_"))}
    env.update({
        "GITOPS_RELEASE_VENV_ROOT": str(tmp_path / "venvs"), "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output), "GITHUB_REPOSITORY": app, "GITHUB_SHA": "ab" * 20,
        "GITHUB_REF": "refs/tags/v1.2.3", "GITHUB_RUN_ID": "42",
        "GITHUB_SERVER_URL": "https://github.com", "GITOPS_RELEASE_TOKEN": token,
        "GITOPS_RELEASE_REPOSITORY": repo, "GITOPS_RELEASE_IMAGE": "127.0.0.1:5000/my-api:v1.2.3",
        "GITOPS_RELEASE_RELEASE": "my-api@v1.2.3", "GITOPS_RELEASE_PATH": "apps/my-api/overlays/prod",
        "GITOPS_RELEASE_GITHUB_API_URL": github_api.url, "GITOPS_RELEASE_ENVIRONMENT": "prod",
        "GITOPS_RELEASE_INSTALLER": tool})
    # the runner's python3 (its pip), not this test venv's
    base = shutil.which("python3", path=os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)))
    if base:
        env["GITOPS_RELEASE_PYTHON"] = base
    result = subprocess.run([str(REPO_ROOT / "scripts" / "action-run"), "dispatch", "dispatch"],
                            env=env, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    paths = [r.path for r in github_api.requests]
    assert f"/repos/{app}/deployments" in paths
    assert paths[-1] == f"/repos/{repo}/dispatches" and github_api.requests[-1].status == 204
    [venv] = (tmp_path / "venvs").glob("gitops-release-*-dispatch-*/bin/python")
    installed = subprocess.run(
        [str(venv), "-c", "import importlib.metadata as m; "
         "print(*sorted({d.metadata['Name'] for d in m.distributions()}))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert {canonicalize_name(name) for name in installed} == set(pins("dispatch"))
    assert "cryptography" not in installed
