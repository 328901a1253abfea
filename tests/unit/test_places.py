"""Places of the image in an overlay: what the planner may edit, and what it must not add."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops_release.discovery import discover
from gitops_release.errors import ManifestError
from gitops_release.places import no_second_entry
from gitops_release.targets import Found

REG = "registry.example.com/acme"
DEPLOYMENT = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
              "  template:\n    spec:\n      containers:\n        - name: web\n"
              f"          image: {REG}/web:v1\n")


def test_no_second_images_entry_of_a_name_the_kustomization_has(tmp_path: Path) -> None:
    """An entry of the image's name that does not decide it (something after it does): adding
    another of the same name leaves two, and every later deploy of the app is refused ("2
    images: entries named"); so the edit is a refusal naming the entry's line, not a write."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(
        f"resources:\n  - web.yaml\nimages:\n  - name: {REG}/web\n    newTag: v1\n")
    (folder / "web.yaml").write_text(DEPLOYMENT)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    tree = discover(tmp_path, "d")
    found = Found(0, "Deployment", "web", "web", False, f"{REG}/web:v1")
    with pytest.raises(ManifestError, match=r"d/kustomization.yaml images: entry "
                       rf"{REG}/web \(line 4\) does not decide"):
        no_second_entry(tree, found)
    (folder / "kustomization.yaml").write_text(f"resources:\n  - web.yaml\nimages:\n"
                                               f"  - name: {REG}/api\n    newTag: v1\n")
    no_second_entry(discover(tmp_path, "d"), found)  # an entry of another image: no objection


def test_an_entry_of_another_spelling_is_no_second_entry(tmp_path: Path) -> None:
    """kustomize matches an entry's name literally: ``web`` does not rename
    docker.io/library/web, so a new entry of that name is no duplicate (it was refused)."""
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(
        "resources:\n  - web.yaml\nimages:\n  - name: web\n    newTag: v0.9.0\n")
    (folder / "web.yaml").write_text(DEPLOYMENT.replace(f"{REG}/web:v1", "docker.io/library/web:v1"))
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    found = Found(0, "Deployment", "web", "web", False, "docker.io/library/web:v1")
    no_second_entry(discover(tmp_path, "d"), found)
