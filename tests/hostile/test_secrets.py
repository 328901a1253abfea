"""Secrets never leave their input: the registry password and the tokens appear in no act log, no
GITHUB_OUTPUT, no GITHUB_ENV, no step summary, and no Docker config file outlives the build.

act masks secrets it knows in its own log, so a leak through a step output would show as ``***``
there: the runner files are checked too, by running the same commands as a composite step would,
with GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV files kept for the test. Besides the raw
values, their encoded forms are looked for (the Docker ``auth`` entry, git's basic header)."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.act import Act
from tests.harness.github_api import GitHubAPI
from tests.harness.gitrepo import GitRepo
from tests.harness.services import REPO_ROOT, Registry, run_registry
from tests.harness.workflows import root_action_workflow
from tests.hostile.conftest import StepResult

pytestmark = pytest.mark.e2e

PASSWORD = "Hostile-Registry-Pw-7f3a9c1e"
TOKEN = "ghp_secretSuiteTOKEN7f3a9c1e0123456789"
RECEIVER_TOKEN = "ghs_receiverSuiteTOKEN7f3a9c1e01234567"
CONFIG = "acme/k8s-configurations"

RELEASE_WORKFLOW = root_action_workflow("secret-app", registry="${{ vars.REGISTRY }}", last_step="""\
      - name: every output of every step
        env:
          STEPS: ${{ toJSON(steps) }}
        run: echo "all-steps=$STEPS"
""")


def forms(username: str, secret: str) -> list[str]:
    """The secret and the encodings a tool could write it in."""
    return [secret,
            base64.b64encode(f"{username}:{secret}".encode()).decode(),
            base64.b64encode(f"x-access-token:{secret}".encode()).decode(),
            base64.b64encode(secret.encode()).decode()]


def assert_absent(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:6]}…) is in {where}"


def files_under(*roots: Path) -> Iterator[tuple[Path, str]]:
    for root in roots:
        if root.is_dir():
            for path in root.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    yield path, path.read_bytes().decode("utf-8", "replace")


@pytest.fixture
def own_registry(tmp_path: Path) -> Iterator[Registry]:
    with run_registry(tmp_path / "registry", password=PASSWORD) as running:
        yield running


@pytest.fixture
def api(github_api: GitHubAPI) -> GitHubAPI:
    github_api.add_repo(CONFIG)
    github_api.add_token(TOKEN, repos=[CONFIG])
    return github_api


def test_release_through_act_leaks_no_secret(act: Act, own_registry: Registry, api: GitHubAPI,
                                             docker_engine: None,
                                             make_git_repo: Callable[..., GitRepo]) -> None:
    app = make_git_repo("acme", "secret-app", template=REPO_ROOT / "examples" / "app-repo")
    app.git("config", "--unset", f"url.{app.bare}.insteadOf")
    shutil.rmtree(app.work / ".github" / "workflows")
    (app.work / ".github" / "workflows").mkdir()
    (app.work / ".github" / "workflows" / "one.yml").write_text(RELEASE_WORKFLOW,
                                                                 encoding="utf-8")
    app.commit_all("One-step release")
    docker_config = Path.home() / ".docker" / "config.json"
    before = docker_config.read_text(encoding="utf-8") if docker_config.exists() else ""

    result = act.run(app.work, "push", {"ref": "refs/heads/main", "repository": {
        "full_name": app.full_name, "default_branch": "main"}},
        workflow=".github/workflows/one.yml",
        secrets={"CR_USERNAME": own_registry.username, "CR_PASSWORD": PASSWORD,
                 "GITHUB_PAT": TOKEN},
        variables={"REGISTRY": own_registry.host},
        env={"GITHUB_API_URL": api.url}, timeout=900)

    assert result.ok, str(result)
    assert [r.status for r in api.dispatch_requests()] == [204]
    assert "all-steps=" in result.log and '"payload"' in result.log
    secrets = forms(own_registry.username, PASSWORD) + forms("", TOKEN)
    assert_absent(result.log, secrets, "the act log")
    # the login went to a private Docker config, removed after the build
    after = docker_config.read_text(encoding="utf-8") if docker_config.exists() else ""
    assert after == before
    assert_absent(after, secrets, str(docker_config))


def test_receiver_through_act_leaks_no_token(act: Act,
                                             make_git_repo: Callable[..., GitRepo]) -> None:
    repo = make_git_repo("acme", "k8s-config", REPO_ROOT / "examples" / "config-repo")
    event = {"action": "new-image",
             "client_payload": {"image": "registry.example.com/acme/web-api:v9.9.9",
                                "release": "web-api@v9.9.9", "path": "apps/web-api/overlays/dev"},
             "repository": {"full_name": repo.full_name, "name": repo.name,
                            "owner": {"login": repo.owner}, "default_branch": "main"}}

    result = act.run(repo.work, "repository_dispatch", event,
                     workflow=".github/workflows/app-image-update.yml",
                     secrets={"GITHUB_PAT": RECEIVER_TOKEN})

    assert result.ok, str(result)
    assert repo.origin_log()[0] == "Deploy web-api@v9.9.9"
    assert_absent(result.log, forms("", RECEIVER_TOKEN), "the act log")
    assert_absent(repo.origin_git("log", "--format=%B", "main"), forms("", RECEIVER_TOKEN),
                  "the pushed commits")
    assert_absent((repo.work / ".git" / "config").read_text(encoding="utf-8"),
                  forms("", RECEIVER_TOKEN), ".git/config")


def _files_of(result: StepResult) -> str:
    log = "\n".join(line for line in result.stdout.splitlines()
                    if not line.startswith("::add-mask::"))  # the mask must carry the value
    return "\n".join([log, result.stderr, result.output_file, result.summary_file,
                      result.env_file])


def test_runner_files_hold_no_secret(own_registry: Registry, api: GitHubAPI,
                                     docker_engine: None, config_repo: GitRepo,
                                     run_step: Callable[..., StepResult],
                                     tmp_path: Path) -> None:
    home, runner_temp, app = tmp_path / "home", tmp_path / "runner-temp", tmp_path / "app"
    home.mkdir()
    runner_temp.mkdir()
    shutil.copytree(REPO_ROOT / "examples" / "app-repo", app)
    plugins = Path.home() / ".docker" / "cli-plugins"
    if plugins.is_dir():  # buildx, as a runner has it
        (home / ".docker").mkdir()
        (home / ".docker" / "cli-plugins").symlink_to(plugins)
    runner = {"HOME": str(home), "RUNNER_TEMP": str(runner_temp),
              "GITHUB_REF": "refs/heads/main", "GITHUB_REF_NAME": "main",
              "GITHUB_EVENT_NAME": "push", "GITHUB_REPOSITORY": "acme/secret-app"}
    secrets = forms(own_registry.username, PASSWORD) + forms("", TOKEN) + \
        forms("", RECEIVER_TOKEN)

    built = run_step("build-push", {"registry": own_registry.host,
                                    "username": own_registry.username, "password": PASSWORD,
                                    "image-name": "secret-app", "platforms": "linux/amd64"},
                     app, extra_env=runner)
    assert built.returncode == 0, built.stdout + built.stderr
    assert f"::add-mask::{PASSWORD}" in built.stdout
    sent = run_step("dispatch", {"token": TOKEN, "repository": CONFIG,
                                 "image": f"{own_registry.host}/secret-app:v1.0.0",
                                 "release": "secret-app@v1.0.0",
                                 "path": "apps/secret-app/overlays/dev",
                                 "github-api-url": api.url}, tmp_path, extra_env=runner)
    assert sent.returncode == 0, sent.stdout
    deployed = run_step("image-update", {"image": "registry.example.com/web:v1.1.0",
                                         "release": "web@v1.1.0", "path": "apps/web/overlays/dev",
                                         "token": RECEIVER_TOKEN}, config_repo.work,
                        extra_env=runner)
    assert deployed.returncode == 0, deployed.stdout

    for name, result in (("build-push", built), ("dispatch", sent), ("image-update", deployed)):
        assert result.output_file and result.summary_file  # there was something to look at
        assert_absent(_files_of(result), secrets, f"{name}'s log, outputs or summary")
    # nothing left behind: no Docker config with the login, no credentials in any file
    leftovers = [(path, text) for path, text in files_under(home, runner_temp)]
    assert [p for p, _ in leftovers if p.name == "config.json"] == []
    for path, text in leftovers:
        assert_absent(text, secrets, str(path))
    assert_absent((config_repo.work / ".git" / "config").read_text(encoding="utf-8"), secrets,
                  ".git/config")
