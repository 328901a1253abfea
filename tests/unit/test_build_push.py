"""build-push: inputs (SPEC == action.yml), validation, builder and emulation choices, error
classification. The build itself runs for real in tests/e2e/test_build_push.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops_release import build
from gitops_release.cli import main
from gitops_release.commands import build_push
from gitops_release.errors import InputError, RegistryError
from gitops_release.inputs import resolve
from tests.harness.act import released_version

REPO = Path(__file__).resolve().parents[2]
ACTION = REPO / "actions" / "build-push" / "action.yml"


def _action() -> dict:  # type: ignore[type-arg]
    return YAML(typ="safe").load(ACTION.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_spec_matches_action_yml() -> None:
    action = _action()
    declared = {name: (str(item.get("default", "")).strip(), bool(item.get("required", False)))
                for name, item in action["inputs"].items()}
    assert declared == {item.name: (item.default.strip(), item.required)
                        for item in build_push.SPEC.inputs}
    assert set(action["outputs"]) == set(build_push.SPEC.outputs)
    env = action["runs"]["steps"][0]["env"]
    assert env == {item.env: f"${{{{ inputs.{item.name} }}}}" for item in build_push.SPEC.inputs}
    assert action["runs"]["steps"][0]["run"] == \
        '"$GITHUB_ACTION_PATH/../../scripts/action-run" build-push build-push'


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _raw(**overrides: str) -> dict[str, str]:
    flags = {"registry": "registry.example.com:5000", "image-name": "team/api", **overrides}
    return resolve(build_push.SPEC, flags, {})


def test_defaults(app: Path) -> None:
    inputs = build_push.read_inputs(_raw())
    assert inputs.platforms == ("linux/amd64", "linux/arm64")
    assert inputs.cache_from == ("type=registry,ref=registry.example.com:5000/team/api",)
    assert inputs.cache_to == "type=inline"
    assert inputs.push is True
    assert inputs.repository == "registry.example.com:5000/team/api"


def test_cache_none_and_lists(app: Path) -> None:
    inputs = build_push.read_inputs(_raw(**{
        "cache-from": "type=registry,ref=r.io/a:cache\ntype=local,src=/tmp/c",
        "cache-to": "none", "build-args": "A=1\nB=x=y", "labels": "team=core"}))
    assert inputs.cache_from == ("type=registry,ref=r.io/a:cache", "type=local,src=/tmp/c")
    assert inputs.cache_to == ""
    assert inputs.build_args == {"A": "1", "B": "x=y"}
    assert inputs.labels == ("team=core",)
    assert build_push.read_inputs(_raw(**{"cache-from": "none"})).cache_from == ()


@pytest.mark.parametrize(("overrides", "input_name", "message"), [
    ({"registry": "myregistry"}, "registry", "'myregistry' is not a registry host"),
    ({"image-name": "Team/API"}, "image-name", "is not a valid image reference"),
    ({"file": "./Nope.Dockerfile"}, "file", "does not exist"),
    ({"context": "missing-dir"}, "context", "is not a directory"),
    ({"push": "yes"}, "push", "'yes' is not a boolean"),
    ({"build-args": "JUSTAKEY"}, "build-args", "is not KEY=VALUE"),
    ({"platforms": " , "}, "platforms", "no platform given"),
    ({"registry": "r.io\x1b[31m"}, "registry", "control character"),
], ids=["registry-not-host", "uppercase-name", "no-dockerfile", "no-context", "push-bool",
        "build-arg", "no-platform", "control-char"])
def test_bad_inputs_name_the_input(app: Path, overrides: dict[str, str], input_name: str,
                                   message: str) -> None:
    with pytest.raises(InputError) as raised:
        build_push.read_inputs(_raw(**overrides))
    assert raised.value.input_name == input_name
    assert message in str(raised.value)


def test_bad_tag_rule_fails_before_any_docker_call(app: Path) -> None:
    out = io.StringIO()
    code = main(["build-push", "--registry", "127.0.0.1:1", "--image-name", "app",
                 "--password", "hunter2", "--tags", "type=calver"],
                {"PATH": "", "GITHUB_ACTIONS": "true"}, out)
    assert code == 1
    assert out.getvalue().splitlines() == [
        "::add-mask::hunter2",
        "::error title=build-push%3A Invalid input::input 'tags': unknown tag type 'calver' in the "
        "rule 'type=calver'. Use one of edge, match, raw, ref, schedule, semver, sha",
    ]


def test_off_a_runner_the_password_is_never_printed_and_errors_are_plain(app: Path) -> None:
    out = io.StringIO()
    code = main(["build-push", "--registry", "127.0.0.1:1", "--image-name", "app",
                 "--password", "hunter2", "--tags", "type=calver"], {"PATH": ""}, out)
    assert code == 1
    assert out.getvalue().splitlines() == [
        "error: build-push: Invalid input: input 'tags': unknown tag type 'calver' in the "
        "rule 'type=calver'. Use one of edge, match, raw, ref, schedule, semver, sha",
    ]


@pytest.mark.parametrize(("host", "platforms", "expected"), [
    ("x86_64", ["linux/amd64"], []),
    ("x86_64", ["linux/386", "linux/amd64"], []),
    ("aarch64", ["linux/arm64"], []),
    ("aarch64", ["linux/amd64", "linux/arm64"], ["amd64"]),
    ("x86_64", ["linux/arm64", "linux/arm/v7", "linux/riscv64", "linux/arm64"],
     ["arm64", "arm", "riscv64"]),
], ids=["native", "386-on-amd64", "native-arm", "amd64-on-arm", "several"])
def test_needs_emulation(host: str, platforms: list[str], expected: list[str]) -> None:
    if not Path("/proc/sys/fs/binfmt_misc").is_dir() or any(
            Path("/proc/sys/fs/binfmt_misc").glob("qemu-*")):
        pytest.skip("this machine already has QEMU handlers registered")
    assert build.needs_emulation(platforms, host) == expected


@pytest.mark.parametrize(("text", "input_name", "message"), [
    ("Error response from daemon: Get \"http://r/v2/\": unauthorized: ", "password",
     "refused the credentials"),
    ("failed to authorize: 401 Unauthorized", "password", "refused the credentials"),
    ("dial tcp 127.0.0.1:1: connect: connection refused", "registry", "cannot reach the registry"),
    ("lookup nope.invalid: no such host", "registry", "cannot reach the registry"),
], ids=["login-unauthorized", "push-401", "refused", "dns"])
def test_registry_errors_are_classified(text: str, input_name: str, message: str) -> None:
    error = build._classify("r:5000", text)
    assert isinstance(error, RegistryError)
    assert error.input_name == input_name
    assert message in str(error)


def test_unknown_failure_is_not_a_registry_error() -> None:
    assert build._classify("r:5000", "failed to solve: dockerfile parse error line 3") is None


def test_a_digest_holding_401_is_not_refused_credentials() -> None:
    """A registry's 500 after a push whose log shows a digest with "401" in its hex (seen in a
    real run) is not an authentication failure."""
    text = ("#7 exporting attestation manifest sha256:d637d7540167ab3e14858a26c54e48af0707e9c98c05"
            "f236b58be19b0abccd03 0.0s done\n#8 ERROR: unexpected status from HEAD request to "
            "http://r:5000/v2/web-api/manifests/1: 500 Internal Server Error\n")
    assert build._classify("r:5000", text) is None


def test_cache_entries_become_buildx_dicts() -> None:
    assert list(build._cache_dicts(["type=registry,ref=r.io/a", "r.io/b:cache"])) == [
        {"type": "registry", "ref": "r.io/a"}, {"type": "registry", "ref": "r.io/b:cache"}]


def test_private_docker_config_is_removed(tmp_path: Path) -> None:
    with build.private_docker_config(str(tmp_path)) as config:
        (config / "config.json").write_text('{"auths": {"r": {"auth": "c2VjcmV0"}}}')
        assert config.parent == tmp_path
    assert not config.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("containerd", "platforms", "cache_to", "expected"), [
    (True, ("linux/amd64", "linux/arm64"), "type=inline", False),
    (True, ("linux/amd64",), "type=registry,ref=r.io/a:cache", False),
    (False, ("linux/amd64",), "type=inline", False),
    (False, ("linux/amd64",), "", False),
    (False, ("linux/amd64", "linux/arm64"), "type=inline", True),
    (False, ("linux/amd64",), "type=registry,ref=r.io/a:cache,mode=max", True),
], ids=["containerd-multi", "containerd-registry-cache", "classic-single", "classic-no-cache",
        "classic-multi", "classic-registry-cache"])
def test_builder_choice(containerd: bool, platforms: tuple[str, ...], cache_to: str,
                        expected: bool) -> None:
    request = build.BuildRequest(context=Path(), dockerfile=Path("Dockerfile"),
                                 platforms=platforms, tags=("r.io/a:1",), cache_to=cache_to)
    assert build.needs_container_builder(containerd, request) is expected


def _inputs(document: dict) -> dict[str, tuple[str, bool]]:  # type: ignore[type-arg]
    return {name: (str(item.get("default", "")).strip(), bool(item.get("required", False)))
            for name, item in document["inputs"].items()}


def test_root_action_combines_build_push_and_dispatch() -> None:
    from gitops_release.commands import dispatch

    root = YAML(typ="safe").load((REPO / "action.yml").read_text(encoding="utf-8"))
    from_build = {i.name: (i.default.strip(), i.required) for i in build_push.SPEC.inputs
                  if i.name != "push"}
    from_dispatch = {i.name: (i.default.strip(), i.required) for i in dispatch.SPEC.inputs
                     if i.name not in ("image", "release", "digest")}
    expected = {**from_build, **from_dispatch}
    dispatch_action = YAML(typ="safe").load(
        (REPO / "actions" / "dispatch" / "action.yml").read_text(encoding="utf-8"))
    expected.update({name: value for name, value in _inputs(dispatch_action).items()
                     if name in from_dispatch})  # action.yml defaults such as ${{ github.api_url }}
    assert _inputs(root) == expected
    build_step, dispatch_step = root["runs"]["steps"]
    assert build_step["run"] == '"$GITHUB_ACTION_PATH/scripts/action-run" build-push build-push'
    assert dispatch_step["run"] == '"$GITHUB_ACTION_PATH/scripts/action-run" dispatch dispatch'
    assert {k: v for k, v in build_step["env"].items() if k != "GITOPS_RELEASE_PUSH"} == {
        i.env: f"${{{{ inputs.{i.name} }}}}" for i in build_push.SPEC.inputs if i.name != "push"}
    assert build_step["env"]["GITOPS_RELEASE_PUSH"] == "true"
    assert dispatch_step["env"] == {
        i.env: (f"${{{{ steps.build.outputs.{i.name} }}}}" if i.name in ("image", "release", "digest")
                else f"${{{{ inputs.{i.name} }}}}") for i in dispatch.SPEC.inputs}
    assert set(root["outputs"]) == set(build_push.SPEC.outputs) | set(dispatch.SPEC.outputs)


SEED_INPUTS = {  # the seed's reusable-acr-k8s-release-workflow.yaml: name → (type, default, required)
    "target_env": ("string", "dev", True),
    "image_name": ("string", "", True),
    "config_root_folder": ("string", "", True),
    "target_url": ("string", "", False),
    "target_k8s_image_kind": ("string", "new-image", False),
    "docker_file": ("string", "./Dockerfile", False),
    "docker_context": ("string", ".", False),
}


def test_release_workflow_keeps_the_seed_contract() -> None:
    workflow = YAML(typ="safe").load(
        (REPO / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))
    call = workflow["on"]["workflow_call"]
    inputs = {name: (item["type"], str(item.get("default", "")), bool(item.get("required")))
              for name, item in call["inputs"].items()}
    assert {name: inputs[name] for name in SEED_INPUTS} == SEED_INPUTS
    added = {name: value for name, value in inputs.items() if name not in SEED_INPUTS}
    assert all(not required for _, _, required in added.values()), added
    assert set(added) >= {"config_repository", "platforms", "allowed_environments",
                          "github_api_url"}
    assert set(call["secrets"]) == {"CR_ENDPOINT", "CR_USERNAME", "CR_PASSWORD", "GITHUB_PAT"}
    # image holds the CR_ENDPOINT secret (GitHub drops it); the others are secret-free
    assert set(call["outputs"]) == {"image", "version", "digest", "image_name", "release",
                                    "promoted", "deployment_id", "config_commit_url"}
    assert workflow["permissions"] == {}
    uses = [step.get("uses", "") for job in workflow["jobs"].values()
            for step in job.get("steps", [])]
    refs = ("v1", f"v{released_version()}")  # a released commit pins its own version
    assert any(f"gitops-release/gitops-release/actions/build-push@{r}" in uses for r in refs)
    assert any(f"gitops-release/gitops-release/actions/dispatch@{r}" in uses for r in refs)
    assert not any(u.startswith("./") for u in uses)


def test_example_workflows_call_the_release_workflow_as_the_seed_does() -> None:
    folder = REPO / "examples" / "app-repo" / ".github" / "workflows"
    for name, env, trigger in (("dev-release-version.yaml", "dev", "push"),
                               ("prod-release-version.yaml", "prod", "push")):
        workflow = YAML(typ="safe").load((folder / name).read_text(encoding="utf-8"))
        (job,) = [j for j in workflow["jobs"].values() if "uses" in j]
        assert job["uses"] == "gitops-release/gitops-release/.github/workflows/release.yml@v1"
        assert job["secrets"] == "inherit"
        assert job["with"]["target_env"] == env
        assert trigger in workflow["on"]
    dev = YAML(typ="safe").load((folder / "dev-release-version.yaml").read_text(encoding="utf-8"))
    # the seed's dev flow: tests, then Release Please and the dev deploy side by side
    assert dev["jobs"]["deploy_dev"]["needs"] == "test"
    assert dev["jobs"]["release-please"]["needs"] == "test"
    assert dev["jobs"]["release-please"]["steps"][0]["uses"].startswith(
        "googleapis/release-please-action@")
    assert dev["jobs"]["release-please"]["if"] == "${{ !github.event.act }}"
    prod = YAML(typ="safe").load((folder / "prod-release-version.yaml").read_text(encoding="utf-8"))
    assert prod["on"]["push"]["tags"] == ["v*.*.*"]
    assert "concurrency" in prod


def test_missing_docker_binary_is_a_clear_error_not_a_traceback(app: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    out = io.StringIO()
    code = main(["build-push", "--registry", "127.0.0.1:1", "--image-name", "app",
                 "--platforms", "linux/amd64"], {"PATH": str(empty)}, out)
    assert code == 1
    assert out.getvalue().splitlines()[-1] == (
        "error: build-push: Build failed: the docker command was not found on PATH. Install "
        "Docker (the docker CLI with its buildx plugin), or put it on PATH; on GitHub, use a "
        "runner that has Docker (ubuntu-latest)")


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(("environ", "commit"), [
    ({"GITHUB_SHA": SHA, "GITHUB_REPOSITORY": "acme/web-api"},
     f"[`0123456789ab`](https://github.com/acme/web-api/commit/{SHA})"),
    ({"GITHUB_SHA": SHA, "GITHUB_REPOSITORY": "acme/x](javascript:y)"}, "`0123456789ab`"),
    ({}, "-"),
], ids=["linked", "odd-repository-not-linked", "no-commit"])
def test_summary_says_what_to_pull_and_from_which_commit(app: Path, environ: dict[str, str],
                                                         commit: str) -> None:
    inputs = build_push.read_inputs(_raw(platforms="linux/amd64,linux/arm64"))
    digest = "sha256:" + "a" * 64
    text = build_push.summary_markdown(inputs, "registry.example.com:5000/team/api:v1.2.3",
                                       ["v1.2.3", "20260101000000000"], digest, 1.25, environ)
    assert text == (
        "### :whale: Built and pushed registry.example.com:5000/team/api:v1.2.3\n\n"
        f"Pull it by digest: `registry.example.com:5000/team/api@{digest}`\n\n"
        "| | |\n|---|---|\n"
        f"| Source commit | {commit} |\n"
        "| Tags | v1.2.3, 20260101000000000 |\n"
        "| Platforms | linux/amd64, linux/arm64 |\n"
        f"| Digest | {digest} |\n"
        "| Cache | from type=registry,ref=registry.example.com:5000/team/api; to type=inline |\n"
        "| Build time | 1.2 s |\n")
