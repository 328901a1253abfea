"""Pull-request mode end to end: the example config repo's receiver workflow with
`write-mode: pull-request` (its `main` protected in spirit: nothing lands there but through a pull
request), two dev releases of an app through act: one pull request, opened then superseded, and
`main` untouched until it is merged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.act import Act
from tests.harness.chain import LocalChain
from tests.harness.services import Registry

pytestmark = pytest.mark.e2e

TOKEN = "ghp_prModeE2Esecret0123456789abcdef"
BRANCH = "gitops-release/apps/web-api/overlays/dev"


@pytest.fixture
def chain(tmp_path: Path, act: Act, registry: Registry, docker_engine: None) -> Iterator[LocalChain]:
    with LocalChain(tmp_path, act, registry, token=TOKEN) as running:
        yield running


def test_one_pull_request_opened_then_superseded(chain: LocalChain) -> None:
    config = chain.config_repo
    workflow = config.work / ".github" / "workflows" / "app-image-update.yml"
    workflow.write_text(workflow.read_text(encoding="utf-8").replace(
        "      config-root: apps\n", "      config-root: apps\n      write-mode: pull-request\n"),
        encoding="utf-8")
    config.commit_all("Deploy through pull requests")
    config.push()
    base = config.origin_head()
    app = chain.make_app("web-api")

    first = chain.release(app, "refs/heads/main")
    assert first.ok, str(first)
    (app.work / "hello.txt").write_text("Hello from the example app.\nv2\n", encoding="utf-8")
    app.commit_all("fix: a second build")
    second = chain.release(app, "refs/heads/main")
    assert second.ok, str(second)

    assert config.origin_head() == base  # nothing landed on main
    with chain.api.resources._lock:
        pulls = list(chain.api.resources.pulls.get("acme/k8s-configurations", {}).values())
    assert len(pulls) == 1 and pulls[0].state == "open" and pulls[0].head == BRANCH
    versions = [line.split("web-api@")[1] for line in first.log.splitlines() + second.log.splitlines()
                if "holds Deploy web-api@" in line]
    assert len(versions) == 2 and versions[0] != versions[1], versions
    assert pulls[0].title == f"Deploy web-api@{versions[1]} (apps/web-api/overlays/dev)"
    assert f"web-api@{versions[1]}" in config.origin_show(
        "apps/web-api/overlays/dev/deployment.yaml", BRANCH)
    assert config.origin_git("rev-parse", f"{BRANCH}~1").strip() == base  # rebuilt on main
