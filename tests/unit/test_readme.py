"""README.md is a contract: every YAML block in it is a tested example file, verbatim, and every
action's inputs table lists exactly the inputs its action.yml declares."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.harness.services import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"(?:<!-- example: (?P<path>[^ ]+) -->\n)?```yaml\n(?P<body>.*?)\n```", re.S)


def test_every_yaml_block_is_an_example_file_verbatim() -> None:
    blocks = list(BLOCK.finditer(README))
    assert len(blocks) >= 6
    for block in blocks:
        assert block["path"], f"a YAML block without an example marker:\n{block['body'][:200]}"
        text = (REPO_ROOT / block["path"]).read_text(encoding="utf-8")
        assert block["body"] + "\n" == text, f"README differs from {block['path']}"


def _table_after(heading: str) -> list[str]:
    start = README.index(heading)
    inputs = README.index("#### Inputs", start)
    names = []
    for line in README[inputs:].splitlines()[2:]:
        if not line.startswith("|"):
            if names:
                break
            continue
        cell = line.split("|")[1].strip()
        if cell.startswith("`"):
            names.append(cell.strip("`"))
    return names


@pytest.mark.parametrize(("heading", "declared"), [
    ("### `actions/build-push`", "actions/build-push/action.yml"),
    ("### `actions/dispatch`", "actions/dispatch/action.yml"),
    ("### `actions/image-update` and `actions/cronjob-update`", "actions/image-update/action.yml"),
    ("### `actions/image-update` and `actions/cronjob-update`", "actions/cronjob-update/action.yml"),
    ("### Reusable workflow `release.yml`", ".github/workflows/release.yml"),
    ("### `actions/release-control`", "actions/release-control/action.yml"),
    ("### `actions/promote` and the config repo's Promote workflow", "actions/promote/action.yml"),
], ids=["build-push", "dispatch", "image-update", "cronjob-update", "release.yml",
        "release-control", "promote"])
def test_inputs_tables_match_the_declarations(heading: str, declared: str) -> None:
    document = YAML(typ="safe").load((REPO_ROOT / declared).read_text(encoding="utf-8"))
    inputs = document["inputs"] if "runs" in document else document["on"]["workflow_call"]["inputs"]
    assert sorted(_table_after(heading)) == sorted(inputs)


@pytest.mark.parametrize("example", [
    "examples/config-repo/clusters/argocd/web-api-prod.yaml",
    "examples/config-repo/clusters/flux/web-api-prod.yaml",
], ids=["argocd", "flux"])
def test_gitops_controller_examples_point_at_overlays_that_render(example: str) -> None:
    config = REPO_ROOT / "examples" / "config-repo"
    docs = list(YAML(typ="safe").load_all((REPO_ROOT / example).read_text(encoding="utf-8")))
    paths = [d["spec"].get("path") or d["spec"].get("source", {}).get("path") for d in docs]
    paths = [p.removeprefix("./") for p in paths if p]
    assert paths
    for path in paths:
        result = subprocess.run(["kubectl", "kustomize", path], cwd=config, capture_output=True,
                                text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert "kind: Deployment" in result.stdout
        assert Path(config, path).is_dir()
