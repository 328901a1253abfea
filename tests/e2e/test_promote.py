"""`promote` from the Actions tab, end to end: the example config repo's own promote workflow
(workflow_dispatch) through act, after a real dev release put a digest-pinned image into dev."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.act import Act
from tests.harness.chain import LocalChain
from tests.harness.delivery import ActDelivery
from tests.harness.services import Registry

pytestmark = pytest.mark.e2e

TOKEN = "ghp_promoteE2Esecret0123456789abcd"
DEV = "apps/web-api/overlays/dev"
PROD = "apps/web-api/overlays/prod"


@pytest.fixture
def chain(tmp_path: Path, act: Act, registry: Registry, docker_engine: None) -> Iterator[LocalChain]:
    with LocalChain(tmp_path, act, registry, token=TOKEN) as running:
        yield running


def test_promote_dev_to_prod_with_fan_out(chain: LocalChain, registry: Registry) -> None:
    app = chain.make_app("web-api")
    app.git("tag", "v1.5.0")
    prod = chain.release(app, "refs/tags/v1.5.0")  # prod now runs this registry's repository
    assert prod.ok, str(prod)
    dev = chain.release(app, "refs/heads/main")
    assert dev.ok, str(dev)
    stamp = max(t for t in registry.tags("web-api") if re.fullmatch(r"\d{17}", t))  # dev's
    _, digest = registry.manifest("web-api", stamp)
    delivery = chain.api.on_dispatch
    assert isinstance(delivery, ActDelivery)
    workdir, branch = delivery.checkout(chain.config_repo)

    result = chain.act.run(
        workdir, "workflow_dispatch",
        {"inputs": {"from": DEV, "to": PROD, "force": "true"}, "ref": f"refs/heads/{branch}"},
        workflow=".github/workflows/promote.yml", secrets={"GITHUB_PAT": TOKEN},
        env={"GITHUB_REPOSITORY": chain.config_repo.full_name})

    # prod runs v1.5.0: a dev timestamp build is another version scheme, refused unless forced
    assert result.ok, str(result)
    repo = chain.config_repo
    assert repo.origin_log()[0] == f"Promote web-api@{stamp} to {PROD}", str(result)
    trailers = repo.origin_git("log", "-1", "--format=%(trailers:only,unfold)")
    assert f"Promoted-From: {DEV}\n" in trailers and f"Digest: {digest}\n" in trailers
    files = sorted(repo.origin_git("show", "--name-only", "--format=", "main").split())
    assert files == sorted(f"apps/web-api/overlays/{o}/deployment.yaml"
                           for o in ("prod", "prod-eu", "prod-us"))
    image = f"{registry.host}/web-api:{stamp}@{digest}"
    for overlay in ("prod", "prod-eu", "prod-us"):
        assert f"image: {image}\n" in chain.render(f"apps/web-api/overlays/{overlay}"), overlay


def test_promote_refuses_an_image_without_a_digest(chain: LocalChain) -> None:
    delivery = chain.api.on_dispatch
    assert isinstance(delivery, ActDelivery)
    workdir, branch = delivery.checkout(chain.config_repo)
    head = chain.config_repo.origin_head()

    result = chain.act.run(
        workdir, "workflow_dispatch",
        {"inputs": {"from": DEV, "to": PROD}, "ref": f"refs/heads/{branch}"},
        workflow=".github/workflows/promote.yml", secrets={"GITHUB_PAT": TOKEN},
        env={"GITHUB_REPOSITORY": chain.config_repo.full_name})

    assert not result.ok, str(result)
    assert f"input 'from': {DEV} runs {chain.registry.host}/web-api:20261120093000123 " \
           "without a tag and a digest" in result.log, str(result)
    assert chain.config_repo.origin_head() == head
