"""The bundle's version is one number: pyproject.toml, the package, Release Please's manifest;
the reusable workflows call the bundle's actions either by the moving major tag (between
releases) or, in a released commit, by exactly that release's tag (scripts/pin_refs.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import tomllib

from gitops_release import __version__
from tests.harness.services import REPO_ROOT


def manifest_version() -> str:
    return str(json.loads((REPO_ROOT / ".release-please-manifest.json").read_text())["."])


def test_pyproject_package_and_manifest_agree() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == manifest_version() == __version__


def test_release_please_updates_every_place_that_holds_the_version() -> None:
    config = json.loads((REPO_ROOT / "release-please-config.json").read_text())
    assert config["release-type"] == "python"  # pyproject.toml
    assert config["include-v-in-tag"] is True
    extra = [f["path"] for f in config["packages"]["."]["extra-files"]]
    assert extra == ["python/gitops_release/__init__.py"]
    assert "x-release-please-version" in (REPO_ROOT / extra[0]).read_text()
    assert (REPO_ROOT / "CHANGELOG.md").read_text().startswith("# Changelog\n")


def test_workflows_call_the_actions_by_the_major_tag_or_the_released_version() -> None:
    major = f"v{manifest_version().split('.')[0]}"
    refs = set(re.findall(r"uses: gitops-release/gitops-release/actions/[\w-]+@([\w.]+)",
                          "".join(p.read_text() for p in
                                  (REPO_ROOT / ".github" / "workflows").glob("*.yml"))))
    assert refs in ({"v1"}, {major}, {f"v{manifest_version()}"}), refs


def test_pin_refs_rewrites_checks_and_unpins(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / ".github" / "workflows").mkdir(parents=True)
    for name in ("release.yml", "ci.yml"):
        (root / ".github" / "workflows" / name).write_text(
            "steps:\n  - uses: gitops-release/gitops-release/actions/dispatch@v1\n"
            "  - uses: 'gitops-release/gitops-release/.github/workflows/x.yml@main'\n")
    script = [sys.executable, str(REPO_ROOT / "scripts" / "pin_refs.py"), "--root", str(root)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*script, *args], capture_output=True, text=True, check=False)

    assert run("--check", "2.3.4").returncode == 1
    assert run("2.3.4").returncode == 0
    assert (root / ".github" / "workflows" / "release.yml").read_text() == (
        "steps:\n  - uses: gitops-release/gitops-release/actions/dispatch@v2.3.4\n"
        "  - uses: 'gitops-release/gitops-release/.github/workflows/x.yml@v2.3.4'\n")
    assert "@v1" in (root / ".github" / "workflows" / "ci.yml").read_text()  # own CI untouched
    assert run("--check", "v2.3.4").returncode == 0
    assert run("--major", "2").returncode == 0
    assert "dispatch@v2\n" in (root / ".github" / "workflows" / "release.yml").read_text()
    bad = run("2.3")
    assert bad.returncode == 2 and "use X.Y.Z" in bad.stderr
