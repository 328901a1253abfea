"""Closing the loop end to end (issue 14): the app repo's release creates a GitHub Deployment,
the config repo's receiver reports the outcome to it, and a prod release with `wait: true` passes
or fails with the receiver's reason. act runs both repos' own workflows; the registry, git remotes
and the local GitHub API (deployments recorded per app repo) are real."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.act import Act
from tests.harness.chain import LocalChain
from tests.harness.services import Registry

pytestmark = pytest.mark.e2e

TOKEN = "ghp_loopE2Esecret0123456789abcdef"
APP = "acme/web-api"
CONFIG = "acme/k8s-configurations"
Record = Callable[[str, object], None]


@pytest.fixture
def chain(tmp_path: Path, act: Act, registry: Registry, docker_engine: None) -> Iterator[LocalChain]:
    with LocalChain(tmp_path, act, registry, token=TOKEN) as running:
        yield running


def deployment(chain: LocalChain, environment: str) -> dict[str, object]:
    found = [d for d in chain.api.deployments_of(APP) if d["environment"] == environment]
    assert found, chain.api.deployments_of(APP)
    return found[-1]


def last_status(chain: LocalChain, number: int) -> dict[str, str]:
    with chain.api.resources._lock:
        return dict(chain.api.resources.deployments[number].statuses[-1])


def test_statuses_reach_the_app_repo_and_wait_fails_on_a_refused_downgrade(
        chain: LocalChain, registry: Registry, record_property: Record) -> None:
    app = chain.make_app("web-api", prod_inputs={"wait": "true", "wait_timeout": "5"})
    sha = app.git("rev-parse", "HEAD").strip()

    dev = chain.release(app, "refs/heads/main")
    assert dev.ok, str(dev)
    dev_deployment = deployment(chain, "dev")
    assert dev_deployment["sha"] == sha
    number = int(str(dev_deployment["id"]))
    assert chain.api.deployment_statuses(APP, number) == ["in_progress", "success"]
    head = chain.config_repo.origin_head()
    assert last_status(chain, number)["log_url"] == f"https://github.com/{CONFIG}/commit/{head}"

    app.git("tag", "v1.5.0")
    prod = chain.release(app, "refs/tags/v1.5.0")
    record_property("flow_seconds", f"prod+wait={prod.seconds:.1f}")
    assert prod.ok, str(prod)
    prod_number = int(str(deployment(chain, "prod")["id"]))
    assert chain.api.deployment_statuses(APP, prod_number) == ["in_progress", "success"]
    assert re.search(rf"deployment {prod_number}: success \(Deployed web-api@v1\.5\.0 to "
                     r"apps/web-api/overlays/prod", prod.log), prod.log
    assert "nothing is built" in prod.log  # promoted: dev's bytes
    assert "::warning" not in prod.log.split("Deploy to prod", 1)[-1], prod.log

    app.git("tag", "v1.4.9")  # a late, older release of the same commit
    late = chain.release(app, "refs/tags/v1.4.9")

    assert not late.app.ok, str(late)
    assert all(d.ok for d in late.deliveries)  # the receiver refused: a success, no commit
    refused = int(str(deployment(chain, "prod")["id"]))
    assert refused != prod_number
    assert chain.api.deployment_statuses(APP, refused) == ["in_progress", "inactive"]
    assert ("the config repo refused the deploy (inactive): Refused (downgrade): Downgrade "
            "refused: v1.4.9 is older than v1.5.0") in late.app.log, late.app.log
    assert chain.config_repo.origin_log(fmt="%s")[0] == "Deploy web-api@v1.5.0"
