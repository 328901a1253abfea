"""`gitops-release promote` on the example config repo with a bare origin: dev's image (by digest)
and release go to prod and its prod-* siblings in one commit with a Promoted-From trailer; the
refusals (no digest, another app, another image repository, the same overlay, a downgrade) write,
commit and push nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.gitrepo import GitRepo, make_repo
from tests.harness.outputs import read_outputs
from tests.unit.test_receiver import DEV, EXAMPLE, PROD, deploy

DIGEST = "sha256:" + "7" * 64
IMAGE = "registry.example.com/acme/web-api"


@pytest.fixture
def config_repo(tmp_path: Path) -> GitRepo:
    return make_repo(tmp_path / "repos", "acme", "config", EXAMPLE)


def deploy_dev(repo: GitRepo, tmp_path: Path, version: str, digest: str = DIGEST) -> None:
    args = ["--image", f"{IMAGE}:{version}", "--release", f"web-api@{version}", "--path", DEV]
    code, log, _ = deploy(repo, tmp_path, *args, *(["--digest", digest] if digest else []))
    assert code == 0, log


def promote(repo: GitRepo, tmp_path: Path, source: str = DEV, target: str = PROD,
            *extra: str) -> tuple[int, str, str]:
    return deploy(repo, tmp_path, "--from", source, "--to", target, *extra, command="promote")


def test_dev_to_prod_with_fan_out_in_one_commit(config_repo: GitRepo, tmp_path: Path) -> None:
    deploy_dev(config_repo, tmp_path, "v1.5.0")

    code, log, out = promote(config_repo, tmp_path)

    assert code == 0, log
    outputs = read_outputs(out)
    assert outputs["promoted-image"] == f"{IMAGE}:v1.5.0@{DIGEST}"
    assert outputs["promoted-release"] == "web-api@v1.5.0"
    assert outputs["changed"] == "true" and outputs["commit"] == config_repo.origin_head()
    assert config_repo.origin_log()[:2] == [f"Promote web-api@v1.5.0 to {PROD}",
                                            "Deploy web-api@v1.5.0"]
    body = config_repo.origin_git("log", "-1", "--format=%(trailers:only,unfold)")
    assert f"Promoted-From: {DEV}\n" in body and f"Digest: {DIGEST}\n" in body
    files = config_repo.origin_git("show", "--name-only", "--format=", "main").split()
    assert sorted(files) == sorted(f"apps/web-api/overlays/{o}/deployment.yaml"
                                   for o in ("prod", "prod-eu", "prod-us"))
    for overlay in ("prod", "prod-eu", "prod-us"):
        text = config_repo.origin_show(f"apps/web-api/overlays/{overlay}/deployment.yaml")
        assert f"{IMAGE}:v1.5.0@{DIGEST}" in text and "web-api@v1.5.0" in text


def test_promoting_twice_gives_one_commit(config_repo: GitRepo, tmp_path: Path) -> None:
    deploy_dev(config_repo, tmp_path, "v1.5.0")
    assert promote(config_repo, tmp_path)[0] == 0
    head = config_repo.origin_head()
    code, log, out = promote(config_repo, tmp_path)
    assert code == 0, log
    assert read_outputs(out)["changed"] == "false" and config_repo.origin_head() == head


def test_an_older_build_is_refused_as_a_downgrade(config_repo: GitRepo, tmp_path: Path) -> None:
    deploy_dev(config_repo, tmp_path, "v1.3.0")
    head = config_repo.origin_head()
    code, log, out = promote(config_repo, tmp_path)
    assert code == 0, log
    assert read_outputs(out)["refused"] == "true"
    assert config_repo.origin_head() == head


@pytest.mark.parametrize(("case", "message"), [
    ("no-digest", f"input 'from': {DEV} runs {IMAGE}:20261120093000123 without a tag and a digest"),
    ("same", "input 'to': is the same overlay as 'from'"),
    ("other-app", "input 'to': 'apps/checkout/overlays/prod' is an overlay of apps/checkout, not "
                  "of apps/web-api"),
    ("not-overlay", "input 'to': 'apps/web-api/base' is not an overlay folder"),
    ("other-repository", f"input 'to': {PROD} runs registry.example.com/other/web-api, {DEV} runs "
                         f"{IMAGE}: a promotion does not change the image repository"),
    ("escape", "input 'to'"),
], ids=["no-digest", "same", "other-app", "not-overlay", "other-repository", "escape"])
def test_refusals_write_nothing(config_repo: GitRepo, tmp_path: Path, case: str,
                                message: str) -> None:
    if case != "no-digest":
        deploy_dev(config_repo, tmp_path, "v1.5.0")
    if case == "other-repository":
        path = config_repo.work / PROD / "deployment.yaml"
        path.write_text(path.read_text().replace("acme/web-api:", "other/web-api:"))
        config_repo.commit_all("prod runs another repository")
        config_repo.push()
    target = {"same": DEV, "other-app": "apps/checkout/overlays/prod", "not-overlay":
              "apps/web-api/base", "escape": "apps/web-api/overlays/../../../etc"}.get(case, PROD)
    head = config_repo.origin_head()

    code, log, out = promote(config_repo, tmp_path, DEV, target)

    assert code == 1, log
    assert message in log, log
    assert out == "" and config_repo.origin_head() == head
    assert config_repo.git("status", "--porcelain") == ""


def test_action_yml_declares_the_spec() -> None:
    from ruamel.yaml import YAML

    from gitops_release.commands.promote import SPEC

    action = YAML(typ="safe").load((EXAMPLE.parents[1] / "actions" / "promote" / "action.yml")
                                   .read_text(encoding="utf-8"))
    assert list(action["inputs"]) == [i.name for i in SPEC.inputs]
    for spec in SPEC.inputs:
        declared = action["inputs"][spec.name]
        assert declared["required"] is spec.required, spec.name
        assert declared.get("default", "") == spec.default, spec.name
    [step] = action["runs"]["steps"]
    assert step["env"] == {i.env: f"${{{{ inputs.{i.name} }}}}" for i in SPEC.inputs}
    assert step["run"] == '"$GITHUB_ACTION_PATH/../../scripts/action-run" promote image-update'
    assert list(action["outputs"]) == list(SPEC.outputs)
