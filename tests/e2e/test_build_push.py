"""build-push end to end: act runs a workflow that calls
`gitops-release/gitops-release/actions/build-push@v1` on the example app, against the real Docker
engine and a real registry with htpasswd auth."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.act import Act, ActResult
from tests.harness.gitrepo import GitRepo
from tests.harness.services import REPO_ROOT, Registry

pytestmark = pytest.mark.e2e

APP = REPO_ROOT / "examples" / "app-repo"
TIMESTAMP = re.compile(r"^\d{17}$")

WORKFLOW = """\
name: build
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    timeout-minutes: 15
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: build
        uses: gitops-release/gitops-release/actions/build-push@v1
        with:
          registry: ${{ vars.REGISTRY }}
          username: ${{ secrets.CR_USERNAME }}
          password: ${{ secrets.CR_PASSWORD }}
          image-name: ${{ vars.IMAGE_NAME }}
      - name: report
        env:
          IMAGE: ${{ steps.build.outputs.image }}
          VERSION: ${{ steps.build.outputs.version }}
          DIGEST: ${{ steps.build.outputs.digest }}
          RELEASE: ${{ steps.build.outputs.release }}
          TAGS: ${{ steps.build.outputs.tags }}
        run: |
          echo "out-image=$IMAGE"
          echo "out-version=$VERSION"
          echo "out-digest=$DIGEST"
          echo "out-release=$RELEASE"
          echo "out-tags=$(echo "$TAGS" | paste -sd ' ')"
"""


def _app_repo(make_git_repo: Callable[..., GitRepo], name: str) -> GitRepo:
    repo = make_git_repo("acme", name, template=APP)
    # act names the repository after the origin URL as git resolves it: keep it GitHub-shaped
    repo.git("config", "--unset", f"url.{repo.bare}.insteadOf")
    shutil.rmtree(repo.work / ".github" / "workflows", ignore_errors=True)
    (repo.work / ".github" / "workflows").mkdir(parents=True)
    (repo.work / ".github" / "workflows" / "build.yml").write_text(WORKFLOW, encoding="utf-8")
    repo.commit_all("Add build workflow")
    return repo


def _run(act: Act, repo: GitRepo, registry: Registry, image_name: str, ref: str,
         password: str | None = None) -> ActResult:
    return act.run(repo.work, "push", {"ref": ref, "repository": {
        "full_name": repo.full_name, "default_branch": "main"}},
        secrets={"CR_USERNAME": registry.username,
                 "CR_PASSWORD": registry.password if password is None else password},
        variables={"REGISTRY": registry.host, "IMAGE_NAME": image_name}, timeout=600)


def _outputs(result: ActResult) -> dict[str, str]:
    return dict(re.findall(r"out-(\w+)=(.*?)\s*$", result.log, re.MULTILINE))


def test_branch_push_builds_both_platforms_under_a_timestamp_tag(
        act: Act, registry: Registry, docker_engine: None,
        make_git_repo: Callable[..., GitRepo]) -> None:
    repo = _app_repo(make_git_repo, "branch-app")

    result = _run(act, repo, registry, "acme/branch-app", "refs/heads/main")

    assert result.ok, str(result)
    out = _outputs(result)
    assert TIMESTAMP.match(out["version"]), out
    assert registry.tags("acme/branch-app") == [out["version"]]
    assert out["image"] == f"{registry.host}/acme/branch-app:{out['version']}"
    assert out["release"] == f"acme/branch-app@{out['version']}"
    assert registry.platforms("acme/branch-app", out["version"]) == {"linux/amd64", "linux/arm64"}
    _, digest = registry.manifest("acme/branch-app", out["version"])
    assert out["digest"] == digest
    assert registry.password not in result.log
    assert "org.opencontainers.image.source=https://github.com/acme/branch-app" in result.log


def test_tag_push_pushes_the_semver_tag_and_timestamp(
        act: Act, registry: Registry, docker_engine: None,
        make_git_repo: Callable[..., GitRepo]) -> None:
    repo = _app_repo(make_git_repo, "tag-app")

    result = _run(act, repo, registry, "acme/tag-app", "refs/tags/v1.2.3")

    assert result.ok, str(result)
    out = _outputs(result)
    assert out["version"] == "v1.2.3"
    assert out["release"] == "acme/tag-app@v1.2.3"
    tags = registry.tags("acme/tag-app")
    stamps = [tag for tag in tags if TIMESTAMP.match(tag)]
    # metadata-action's results for the seed's rules: the git tag, the timestamp, and `latest`
    # (flavor latest=auto adds it for a release semver tag).
    assert sorted(tags) == sorted(["v1.2.3", "latest", *stamps]) and len(stamps) == 1, tags
    assert out["tags"].split() == [f"{registry.host}/acme/tag-app:{tag}"
                                   for tag in ("v1.2.3", stamps[0], "latest")]
    _, digest = registry.manifest("acme/tag-app", "v1.2.3")
    assert out["digest"] == digest
    assert registry.manifest("acme/tag-app", stamps[0])[1] == digest
    assert registry.platforms("acme/tag-app", "v1.2.3") == {"linux/amd64", "linux/arm64"}
    index, _ = registry.manifest("acme/tag-app", "v1.2.3")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"


def test_wrong_password_fails_clearly_and_pushes_nothing(
        act: Act, registry: Registry, docker_engine: None,
        make_git_repo: Callable[..., GitRepo]) -> None:
    repo = _app_repo(make_git_repo, "denied-app")

    result = _run(act, repo, registry, "acme/denied-app", "refs/heads/main",
                  password="not-the-password")

    assert not result.ok, str(result)
    assert (f"::error title=build-push%3A Registry error::input 'password': the registry "
            f"{registry.host} refused the credentials") in result.log, str(result)
    assert registry.tags("acme/denied-app") == []
    assert "out-image=" not in result.log
    assert "not-the-password" not in result.log


def test_warm_cache_build_is_reported(act: Act, registry: Registry, docker_engine: None,
                                      make_git_repo: Callable[..., GitRepo],
                                      record_property: Callable[[str, object], None]) -> None:
    """Two builds of the same app: the second imports the registry cache. Both times are
    recorded (pytest --junitxml) for the release notes; the test asserts both pushed. Branch
    pushes: a second push of one version tag would promote the first build instead."""
    repo = _app_repo(make_git_repo, "cache-app")
    seconds = []
    for _ in range(2):
        result = _run(act, repo, registry, "acme/cache-app", "refs/heads/main")
        assert result.ok, str(result)
        found = re.search(r"built and pushed in (\d+\.\d) s", result.log)
        assert found, str(result)
        seconds.append(float(found.group(1)))
    record_property("build_seconds_first", seconds[0])
    record_property("build_seconds_second", seconds[1])
    assert "importing cache manifest from" in result.log
    assert len([t for t in registry.tags("acme/cache-app") if TIMESTAMP.match(t)]) == 2


def test_unreachable_registry_fails_clearly(docker_engine: None, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """No registry listens on the port: the login fails with a message naming the registry."""
    import io

    from gitops_release.cli import main
    from tests.harness.services import free_port

    shutil.copytree(APP, tmp_path / "app")
    monkeypatch.chdir(tmp_path / "app")
    host = f"127.0.0.1:{free_port()}"
    out = io.StringIO()

    code = main(["build-push", "--registry", host, "--username", "ci", "--password", "pw-123456",
                 "--image-name", "acme/app"], {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                                               "RUNNER_TEMP": str(tmp_path),
                                               "GITHUB_ACTIONS": "true"}, out)

    assert code == 1
    assert (f"::error title=build-push%3A Registry error::input 'registry': cannot reach the "
            f"registry {host}. Check the registry host and port (CR_ENDPOINT)") in out.getvalue()
    assert [p.name for p in tmp_path.iterdir()] == ["app"]  # the private Docker config is gone
