"""Smoke test of the harness: a workflow in a fresh repo calls one of the bundle's actions by its
full name (`gitops-release/gitops-release/actions/image-update@v1`), act resolves it to this
checkout, and the Python entrypoint runs and reports through the runner protocol."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.harness.act import Act
from tests.harness.gitrepo import GitRepo

pytestmark = pytest.mark.e2e

WORKFLOW = """\
name: smoke
on: push
permissions: {}
jobs:
  smoke:
    runs-on: ubuntu-latest
    steps:
      - id: update
        continue-on-error: true
        uses: gitops-release/gitops-release/actions/image-update@v1
        with:
          image: 'Registry.example.com/Team/App:v1'
          release: app@v1
          path: apps/app/overlays/dev
      - name: report
        env:
          OUTCOME: ${{ steps.update.outcome }}
        run: echo "outcome=$OUTCOME"
"""


def test_remote_style_action_resolves_and_runs_python(
        act: Act, make_git_repo: Callable[..., GitRepo]) -> None:
    repo = make_git_repo("acme", "smoke")
    (repo.work / ".github" / "workflows").mkdir(parents=True)
    (repo.work / ".github" / "workflows" / "smoke.yml").write_text(WORKFLOW, encoding="utf-8")
    repo.commit_all("Add smoke workflow")

    result = act.run(repo.work, "push", {"ref": "refs/heads/main"})

    assert result.ok, result
    assert ("::error title=image-update%3A Invalid image reference::input 'image': "
            "'Registry.example.com/Team/App:v1' is not a valid image reference: the repository "
            "path must be lowercase") in result.log, result
    assert "outcome=failure" in result.log, result
