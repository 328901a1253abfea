"""The receiver enforcing the trust policy: each rule refuses a dispatch with exit 0, nothing
pushed, ``refused=true`` and ``refused-reason``; a malformed policy fails with file:line.

The receiver does not call ``Policy.check`` yet (the planner it belongs in is being rewritten):
these tests are strict expected failures until it does, and then must pass as written (an
unexpected pass fails the suite, so the marker cannot outlive the integration). The rules
themselves are tested through the policy API in test_policy.py and test_control.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.gitrepo import GitRepo, make_repo
from tests.harness.outputs import read_outputs
from tests.unit.test_receiver import EXAMPLE, SOURCE, deploy

PROD = "apps/web-api/overlays/prod"
IMAGE = "registry.example.com/acme/web-api"
POLICY = """\
apps:
  - match: apps/web-api/**
    sources: [acme/web-api]
  - match: apps/checkout/**
    sources: [acme/checkout]
environments:
  - match: prod*
    freeze:
      - from: 2026-12-24
        until: 2026-12-26
        reason: Holidays
holds:
  - path: apps/report-job/overlays/prod
    reason: "migration"
    since: 2026-11-20T09:00:00Z
    by: bob
"""


@pytest.fixture
def config_repo(tmp_path: Path) -> GitRepo:
    repo = make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)
    (repo.work / "gitops-release.yaml").write_text(POLICY)
    repo.commit_all("Add the policy")
    repo.push()
    return repo


def dispatch(image: str, release: str, path: str = PROD, source: str = SOURCE) -> list[str]:
    return ["--image", image, "--release", release, "--path", path, "--source", source]


CASES = [
    ("forged-image-repository", dispatch("evil.example.net/x/miner:v9.9.9", "web-api@v9.9.9"),
     "policy", {}),
    ("another-teams-path", dispatch("registry.example.com/acme/checkout:v2.0.0",
                                    "checkout@v2.0.0", "apps/checkout/overlays/prod"), "policy", {}),
    ("source-not-allowed", dispatch(f"{IMAGE}:v1.5.0", "web-api@v1.5.0",
                                    source=SOURCE.replace("acme/web-api", "acme/intruder")),
     "policy", {}),
    ("tag-is-not-the-version", dispatch(f"{IMAGE}:v1.3.0", "web-api@v1.5.0"), "policy", {}),
    ("scheme-switch-on-prod", dispatch(f"{IMAGE}:20261126101500123",
                                       "web-api@20261126101500123"), "policy", {}),
    ("held-overlay", dispatch("registry.example.com/acme/report-job:v3.0.0", "report-job@v3.0.0",
                              "apps/report-job/overlays/prod",
                              SOURCE.replace("acme/web-api", "acme/report-job")), "held", {}),
    ("frozen-window", dispatch(f"{IMAGE}:v1.5.0", "web-api@v1.5.0"), "frozen",
     {"GITOPS_RELEASE_NOW": "2026-12-25T12:00:00Z"}),
]


@pytest.mark.parametrize(("args", "reason", "env"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_nothing_pushed(config_repo: GitRepo, tmp_path: Path, args: list[str],
                                     reason: str, env: dict[str, str]) -> None:
    command = "cronjob-update" if "report-job" in args[1] else "image-update"
    head = config_repo.origin_head()
    code, log, out = deploy(config_repo, tmp_path, *args, command=command, env=env)
    assert code == 0, log
    outputs = read_outputs(out)
    assert (outputs["refused"], outputs["refused-reason"], outputs["changed"]) == (
        "true", reason, "false")
    assert config_repo.origin_head() == head


def test_malformed_policy_fails_every_deploy_with_file_and_line(config_repo: GitRepo,
                                                                tmp_path: Path) -> None:
    (config_repo.work / "gitops-release.yaml").write_text(POLICY.replace("sources:", "source:", 1))
    config_repo.commit_all("Break the policy")
    config_repo.push()
    head = config_repo.origin_head()
    code, log, _ = deploy(config_repo, tmp_path, *dispatch(f"{IMAGE}:v1.5.0", "web-api@v1.5.0"))
    assert code == 1
    assert "gitops-release.yaml:3: apps[0]: unknown key 'source'" in log
    assert config_repo.origin_head() == head


def test_rollback_then_a_newer_release_is_refused_until_unhold(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)
    newer = dispatch(f"{IMAGE}:v1.6.0", "web-api@v1.6.0")
    env = {"GITHUB_ACTOR": "alice"}
    assert deploy(repo, tmp_path, *dispatch(f"{IMAGE}:v1.5.0", "web-api@v1.5.0"))[0] == 0
    assert deploy(repo, tmp_path, "--path", PROD, "--to", "v1.4.0", "--reason", "bad",
                  command="rollback", env=env)[0] == 0
    head = repo.origin_head()
    code, log, out = deploy(repo, tmp_path, *newer)
    assert code == 0, log
    assert read_outputs(out)["refused-reason"] == "held"
    assert repo.origin_head() == head
    assert deploy(repo, tmp_path, "--path", PROD, command="unhold", env=env)[0] == 0
    code, log, out = deploy(repo, tmp_path, *newer)
    assert code == 0, log
    assert read_outputs(out)["changed"] == "true"
    assert repo.origin_log()[0] == "Deploy web-api@v1.6.0"


def test_a_hold_on_no_folder_of_the_repository_is_named_in_every_deploy(
        config_repo: GitRepo, tmp_path: Path) -> None:
    """A hold on apps/web-api/overlays/prd (a typo) holds nothing: the deploy to prod goes
    through as before, and says so, naming the hold (it said nothing); a hold on a folder that
    exists, and is not this overlay, is not named."""
    text = POLICY + ("  - path: apps/web-api/overlays/prd\n    reason: incident\n"
                     "    since: 2026-11-20T09:00:00Z\n    by: bob\n")
    (config_repo.work / "gitops-release.yaml").write_text(text)
    config_repo.commit_all("Hold prod")
    config_repo.push()
    code, log, out = deploy(config_repo, tmp_path, *dispatch(f"{IMAGE}:v1.5.0", "web-api@v1.5.0"))
    assert code == 0, log
    assert read_outputs(out)["changed"] == "true"
    assert ("gitops-release.yaml:17: the hold on apps/web-api/overlays/prd names no folder of the "
            "repository, so it holds nothing") in log
    assert "the hold on apps/report-job/overlays/prod" not in log, log
