"""The receiver on the command line, against real git repositories with a bare origin: what is
pushed, what is refused, and that a failure writes, commits and pushes nothing."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_release.cli import main
from tests.harness.gitrepo import GitRepo, make_repo
from tests.harness.outputs import read_outputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "config-repo"
DEV = "apps/web-api/overlays/dev"
PROD = "apps/web-api/overlays/prod"
BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
SOURCE = ('{"repository": "acme/web-api", "sha": "' + "c" * 40 + '", "ref": "refs/tags/v1.5.0", '
          '"run_url": "https://github.com/acme/web-api/actions/runs/42"}')


@pytest.fixture
def config_repo(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)


def deploy(repo: GitRepo, tmp_path: Path, *args: str, command: str = "image-update",
           env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI in the repo's clone; returns (exit code, stdout, GITHUB_OUTPUT contents)."""
    output = tmp_path / f"output-{os.urandom(4).hex()}"
    output.touch()
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
               "GIT_CONFIG_NOSYSTEM": "1", "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output),
               **(env or {})}
    out = io.StringIO()
    cwd = Path.cwd()
    os.chdir(repo.work)
    try:
        code = main([command, *args], environ, out)
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), output.read_text()


def web_api(version: str, path: str = DEV) -> list[str]:
    return ["--image", f"registry.example.com/acme/web-api:{version}",
            "--release", f"web-api@{version}", "--path", path]


def test_dev_deploy_pushes_one_commit_with_trailers(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, out = deploy(config_repo, tmp_path, *web_api("20261126101500123"), "--source", SOURCE)
    assert code == 0, log
    assert config_repo.origin_log() == ["Deploy web-api@20261126101500123", "Initial commit"]
    body = config_repo.origin_git("log", "-1", "--format=%an <%ae>%n%B", "main")
    assert body == (f"{BOT}\nDeploy web-api@20261126101500123\n\n"
                    "Image: registry.example.com/acme/web-api:20261126101500123\n"
                    f"Overlay: {DEV}\nSource-Repository: acme/web-api\nSource-Sha: {'c' * 40}\n"
                    "Source-Ref: refs/tags/v1.5.0\n"
                    "Source-Run: https://github.com/acme/web-api/actions/runs/42\n\n")
    assert config_repo.origin_git("diff", "--stat", "HEAD~1", "HEAD").splitlines()[0].strip() == (
        f"{DEV}/deployment.yaml | 4 ++--")
    assert read_outputs(out) == {
        "changed": "true", "files": f"{DEV}/deployment.yaml",
        "commit": config_repo.origin_head(),
        "previous-image": "registry.example.com/acme/web-api:20261120093000123", "refused": "false",
        "refused-reason": "", "would-change": "true"}


def test_redelivery_gives_one_commit(config_repo: GitRepo, tmp_path: Path) -> None:
    assert deploy(config_repo, tmp_path, *web_api("20261126101500123"))[0] == 0
    code, log, out = deploy(config_repo, tmp_path, *web_api("20261126101500123"))
    assert code == 0, log
    assert "nothing to change" in log
    assert len(config_repo.origin_log()) == 2
    assert read_outputs(out)["changed"] == "false" and read_outputs(out)["commit"] == ""


def test_prod_fans_out_to_prod_siblings_in_one_commit(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 0, log
    assert config_repo.origin_log() == ["Deploy web-api@v1.5.0", "Initial commit"]
    files = config_repo.origin_git("show", "--format=", "--name-only", "main").split()
    assert files == [f"apps/web-api/overlays/{env}/deployment.yaml"
                     for env in ("prod-eu", "prod-us", "prod")]
    assert "web-api:v1.5.0" not in config_repo.origin_show(f"{DEV}/deployment.yaml")


def test_fan_out_off_updates_prod_only(config_repo: GitRepo, tmp_path: Path) -> None:
    assert deploy(config_repo, tmp_path, *web_api("v1.5.0", PROD), "--fan-out", "false")[0] == 0
    files = config_repo.origin_git("show", "--format=", "--name-only", "main").split()
    assert files == [f"{PROD}/deployment.yaml"]


def test_fan_out_is_all_or_none(config_repo: GitRepo, tmp_path: Path) -> None:
    bad = config_repo.work / "apps/web-api/overlays/prod-us/deployment.yaml"
    bad.write_text(bad.read_text() + "  broken: [\n")
    config_repo.commit_all("Break prod-us")
    config_repo.push()
    head = config_repo.origin_head()
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 1
    assert "apps/web-api/overlays/prod-us/deployment.yaml is not valid YAML" in log
    assert config_repo.origin_head() == head
    assert config_repo.git("status", "--porcelain") == ""


def test_downgrade_is_refused_without_a_commit(config_repo: GitRepo, tmp_path: Path) -> None:
    head = config_repo.origin_head()
    code, log, out = deploy(config_repo, tmp_path, *web_api("v1.3.9", PROD))
    assert code == 0, log
    assert "::notice title=Downgrade refused::" in log
    assert f"v1.3.9 is older than v1.4.0, which {PROD} runs" in log
    assert read_outputs(out)["changed"] == "false" and read_outputs(out)["refused"] == "true"
    assert config_repo.origin_head() == head


def test_allow_downgrade_rolls_back(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.3.9", PROD), "--allow-downgrade", "true")
    assert code == 0, log
    assert "rolling apps/web-api/overlays/prod back from v1.4.0 to v1.3.9" in log
    assert "web-api:v1.3.9" in config_repo.origin_show(f"{PROD}/deployment.yaml")


def test_scheme_change_deploys_with_a_notice(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0"))
    assert code == 0, log
    assert "are not in one version scheme" in log
    assert config_repo.origin_log()[0] == "Deploy web-api@v1.5.0"


@pytest.mark.parametrize(("args", "message"), [
    (web_api("v2", "/etc/apps"), "input 'path': '/etc/apps' is an absolute path"),
    (web_api("v2", "apps/../../etc"), "input 'path': 'apps/../../etc' leaves the config repo ('..')"),
    (web_api("v2", "apps/.git/hooks"), "has the part '.git'"),
    (web_api("v2", "apps/web-api/overlays/nope"), "input 'path': 'apps/web-api/overlays/nope' does "
     "not exist"),
    ([*web_api("v2", "apps/web-api/overlays/dev"), "--config-root", "apps/report-job"],
     "is outside the config root 'apps/report-job'"),
    (web_api("v2", "apps/web-api/overlays/dev;rm -rf ~"), "has the part 'dev;rm -rf ~'"),
    (["--image", "registry.example.com/acme/web-api:v2", "--release", "web-api-v2", "--path", DEV],
     "input 'release': 'web-api-v2' is not a release"),
    (["--image", "registry.example.com/acme/web-api:v2", "--release", "web-api@v2\nX: y",
      "--path", DEV], "input 'release': contains the control character '\\n'"),
    (["--image", "registry.example.com/acme/web-api:v2 ", "--release", "web-api@v2", "--path", DEV],
     "input 'image'"),
    ([*web_api("v2"), "--digest", "sha256:abc"], "input 'digest'"),
    ([*web_api("v2"), "--source", '{"repository": "a/b", "run_url": "javascript:alert(1)"}'],
     "input 'source.run_url'"),
    ([*web_api("v2"), "--max-attempts", "0"], "input 'max-attempts'"),
    ([*web_api("v2"), "--push", "yes"], "input 'push'"),
    (web_api("v2", "apps/web-api/overlays/dev\x00"),
     "input 'path': contains the control character '\\x00'"),
], ids=["absolute", "dotdot", "dot-git", "missing", "outside-root", "shell-chars", "release-format",
        "control-char", "image", "digest", "source-url", "max-attempts", "bool", "nul"])
def test_hostile_input_fails_with_nothing_written(config_repo: GitRepo, tmp_path: Path,
                                                  args: list[str], message: str) -> None:
    head = config_repo.origin_head()
    code, log, _ = deploy(config_repo, tmp_path, *args)
    assert code == 1
    assert message in log
    assert config_repo.origin_head() == head
    assert config_repo.git("status", "--porcelain") == ""


def test_symlinked_overlay_is_refused(config_repo: GitRepo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "deployment.yaml").write_text("kind: Deployment\n")
    (config_repo.work / "apps/web-api/overlays/evil").symlink_to(outside)
    config_repo.commit_all("Add a symlink")
    config_repo.push()
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v2", "apps/web-api/overlays/evil"))
    assert code == 1
    assert "goes through the symlink 'evil'" in log
    assert (outside / "deployment.yaml").read_text() == "kind: Deployment\n"


def test_symlinked_manifest_is_refused(config_repo: GitRepo, tmp_path: Path) -> None:
    target = config_repo.work / "apps/web-api/overlays/dev/deployment.yaml"
    target.unlink()
    target.symlink_to("../prod/deployment.yaml")
    config_repo.commit_all("Symlink dev to prod")
    config_repo.push()
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v2"))
    assert code == 1
    assert "dev/deployment.yaml; the receiver never follows symlinks" in log


def test_dry_run_prints_the_diff_and_writes_nothing(config_repo: GitRepo, tmp_path: Path) -> None:
    head = config_repo.origin_head()
    code, log, out = deploy(config_repo, tmp_path, *web_api("v1.5.0", PROD), "--dry-run", "true")
    assert code == 0, log
    assert "+          image: registry.example.com/acme/web-api:v1.5.0" in log
    assert config_repo.git("status", "--porcelain") == "" and config_repo.origin_head() == head
    outputs = read_outputs(out)
    assert (outputs["changed"], outputs["would-change"], outputs["commit"]) == ("false", "true", "")


def test_push_false_commits_locally_only(config_repo: GitRepo, tmp_path: Path) -> None:
    head = config_repo.origin_head()
    code, _, out = deploy(config_repo, tmp_path, *web_api("v1.5.0"), "--push", "false")
    assert code == 0
    assert config_repo.origin_head() == head
    assert config_repo.git("log", "-1", "--format=%s").strip() == "Deploy web-api@v1.5.0"
    assert read_outputs(out)["commit"] == config_repo.git("rev-parse", "HEAD").strip()
    # Nothing reached the remote: changed is false, and the log says why.
    assert (read_outputs(out)["changed"], read_outputs(out)["would-change"]) == ("false", "true")


def test_cronjob_update(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, _ = deploy(config_repo, tmp_path, "--image",
                          "registry.example.com/acme/report-job:20261126020000000", "--release",
                          "report-job@20261126020000000", "--path", "apps/report-job/overlays/dev",
                          command="cronjob-update")
    assert code == 0, log
    assert ("image: registry.example.com/acme/report-job:20261126020000000"
            in config_repo.origin_show("apps/report-job/overlays/dev/cronjob.yaml"))


def test_image_update_does_not_touch_a_cronjob_overlay(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, _ = deploy(config_repo, tmp_path, "--image", "registry.example.com/acme/report-job:v3",
                          "--release", "report-job@v3", "--path", "apps/report-job/overlays/dev")
    assert code == 1
    assert "apps/report-job/overlays/dev renders no Deployment/StatefulSet/DaemonSet/Rollout" in log


def test_helm_values_overlay(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, _ = deploy(config_repo, tmp_path, "--image", "registry.example.com/acme/storefront:v1.0.0",
                          "--release", "storefront@v1.0.0", "--path", "apps/storefront/overlays/prod",
                          "--helm-release-key", "podAnnotations.release")
    assert code == 0, log
    diff = config_repo.origin_git("show", "--format=", "--unified=0", "main")
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        '-  tag: "v0.9.3"', '+  tag: "v1.0.0"', '-  release: "storefront@v0.9.3"',
        '+  release: "storefront@v1.0.0"'] * 3


def test_pushes_to_the_checked_out_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repos", "acme", "config", EXAMPLE, branch="live")
    assert deploy(repo, tmp_path, *web_api("v1.5.0"))[0] == 0
    assert repo.origin_log("live")[0] == "Deploy web-api@v1.5.0"
    assert repo.origin_git("branch", "--list").split() == ["*", "live"]


def test_push_race_is_retried_and_keeps_the_other_commit(config_repo: GitRepo, tmp_path: Path) -> None:
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(config_repo.bare), str(other)], check=True)
    marker = tmp_path / "raced"
    hook = config_repo.work / ".git" / "hooks" / "pre-push"
    # The first push finds that someone else pushed a moment before (a real second writer).
    hook.write_text(f"""#!/bin/sh
[ -e {marker} ] && exit 0
touch {marker}
cd {other} && echo other > other.txt && git add other.txt && \
  git -c user.name=o -c user.email=o@e commit -qm 'Other deploy' && git push -q origin HEAD:main
""")
    hook.chmod(0o755)
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0"), "--max-attempts", "3",
                          "--group-commit", "false")
    assert code == 0, log
    assert "push attempt 1/3 lost a race" in log
    assert config_repo.origin_log() == ["Deploy web-api@v1.5.0", "Other deploy", "Initial commit"]


def test_hook_rejection_fails_at_once_with_the_server_message(config_repo: GitRepo,
                                                               tmp_path: Path) -> None:
    hook = config_repo.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GH006: Protected branch update failed for refs/heads/main.'\n"
                    "exit 1\n")
    hook.chmod(0o755)
    head = config_repo.origin_head()
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1
    assert "::error title=image-update%3A Push rejected::" in log
    assert "remote: GH006: Protected branch update failed for refs/heads/main." in log
    assert "lost a race" not in log
    assert config_repo.origin_head() == head


def test_token_is_masked_and_never_stored(config_repo: GitRepo, tmp_path: Path) -> None:
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0"), "--token", "ghs_s3cr3tT0ken")
    assert code == 0, log
    assert "::add-mask::ghs_s3cr3tT0ken" in log
    assert log.count("ghs_s3cr3tT0ken") == 1
    assert "extraheader" not in (config_repo.work / ".git" / "config").read_text()


def test_concurrent_deploys_all_land(config_repo: GitRepo, tmp_path: Path) -> None:
    clones = []
    for i in range(4):
        clone = tmp_path / f"clone{i}"
        subprocess.run(["git", "clone", "-q", str(config_repo.bare), str(clone)], check=True)
        clones.append(clone)
    apps = [("web-api", DEV, "image-update"), ("checkout", "apps/checkout/overlays/dev", "image-update"),
            ("report-job", "apps/report-job/overlays/dev", "cronjob-update"),
            ("web-api", PROD, "image-update")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python"), "GIT_CONFIG_NOSYSTEM": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "gitops_release", command, "--image",
                               f"registry.example.com/acme/{app}:v9.0.0", "--release", f"{app}@v9.0.0",
                               "--path", path, "--max-attempts", "10"], cwd=clone, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for clone, (app, path, command) in zip(clones, apps, strict=True)]
    logs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], logs
    assert len(config_repo.origin_log()) == 5
    assert "web-api:v9.0.0" in config_repo.origin_show("apps/web-api/overlays/prod-eu/deployment.yaml")


def test_dirty_work_tree_is_not_reset(config_repo: GitRepo, tmp_path: Path) -> None:
    readme = config_repo.work / "apps/web-api/base/service.yaml"
    readme.write_text(readme.read_text() + "# local edit\n")
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1
    assert "uncommitted changes to tracked files: apps/web-api/base/service.yaml" in log
    assert readme.read_text().endswith("# local edit\n")


def test_detached_head_is_refused(config_repo: GitRepo, tmp_path: Path) -> None:
    config_repo.git("checkout", "-q", "--detach")
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0"))
    assert code == 1 and "HEAD is detached" in log


def test_sibling_without_a_target_is_skipped_with_a_warning(config_repo: GitRepo, tmp_path: Path) -> None:
    extra = config_repo.work / "apps/web-api/overlays/prod-ap"
    extra.mkdir()
    (extra / "kustomization.yaml").write_text("resources:\n  - ../prod\n")
    config_repo.commit_all("Add prod-ap")
    config_repo.push()
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 0, log
    assert ("::warning title=Fan-out skipped::apps/web-api/overlays/prod-ap builds on "
            "apps/web-api/overlays/prod: the edit there reaches it, and it has no file of its "
            "own to write") in log
    assert len(config_repo.origin_git("show", "--format=", "--name-only", "main").split()) == 3


def test_a_newer_sibling_refuses_the_whole_fan_out(config_repo: GitRepo, tmp_path: Path) -> None:
    us = config_repo.work / "apps/web-api/overlays/prod-us/deployment.yaml"
    us.write_text(us.read_text().replace("v1.4.0", "v1.6.0"))
    config_repo.commit_all("Hotfix prod-us")
    config_repo.push()
    head = config_repo.origin_head()
    code, log, out = deploy(config_repo, tmp_path, *web_api("v1.5.0", PROD))
    assert code == 0, log
    assert "is older than v1.6.0, which apps/web-api/overlays/prod-us runs" in log
    assert read_outputs(out)["refused"] == "true"
    assert config_repo.origin_head() == head
    assert config_repo.git("status", "--porcelain") == ""


def test_token_reaches_git_as_a_one_off_extraheader(config_repo: GitRepo) -> None:
    from gitops_release.gitops import Git

    git = Git(config_repo.work, {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")},
              token="ghs_tok", server_url="https://github.example.com/")
    value = git.out("config", "--get", "http.https://github.example.com/.extraheader")
    assert value == "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3Rvaw=="  # x-access-token:ghs_tok
    assert "ghs_tok" not in (config_repo.work / ".git" / "config").read_text()


def test_inputs_are_not_passed_to_git_hooks(config_repo: GitRepo, tmp_path: Path) -> None:
    seen = tmp_path / "hook-env"
    hook = config_repo.work / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\nenv > {seen}\n")
    hook.chmod(0o755)
    code, log, _ = deploy(config_repo, tmp_path, *web_api("v1.5.0"),
                          env={"GITOPS_RELEASE_TOKEN": "ghs_fromEnv"})
    assert code == 0, log
    assert "GITOPS_RELEASE" not in seen.read_text() and "ghs_fromEnv" not in seen.read_text()
