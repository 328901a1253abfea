"""The sender half of the chain end to end: act runs the example app repo's own workflows
(examples/app-repo/.github/workflows, unchanged), which call
`gitops-release/gitops-release/.github/workflows/release.yml@v1`; that builds and pushes to a real
registry and dispatches to the local GitHub API, which records the request."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.act import Act, ActResult
from tests.harness.github_api import GitHubAPI
from tests.harness.gitrepo import GitRepo
from tests.harness.services import REPO_ROOT, Registry, run_registry
from tests.harness.workflows import root_action_workflow

pytestmark = pytest.mark.e2e

APP = REPO_ROOT / "examples" / "app-repo"
TOKEN = "ghp_e2eSECRETreleaseToken0123456789"
CONFIG = "acme/k8s-configurations"
DEV = ".github/workflows/dev-release-version.yaml"
PROD = ".github/workflows/prod-release-version.yaml"
TIMESTAMP = re.compile(r"\d{17}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.fixture
def app(make_git_repo: Callable[..., GitRepo]) -> GitRepo:
    repo = make_git_repo("acme", "web-api", template=APP)
    # act names the repository (github.repository, github.repository_owner) after the origin URL
    # as git resolves it; without the insteadOf rewrite it stays https://github.com/acme/...
    # (nothing in a release fetches or pushes the app repo).
    repo.git("config", "--unset", f"url.{repo.bare}.insteadOf")
    return repo


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of the test's own: the example workflows always push `web-api`."""
    with run_registry(tmp_path / "registry") as running:
        yield running


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo(CONFIG)
    github_api.add_token(TOKEN, repos=[CONFIG])
    return github_api


def run_release(act: Act, app: GitRepo, registry: Registry, api: GitHubAPI, workflow: str,
                ref: str, *, password: str | None = None,
                env: dict[str, str] | None = None) -> ActResult:
    return act.run(
        app.work, "push", {"ref": ref, "act": True,  # skips Release Please, as the workflow says
                           "repository": {"full_name": app.full_name, "default_branch": "main"}},
        workflow=workflow,
        secrets={"CR_ENDPOINT": registry.host, "CR_USERNAME": registry.username,
                 "CR_PASSWORD": registry.password if password is None else password,
                 "GITHUB_PAT": TOKEN},
        env={"GITHUB_API_URL": api.url, "GITOPS_RELEASE_DISPATCH_BACKOFF": "0.05",
             **(env or {})},
        timeout=900)


def sent_payload(api: GitHubAPI) -> tuple[str, dict[str, Any]]:
    requests = [r for r in api.requests if r.method == "POST" and r.status == 204]
    assert len(requests) == 1, api.requests
    request = requests[0]
    assert request.path == f"/repos/{CONFIG}/dispatches"
    assert request.auth_scheme in ("token", "bearer")
    return request.body["event_type"], request.body["client_payload"]


def test_dev_release_on_push_to_main(act: Act, registry: Registry, api: GitHubAPI,
                                     docker_engine: None, app: GitRepo) -> None:
    result = run_release(act, app, registry, api, DEV, "refs/heads/main")

    assert result.ok, str(result)
    assert "1 test passed" in result.log, str(result)  # the Test job ran first
    assert "release-please-action" not in result.log  # skipped under act, as the workflow says
    tags = registry.tags("web-api")
    assert len(tags) == 1 and TIMESTAMP.fullmatch(tags[0]), tags
    version = tags[0]
    assert registry.platforms("web-api", version) == {"linux/amd64", "linux/arm64"}
    _, digest = registry.manifest("web-api", version)
    event_type, payload = sent_payload(api)
    assert event_type == "new-image"
    source = payload.pop("source")
    assert payload == {
        "image": f"{registry.host}/web-api:{version}",
        "release": f"web-api@{version}",
        "path": "apps/web-api/overlays/dev",
        "digest": digest,
    }
    assert source["repository"] == "acme/web-api"
    assert source["ref"] == "refs/heads/main"
    assert source["sha"] == app.git("rev-parse", "HEAD").strip()
    assert TOKEN not in result.log and registry.password not in result.log


def test_failing_tests_stop_the_dev_deploy(act: Act, registry: Registry, api: GitHubAPI,
                                           docker_engine: None, app: GitRepo) -> None:
    (app.work / "hello.txt").write_text("Goodbye\n", encoding="utf-8")
    app.commit_all("Break the greeting")

    result = run_release(act, app, registry, api, DEV, "refs/heads/main")

    assert not result.ok, str(result)
    assert "hello.txt does not greet" in result.log, str(result)
    assert "Build and push the image" not in result.log  # deploy_dev needs the tests
    assert registry.tags("web-api") == [] and api.requests == []


def test_prod_release_on_version_tag(act: Act, registry: Registry, api: GitHubAPI,
                                     docker_engine: None, app: GitRepo,
                                     record_property: Callable[[str, object], None]) -> None:
    app.git("tag", "v1.2.3")

    result = run_release(act, app, registry, api, PROD, "refs/tags/v1.2.3")

    assert result.ok, str(result)
    tags = registry.tags("web-api")
    stamps = [tag for tag in tags if TIMESTAMP.fullmatch(tag)]
    assert len(stamps) == 1 and sorted(tags) == sorted([*stamps, "latest", "v1.2.3"]), tags
    assert registry.platforms("web-api", "v1.2.3") == {"linux/amd64", "linux/arm64"}
    _, digest = registry.manifest("web-api", "v1.2.3")
    event_type, payload = sent_payload(api)
    record_property("tag_release_payload", json.dumps(payload, sort_keys=True))
    assert event_type == "new-image"
    assert DIGEST.fullmatch(payload["digest"]) and payload["digest"] == digest
    assert {k: v for k, v in payload.items() if k != "source"} == {
        "image": f"{registry.host}/web-api:v1.2.3",
        "release": "web-api@v1.2.3",
        "path": "apps/web-api/overlays/prod",
        "digest": digest,
    }
    assert payload["source"]["ref"] == "refs/tags/v1.2.3"


def test_tag_release_promotes_devs_digest_without_building(
        act: Act, registry: Registry, api: GitHubAPI, docker_engine: None, app: GitRepo,
        record_property: Callable[[str, object], None]) -> None:
    dev = run_release(act, app, registry, api, DEV, "refs/heads/main")
    assert dev.ok, str(dev)
    (stamp,) = registry.tags("web-api")
    _, dev_digest = registry.manifest("web-api", stamp)
    app.git("tag", "v1.2.3")

    prod = run_release(act, app, registry, api, PROD, "refs/tags/v1.2.3")

    assert prod.ok, str(prod)
    record_property("promotion_seconds", f"{prod.seconds:.1f}")
    assert registry.manifest("web-api", "v1.2.3")[1] == dev_digest
    assert registry.manifest("web-api", "latest")[1] == dev_digest
    assert "(found by its revision label); nothing is built" in prod.log, str(prod)
    assert "Build linux/amd64,linux/arm64" not in prod.log  # the build group never opened
    assert "load build definition" not in prod.log  # buildx never ran
    payloads = [r.body["client_payload"] for r in api.requests
                if r.method == "POST" and r.status == 204]
    assert [p["digest"] for p in payloads] == [dev_digest, dev_digest]
    assert payloads[1]["image"] == f"{registry.host}/web-api:v1.2.3"


def test_tag_release_of_a_commit_never_built_builds_it(act: Act, registry: Registry,
                                                        api: GitHubAPI, docker_engine: None,
                                                        app: GitRepo) -> None:
    dev = run_release(act, app, registry, api, DEV, "refs/heads/main")
    assert dev.ok, str(dev)
    (stamp,) = registry.tags("web-api")
    (app.work / "hello.txt").write_text("a change dev never built\n", encoding="utf-8")
    app.commit_all("Change after the dev build")
    app.git("tag", "v1.3.0")

    prod = run_release(act, app, registry, api, PROD, "refs/tags/v1.3.0")

    assert prod.ok, str(prod)
    assert "was built from" in prod.log and "building it" in prod.log, str(prod)
    assert registry.manifest("web-api", "v1.3.0")[1] != registry.manifest("web-api", stamp)[1]


def test_wrong_registry_password_sends_no_dispatch(act: Act, registry: Registry, api: GitHubAPI,
                                                   docker_engine: None, app: GitRepo) -> None:
    result = run_release(act, app, registry, api, DEV, "refs/heads/main",
                         password="wrong-password-123")

    assert not result.ok, str(result)
    assert "the registry" in result.log and "refused the credentials" in result.log, str(result)
    # only the validate job's GET of the config repository; no dispatch
    assert [(r.method, r.status) for r in api.requests] == [("GET", 200)]
    assert registry.tags("web-api") == []


def test_api_500_then_204_is_retried(act: Act, registry: Registry, api: GitHubAPI,
                                     docker_engine: None, app: GitRepo) -> None:
    api.fail_next(500, path_suffix="/dispatches", method="POST")  # not the validate GET

    result = run_release(act, app, registry, api, DEV, "refs/heads/main")

    assert result.ok, str(result)
    assert [r.status for r in api.dispatch_requests()] == [500, 204]
    sent_payload(api)


def test_api_401_at_the_dispatch_fails_the_release_and_says_why(
        act: Act, registry: Registry, api: GitHubAPI, docker_engine: None, app: GitRepo) -> None:
    """The token passed the validate job's check, then GitHub refused it at the dispatch (revoked
    in between). An unknown token is caught before the build: tests/e2e/test_release_checks.py."""
    api.fail_next(401, message="Bad credentials", method="POST", path_suffix="/dispatches")

    result = run_release(act, app, registry, api, DEV, "refs/heads/main")

    assert not result.ok, str(result)
    assert [r.status for r in api.dispatch_requests()] == [401]
    assert "input 'token': the GitHub API answered 401" in result.log, str(result)
    assert TOKEN not in result.log


def test_unknown_target_env_fails_before_building(act: Act, registry: Registry, api: GitHubAPI,
                                                  docker_engine: None, app: GitRepo) -> None:
    workflow = app.work / DEV
    workflow.write_text(workflow.read_text(encoding="utf-8").replace("target_env: dev",
                                                                      "target_env: staging"),
                        encoding="utf-8")
    app.commit_all("Deploy to staging")

    message = ("::error title=Invalid target_env::target_env 'staging' is not one of: dev prod. "
               "Pass one of them, or add it to the caller's allowed_environments input.")
    # act 0.2.89 in host mode sometimes loses the output of a step that exits within a few
    # milliseconds (seen about once in 25 runs): the outcome must hold on every run, the message
    # must show on one of at most three.
    logs = []
    for _ in range(3):
        result = run_release(act, app, registry, api, DEV, "refs/heads/main")
        assert not result.ok, str(result)
        assert "Failure - Main Validate target_env" in result.log, str(result)
        assert "Build and push the image" not in result.log
        logs.append(result.log)
        if message in result.log:
            break
    assert message in logs[-1], "\n".join(logs)
    assert registry.tags("web-api") == [] and api.requests == []


ROOT_ACTION_WORKFLOW = root_action_workflow(
    "root-app", platforms="linux/arm64", event_type="new-job-image", last_step="""\
      - env:
          PAYLOAD: ${{ steps.release.outputs.payload }}
        run: echo "root-payload=$PAYLOAD"
""")


def test_root_action_builds_then_dispatches(act: Act, registry: Registry, api: GitHubAPI,
                                            docker_engine: None, app: GitRepo) -> None:
    shutil.rmtree(app.work / ".github" / "workflows")
    (app.work / ".github" / "workflows").mkdir()
    (app.work / ".github" / "workflows" / "one.yml").write_text(ROOT_ACTION_WORKFLOW,
                                                                 encoding="utf-8")
    app.commit_all("One-step release")

    result = run_release(act, app, registry, api, ".github/workflows/one.yml", "refs/heads/main")

    assert result.ok, str(result)
    (version,) = registry.tags("root-app")
    assert registry.platforms("root-app", version) == {"linux/arm64"}
    event_type, payload = sent_payload(api)
    assert event_type == "new-job-image"
    assert payload["image"] == f"{registry.host}/root-app:{version}"
    assert payload["digest"] == registry.manifest("root-app", version)[1]
    # the registry host is the CR_ENDPOINT secret, so the runner masks it in the log
    assert f'root-payload={{"image":"***/root-app:{version}"' in result.log, str(result)
