"""The example config repo's receiver workflows, run by act on repository_dispatch events against a
bare-repo origin: the reusable workflows call the bundle's actions by full name, and each test
asserts on what was pushed (or that nothing was)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.harness.act import Act, ActResult
from tests.harness.gitrepo import GitRepo

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config-repo"
IMAGE_WORKFLOW = ".github/workflows/app-image-update.yml"
JOB_WORKFLOW = ".github/workflows/cronjob-image-update.yml"
PROD = "apps/web-api/overlays/prod"


def payload(version: str, path: str, app: str = "web-api", **extra: object) -> dict[str, object]:
    return {"image": f"registry.example.com/acme/{app}:{version}", "release": f"{app}@{version}",
            "path": path, **extra}


def dispatch(act: Act, repo: GitRepo, event_type: str, client_payload: Mapping[str, object],
             workflow: str = IMAGE_WORKFLOW) -> ActResult:
    event = {"action": event_type, "client_payload": dict(client_payload),
             "repository": {"full_name": repo.full_name, "name": repo.name,
                            "owner": {"login": repo.owner}, "default_branch": "main"}}
    return act.run(repo.work, "repository_dispatch", event, workflow=workflow,
                   secrets={"GITHUB_PAT": "ghp_e2eT0kenValue"})


@pytest.fixture
def config_repo(make_git_repo: Callable[..., GitRepo]) -> GitRepo:
    return make_git_repo("acme", "k8s-config", EXAMPLE)


def changed_files(repo: GitRepo, ref: str = "main") -> list[str]:
    return repo.origin_git("show", "--format=", "--name-only", ref).split()


def test_dev_deploy_pushes_the_commit(act: Act, config_repo: GitRepo) -> None:
    source = {"repository": "acme/web-api", "sha": "d" * 40, "ref": "refs/heads/main",
              "run_url": "https://github.com/acme/web-api/actions/runs/7"}
    result = dispatch(act, config_repo, "new-image",
                      payload("20261126101500123", "apps/web-api/overlays/dev", source=source))
    assert result.ok, result
    assert config_repo.origin_log() == ["Deploy web-api@20261126101500123", "Initial commit"]
    assert changed_files(config_repo) == ["apps/web-api/overlays/dev/deployment.yaml"]
    body = config_repo.origin_git("log", "-1", "--format=%B", "main")
    assert "Source-Repository: acme/web-api\n" in body
    assert "Source-Run: https://github.com/acme/web-api/actions/runs/7\n" in body
    assert "ghp_e2eT0kenValue" not in result.log


def test_prod_fan_out_is_one_commit_and_renders(act: Act, config_repo: GitRepo,
                                                 tmp_path: Path) -> None:
    result = dispatch(act, config_repo, "new-image", payload("v1.5.0", PROD))
    assert result.ok, result
    assert config_repo.origin_log() == ["Deploy web-api@v1.5.0", "Initial commit"]
    assert changed_files(config_repo) == [f"apps/web-api/overlays/{env}/deployment.yaml"
                                          for env in ("prod-eu", "prod-us", "prod")]
    pushed = tmp_path / "pushed"
    subprocess.run(["git", "clone", "-q", str(config_repo.bare), str(pushed)], check=True)
    for env in ("prod", "prod-eu", "prod-us"):
        rendered = subprocess.run(["kubectl", "kustomize", str(pushed / f"apps/web-api/overlays/{env}")],
                                  capture_output=True, text=True, check=True).stdout
        assert "image: registry.example.com/acme/web-api:v1.5.0\n" in rendered, env
        assert "value: web-api@v1.5.0\n" in rendered, env
        assert "image: registry.example.com/platform/log-shipper:2.3.1\n" in rendered, env


def test_redelivery_gives_one_commit(act: Act, config_repo: GitRepo) -> None:
    event = payload("v1.5.0", PROD)
    assert dispatch(act, config_repo, "new-image", event).ok
    again = dispatch(act, config_repo, "new-image", event)
    assert again.ok, again
    assert "nothing to change" in again.log
    assert config_repo.origin_log() == ["Deploy web-api@v1.5.0", "Initial commit"]


def test_downgrade_is_refused(act: Act, config_repo: GitRepo) -> None:
    head = config_repo.origin_head()
    result = dispatch(act, config_repo, "new-image", payload("v1.3.0", PROD))
    assert result.ok, result
    assert "v1.3.0 is older than v1.4.0" in result.log
    assert config_repo.origin_head() == head


@pytest.mark.parametrize("path", ["apps/web-api/overlays/../../../etc", "/etc/kubernetes",
                                  "apps/web-api/overlays/dev\"; touch /tmp/pwned; \""],
                         ids=["dotdot", "absolute", "shell"])
def test_hostile_path_fails_with_nothing_pushed(act: Act, config_repo: GitRepo, path: str) -> None:
    head = config_repo.origin_head()
    result = dispatch(act, config_repo, "new-image", payload("v1.5.0", path))
    assert not result.ok
    assert "input 'path'" in result.log, result
    assert config_repo.origin_head() == head
    assert not Path("/tmp/pwned").exists()


def test_cronjob_receiver(act: Act, config_repo: GitRepo, tmp_path: Path) -> None:
    result = dispatch(act, config_repo, "new-job-image",
                      payload("v2.2.0", "apps/report-job/overlays/prod", app="report-job"),
                      workflow=JOB_WORKFLOW)
    assert result.ok, result
    assert config_repo.origin_log() == ["Deploy report-job@v2.2.0", "Initial commit"]
    assert changed_files(config_repo) == [f"apps/report-job/overlays/{env}/cronjob.yaml"
                                          for env in ("prod-eu", "prod-us", "prod")]
    pushed = tmp_path / "pushed"
    subprocess.run(["git", "clone", "-q", str(config_repo.bare), str(pushed)], check=True)
    rendered = subprocess.run(["kubectl", "kustomize", str(pushed / "apps/report-job/overlays/prod")],
                              capture_output=True, text=True, check=True).stdout
    assert "image: registry.example.com/acme/report-job:v2.2.0\n" in rendered
    assert "image: registry.example.com/platform/wait-for:1.2.0\n" in rendered


def test_event_type_selects_the_receiver(act: Act, config_repo: GitRepo) -> None:
    """With every workflow of the repo loaded, a new-job-image event runs only the CronJob
    receiver (the new-image one would fail on a CronJob overlay)."""
    event = {"action": "new-job-image",
             "client_payload": payload("20261126020000000", "apps/report-job/overlays/dev",
                                       app="report-job")}
    result = act.run(config_repo.work, "repository_dispatch", event)
    assert result.ok, result
    assert "CronJob Image Update" in result.log and "App Image Update" not in result.log
    assert config_repo.origin_log() == ["Deploy report-job@20261126020000000", "Initial commit"]
