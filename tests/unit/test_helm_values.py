"""Helm values shapes: only the keys that decide the image change, the repository is compared and
never rewritten, digest only where the chart reads it, quoting kept unless the type would change."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files

REG = "registry.example.com/acme"
DIGEST = "sha256:" + "ab" * 32


def _repo(tmp_path: Path, files: dict[str, str]) -> GitRepo:
    return repo_of_files(tmp_path, files)


def _deploy(repo: GitRepo, tmp_path: Path, image: str, release: str,
            *extra: str) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, ["image-update", "--image", image, "--release", release,
                                    "--path", "chart", "--push", "false", *extra])


@pytest.mark.parametrize(("values", "image", "expected"), [
    ("image:\n  repository: registry.example.com/acme/api\n  tag: 6.14.1\n",
     f"{REG}/api:6.14.2", "image:\n  repository: registry.example.com/acme/api\n  tag: 6.14.2\n"),
    ("image:\n  registry: registry.example.com\n  repository: acme/api\n  tag: \"1.9\"\n",
     f"{REG}/api:1.10", "image:\n  registry: registry.example.com\n  repository: acme/api\n"
     "  tag: \"1.10\"\n"),
    ("image: registry.example.com/acme/api:v1  # pinned\n", f"{REG}/api:v2",
     "image: registry.example.com/acme/api:v2  # pinned\n"),
    ("api:\n  image:\n    repository: registry.example.com/acme/api\n    tag: v1\n"
     "worker:\n  image:\n    repository: registry.example.com/acme/worker\n    tag: v1\n",
     f"{REG}/api:v2", "api:\n  image:\n    repository: registry.example.com/acme/api\n    tag: v2\n"
     "worker:\n  image:\n    repository: registry.example.com/acme/worker\n    tag: v1\n"),
    # image: repo beside its tag key (the chart joins them): the tag key, never "repo:tag"
    ("image: registry.example.com/acme/api\nimageTag: 1.0.0\n", f"{REG}/api:1.1.0",
     "image: registry.example.com/acme/api\nimageTag: 1.1.0\n"),
    ("replicas: 1\nimage: registry.example.com/acme/api\ntag: 1.0.0\n", f"{REG}/api:1.1.0",
     "replicas: 1\nimage: registry.example.com/acme/api\ntag: 1.1.0\n"),
    ("api:\n  image: registry.example.com/acme/api\n  imageTag: v1\n", f"{REG}/api:v2",
     "api:\n  image: registry.example.com/acme/api\n  imageTag: v2\n"),
    # the registry from a YAML merge key, as Helm reads it (it was missed: a policy refusal)
    ("x-defaults: &img\n  registry: registry.example.com\napi:\n  image:\n    <<: *img\n"
     "    repository: acme/api\n    tag: v1\n", f"{REG}/api:v2",
     "x-defaults: &img\n  registry: registry.example.com\napi:\n  image:\n    <<: *img\n"
     "    repository: acme/api\n    tag: v2\n"),
    # image.repository exactly the image's and no tag key (the chart's default tag ran):
    # image.tag, the documented default, is added beside it (it was refused, "candidates: none")
    ("image:\n  repository: registry.example.com/acme/api\n  pullPolicy: IfNotPresent\n",
     f"{REG}/api:1.1.0", "image:\n  repository: registry.example.com/acme/api\n"
     "  pullPolicy: IfNotPresent\n  tag: 1.1.0\n"),
], ids=["repository-tag", "registry-repository-tag", "one-string", "per-component",
        "image-and-imageTag", "image-and-tag", "component-image-and-imageTag", "merge-key",
        "repository-without-a-tag-key"])
def test_values_shapes(tmp_path: Path, values: str, image: str, expected: str) -> None:
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, image, "api@" + image.rsplit(":", 1)[1])
    assert code == 0, log
    assert (repo.work / "chart/values.yaml").read_text() == expected


@pytest.mark.parametrize("policy", [False, True], ids=["default", "repository-change-allowed"])
def test_shared_repository_prefix_is_refused(tmp_path: Path, policy: bool) -> None:
    """A repository key every service's image starts with (robot-shop's image.repo: robotshop,
    read as robotshop/rs-<service>): its tag is every service's version. Not a policy matter:
    allowing a repository change would write the whole image name into the prefix."""
    values = "images:\n  repository: registry.example.com/acme\n  tag: v1\n"
    files = {"chart/values.yaml": values}
    if policy:
        files["gitops-release.yaml"] = ("apps:\n  - match: chart\n    images:\n"
                                        "      - registry.example.com/acme/*\n")
    repo = _repo(tmp_path, files)
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/cart:v2", "cart@v2",
                           "--helm-tag-key", "images.tag", "--helm-image-key",
                           "images.repository")
    assert code == 1, log
    assert "images.repository is registry.example.com/acme, the start of the new image's " \
        "repository registry.example.com/acme/cart" in log
    assert "images.tag is the version of every service it renders" in log
    assert "cart.image.repository and cart.image.tag" in log
    assert (repo.work / "chart/values.yaml").read_text() == values


def test_image_keys_by_other_names_are_shown(tmp_path: Path) -> None:
    values = "image:\n  repo: registry.example.com/acme\n  version: v1\n  pullPolicy: Always\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/cart:v2", "cart@v2")
    assert code == 1, log
    assert "candidates: none" in log
    assert "image keys by other names: image (repo, version, pullPolicy)" in log
    assert (repo.work / "chart/values.yaml").read_text() == values


def test_digest_is_not_added_where_no_chart_reads_it(tmp_path: Path) -> None:
    values = "image:\n  repository: registry.example.com/acme/api\n  tag: v1\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/api:v2", "api@v2", "--digest", DIGEST)
    assert code == 0, log
    assert "digest not pinned" in log
    assert "digest" not in (repo.work / "chart/values.yaml").read_text()


def test_digest_is_added_where_the_chart_reads_it(tmp_path: Path) -> None:
    values = "image:\n  repository: registry.example.com/acme/api\n  tag: v1\n  pullSecrets: [\n" \
             "    a,\n  ]\n"
    template = ("image: {{ .Values.image.repository }}:{{ .Values.image.tag }}"
                "{{ with .Values.image.digest }}@{{ . }}{{ end }}\n")
    repo = _repo(tmp_path, {"chart/values.yaml": values, "chart/Chart.yaml": "name: api\n",
                            "chart/templates/deployment.yaml": template})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/api:v2", "api@v2", "--digest", DIGEST)
    assert code == 0, log
    assert (repo.work / "chart/values.yaml").read_text() == values.replace(
        "tag: v1", "tag: v2") + f"  digest: {DIGEST}\n"


def test_chart_that_never_reads_the_tag_key_is_refused(tmp_path: Path) -> None:
    values = "image:\n  repository: registry.example.com/acme/api\n  tag: v1\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values, "chart/Chart.yaml": "name: api\n",
                            "chart/templates/deployment.yaml": "image: {{ .Values.img }}\n"})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/api:v2", "api@v2")
    assert code == 1
    assert "never reads .Values.image.tag" in log
    assert repo.git("status", "--porcelain") == ""


HELMRELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: podinfo
spec:
  interval: 50m
  chart:
    spec:
      chart: podinfo
      sourceRef: {kind: HelmRepository, name: podinfo}
"""


def _kustomize(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    import shutil
    import subprocess

    from ruamel.yaml import YAML

    command = ["kustomize", "build"] if shutil.which("kustomize") else ["kubectl", "kustomize"]
    out = subprocess.run([*command, str(folder)], capture_output=True, text=True, check=True)
    return list(YAML(typ="safe").load_all(out.stdout))


def test_flux_helmrelease_values_patched_in_the_overlay(tmp_path: Path) -> None:
    files = {
        "apps/base/podinfo/kustomization.yaml": "resources:\n  - release.yaml\n",
        "apps/base/podinfo/release.yaml": HELMRELEASE,
        "apps/staging/kustomization.yaml":
            "resources:\n  - ../base/podinfo\npatches:\n  - path: podinfo-values.yaml\n"
            "    target:\n      kind: HelmRelease\n",
        "apps/staging/podinfo-values.yaml":
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
            "  name: podinfo\n  namespace: podinfo\nspec:\n  values:\n    image:\n"
            "      repository: ghcr.io/stefanprodan/podinfo\n      tag: 6.14.1\n"
            "    replicaCount: 2\n"}
    repo = _repo(tmp_path, files)
    before = _kustomize(repo.work / "apps/staging")
    code, log, _ = run_cli(repo, tmp_path, ["image-update", "--image",
                                            "ghcr.io/stefanprodan/podinfo:6.14.2", "--release",
                                            "podinfo@6.14.2", "--path", "apps/staging",
                                            "--push", "false"])
    assert code == 0, log
    after = _kustomize(repo.work / "apps/staging")
    before[0]["spec"]["values"]["image"]["tag"] = "6.14.2"
    assert after == before
    assert "      tag: 6.14.2\n" in (repo.work / "apps/staging/podinfo-values.yaml").read_text()


OLD_PIN = "sha256:" + "4d" * 32
NEW_PIN = "sha256:" + "aa" * 32


@pytest.mark.parametrize("digest", [True, False], ids=["with-digest", "without-digest"])
def test_a_tag_that_carries_its_digest_keeps_carrying_it(tmp_path: Path, digest: bool) -> None:
    """Renovate's pinning, in every HelmRelease of some teams' repos: ``tag: 18.19.0@sha256:...``
    is a tag and its digest (it was refused as "a whole image", and the hint led to a second
    refusal). The tag key gets the new tag and the deploy's digest; without one, the bare tag and
    a note. Deploying the same image again changes nothing."""
    files = {"apps/atuin/kustomization.yaml": "resources:\n  - helmrelease.yaml\n",
             "apps/atuin/helmrelease.yaml": HELMRELEASE.replace("podinfo", "atuin")
             + "  values:\n    controllers:\n      atuin:\n        containers:\n          app:\n"
             f"            image:\n              repository: ghcr.io/atuinsh/atuin\n"
             f"              tag: 18.19.0@{OLD_PIN}\n"}
    repo = _repo(tmp_path, files)
    image = "ghcr.io/atuinsh/atuin:18.20.0" + (f"@{NEW_PIN}" if digest else "")
    argv = ["image-update", "--image", image, "--release", "atuin@18.20.0", "--path", "apps/atuin",
            "--push", "false"]
    code, log, outputs = run_cli(repo, tmp_path, argv)
    assert code == 0 and outputs["previous-image"] == "ghcr.io/atuinsh/atuin:18.19.0", log
    text = (repo.work / "apps/atuin/helmrelease.yaml").read_text()
    assert f"              tag: 18.20.0{'@' + NEW_PIN if digest else ''}\n" in text, text
    assert ("pinned a digest; this deploy carries none" in log) != digest, log
    rendered = _kustomize(repo.work / "apps/atuin")[0]
    assert rendered["spec"]["values"]["controllers"]["atuin"]["containers"]["app"]["image"] == {
        "repository": "ghcr.io/atuinsh/atuin", "tag": f"18.20.0{'@' + NEW_PIN if digest else ''}"}
    code, log, outputs = run_cli(repo, tmp_path, argv)
    assert code == 0 and outputs["changed"] == "false" and "nothing to change" in log, log


PER_COMPONENT_STRINGS = ("web:\n  image: registry.example.com/acme/web:1.0.0\n  replicas: 2\n"
                         "worker:\n  image: registry.example.com/acme/worker:1.0.0\n")


@pytest.mark.parametrize(("app", "extra"), [("web", ()), ("worker", ("--helm-image-key",
                                                                     "worker.image"))],
                         ids=["found-by-repository", "named-by-helm-image-key"])
def test_per_component_image_strings(tmp_path: Path, app: str, extra: tuple[str, ...]) -> None:
    """An umbrella chart's ``web.image: repo:tag``: the string of the app's repository (or the
    one helm-image-key names) is the place, the whole image is written, the other stays."""
    repo = _repo(tmp_path, {"chart/values.yaml": PER_COMPONENT_STRINGS})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/{app}:1.1.0", f"{app}@1.1.0", *extra)
    assert code == 0, log
    assert (repo.work / "chart/values.yaml").read_text() == PER_COMPONENT_STRINGS.replace(
        f"{app}:1.0.0", f"{app}:1.1.0")


@pytest.mark.parametrize(("values", "key", "says"), [
    (PER_COMPONENT_STRINGS, "web.image", "Set helm-image-key: web.image without helm-tag-key"),
    ("image:\n  repository: registry.example.com/acme/web\n  tag: 1.0.0\n", "image.repository",
     "looks like a repository"),
    ("image:\n  repository: web\n  tag: 1.0.0\n", "image.repository", "looks like a repository"),
    (f"image:\n  repository: {REG}/web\n  digest: {DIGEST}\n", "image.digest",
     "holds a digest"),
], ids=["whole-image", "repository", "short-repository", "digest"])
def test_a_tag_key_that_holds_no_tag_is_refused(tmp_path: Path, values: str, key: str,
                                                says: str) -> None:
    """helm-tag-key over a whole image or a repository would deploy an image named like the
    tag: an input error naming the key, nothing written or committed."""
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    head = repo.git("rev-parse", "HEAD")
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0",
                           "--helm-tag-key", key)
    assert code == 1, log
    assert "input 'helm-tag-key'" in log and says in log, log
    assert (repo.work / "chart/values.yaml").read_text() == values
    assert repo.git("rev-parse", "HEAD") == head and repo.git("status", "--porcelain") == ""


GENERATED_VALUES = {
    "apps/web/prod/kustomization.yaml":
        "namespace: web\nresources:\n  - release.yaml\nconfigMapGenerator:\n"
        "  - name: web-values\n    files:\n      - values.yaml\n"
        "configurations:\n  - kustomizeconfig.yaml\n",
    "apps/web/prod/kustomizeconfig.yaml":
        "nameReference:\n  - kind: ConfigMap\n    version: v1\n    fieldSpecs:\n"
        "      - path: spec/valuesFrom/name\n        kind: HelmRelease\n",
    "apps/web/prod/release.yaml":
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n"
        "spec:\n  interval: 5m\n  chart:\n    spec:\n      chart: web\n"
        "      sourceRef: {kind: HelmRepository, name: acme}\n"
        "  valuesFrom:\n    - kind: ConfigMap\n      name: web-values\n",
    "apps/web/prod/values.yaml":
        f"replicaCount: 2\nimage:\n  repository: {REG}/web\n  tag: 1.0.0\n",
}


def _deploy_flux(repo: GitRepo, tmp_path: Path) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, ["image-update", "--image", f"{REG}/web:1.1.0", "--release",
                                    "web@1.1.0", "--path", "apps/web/prod", "--push", "false"])


def test_flux_values_from_a_configmap_generated_in_the_overlay(tmp_path: Path) -> None:
    """Flux's own layout: the HelmRelease's valuesFrom ConfigMap is generated from the
    overlay's values.yaml. That file is edited; the render proves that only the ConfigMap's
    values (and its name's hash, where valuesFrom names it) changed."""
    repo = _repo(tmp_path, GENERATED_VALUES)
    before = _kustomize(repo.work / "apps/web/prod")
    code, log, _ = _deploy_flux(repo, tmp_path)
    assert code == 0, log
    assert (repo.work / "apps/web/prod/values.yaml").read_text() == \
        GENERATED_VALUES["apps/web/prod/values.yaml"].replace("1.0.0", "1.1.0")
    after = _kustomize(repo.work / "apps/web/prod")
    [cm_before] = [o for o in before if o["kind"] == "ConfigMap"]
    [cm_after] = [o for o in after if o["kind"] == "ConfigMap"]
    [release] = [o for o in after if o["kind"] == "HelmRelease"]
    assert "tag: 1.1.0" in cm_after["data"]["values.yaml"]
    assert release["spec"]["valuesFrom"][0]["name"] == cm_after["metadata"]["name"] != \
        cm_before["metadata"]["name"]
    assert "only ConfigMap web-values's values.yaml" in log


def test_flux_values_from_elsewhere_says_what_the_receiver_edits(tmp_path: Path) -> None:
    files = {**GENERATED_VALUES, "apps/web/prod/kustomization.yaml":
             "namespace: web\nresources:\n  - release.yaml\n"}
    del files["apps/web/prod/values.yaml"]
    repo = _repo(tmp_path, files)
    code, log, _ = _deploy_flux(repo, tmp_path)
    assert code == 1, log
    assert "no HelmRelease document inside the folder sets spec.values for 'web'" in log
    assert "configMapGenerator" in log and repo.git("status", "--porcelain") == ""


UMBRELLA = ("global:\n  imageRegistry: registry.example.com\nfrontend:\n  image:\n"
            "    repository: acme/frontend\n    tag: \"1.0.0\"\nbackend:\n  image:\n"
            "    repository: acme/backend\n    tag: \"1.0.0\"\n")


@pytest.mark.parametrize("extra", [(), ("--helm-registry-key", "global.imageRegistry")],
                         ids=["found", "named"])
def test_global_image_registry_completes_each_blocks_repository(
        tmp_path: Path, extra: tuple[str, ...]) -> None:
    """Bitnami's convention: global.imageRegistry is the registry of every block, so
    acme/frontend there is registry.example.com/acme/frontend; only its tag moves."""
    repo = _repo(tmp_path, {"chart/values.yaml": UMBRELLA})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/frontend:1.1.0", "frontend@1.1.0",
                                 *extra)
    assert code == 0 and outputs.get("refused") != "true", log
    assert (repo.work / "chart/values.yaml").read_text() == UMBRELLA.replace(
        "acme/frontend\n    tag: \"1.0.0\"", "acme/frontend\n    tag: \"1.1.0\"")


def test_a_registry_key_path_the_values_do_not_set_is_named(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"chart/values.yaml": UMBRELLA})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/frontend:1.1.0", "frontend@1.1.0",
                           "--helm-registry-key", "global.registry")
    assert code == 1, log
    assert "input 'helm-registry-key'" in log and "sets no global.registry" in log, log
    assert repo.git("status", "--porcelain") == ""


def test_a_named_tag_key_still_compares_the_repository_beside_it(tmp_path: Path) -> None:
    """helm-tag-key names where the tag goes, not what runs: the repository next to it must
    still be the new image's, else the other program's tag would be pushed."""
    values = f"web:\n  image:\n    repository: {REG}/web\n    tag: 1.0.0\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, outputs = _deploy(repo, tmp_path, "registry.example.com/other/thing:1.3.0",
                                 "web@1.3.0", "--helm-tag-key", "web.image.tag")
    assert code == 0, log
    assert (outputs["refused"], outputs["refused-reason"]) == ("true", "policy"), log
    assert (repo.work / "chart/values.yaml").read_text() == values


def test_blocks_of_one_repository_pick_the_one_named_after_the_app(tmp_path: Path) -> None:
    values = (f"web:\n  image:\n    repository: {REG}/web\n    tag: 1.0.0\n"
              f"worker:\n  image:\n    repository: {REG}/web\n    tag: 1.0.0\n")
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0, log
    assert (repo.work / "chart/values.yaml").read_text() == values.replace(
        "tag: 1.0.0", "tag: 1.1.0", 1)


def test_flux_values_from_a_later_entry_that_pins_the_tag_is_refused(tmp_path: Path) -> None:
    """Flux merges valuesFrom in order: a later ConfigMap that sets image.tag decides, so the
    edit of the generated file would deploy nothing."""
    files = {**GENERATED_VALUES,
             "apps/web/prod/kustomization.yaml": GENERATED_VALUES["apps/web/prod/kustomization.yaml"]
             .replace("  - release.yaml\n", "  - release.yaml\n  - pin.yaml\n"),
             "apps/web/prod/pin.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
             "  name: web-pin\ndata:\n  values.yaml: |\n    image:\n      tag: 1.0.0\n",
             "apps/web/prod/release.yaml": GENERATED_VALUES["apps/web/prod/release.yaml"]
             + "    - kind: ConfigMap\n      name: web-pin\n"}
    repo = _repo(tmp_path, files)
    code, log, _ = _deploy_flux(repo, tmp_path)
    assert code == 1, log
    assert "HelmRelease web takes ConfigMap web-pin (valuesFrom entry 2) after " \
        "apps/web/prod/values.yaml, which sets image.tag (Flux merges it over): this edit of " \
        "apps/web/prod/values.yaml would deploy nothing" in log, log
    assert repo.git("status", "--porcelain") == ""


def test_flux_values_from_a_configmap_the_release_does_not_reach_is_refused(
        tmp_path: Path) -> None:
    files = {**GENERATED_VALUES, "apps/web/prod/release.yaml": GENERATED_VALUES[
        "apps/web/prod/release.yaml"].replace("  name: web\n", "  name: web\n  namespace: flux\n")}
    files["apps/web/prod/kustomization.yaml"] = files["apps/web/prod/kustomization.yaml"].replace(
        "namespace: web\n", "")
    repo = _repo(tmp_path, files)
    code, log, _ = _deploy_flux(repo, tmp_path)
    assert code == 1, log
    assert "no HelmRelease of the render takes its values from ConfigMap web-values-" in log, log
    assert repo.git("status", "--porcelain") == ""


def test_a_named_tag_key_compares_a_repository_key_of_another_name(tmp_path: Path) -> None:
    values = "image:\n  repo: registry.example.com/acme/other\n  tag: 1.0.0\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0",
                                 "--helm-tag-key", "image.tag")
    assert code == 0 and outputs["refused-reason"] == "policy", log
    assert (repo.work / "chart/values.yaml").read_text() == values


def test_flux_values_from_with_a_target_path_of_its_own_is_refused(tmp_path: Path) -> None:
    """valuesFrom with targetPath puts the file's whole text at one value: its image keys
    reach no chart value, so the edit would deploy nothing."""
    files = {**GENERATED_VALUES, "apps/web/prod/release.yaml": GENERATED_VALUES[
        "apps/web/prod/release.yaml"] + "      targetPath: cfg\n"}
    repo = _repo(tmp_path, files)
    code, log, _ = _deploy_flux(repo, tmp_path)
    assert code == 1 and "with targetPath cfg" in log and "would deploy nothing" in log, log
    assert repo.git("status", "--porcelain") == ""


def test_flux_values_from_shared_with_another_release_is_refused(tmp_path: Path) -> None:
    """Another HelmRelease taking the same generated values without overriding the image
    would be deployed too."""
    other = GENERATED_VALUES["apps/web/prod/release.yaml"].replace("name: web\n",
                                                                   "name: web-canary\n", 1)
    files = {**GENERATED_VALUES, "apps/web/prod/release.yaml":
             GENERATED_VALUES["apps/web/prod/release.yaml"] + "---\n" + other}
    repo = _repo(tmp_path, files)
    code, log, _ = _deploy_flux(repo, tmp_path)
    assert code == 1 and "is also the values of HelmRelease web-canary" in log, log
    assert repo.git("status", "--porcelain") == ""


def test_a_layered_file_under_a_base_with_a_registry_deploys(tmp_path: Path) -> None:
    """values.yaml holds registry and repository, values-prod.yaml only the tag."""
    base = "image:\n  registry: registry.example.com\n  repository: acme/web\n  tag: 1.0.0\n"
    repo = _repo(tmp_path, {"chart/values.yaml": base,
                            "chart/values-prod.yaml": "image:\n  tag: 1.0.0\n"})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0",
                                 "--helm-values-file", "values-prod.yaml")
    assert code == 0 and outputs.get("refused") != "true", log
    assert (repo.work / "chart/values-prod.yaml").read_text() == "image:\n  tag: 1.1.0\n"


def test_flux_spec_values_without_image_keys_leave_the_generated_file_the_place(
        tmp_path: Path) -> None:
    """spec.values that set other things (replicas) do not hide the generated values file that
    sets the image."""
    files = {**GENERATED_VALUES, "apps/web/prod/release.yaml": GENERATED_VALUES[
        "apps/web/prod/release.yaml"] + "  values:\n    replicaCount: 3\n"}
    repo = _repo(tmp_path, files)
    code, log, _ = _deploy_flux(repo, tmp_path)
    assert code == 0, log
    assert "tag: 1.1.0" in (repo.work / "apps/web/prod/values.yaml").read_text()


def test_a_repository_change_the_policy_allows_is_said(tmp_path: Path) -> None:
    """An app rule listing images allows the new repository: the values' repository is
    rewritten, and the summary says so."""
    values = "image:\n  repository: registry.example.com/acme/old\n  tag: 1.0.0\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values, "gitops-release.yaml":
                            f"version: 1\napps:\n  - match: chart\n    images: [{REG}/web]\n"})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0 and outputs.get("refused") != "true", log
    assert "the repository changes from registry.example.com/acme/old to " \
        "registry.example.com/acme/web (the policy allows it)" in log, log
    assert (repo.work / "chart/values.yaml").read_text() == values.replace(
        "acme/old", "acme/web").replace("1.0.0", "1.1.0")


def test_a_chart_that_writes_the_image_literally_says_so(tmp_path: Path) -> None:
    """values.yaml has no image keys; the template writes ``image: repo:0.5``: the refusal names
    the template (it suggested helm-tag-key, which cannot help)."""
    repo = _repo(tmp_path, {
        "chart/Chart.yaml": "apiVersion: v2\nname: yelb\nversion: 0.1.0\n",
        "chart/values.yaml": "replicas: 1\n",
        "chart/templates/deployment.yaml":
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: yelb-appserver\nspec:\n"
            "  template:\n    spec:\n      containers:\n        - name: appserver\n"
            f"          image: {REG}/yelb-appserver:0.5\n"})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/yelb-appserver:0.6", "yelb-appserver@0.6")
    assert code == 1, log
    assert f"writes the image {REG}/yelb-appserver:0.5 literally in templates/deployment.yaml" in log
    assert repo.git("status", "--porcelain") == ""


def test_a_key_twice_with_the_same_value_is_read_as_every_reader_reads_it(tmp_path: Path) -> None:
    """aws-containers' retail-store ui chart has `ingresses: []` twice: every YAML reader reads
    the same, so the deploy goes ahead; twice with different values stays refused, and so does
    an edit that would change one copy of a duplicated block."""
    values = ("ingresses: []\nimage:\n  repository: registry.example.com/acme/ui\n  tag: 1.0.0\n"
              "ingresses: []\n")
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/ui:1.1.0", "ui@1.1.0")
    assert code == 0, log
    assert (repo.work / "chart/values.yaml").read_text() == values.replace("1.0.0", "1.1.0")

    differ = values.replace("ingresses: []\n", "ingresses: [a]\n", 1)
    repo = _repo(tmp_path / "differ", {"chart/values.yaml": differ})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/ui:1.1.0", "ui@1.1.0")
    assert code == 1 and "has the key 'ingresses' twice in one mapping" in log, log
    assert (repo.work / "chart/values.yaml").read_text() == differ

    block = "image:\n  repository: registry.example.com/acme/ui\n  tag: 1.0.0\n"
    twice = block + "replicas: 1\n" + block
    repo = _repo(tmp_path / "twice", {"chart/values.yaml": twice})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/ui:1.1.0", "ui@1.1.0")
    assert code == 1 and "candidates: image, image" in log, log
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/ui:1.1.0", "ui@1.1.0",
                           "--helm-tag-key", "image.tag")  # named: the edit's proof refuses
    assert code == 1 and "has the key 'image' twice in one mapping" in log, log
    assert (repo.work / "chart/values.yaml").read_text() == twice
    assert repo.git("status", "--porcelain") == ""


def test_a_values_deploy_says_when_the_release_is_not_recorded(tmp_path: Path) -> None:
    values = "image:\n  repository: registry.example.com/acme/api\n  tag: v1\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/api:v2", "api@v2")
    assert code == 0, log
    assert "APP_RELEASEVERSION not written: values record the release only under " \
        "helm-release-key" in log
    repo = _repo(tmp_path / "named", {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/api:v2", "api@v2", "--helm-release-key",
                           "release")
    assert code == 0 and "not written" not in log, log
    assert (repo.work / "chart/values.yaml").read_text().endswith("release: api@v2\n")


def test_another_components_image_block_is_no_candidate(tmp_path: Path) -> None:
    """An umbrella chart's values: rabbitmq.image (another repository) is the only block with
    repository and tag; cart's image comes through keys of other names. Deploying cart is an
    error listing the image keys (it was a policy refusal, exit 0, naming rabbitmq's block)."""
    values = (".image: &tag\n  repository: acme\n  version: abc123\n"
              "rabbitmq:\n  image:\n    registry: docker.io\n    repository: bitnami/rabbitmq\n"
              "    tag: 4.1.3\ncart:\n  image:\n    <<: *tag\n")
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, outputs = _deploy(repo, tmp_path, "acme/rs-cart:2.0.0", "cart@2.0.0")
    assert code == 1 and outputs.get("refused") != "true", log
    assert "cannot tell which image block is 'cart'" in log, log
    assert "rabbitmq.image (registry, repository, tag)" in log, log


@pytest.mark.parametrize("policy", [False, True], ids=["no-policy", "policy-allowing-it"])
def test_a_subcharts_image_is_not_the_umbrella_charts_own(tmp_path: Path, policy: bool) -> None:
    """bitnami/wordpress: deploying mariadb, whose subchart values (mariadb:) set no image.
    The chart's top-level image (wordpress) was taken as mariadb's: a repository-change policy
    refusal advising to allow it, and with a policy allowing docker.io/bitnami/* mariadb's
    repository was written into wordpress' block. It is an error naming the keys to add."""
    values = ("image:\n  registry: docker.io\n  repository: bitnami/wordpress\n"
              "  tag: 6.8.2-debian-12-r5\nmariadb:\n  enabled: true\n  auth:\n"
              "    database: bitnami_wordpress\n")
    files = {"chart/values.yaml": values}
    if policy:
        files["gitops-release.yaml"] = ("version: 1\napps:\n  - match: \"**\"\n"
                                        "    images: [\"docker.io/bitnami/*\"]\n")
    repo = _repo(tmp_path, files)
    code, log, outputs = _deploy(repo, tmp_path, "docker.io/bitnami/mariadb:12.0.3-debian-12-r0",
                                 "mariadb@12.0.3-debian-12-r0")
    assert code == 1 and outputs.get("changed") != "true", log
    assert "no values block runs docker.io/bitnami/mariadb: mariadb: holds the values of a " \
        "subchart" in log, log
    assert "set helm-tag-key: mariadb.image.tag" in log and "allow" not in log, log
    assert (repo.work / "chart/values.yaml").read_text() == values


def test_a_repository_and_a_name_that_join_into_the_image_are_named(tmp_path: Path) -> None:
    """image: {repository: acme, name: rs-cart, version: 1.0.0}, read as repository/name:version:
    naming the version key alone, the refusal says which keys name the image (it said the
    repository is every service's); with them the deploy writes the version."""
    values = "image:\n  repository: acme\n  name: rs-cart\n  version: 1.0.0\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, "acme/rs-cart:2.0.0", "cart@2.0.0",
                           "--helm-tag-key", "image.version")
    assert code == 1, log
    assert "Set helm-registry-key: image.repository and helm-image-key: image.name" in log, log
    code, log, _ = _deploy(repo, tmp_path, "acme/rs-cart:2.0.0", "cart@2.0.0",
                           "--helm-tag-key", "image.version", "--helm-image-key", "image.name",
                           "--helm-registry-key", "image.repository")
    assert code == 0, log
    assert (repo.work / "chart/values.yaml").read_text() == values.replace("1.0.0", "2.0.0")


def test_a_tag_only_values_file_without_a_chart_is_refused_for_an_unchecked_repository(
        tmp_path: Path) -> None:
    """multi-app-multi-value-argocd: prod-values.yaml holds only imageVersion, the chart (which
    hard-codes the repository) lives elsewhere. Any image's tag was written (an unrelated
    repository's 4.1 reached prod, previous-image '?:1.0'). Without a repository to compare,
    the policy refuses, unless the app's images are listed in gitops-release.yaml."""
    files = {"chart/prod-values.yaml": 'imageVersion: "1.0"\n'}
    repo = _repo(tmp_path / "plain", files)
    code, log, outputs = _deploy(repo, tmp_path, "ghcr.io/someone/unrelated:4.1", "app1@4.1",
                                 "--helm-values-file", "prod-values.yaml", "--helm-tag-key",
                                 "imageVersion")
    assert code == 0 and outputs["refused-reason"] == "policy", log
    assert "sets imageVersion and no repository, and no chart in this folder renders it" in log
    assert (repo.work / "chart/prod-values.yaml").read_text() == 'imageVersion: "1.0"\n'
    allowed = _repo(tmp_path / "allowed", {
        **files, "gitops-release.yaml": "apps:\n  - match: chart\n"
                                        "    images: [docker.io/acme/app1]\n"})
    code, log, outputs = _deploy(allowed, tmp_path, "docker.io/acme/app1:4.1", "app1@4.1",
                                 "--helm-values-file", "prod-values.yaml", "--helm-tag-key",
                                 "imageVersion")
    assert code == 0 and outputs.get("refused") != "true", log
    assert (allowed.work / "chart/prod-values.yaml").read_text() == 'imageVersion: "4.1"\n'


def test_a_folder_inside_a_chart_sent_as_the_path_is_refused(tmp_path: Path) -> None:
    """charts/web/templates sent as the path: deployed as a plain folder, its template was
    edited and pushed past the chart's hold (an adversarial round). The chart is the unit."""
    repo = _repo(tmp_path, {
        "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "chart/values.yaml": f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
        "chart/templates/static.yaml": (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
            "  template:\n    spec:\n      containers:\n        - name: web\n"
            f"          image: {REG}/web:1.0.0\n")})
    code, log, _ = run_cli(repo, tmp_path, ["image-update", "--image", f"{REG}/web:1.1.0",
                                            "--release", "web@1.1.0", "--path",
                                            "chart/templates", "--push", "false"])
    assert code == 1, log
    assert "chart/templates is inside the Helm chart chart (its Chart.yaml)" in log, log
    assert repo.git("status", "--porcelain") == ""


def test_digest_not_pinned_names_a_key_when_the_tag_key_was_named(tmp_path: Path) -> None:
    """With helm-tag-key named and no digest key, the note read "has no image. key"."""
    values = "image:\n  repository: registry.example.com/acme/api\n  tag: v1\n"
    repo = _repo(tmp_path, {"chart/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/api:v2", "api@v2", "--digest", DIGEST,
                           "--helm-tag-key", "image.tag")
    assert code == 0, log
    assert "has no digest key beside image.tag and no chart here" in log, log
