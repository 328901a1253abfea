"""The whole chain end to end (issue: every deploy a git commit): the example app repo's own
workflows through act → a real registry → the local GitHub API → the example config repo's own
receiver workflows through act → a deploy commit on the config repo's bare origin.

One flow per test, each asserting on the config repo's origin afterwards. The engine, the
registry and act's action venvs are shared across the session; each flow's time is reported at
the end of the run (tests/e2e/conftest.py)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.act import Act
from tests.harness.chain import ChainRun, LocalChain
from tests.harness.services import Registry

pytestmark = pytest.mark.e2e

TOKEN = "ghp_chainE2Esecret0123456789abcdef"
TIMESTAMP = re.compile(r"\d{17}")
Record = Callable[[str, object], None]


@pytest.fixture
def chain(tmp_path: Path, act: Act, registry: Registry, docker_engine: None) -> Iterator[LocalChain]:
    with LocalChain(tmp_path, act, registry, token=TOKEN) as running:
        yield running


def deploy_commits(chain: LocalChain) -> list[str]:
    return [s for s in chain.config_repo.origin_log(fmt="%s") if s.startswith("Deploy ")]


def commit_files(chain: LocalChain, ref: str = "main") -> list[str]:
    out = chain.config_repo.origin_git("show", "--name-only", "--format=", ref)
    return sorted(line for line in out.splitlines() if line)


def trailers(chain: LocalChain, ref: str = "main") -> dict[str, str]:
    out = chain.config_repo.origin_git("log", "-1", "--format=%(trailers:only,unfold)", ref)
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


def check(run: ChainRun, record: Record, flow: str) -> None:
    record("flow_seconds", f"{flow}={run.seconds:.1f}")
    assert run.ok, str(run)


def test_dev_push_to_main_deploys_to_dev(chain: LocalChain, registry: Registry,
                                         record_property: Record) -> None:
    app = chain.make_app("web-api")
    run = chain.release(app, "refs/heads/main")
    check(run, record_property, "dev")

    stamps = [t for t in registry.tags("web-api") if TIMESTAMP.fullmatch(t)]
    version = max(stamps)
    assert registry.platforms("web-api", version) == {"linux/amd64", "linux/arm64"}
    _, digest = registry.manifest("web-api", version)
    # The receiver pins the image by the digest the build pushed: tag for people, digest for nodes.
    image = f"{registry.host}/web-api:{version}@{digest}"
    assert deploy_commits(chain) == [f"Deploy web-api@{version}"]
    assert commit_files(chain) == ["apps/web-api/overlays/dev/deployment.yaml"]
    manifest = chain.config_repo.origin_show("apps/web-api/overlays/dev/deployment.yaml")
    assert f"image: {image}\n" in manifest
    assert f"web-api@{version}" in manifest
    found = trailers(chain)
    assert found["Image"] == image and found["Digest"] == digest
    assert found["Source-Repository"] == "acme/web-api"
    assert found["Source-Sha"] == app.git("rev-parse", "HEAD").strip()
    rendered = chain.render("apps/web-api/overlays/dev")
    assert f"image: {image}\n" in rendered
    assert f"value: web-api@{version}" in rendered


def test_prod_tag_deploys_prod_and_its_regions_in_one_commit(chain: LocalChain, registry: Registry,
                                                            record_property: Record) -> None:
    app = chain.make_app("web-api")
    dev_before = chain.config_repo.origin_show("apps/web-api/overlays/dev/deployment.yaml")
    app.git("tag", "v1.5.0")
    run = chain.release(app, "refs/tags/v1.5.0")
    check(run, record_property, "prod")

    assert "v1.5.0" in registry.tags("web-api")
    assert registry.platforms("web-api", "v1.5.0") == {"linux/amd64", "linux/arm64"}
    assert deploy_commits(chain) == ["Deploy web-api@v1.5.0"]
    assert commit_files(chain) == sorted(f"apps/web-api/overlays/{o}/deployment.yaml"
                                         for o in ("prod", "prod-eu", "prod-us"))
    _, digest = registry.manifest("web-api", "v1.5.0")
    for overlay in ("prod", "prod-eu", "prod-us"):
        rendered = chain.render(f"apps/web-api/overlays/{overlay}")
        assert f"image: {registry.host}/web-api:v1.5.0@{digest}\n" in rendered, overlay
        assert "web-api@v1.5.0" in rendered, overlay
    assert chain.config_repo.origin_show("apps/web-api/overlays/dev/deployment.yaml") == dev_before


def test_cronjob_release_updates_the_cronjob(chain: LocalChain, registry: Registry,
                                             record_property: Record) -> None:
    app = chain.make_app("report-job", kind="new-job-image")
    run = chain.release(app, "refs/heads/main")
    check(run, record_property, "cronjob")

    version = max(t for t in registry.tags("report-job") if TIMESTAMP.fullmatch(t))
    assert deploy_commits(chain) == [f"Deploy report-job@{version}"]
    assert commit_files(chain) == ["apps/report-job/overlays/dev/cronjob.yaml"]
    rendered = chain.render("apps/report-job/overlays/dev")
    _, digest = registry.manifest("report-job", version)
    assert f"image: {registry.host}/report-job:{version}@{digest}\n" in rendered
    assert f"report-job@{version}" in rendered


@pytest.mark.parametrize(("app_name", "changed"), [
    ("checkout", "apps/checkout/overlays/dev/rollout.yaml"),
    ("storefront", "apps/storefront/overlays/dev/values.yaml"),
], ids=["argo-rollout", "helm-values"])
def test_rollout_and_helm_values_apps(chain: LocalChain, registry: Registry,
                                      record_property: Record, app_name: str, changed: str) -> None:
    app = chain.make_app(app_name)
    run = chain.release(app, "refs/heads/main")
    check(run, record_property, app_name)

    version = max(t for t in registry.tags(app_name) if TIMESTAMP.fullmatch(t))
    assert deploy_commits(chain) == [f"Deploy {app_name}@{version}"]
    assert commit_files(chain) == [changed]
    text = chain.config_repo.origin_show(changed)
    assert version in text and registry.host in text


def test_two_apps_released_at_once_both_land(chain: LocalChain, registry: Registry,
                                             record_property: Record) -> None:
    apps = [chain.make_app("web-api"), chain.make_app("checkout")]
    runs: dict[str, ChainRun] = {}

    def release(index: int) -> None:
        runs[apps[index].name] = chain.release(apps[index], "refs/heads/main")

    threads = [threading.Thread(target=release, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=1200)
    chain.api.wait_for_deliveries()

    assert set(runs) == {"web-api", "checkout"}
    assert all(r.app.ok for r in runs.values()), "\n".join(str(r) for r in runs.values())
    record_property("flow_seconds", f"concurrent={max(r.seconds for r in runs.values()):.1f}")
    commits = deploy_commits(chain)
    assert sorted(c.split("@")[0] for c in commits) == ["Deploy checkout", "Deploy web-api"]
    assert chain.config_repo.origin_git("rev-list", "--merges", "main").strip() == ""
    for name, path in (("web-api", "apps/web-api/overlays/dev/deployment.yaml"),
                       ("checkout", "apps/checkout/overlays/dev/rollout.yaml")):
        version = max(t for t in registry.tags(name) if TIMESTAMP.fullmatch(t))
        assert f"{registry.host}/{name}:{version}" in chain.config_repo.origin_show(path)


def test_failed_build_dispatches_nothing_and_commits_nothing(chain: LocalChain,
                                                             record_property: Record) -> None:
    app = chain.make_app("web-api")
    (app.work / "Dockerfile").write_text("FROM scratch\nCOPY missing-file.txt /\n", encoding="utf-8")
    app.commit_all("Break the build")
    head_before = chain.config_repo.origin_head()

    run = chain.release(app, "refs/heads/main")
    record_property("flow_seconds", f"failed-build={run.seconds:.1f}")

    assert not run.app.ok
    assert "missing-file.txt" in run.app.log, run.app.log[-3000:]
    assert "::error" in run.app.log or "Build failed" in run.app.log
    # only the validate job's GET of the config repository; no dispatch
    assert [r.method for r in chain.api.requests] == ["GET"]
    assert run.deliveries == []
    assert chain.config_repo.origin_head() == head_before
