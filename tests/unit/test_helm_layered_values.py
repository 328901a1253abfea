"""A chart folder whose values.yaml has per-environment files next to it (values-prod.yaml, ...):
an Argo CD Application (``helm.valueFiles``) or a Flux HelmRelease (``valuesFiles``) layers the
environment's file over values.yaml, so where that file sets the image, it decides what runs.

The judge is what ``helm template -f values.yaml -f values-<env>.yaml`` reads: the values files
merged as Helm merges them (mappings key by key, the later file winning). The right file changes
and every environment renders the image the deploy meant it to — or the deploy is refused naming
the files and the input that chooses, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files

REG = "registry.example.com/acme"
VALUES = f"# defaults of every environment\nimage:\n  repository: {REG}/web\n  tag: v1.0.0\nreplicas: 1\n"
PROD = "replicas: 3\nimage:\n  tag: v0.9.0  # prod is pinned here\n"
DEV = "replicas: 1\nresources: {}\n"
TEMPLATE = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
            "    spec:\n      containers:\n        - name: web\n"
            "          image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n")
CHART = {"chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
         "chart/templates/deployment.yaml": TEMPLATE, "chart/values.yaml": VALUES,
         "chart/values-prod.yaml": PROD, "chart/values-dev.yaml": DEV}


def _repo(tmp_path: Path, files: dict[str, str]) -> GitRepo:
    return repo_of_files(tmp_path, files)


def _deploy(repo: GitRepo, tmp_path: Path, *extra: str) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, ["image-update", "--image", f"{REG}/web:v1.1.0", "--release",
                                    "web@v1.1.0", "--path", "chart", "--push", "false", *extra])


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


def _image(repo: GitRepo, *layers: str) -> str:
    """The image the chart renders with values.yaml and ``layers`` (as helm -f ... -f ...)."""
    values: Any = {}
    for name in ("values.yaml", *layers):
        values = _merge(values, YAML(typ="safe").load((repo.work / "chart" / name).read_text()))
    return f"{values['image']['repository']}:{values['image']['tag']}"


def _unchanged(repo: GitRepo, head: str) -> None:
    assert repo.git("rev-parse", "HEAD").strip() == head
    assert repo.git("status", "--porcelain") == ""


def test_values_yaml_is_not_edited_while_an_environment_file_overrides_it(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path, CHART)
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 1, log
    assert "chart/values.yaml holds the image, but chart/values-prod.yaml image.tag (line 3) " \
           "also sets it" in log
    assert "Set helm-values-file to the file of the environment to deploy (e.g. " \
           "helm-values-file: values-prod.yaml)" in log
    _unchanged(repo, head)


def test_the_environment_file_named_is_edited(tmp_path: Path) -> None:
    repo = _repo(tmp_path, CHART)
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, outputs = _deploy(repo, tmp_path, "--helm-values-file", "values-prod.yaml")
    assert code == 0, log
    assert repo.git("diff", "--name-only", head, "HEAD").split() == ["chart/values-prod.yaml"]
    assert (repo.work / "chart/values-prod.yaml").read_text() == PROD.replace("v0.9.0", "v1.1.0")
    assert outputs["previous-image"] == f"{REG}/web:v0.9.0"  # the repository from values.yaml
    assert _image(repo, "values-prod.yaml") == f"{REG}/web:v1.1.0"
    assert _image(repo, "values-dev.yaml") == _image(repo) == f"{REG}/web:v1.0.0"


def test_values_yaml_named_is_edited_and_the_override_is_reported(tmp_path: Path) -> None:
    repo = _repo(tmp_path, CHART)
    code, log, _ = _deploy(repo, tmp_path, "--helm-values-file", "values.yaml")
    assert code == 0, log
    assert "chart/values-prod.yaml image.tag (line 3) overrides chart/values.yaml: the " \
           "environments that layer that file keep their image" in log
    assert _image(repo, "values-dev.yaml") == f"{REG}/web:v1.1.0"
    assert _image(repo, "values-prod.yaml") == f"{REG}/web:v0.9.0"


@pytest.mark.parametrize(("chosen", "message"), [
    ("values-dev.yaml", "chart/values-dev.yaml does not set image.tag: chart/values.yaml does, "
     "and so do chart/values-prod.yaml image.tag (line 3); whichever of them an environment "
     "layers last with values-dev.yaml decides its image"),
    ("values-qa.yaml", "chart has no values file values-qa.yaml (values files here: values.yaml, "
     "values-dev.yaml, values-prod.yaml)"),
    ("../values.yaml", "input 'helm-values-file'"),
], ids=["file-without-the-image", "no-such-file", "outside-the-folder"])
def test_a_values_file_that_cannot_decide_is_refused(tmp_path: Path, chosen: str,
                                                     message: str) -> None:
    repo = _repo(tmp_path, CHART)
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path, "--helm-values-file", chosen)
    assert code == 1, log
    assert message in log
    _unchanged(repo, head)


def test_a_digest_pinned_in_values_yaml_is_not_left_under_the_new_tag(tmp_path: Path) -> None:
    pinned = VALUES.replace("  tag: v1.0.0\n", "  tag: v1.0.0\n  digest: sha256:" + "a" * 64 + "\n")
    repo = _repo(tmp_path, {**CHART, "chart/values.yaml": pinned})
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path, "--helm-values-file", "values-prod.yaml")
    assert code == 1, log
    assert "chart/values.yaml pins image.digest (line 5) and chart/values-prod.yaml does not " \
           "set it" in log
    _unchanged(repo, head)


def test_environment_files_without_values_yaml_are_listed(tmp_path: Path) -> None:
    files = {"chart/values-prod.yaml": PROD.replace("image:\n", f"image:\n  repository: {REG}/web\n"),
             "chart/values-dev.yaml": DEV}
    repo = _repo(tmp_path, files)
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 1, log
    assert "chart has no values.yaml but the values files chart/values-dev.yaml, " \
           "chart/values-prod.yaml" in log
    assert "helm-values-file: values-prod.yaml" in log
    _unchanged(repo, head)
    code, log, _ = _deploy(repo, tmp_path, "--helm-values-file", "values-prod.yaml")
    assert code == 0, log
    assert "tag: v1.1.0  # prod is pinned here" in (repo.work / "chart/values-prod.yaml").read_text()


def test_an_environment_file_that_sets_no_image_is_no_obstacle(tmp_path: Path) -> None:
    files = {k: v for k, v in CHART.items() if k != "chart/values-prod.yaml"}
    repo = _repo(tmp_path, files)
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 0, log
    assert _image(repo, "values-dev.yaml") == _image(repo) == f"{REG}/web:v1.1.0"


def test_the_policy_names_the_values_file(tmp_path: Path) -> None:
    policy = ("version: 1\napps:\n  - match: chart\n    target:\n      helm:\n"
              "        values-file: values-prod.yaml\n")
    repo = _repo(tmp_path, {**CHART, "gitops-release.yaml": policy})
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 0, log
    assert _image(repo, "values-prod.yaml") == f"{REG}/web:v1.1.0"
    assert _image(repo) == f"{REG}/web:v1.0.0"


# values.yaml, then a common file every environment layers, then the environment's own file
# (an Argo CD Application's helm.valueFiles: [values.yaml, common-values.yaml, prod-values.yaml])
COMMON = "replicas: 2\nimage:\n  tag: v1.0.5\n"
SHARED_LAYERS = {"chart/Chart.yaml": CHART["chart/Chart.yaml"],
                 "chart/templates/deployment.yaml": TEMPLATE, "chart/values.yaml": VALUES,
                 "chart/common-values.yaml": COMMON, "chart/staging-values.yaml": COMMON[12:],
                 "chart/prod-values.yaml": "replicas: 3\n"}


def test_values_yaml_under_a_common_file_is_not_edited(tmp_path: Path) -> None:
    repo = _repo(tmp_path, SHARED_LAYERS)
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 1, log
    assert "chart/values.yaml holds the image, but chart/common-values.yaml image.tag (line 3); " \
           "chart/staging-values.yaml image.tag (line 2) also sets it" in log
    assert "helm-values-file: common-values.yaml" in log
    _unchanged(repo, head)


def test_an_environment_file_under_a_common_file_names_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path, SHARED_LAYERS)
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path, "--helm-values-file", "prod-values.yaml")
    assert code == 1, log
    assert "chart/prod-values.yaml does not set image.tag: chart/values.yaml does, and so do " \
           "chart/common-values.yaml image.tag (line 3); chart/staging-values.yaml image.tag " \
           "(line 2); whichever of them an environment layers last with prod-values.yaml " \
           "decides its image; nothing was written" in log
    assert "or set helm-values-file to the file that sets it for the environment (e.g. " \
           "helm-values-file: common-values.yaml)" in log
    _unchanged(repo, head)


def test_the_common_file_named_is_edited_and_the_later_layers_reported(tmp_path: Path) -> None:
    repo = _repo(tmp_path, SHARED_LAYERS)
    code, log, outputs = _deploy(repo, tmp_path, "--helm-values-file", "common-values.yaml")
    assert code == 0, log
    assert outputs["previous-image"] == f"{REG}/web:v1.0.5"
    assert _image(repo, "common-values.yaml", "prod-values.yaml") == f"{REG}/web:v1.1.0"
    assert "chart/staging-values.yaml image.tag (line 2) also sets it: the environments that " \
           "layer that file after chart/common-values.yaml keep their image" in log


def test_a_downgrade_below_the_common_file_is_refused(tmp_path: Path) -> None:
    """values.yaml says v1.0.0, but every environment runs the common file's v1.0.5."""
    repo = _repo(tmp_path, SHARED_LAYERS)
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, outputs = run_cli(repo, tmp_path, [
        "image-update", "--image", f"{REG}/web:v1.0.2", "--release", "web@v1.0.2", "--path",
        "chart", "--push", "false", "--helm-values-file", "common-values.yaml"])
    assert code == 0, log
    assert (outputs["refused"], outputs["refused-reason"]) == ("true", "downgrade")
    _unchanged(repo, head)


@pytest.mark.parametrize("name", ["valuesProd.yaml", "prod-values-override.yaml",
                                  "overrides.values.yml"])
def test_any_values_file_of_the_folder_is_considered(tmp_path: Path, name: str) -> None:
    repo = _repo(tmp_path, {**CHART, f"chart/{name}": PROD})
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 1, log
    assert f"chart/{name} image.tag (line 3)" in log
    _unchanged(repo, head)


def test_a_file_without_the_image_and_no_other_layer_names_values_yaml(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {k: v for k, v in CHART.items() if k != "chart/values-prod.yaml"})
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path, "--helm-values-file", "values-dev.yaml")
    assert code == 1, log
    assert "chart/values-dev.yaml does not set image.tag as chart/values.yaml does, so " \
           "chart/values.yaml decides the image for every environment that layers " \
           "values-dev.yaml" in log
    _unchanged(repo, head)
