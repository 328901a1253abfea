"""The bundle's own release process, end to end through act against a local bare copy of this
repository: the release PR's branch gets its workflows pinned to @vX.Y.Z, the merged release is
tagged vX.Y.Z and the moving tag vX follows it. Release Please itself (release PR, GitHub
release) calls GitHub's API and is skipped under act; the test writes what its release PR would
change (manifest, pyproject, __init__, CHANGELOG)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.act import Act, ActResult, snapshot_bundle
from tests.harness.gitrepo import GitRepo

pytestmark = pytest.mark.e2e

WORKFLOW = ".github/workflows/release-please.yml"
BRANCH = "release-please--branches--main"
PINNED_FILES = (".github/workflows/release.yml", ".github/workflows/image-update.yml",
                ".github/workflows/cronjob-update.yml")


@pytest.fixture
def bundle_repo(make_git_repo: Callable[..., GitRepo], tmp_path: Path) -> GitRepo:
    return make_git_repo("gitops-release", "gitops-release",
                         template=snapshot_bundle(tmp_path / "snapshot"))


def release_pr(repo: GitRepo, version: str) -> None:
    """What Release Please's release PR holds: the version bump, on its branch."""
    repo.git("checkout", "-q", "-B", BRANCH, "main")
    (repo.work / ".release-please-manifest.json").write_text(json.dumps({".": version}) + "\n")
    for rel, pattern, new in (("pyproject.toml", r'(?m)^version = ".*"$', f'version = "{version}"'),
                              ("python/gitops_release/__init__.py", r'__version__ = "[^"]*"',
                               f'__version__ = "{version}"')):
        path = repo.work / rel
        path.write_text(re.sub(pattern, new, path.read_text()))
    changelog = repo.work / "CHANGELOG.md"
    changelog.write_text(changelog.read_text() + f"\n## [{version}]\n\n* a change\n")
    repo.commit_all(f"chore: release {version}")
    repo.push(f"HEAD:refs/heads/{BRANCH}")


def run(act: Act, repo: GitRepo, branch: str) -> ActResult:
    repo.git("checkout", "-q", "-B", branch, f"origin/{branch}")
    result = act.run(repo.work, "push", {"ref": f"refs/heads/{branch}", "act": True,
                                         "repository": {"full_name": repo.full_name,
                                                        "default_branch": "main"}},
                     workflow=WORKFLOW, secrets={"RELEASE_TOKEN": "ghp_releaseToken0123456789"},
                     timeout=300)
    repo.git("fetch", "-q", "--tags", "--force", "origin")
    return result


def merge(repo: GitRepo) -> str:
    repo.git("fetch", "-q", "origin")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", f"origin/{BRANCH}")
    repo.push("main")
    return repo.git("rev-parse", "HEAD").strip()


def tag_commit(repo: GitRepo, tag: str) -> str:
    return repo.origin_git("rev-parse", f"refs/tags/{tag}^{{commit}}").strip()


def pinned_check(repo: GitRepo, ref: str, version: str) -> subprocess.CompletedProcess[str]:
    tree = repo.work.parent / f"tree-{ref.replace('/', '-')}"
    tree.mkdir(exist_ok=True)
    for rel in PINNED_FILES:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(repo.origin_show(rel, ref))
    return subprocess.run([sys.executable, str(repo.work / "scripts" / "pin_refs.py"), "--check",
                           version, "--root", str(tree)], capture_output=True, text=True,
                          check=False)


def test_release_pr_is_pinned_then_tagged_and_the_major_tag_moves(act: Act,
                                                                 bundle_repo: GitRepo) -> None:
    repo = bundle_repo
    release_pr(repo, "1.0.0")

    pin = run(act, repo, BRANCH)

    assert pin.ok, str(pin)
    assert repo.origin_log(BRANCH)[:2] == ["chore: pin the workflows' action references to v1.0.0",
                                           "chore: release 1.0.0"]
    assert pinned_check(repo, BRANCH, "1.0.0").returncode == 0
    assert "gitops-release/gitops-release/actions/build-push@v1.0.0" in repo.origin_show(
        ".github/workflows/release.yml", BRANCH)
    assert "@v1\n" not in "".join(repo.origin_show(rel, BRANCH) for rel in PINNED_FILES)

    released = merge(repo)
    tagged = run(act, repo, "main")

    assert tagged.ok, str(tagged)
    assert "Tagged v1.0.0 and moved v1 to it." in tagged.log, str(tagged)
    assert tag_commit(repo, "v1.0.0") == released == tag_commit(repo, "v1")
    assert repo.origin_git("cat-file", "-t", "refs/tags/v1.0.0").strip() == "tag"  # annotated

    again = run(act, repo, "main")  # a later push to main without a release: no new tag
    assert again.ok and "v1.0.0 is tagged already: nothing to release." in again.log, str(again)

    release_pr(repo, "1.0.1")
    assert run(act, repo, BRANCH).ok
    second = merge(repo)
    assert run(act, repo, "main").ok

    assert tag_commit(repo, "v1.0.1") == second == tag_commit(repo, "v1")  # v1 moved
    assert tag_commit(repo, "v1.0.0") == released  # the old release stays where it was
    assert pinned_check(repo, "v1.0.1", "1.0.1").returncode == 0
    assert "ghp_releaseToken0123456789" not in tagged.log + pin.log


def test_a_push_to_main_that_is_not_a_release_commit_tags_nothing(act: Act,
                                                                  bundle_repo: GitRepo) -> None:
    repo = bundle_repo
    (repo.work / ".release-please-manifest.json").write_text('{".": "1.0.0"}\n')
    repo.commit_all("chore: manifest edited by hand, workflows not pinned")
    repo.push("main")

    result = run(act, repo, "main")

    assert result.ok, str(result)
    assert "is not a release commit" in result.log, str(result)
    assert repo.origin_git("tag", "--list").strip() == ""
