"""A deploy is a transaction on the clone: every input git will see is checked before a file is
touched, and any failure leaves the clone as it was (work tree, index, HEAD, no temp file, no
lock, no journal), so a rerun in the same clone works. Real git, real bare origins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_release import gitops
from gitops_release.discovery import tracked_files
from tests.harness.gitrepo import GitRepo, git, make_repo
from tests.harness.outputs import read_outputs
from tests.unit.test_receiver import DEV, EXAMPLE, PROD, deploy, web_api

TARGET = f"{DEV}/deployment.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)


def assert_untouched(repo: GitRepo, head: str) -> None:
    """The clone as the deploy found it: HEAD, index and work tree, nothing left behind."""
    assert repo.git("rev-parse", "HEAD").strip() == head
    assert repo.git("status", "--porcelain", "--ignored") == ""
    gitdir = repo.work / ".git"
    assert not (gitdir / "index.lock").exists()
    assert not (gitdir / "gitops-release" / "transaction.json").exists()
    assert not list(repo.work.rglob(".gitops-release-*"))


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--git-user-name", ".", "input 'git-user-name': git refuses the commit identity: name "
     "consists only of disallowed characters: ."),
    ("--git-user-name", "a<b>", "input 'git-user-name': git would record the identity as "
     "'ab <41898282+github-actions[bot]@users.noreply.github.com>', not as given"),
    ("--git-user-name", " padded", "git would record the identity as 'padded"),
    ("--git-user-email", "<x>", "input 'git-user-email': git would record the identity as"),
], ids=["only-crud", "angle-brackets", "leading-space", "email-brackets"])
def test_identity_git_refuses_or_changes_is_refused_before_any_write(
        repo: GitRepo, tmp_path: Path, flag: str, value: str, message: str) -> None:
    head = repo.origin_head()
    code, log, out = deploy(repo, tmp_path, *web_api("v1.5.0", PROD), flag, value)
    assert code == 1
    assert message in log
    assert out == ""
    assert repo.origin_head() == head
    assert_untouched(repo, head)


def test_tracked_files_lists_only_what_git_tracks(repo: GitRepo) -> None:
    (repo.work / DEV / "extra.yaml").write_text("kind: ConfigMap\n", encoding="utf-8")
    found = tracked_files(repo.work, [DEV])
    assert found is not None
    assert f"{DEV}/deployment.yaml" in found and f"{DEV}/kustomization.yaml" in found
    assert f"{DEV}/extra.yaml" not in found
    assert all(path.startswith(DEV + "/") for path in found)
    repo.git("add", "--", f"{DEV}/extra.yaml")  # the listing follows the index, not a memo
    assert f"{DEV}/extra.yaml" in (tracked_files(repo.work, [DEV]) or set())
    repo.git("rm", "-q", "--cached", "--", f"{DEV}/extra.yaml")
    assert f"{DEV}/extra.yaml" not in (tracked_files(repo.work, [DEV]) or set())


def test_an_untracked_target_is_never_written(repo: GitRepo, tmp_path: Path) -> None:
    repo.git("rm", "-q", "--cached", TARGET)
    repo.git("commit", "-q", "-m", "Stop tracking the dev deployment")
    repo.push()
    head = repo.origin_head()
    before = (repo.work / TARGET).read_text(encoding="utf-8")
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1
    assert "git does not track" in log and TARGET in log
    assert (repo.work / TARGET).read_text(encoding="utf-8") == before
    assert repo.origin_head() == head


def test_an_untracked_file_a_fan_out_sibling_reads_is_refused(repo: GitRepo, tmp_path: Path) -> None:
    """The files git tracks are listed once for the overlays of a fan-out; a sibling whose
    kustomization reads a file outside them (its base) is checked on its own, as before."""
    sibling = "apps/web-api/overlays/prod-eu"
    kustomization = repo.work / sibling / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text(encoding="utf-8")
                             + "  - path: extra.yaml\n", encoding="utf-8")
    repo.commit_all("Patch prod-eu with extra.yaml")
    repo.push()
    (repo.work / sibling / "extra.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-api\n"
        "spec:\n  replicas: 2\n", encoding="utf-8")
    head = repo.origin_head()
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 1
    assert f"{sibling}/extra.yaml is read by the overlay's kustomization but git does not " \
        "track it" in log
    assert repo.origin_head() == head


def test_an_untracked_file_in_a_plain_fan_out_sibling_is_not_deployed(
        repo: GitRepo, tmp_path: Path) -> None:
    """A plain prod-* folder (what an Argo CD directory app applies) ignores a file git does
    not track, with the fan-out's one listing of tracked files."""
    sibling = repo.work / "apps/web-api/overlays/prod-zz"
    sibling.mkdir()
    manifest = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-api\nspec:\n"
                "  template:\n    spec:\n      containers:\n        - name: web-api\n"
                "          image: registry.example.com/acme/web-api:v1.4.0\n")
    (sibling / "deployment.yaml").write_text(manifest, encoding="utf-8")
    repo.commit_all("A plain prod-zz overlay")
    repo.push()
    (sibling / "copy.yaml").write_text(manifest, encoding="utf-8")  # twice: refused if read
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 0, log
    deployed = repo.origin_show("apps/web-api/overlays/prod-zz/deployment.yaml")
    assert "image: registry.example.com/acme/web-api:v1.5.0\n" in deployed
    assert (sibling / "copy.yaml").read_text(encoding="utf-8") == manifest


@pytest.mark.parametrize(("bit", "name"), [
    ("--assume-unchanged", "assume-unchanged"), ("--skip-worktree", "skip-worktree")])
def test_a_target_git_is_told_to_ignore_is_refused(repo: GitRepo, tmp_path: Path, bit: str,
                                                   name: str) -> None:
    repo.git("update-index", bit, "--", TARGET)
    head = repo.origin_head()
    code, log, out = deploy(repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1
    assert f"git is told not to look at {TARGET} ({name})" in log
    assert "could not be restored" not in log, log
    assert out == ""
    assert repo.origin_head() == head and repo.origin_log() == ["Initial commit"]
    assert repo.git("diff", "HEAD", "--stat") == ""
    assert not (repo.work / ".git" / "gitops-release" / "transaction.json").exists()
    code, log, out = deploy(repo, tmp_path, *web_api("v1.5.0"))  # the same, every time
    assert code == 1 and f"git is told not to look at {TARGET} ({name})" in log, log
    assert "interrupted" not in log, log


def test_a_lock_held_by_another_git_process_is_named(repo: GitRepo, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitops, "LOCK_WAIT", 0.3)
    lock = repo.work / ".git" / "index.lock"
    lock.write_text("", encoding="utf-8")
    head = repo.origin_head()
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1
    assert ("index.lock exists: another git process is working in this clone (or one was "
            "killed and left its lock behind). Wait for the other git command to finish") in log
    assert lock.exists()  # not ours to delete
    lock.unlink()
    assert_untouched(repo, head)
    assert deploy(repo, tmp_path, *web_api("v1.5.0"))[0] == 0


def test_a_hook_rejection_leaves_a_clean_rerunnable_clone(repo: GitRepo, tmp_path: Path) -> None:
    hook = repo.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n", encoding="utf-8")
    hook.chmod(0o755)
    head = repo.origin_head()
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 1 and "Push rejected" in log and "protected branch" in log
    assert_untouched(repo, head)
    hook.unlink()
    code, log, out = deploy(repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 0, log
    assert read_outputs(out)["changed"] == "true"
    assert repo.origin_log() == ["Deploy web-api@v1.5.0", "Initial commit"]


def test_an_untracked_file_in_the_way_of_the_remote_is_refused_not_overwritten(
        repo: GitRepo, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo.bare), str(other))
    (other / "notes.txt").write_text("from the remote\n", encoding="utf-8")
    git(other, "add", "notes.txt")
    git(other, "commit", "-q", "-m", "Add notes")
    git(other, "push", "-q", "origin", "HEAD:main")
    mine = repo.work / "notes.txt"
    mine.write_text("my local notes\n", encoding="utf-8")
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1
    assert "untracked files are in the way of" in log and "notes.txt" in log
    assert "never overwrites them" in log
    assert mine.read_text(encoding="utf-8") == "my local notes\n"
    assert repo.git("rev-parse", "HEAD").strip() == head
    assert repo.origin_log() == ["Add notes", "Initial commit"]


def test_a_copied_work_tree_behind_the_remote_deploys(repo: GitRepo, tmp_path: Path) -> None:
    """A work tree copied rather than checked out (what act does) has other file times than
    its index records: moving it to a newer remote tip must still work (the clean check
    refreshes the index, as git status does)."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo.bare), str(other))
    eu = other / PROD.replace("/prod", "/prod-eu") / "deployment.yaml"
    eu.write_text(eu.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    git(other, "commit", "-q", "-am", "Review prod-eu")
    git(other, "push", "-q", "origin", "HEAD:main")
    for path in repo.git("ls-files", "-z").split("\0"):
        if path:
            (repo.work / path).write_bytes((repo.work / path).read_bytes())  # new times
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 0, log
    assert repo.origin_log() == ["Deploy web-api@v1.5.0", "Review prod-eu", "Initial commit"]
    assert repo.origin_show(f"{PROD}-eu/deployment.yaml").endswith("# reviewed\n")


def test_a_force_pushed_remote_is_named_as_rewritten(repo: GitRepo, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo.bare), str(other))
    git(other, "commit", "-q", "--amend", "-m", "Initial commit, rewritten")
    git(other, "push", "-q", "--force", "origin", "HEAD:main")
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1
    assert "Remote history rewritten" in log
    assert "the history of origin/main was rewritten (force-pushed)" in log
    assert "has commits that are not on" not in log
    assert repo.git("rev-parse", "HEAD").strip() == head
    # a second run in the same clone (the tracking ref already moved) says the same
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1 and "was rewritten (force-pushed)" in log


def test_dirty_tree_hint_does_not_invite_a_commit(repo: GitRepo, tmp_path: Path) -> None:
    target = repo.work / TARGET
    target.write_text(target.read_text(encoding="utf-8") + "# half of a fan-out\n",
                      encoding="utf-8")
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1
    assert "uncommitted changes to tracked files" in log
    assert "do not commit them" in log and "Commit or stash" not in log


@pytest.mark.parametrize("version", ["v1.5.0", "v0.0.1"], ids=["would-land", "a-downgrade"])
def test_a_change_staged_elsewhere_is_refused_first_and_stays_staged(
        repo: GitRepo, tmp_path: Path, version: str) -> None:
    """The clean check runs while the deploy plans: its refusal still comes first (before a
    downgrade's refusal too), and nothing is reset, the user's staged change included."""
    head = repo.origin_head()
    other = repo.work / "apps/web-api/base/service.yaml"
    other.write_text(other.read_text(encoding="utf-8") + "# staged\n", encoding="utf-8")
    repo.git("add", "--", "apps/web-api/base/service.yaml")
    code, log, _ = deploy(repo, tmp_path, *web_api(version))
    assert code == 1, log
    assert "uncommitted changes to tracked files: apps/web-api/base/service.yaml" in log
    assert "Refused" not in log
    assert repo.git("diff", "--cached", "--name-only").split() == \
        ["apps/web-api/base/service.yaml"]
    assert other.read_text(encoding="utf-8").endswith("# staged\n")
    assert repo.origin_head() == head == repo.git("rev-parse", "HEAD").strip()
    assert not (repo.work / ".git" / "gitops-release" / "transaction.json").exists()


def test_a_command_that_changes_the_clone_waits_for_the_clean_check(repo: GitRepo) -> None:
    (repo.work / TARGET).write_text("kind: ConfigMap\n", encoding="utf-8")
    repo.git("add", "--", TARGET)
    runner = gitops.Git(repo.work, {})
    runner.start_clean_check()
    assert runner.run("ls-files", "--", TARGET).stdout.strip() == TARGET  # reads: no wait
    with pytest.raises(gitops.CloneStateError, match="uncommitted changes"):
        runner.run("reset", "--quiet")
    assert repo.git("diff", "--cached", "--name-only").split() == [TARGET]  # reset never ran


def test_an_interrupted_run_is_restored_by_the_next_one(repo: GitRepo, tmp_path: Path) -> None:
    """What SIGKILL leaves: files of a half-applied fan-out written and staged, a local deploy
    commit, a temp file and the journal. The next run restores the clone, then deploys."""
    head = repo.git("rev-parse", "HEAD").strip()
    prod = repo.work / PROD / "deployment.yaml"
    prod.write_text(prod.read_text(encoding="utf-8").replace("v1.4.0", "v1.4.5"), encoding="utf-8")
    repo.git("commit", "-q", "-am", "Deploy web-api@v1.4.5 (never pushed)")
    eu = repo.work / "apps/web-api/overlays/prod-eu/deployment.yaml"
    eu.write_text(eu.read_text(encoding="utf-8").replace("v1.4.0", "v1.4.5"), encoding="utf-8")
    repo.git("add", "--", str(eu))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (eu.parent / f".gitops-release-{dead}-abc123").write_text("partial", encoding="utf-8")
    mine = eu.parent / ".gitops-release-notes"  # a user's own file: not the run's, kept
    mine.write_text("mine", encoding="utf-8")
    (repo.work / ".git" / "info" / "exclude").write_text(".gitops-release-notes\n")
    journal = repo.work / ".git" / "gitops-release" / "transaction.json"
    journal.parent.mkdir()
    journal.write_text(json.dumps({"pid": int(dead), "head": head, "paths": [
        f"{PROD}/deployment.yaml", "apps/web-api/overlays/prod-eu/deployment.yaml"]}),
        encoding="utf-8")
    code, log, out = deploy(repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 0, log
    assert "an earlier deploy in this clone was interrupted; restoring the clone first" in log
    assert repo.origin_log() == ["Deploy web-api@v1.5.0", "Initial commit"]
    assert "v1.4.5" not in repo.origin_git("show", "main")
    assert read_outputs(out)["changed"] == "true"
    assert not (eu.parent / f".gitops-release-{dead}-abc123").exists()
    assert mine.read_text(encoding="utf-8") == "mine"
    mine.unlink()
    assert_untouched(repo, repo.origin_head())


def test_no_traceback_for_an_unexpected_failure_unless_debugging(repo: GitRepo,
                                                                 tmp_path: Path) -> None:
    """A full disk where the outputs go (/dev/full answers every write with ENOSPC): an
    ::error and the fix, no traceback; RUNNER_DEBUG=1 shows it."""
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0"), "--dry-run", "true",
                          env={"GITHUB_OUTPUT": "/dev/full"})
    assert code == 1
    assert "::error title=image-update%3A Out of resources::the disk is full" in log
    assert "Free space on the runner" in log and "Traceback" not in log
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0"), "--dry-run", "true",
                          env={"GITHUB_OUTPUT": "/dev/full", "RUNNER_DEBUG": "1"})
    assert code == 1 and "Traceback (most recent call last)" in log


@pytest.mark.parametrize("tail", [
    b"# caf\xe9 (Latin-1, not UTF-8)\n",
    b"---\na: " + b"[" * 1100 + b"]" * 1100 + b"\n",
], ids=["not-utf8", "nested-too-deep"])
def test_unreadable_manifests_fail_with_an_error_not_a_traceback(repo: GitRepo, tmp_path: Path,
                                                                 tail: bytes) -> None:
    """In a prod-* sibling: the fan-out is all or none."""
    path = repo.work / "apps/web-api/overlays/prod-eu/deployment.yaml"
    path.write_bytes(path.read_bytes() + tail)
    repo.commit_all("Break the prod kustomization")
    repo.push()
    head = repo.origin_head()
    code, log, _ = deploy(repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 1
    assert "::error " in log and "Traceback" not in log
    assert repo.origin_head() == head
    assert_untouched(repo, head)


def test_git_paths_and_revs_in_one_command_say_what_git_says(repo: GitRepo) -> None:
    runner = gitops.Git(repo.work, {})
    for name in ("gitops-release/transaction.json", "index.lock", "gitops-release/marks-1"):
        asked = repo.git("rev-parse", "--git-path", name).strip()
        assert runner.git_path(name) == repo.work / asked
    head = repo.git("rev-parse", "HEAD").strip()
    assert runner.revs("HEAD", "refs/remotes/origin/main") == [head, head]
    assert runner.revs("HEAD", "refs/heads/no-such-branch") == [head, ""]


def test_a_file_that_cannot_be_replaced_is_named_not_the_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An immutable file (chattr +i) or a read-only folder: the error names the target, and no
    temp file is left beside it."""
    from gitops_release.errors import GitopsReleaseError
    from gitops_release.manifests import FileChange
    from gitops_release.receiver import write_files

    target = tmp_path / "deployment.yaml"
    target.write_text("old\n", encoding="utf-8")

    def refuse(self: Path, other: Path) -> Path:
        raise PermissionError(1, "Operation not permitted", str(other))

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(GitopsReleaseError, match=r"deployment\.yaml cannot be replaced"):
        write_files([FileChange(target, "old\n", "new\n", "", None, "manifest")])
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["deployment.yaml"]
