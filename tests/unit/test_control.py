"""hold, unhold and rollback on the command line, against real git repositories with a bare
origin: what is pushed (one commit, trailers, the policy file's bytes), and that a failure
writes, commits and pushes nothing."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from gitops_release.policy import DeployRequest, Running
from gitops_release.policyfile import load_policy, parse_policy
from gitops_release.reference import parse_reference
from tests.harness.gitrepo import GitRepo, make_repo
from tests.harness.outputs import read_outputs
from tests.unit.test_receiver import EXAMPLE, deploy, web_api

PROD = "apps/web-api/overlays/prod"
IMAGE = "registry.example.com/acme/web-api"
NOW = {"GITOPS_RELEASE_NOW": "2026-11-26T10:00:00Z", "GITHUB_ACTOR": "alice"}


@pytest.fixture
def config_repo(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)


def run(repo: GitRepo, tmp_path: Path, command: str, *args: str) -> tuple[int, str, dict[str, str]]:
    code, log, out = deploy(repo, tmp_path, *args, command=command, env=NOW)
    return code, log, read_outputs(out)


def body(repo: GitRepo, ref: str = "main") -> str:
    return repo.origin_git("log", "-1", "--format=%s%n%n%b", ref)


def test_hold_creates_the_policy_file_in_one_commit(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, out = run(config_repo, tmp_path, "hold", "--path", PROD, "--reason", "INC-7: 500s")
    assert code == 0, log
    assert out == {"changed": "true", "commit": config_repo.origin_head()}
    assert body(config_repo) == (f"Hold {PROD}\n\nHold: {PROD}\nHold-Reason: INC-7: 500s\n"
                                 "Hold-By: alice\n\n")
    assert config_repo.origin_git("show", "--format=", "--name-only", "main").split() == [
        "gitops-release.yaml"]
    hold = parse_policy(config_repo.origin_show("gitops-release.yaml")).holds[0]
    assert (hold.path, hold.reason, hold.since, hold.by) == (PROD, "INC-7: 500s",
                                                            "2026-11-26T10:00:00Z", "alice")


def test_hold_keeps_the_rest_of_the_file_byte_for_byte(config_repo: GitRepo, tmp_path: Path) -> None:
    rules = "# reviewed by @acme/platform\napps:\n  - match: apps/web-api/**   # web\n    " \
            "sources: [acme/web-api]\n"
    (config_repo.work / "gitops-release.yaml").write_text(rules)
    config_repo.commit_all("Add a policy")
    config_repo.push()
    assert run(config_repo, tmp_path, "hold", "--path", PROD, "--reason", "x")[0] == 0
    assert config_repo.origin_show("gitops-release.yaml").startswith(rules + "holds:\n  - path: ")
    assert run(config_repo, tmp_path, "unhold", "--path", PROD)[0] == 0
    assert config_repo.origin_show("gitops-release.yaml") == rules + "holds: []\n"
    assert body(config_repo) == f"Unhold {PROD}\n\nUnhold: {PROD}\nUnhold-By: alice\n\n"


@pytest.mark.parametrize(("command", "args", "error"), [
    ("hold", ["--path", "apps/web-api/overlays/qa", "--reason", "x"],
     "input 'path': 'apps/web-api/overlays/qa' does not exist"),
    ("hold", ["--path", PROD, "--reason", " "], "input 'reason': is required"),
    ("hold", ["--path", "../x", "--reason", "x"], "contains '..'"),
    ("unhold", ["--path", PROD], f"input 'path': {PROD} is not held in gitops-release.yaml"),
], ids=["no-such-overlay", "blank-reason", "traversal", "not-held"])
def test_bad_input_pushes_nothing(config_repo: GitRepo, tmp_path: Path, command: str,
                                  args: list[str], error: str) -> None:
    head = config_repo.origin_head()
    code, log, _ = run(config_repo, tmp_path, command, *args)
    assert code == 1
    assert error in log
    assert config_repo.origin_head() == head
    assert config_repo.git("status", "--porcelain") == ""


def test_holding_twice_is_an_error(config_repo: GitRepo, tmp_path: Path) -> None:
    assert run(config_repo, tmp_path, "hold", "--path", PROD, "--reason", "x")[0] == 0
    head = config_repo.origin_head()
    code, log, _ = run(config_repo, tmp_path, "hold", "--path", PROD, "--reason", "y")
    assert code == 1
    assert (f"{PROD} is already held since 2026-11-26T10:00:00Z by alice "
            "(gitops-release.yaml:4): x. Unhold it first") in log
    assert config_repo.origin_head() == head


def test_a_malformed_policy_stops_a_hold_with_file_and_line(config_repo: GitRepo,
                                                            tmp_path: Path) -> None:
    (config_repo.work / "gitops-release.yaml").write_text("apps:\n  - match: apps/**\n    "
                                                          "sourcez: [acme/x]\n")
    config_repo.commit_all("Broken policy")
    config_repo.push()
    head = config_repo.origin_head()
    code, log, _ = run(config_repo, tmp_path, "hold", "--path", PROD, "--reason", "x")
    assert code == 1
    assert "gitops-release.yaml:3: apps[0]: unknown key 'sourcez'" in log
    assert config_repo.origin_head() == head


def test_dry_run_pushes_nothing(config_repo: GitRepo, tmp_path: Path) -> None:
    head = config_repo.origin_head()
    code, log, out = run(config_repo, tmp_path, "hold", "--path", PROD, "--reason", "x",
                         "--dry-run", "true")
    assert code == 0, log
    assert "+  - path: apps/web-api/overlays/prod" in log
    assert out == {"changed": "false", "commit": ""}
    assert config_repo.origin_head() == head
    assert not (config_repo.work / "gitops-release.yaml").exists()


# -- rollback ---------------------------------------------------------------------------------

def release(repo: GitRepo, tmp_path: Path, version: str, path: str = PROD) -> None:
    code, log, _ = deploy(repo, tmp_path, *web_api(version, path))
    assert code == 0, log


def test_rollback_writes_the_old_image_and_the_hold_in_one_commit(config_repo: GitRepo,
                                                                   tmp_path: Path) -> None:
    release(config_repo, tmp_path, "v1.5.0")
    deployed = config_repo.origin_head()
    code, log, out = run(config_repo, tmp_path, "rollback", "--path", PROD, "--to", "v1.4.0",
                         "--reason", "v1.5.0 leaks memory")
    assert code == 0, log
    assert config_repo.origin_log()[:2] == [f"Roll back {PROD} to web-api@v1.4.0",
                                           "Deploy web-api@v1.5.0"]
    assert body(config_repo).endswith(
        f"Image: {IMAGE}:v1.4.0\nOverlay: {PROD}\nRollback-Of: "
        f"{config_repo.origin_git('rev-parse', deployed + '~1').strip()}\nHold: {PROD}\n"
        "Hold-Reason: v1.5.0 leaks memory\nHold-By: alice\n\n")
    files = config_repo.origin_git("show", "--format=", "--name-only", "main").split()
    assert sorted(files) == sorted([f"{PROD}/deployment.yaml", f"{PROD}-eu/deployment.yaml",
                                    f"{PROD}-us/deployment.yaml", "gitops-release.yaml"])
    assert config_repo.origin_git("diff", deployed + "~1", "main", "--", "apps") == ""
    hold = parse_policy(config_repo.origin_show("gitops-release.yaml")).holds[0]
    assert (hold.path, hold.version, hold.reason) == (PROD, "v1.4.0", "v1.5.0 leaks memory")
    assert out["image"] == f"{IMAGE}:v1.4.0" and out["changed"] == "true"


def test_rollback_finds_the_image_by_its_trailers(config_repo: GitRepo, tmp_path: Path) -> None:
    release(config_repo, tmp_path, "v1.5.0")
    release(config_repo, tmp_path, "v1.6.0")
    code, log, _ = run(config_repo, tmp_path, "rollback", "--path", f"{PROD}-eu", "--to",
                       "v1.5.0", "--reason", "eu only", "--fan-out", "false")
    assert code == 0, log
    assert "found by trailers" in log
    assert "image: 'registry.example.com/acme/web-api:v1.5.0'" in config_repo.origin_show(
        f"{PROD}-eu/deployment.yaml")
    assert "web-api:v1.6.0" in config_repo.origin_show(f"{PROD}/deployment.yaml")


def test_rollback_then_a_newer_release_is_held_until_unhold(config_repo: GitRepo,
                                                            tmp_path: Path) -> None:
    """The receiver's enforcement is the policy check; here through the policy the repo holds."""
    release(config_repo, tmp_path, "v1.5.0")
    assert run(config_repo, tmp_path, "rollback", "--path", PROD, "--to", "v1.4.0",
               "--reason", "bad")[0] == 0
    newer = DeployRequest(PROD, parse_reference(f"{IMAGE}:v1.6.0", "image"), "v1.6.0",
                          (Running(PROD, parse_reference(f"{IMAGE}:v1.4.0", "image"), "v1.4.0"),),
                          now=datetime.now(timezone.utc),
                          source_repository="acme/web-api")
    refusal = load_policy(config_repo.work).check(newer)
    assert refusal is not None and refusal.reason == "held"
    assert refusal.message.startswith(f"{PROD} is held at v1.4.0 since 2026-11-26T10:00:00Z by "
                                      "alice: bad")
    assert run(config_repo, tmp_path, "unhold", "--path", PROD)[0] == 0
    assert load_policy(config_repo.work).check(newer) is None


def test_rollback_to_a_version_that_never_ran_changes_nothing(config_repo: GitRepo,
                                                              tmp_path: Path) -> None:
    head = config_repo.origin_head()
    code, log, _ = run(config_repo, tmp_path, "rollback", "--path", PROD, "--to", "v0.9.0",
                       "--reason", "x")
    assert code == 1
    assert (f"input 'to': {PROD} never ran a 'web-api' image tagged 'v0.9.0' in the last 1 "
            "commits that touched it") in log
    assert config_repo.origin_head() == head


def test_rollback_in_a_shallow_clone_is_an_error(config_repo: GitRepo, tmp_path: Path) -> None:
    release(config_repo, tmp_path, "v1.5.0")
    shallow = tmp_path / "shallow"
    config_repo.git("clone", "-q", "--depth", "1", f"file://{config_repo.bare}", str(shallow))
    repo = GitRepo("acme", "config", shallow, config_repo.bare)
    code, log, _ = run(repo, tmp_path, "rollback", "--path", PROD, "--to", "v1.4.0",
                       "--reason", "x")
    assert code == 1
    assert "the clone is shallow" in log and "fetch-depth: 0" in log


def test_rollback_replaces_a_hold_already_there(config_repo: GitRepo, tmp_path: Path) -> None:
    release(config_repo, tmp_path, "v1.5.0")
    assert run(config_repo, tmp_path, "hold", "--path", PROD, "--reason", "first")[0] == 0
    assert run(config_repo, tmp_path, "rollback", "--path", PROD, "--to", "v1.4.0",
               "--reason", "second")[0] == 0
    holds = parse_policy(config_repo.origin_show("gitops-release.yaml")).holds
    assert [(h.path, h.reason) for h in holds] == [(PROD, "second")]


def test_rollback_reads_past_a_binary_file_in_the_overlay(config_repo: GitRepo,
                                                          tmp_path: Path) -> None:
    (config_repo.work / PROD / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    config_repo.commit_all("Add a binary file")
    config_repo.push()
    release(config_repo, tmp_path, "v1.5.0")
    code, log, out = run(config_repo, tmp_path, "rollback", "--path", PROD, "--to", "v1.4.0",
                         "--reason", "x")
    assert code == 0, log
    assert "found by files" in log
    assert out["image"] == f"{IMAGE}:v1.4.0"
