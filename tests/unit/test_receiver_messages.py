"""What the receiver says when it cannot deploy: no traceback, the right input, the right event.
Each shape was met in a public config repo (a Flux HelmRelease patched per environment, a
StatefulSet of three containers running one image, a plain folder sent to cronjob-update)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files
from tests.unit.test_corpus import deployment
from tests.unit.test_helm_values import HELMRELEASE, _kustomize

REDIS = "public.ecr.aws/docker/library/redis"


def _repo(tmp_path: Path, files: dict[str, str]) -> GitRepo:
    return repo_of_files(tmp_path, files)


def _deploy(repo: GitRepo, tmp_path: Path, image: str, release: str, path: str, *extra: str,
            command: str = "image-update") -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, [command, "--image", image, "--release", release, "--path",
                                    path, "--push", "false", *extra])


def _refused_cleanly(repo: GitRepo, code: int, log: str) -> None:
    assert code == 1, log
    assert "Traceback" not in log and "internal error" not in log, log
    assert repo.git("status", "--porcelain") == ""
    assert repo.git("log", "--format=%s") == "Initial commit\n"


def test_helm_keys_the_overlays_patch_does_not_hold_are_added_to_it(tmp_path: Path) -> None:
    """The base HelmRelease sets redis.repository/tag; the production patch sets other values
    only: the named tag key is added to the patch (as without the key), the base keeps its own
    for the other overlays, and the render proves it (it was refused, naming the keys to add)."""
    repo = _repo(tmp_path, {
        "apps/base/podinfo/kustomization.yaml": "resources:\n  - release.yaml\n",
        "apps/base/podinfo/release.yaml": HELMRELEASE + (
            f"  values:\n    redis:\n      enabled: true\n      repository: {REDIS}\n"
            "      tag: 8.6.2\n"),
        "apps/production/kustomization.yaml":
            "resources:\n  - ../base/podinfo\npatches:\n  - path: podinfo-values.yaml\n"
            "    target:\n      kind: HelmRelease\n",
        "apps/production/podinfo-values.yaml":
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
            "  name: podinfo\n  namespace: podinfo\nspec:\n  values:\n    replicaCount: 2\n"})
    code, log, _ = _deploy(repo, tmp_path, f"{REDIS}:8.6.3", "redis@8.6.3", "apps/production",
                           "--helm-tag-key", "redis.tag", "--helm-image-key", "redis.repository")
    assert code == 0, log
    assert "redis.tag added under spec.values for this overlay" in log, log
    values = _kustomize(repo.work / "apps/production")[0]["spec"]["values"]
    assert values["redis"] == {"enabled": True, "repository": REDIS, "tag": "8.6.3"}, values
    assert "8.6.2" in (repo.work / "apps/base/podinfo/release.yaml").read_text()


def test_several_containers_running_the_image_are_listed_by_name(tmp_path: Path) -> None:
    extra = "".join(f"        - name: {name}\n          image: {REDIS}:8.6.2\n"
                    for name in ("sentinel", "split-brain-fix"))
    statefulset = deployment("redis-ha-server", f"{REDIS}:8.6.2", containers=extra,
                             kind="StatefulSet").replace("- name: redis-ha-server", "- name: redis")
    repo = _repo(tmp_path, {"ha/redis/statefulset.yaml": statefulset})
    code, log, _ = _deploy(repo, tmp_path, f"{REDIS}:8.6.3", "redis-ha-server@8.6.3", "ha/redis")
    _refused_cleanly(repo, code, log)
    assert "containers named" not in log and "must be unique" not in log
    for name in ("redis", "sentinel", "split-brain-fix"):
        assert f"StatefulSet/redis-ha-server container {name}" in log
    assert "Set 'container' to the one to update" in log
    code, log, _ = _deploy(repo, tmp_path, f"{REDIS}:8.6.3", "redis-ha-server@8.6.3", "ha/redis",
                           "--container", "sentinel")
    assert code == 0, log
    text = (repo.work / "ha/redis/statefulset.yaml").read_text()
    assert text.count(f"{REDIS}:8.6.3") == 1 and text.count(f"{REDIS}:8.6.2") == 2


def test_a_folder_of_deployments_sent_to_cronjob_update_names_the_other_command(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"guestbook/deployment.yaml": deployment(
        "guestbook-ui", "gcr.io/acme/gb-frontend:v5")})
    code, log, _ = _deploy(repo, tmp_path, "gcr.io/acme/gb-frontend:v6", "guestbook-ui@v6",
                           "guestbook", command="cronjob-update")
    _refused_cleanly(repo, code, log)
    assert "send new-image (image-update) for Deployment" in log
    assert "new-job-image" not in log


def _flux_staging(tmp_path: Path, base_values: str) -> GitRepo:
    return _repo(tmp_path, {
        "apps/base/podinfo/kustomization.yaml": "resources:\n  - release.yaml\n",
        "apps/base/podinfo/release.yaml": HELMRELEASE + base_values,
        "apps/staging/kustomization.yaml":
            "resources:\n  - ../base/podinfo\npatches:\n  - path: podinfo-values.yaml\n"
            "    target:\n      kind: HelmRelease\n",
        "apps/staging/podinfo-values.yaml":
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
            "  name: podinfo\n  namespace: podinfo\nspec:\n  values:\n    replicaCount: 2\n"})


PODINFO = "ghcr.io/stefanprodan/podinfo"
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("pinned", [False, True], ids=["tag", "tag-and-digest"])
def test_a_helmrelease_patch_gets_the_image_keys_only_its_shared_base_sets(
        tmp_path: Path, pinned: bool) -> None:
    """The base HelmRelease (other overlays use it) sets the image; the overlay's patch sets
    other values: the patch gets image.tag (and the digest the base pins, which would outlive
    the new tag), the base is not touched, and the rendered HelmRelease runs the new tag."""
    pin = f"      digest: {'sha256:' + 'cd' * 32}\n" if pinned else ""
    repo = _flux_staging(tmp_path, f"  values:\n    image:\n      repository: {PODINFO}\n"
                                   f"      tag: 6.9.0\n{pin}")
    base = (repo.work / "apps/base/podinfo/release.yaml").read_text()
    image = f"{PODINFO}:6.9.2@{DIGEST}" if pinned else f"{PODINFO}:6.9.2"
    code, log, outputs = _deploy(repo, tmp_path, image, "podinfo@6.9.2", "apps/staging")
    assert code == 0, log
    assert outputs["previous-image"] == f"{PODINFO}:6.9.0"
    assert (repo.work / "apps/base/podinfo/release.yaml").read_text() == base
    patch = (repo.work / "apps/staging/podinfo-values.yaml").read_text()
    assert patch.endswith("    replicaCount: 2\n    image:\n      tag: 6.9.2\n"
                          + (f"      digest: {DIGEST}\n" if pinned else ""))
    rendered = _kustomize(repo.work / "apps/staging")
    assert rendered[0]["spec"]["values"]["image"] == {
        "repository": PODINFO, "tag": "6.9.2", **({"digest": DIGEST} if pinned else {})}


def test_a_helmrelease_patch_is_not_given_another_repository_than_its_base(
        tmp_path: Path) -> None:
    repo = _flux_staging(tmp_path, f"  values:\n    image:\n      repository: {PODINFO}\n"
                                   "      tag: 6.9.0\n")
    code, log, outputs = _deploy(repo, tmp_path, "ghcr.io/acme/podinfo:6.9.2", "podinfo@6.9.2",
                                 "apps/staging")
    assert code == 0, log
    assert outputs["refused"] == "true" and outputs["refused-reason"] == "policy"
    assert "apps/base/podinfo/release.yaml sets the image ghcr.io/stefanprodan/podinfo" in log
    assert repo.git("status", "--porcelain") == ""
    assert repo.git("log", "--format=%s") == "Initial commit\n"


@pytest.mark.parametrize("digest", ["", DIGEST], ids=["no-digest", "a-new-digest"])
def test_a_digest_the_base_pins_beside_the_patchs_tag_is_refused(
        tmp_path: Path, digest: str) -> None:
    """The patch sets the image, the base pins a digest: a deploy writing the tag alone would
    render the new tag with the old digest, and the old image would keep running."""
    repo = _flux_staging(tmp_path, f"  values:\n    image:\n      repository: {PODINFO}\n"
                                   f"      tag: 6.9.0\n      digest: sha256:{'cd' * 32}\n")
    patch = repo.work / "apps/staging/podinfo-values.yaml"
    patch.write_text(patch.read_text() + f"    image:\n      repository: {PODINFO}\n"
                                          "      tag: 6.9.0\n")
    repo.git("commit", "-qam", "Pin the tag in staging")
    image = f"{PODINFO}:6.9.2" + (f"@{digest}" if digest else "")
    code, log, _ = _deploy(repo, tmp_path, image, "podinfo@6.9.2", "apps/staging")
    assert code == 1, log
    assert f"keeps image.digest: sha256:{'cd' * 32}, set outside the overlay" in log
    assert "Add image.digest to apps/staging/podinfo-values.yaml once" in log
    assert repo.git("status", "--porcelain") == ""
    assert repo.git("log", "--format=%s") == "Pin the tag in staging\nInitial commit\n"


def test_a_helmrelease_without_any_image_keys_says_the_charts_default_runs(
        tmp_path: Path) -> None:
    repo = _flux_staging(tmp_path, "  values:\n    replicaCount: 1\n")
    code, log, _ = _deploy(repo, tmp_path, f"{PODINFO}:6.9.2", "podinfo@6.9.2", "apps/staging")
    _refused_cleanly(repo, code, log)
    assert "set no image, so the chart's default runs" in log
    assert "under spec.values of apps/staging/podinfo-values.yaml once" in log


def test_an_init_container_running_the_image_is_named_with_how_to_take_it(
        tmp_path: Path) -> None:
    web = deployment("web", "registry.example.com/acme/web:v1").replace(
        "      containers:\n", "      initContainers:\n        - name: migrate\n"
        "          image: registry.example.com/acme/migrate:v1\n      containers:\n")
    repo = _repo(tmp_path, {"app/web.yaml": web})
    code, log, _ = _deploy(repo, tmp_path, "registry.example.com/acme/migrate:v2", "migrate@v2", "app")
    _refused_cleanly(repo, code, log)
    assert "(Deployment/web init container migrate runs registry.example.com/acme/migrate: an " \
           "init container is taken only when 'container' names it)" in log
    code, log, _ = _deploy(repo, tmp_path, "registry.example.com/acme/migrate:v2", "migrate@v2",
                           "app", "--container", "migrate")
    assert code == 0, log
    assert "image: registry.example.com/acme/migrate:v2" in (repo.work / "app/web.yaml").read_text()


def test_a_fan_out_siblings_refusal_says_the_fan_out_stopped(tmp_path: Path) -> None:
    """One registry per region: prod-eu's repository differs, so the fan-out of prod is refused
    as a whole, and the message says so and how to deploy prod alone."""
    prod = "image:\n  repository: 123.dkr.ecr.us-east-1.amazonaws.com/web\n  tag: 1.0.0\n"
    repo = repo_of_files(tmp_path, {"envs/prod/values.yaml": prod, "envs/prod-eu/values.yaml":
                                    prod.replace("us-east-1", "eu-west-1")})
    code, log, outputs = run_cli(repo, tmp_path, [
        "image-update", "--image", "123.dkr.ecr.us-east-1.amazonaws.com/web:1.1.0",
        "--release", "web@1.1.0", "--path", "envs/prod", "--fan-out", "true", "--push", "false"])
    assert code == 0, log
    assert (outputs["refused"], outputs["refused-reason"]) == ("true", "policy"), log
    assert "the fan-out of envs/prod to its prod-* siblings stops at envs/prod-eu" in log
    assert "fan-out: false deploys envs/prod alone" in log
    assert "shared by several services" not in log
    assert repo.git("status", "--porcelain") == "" and (repo.work / "envs/prod/values.yaml"
                                                         ).read_text() == prod


def test_one_workload_in_two_namespaces_is_named_with_its_namespaces(tmp_path: Path) -> None:
    base = deployment("web", "registry.example.com/acme/web:v1")
    repo = repo_of_files(tmp_path, {
        "base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        "base/deployment.yaml": base,
        "prod/kustomization.yaml": "resources:\n  - blue\n  - green\n",
        "prod/blue/kustomization.yaml": "namespace: blue\nresources:\n  - ../../base\n",
        "prod/green/kustomization.yaml": "namespace: green\nresources:\n  - ../../base\n"})
    code, log, _ = _deploy(repo, tmp_path, "registry.example.com/acme/web:v2", "web@v2", "prod")
    _refused_cleanly(repo, code, log)
    assert "renders Deployment/web in the namespaces blue, green" in log, log


def test_a_plain_folder_of_a_kind_list_says_so(tmp_path: Path) -> None:
    item = "".join("    " + line + "\n" for line in deployment(
        "web", "registry.example.com/acme/web:v1").splitlines())
    repo = repo_of_files(tmp_path, {"apps/web/list.yaml": "apiVersion: v1\nkind: List\nitems:\n"
                                    + item.replace("    apiVersion", "  - apiVersion", 1)})
    code, log, _ = _deploy(repo, tmp_path, "registry.example.com/acme/web:v2", "web@v2", "apps/web")
    _refused_cleanly(repo, code, log)
    assert "items of a kind: List (apps/web/list.yaml)" in log, log


@pytest.mark.parametrize("values_here", [True, False], ids=["spec-values", "base-values"])
def test_a_post_renderer_that_pins_the_image_is_named_not_overridden(
        tmp_path: Path, values_here: bool) -> None:
    """Flux applies a HelmRelease's postRenderers kustomize images after the chart renders: an
    entry for the app's repository decides the image, so a values edit would deploy nothing
    (it was pushed as a success, the downgrade guard comparing against the values' tag)."""
    post = (f"  postRenderers:\n    - kustomize:\n        images:\n"
            f"          - name: {PODINFO}\n            newTag: 6.8.0-hotfix\n")
    repo = _flux_staging(tmp_path, post + f"  values:\n    image:\n      repository: {PODINFO}\n"
                                          "      tag: 6.9.0\n")
    if values_here:
        patch = repo.work / "apps/staging/podinfo-values.yaml"
        patch.write_text(patch.read_text() + f"    image:\n      repository: {PODINFO}\n"
                                              "      tag: 6.9.0\n")
        repo.commit_all("values in the overlay")
        repo.git("push", "-q")
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, outputs = _deploy(repo, tmp_path, f"{PODINFO}:6.9.2", "podinfo@6.9.2", "apps/staging")
    assert code == 1 and outputs.get("changed") != "true", log
    assert "post-renderer (spec.postRenderers[0].kustomize.images" in log, log
    assert "newTag: 6.8.0-hotfix" in log and "would deploy nothing" in log, log
    assert repo.git("rev-parse", "HEAD").strip() == head and repo.git("status", "--porcelain") == ""


FLUX_CM_OVERRIDE = {
    "apps/web/dev/kustomization.yaml":
        "namespace: web\nresources:\n  - helmrelease.yaml\nconfigMapGenerator:\n  - name: web-values\n"
        "    files:\n      - values.yaml=web-values.yaml\nconfigurations:\n  - kustomizeconfig.yaml\n",
    "apps/web/dev/kustomizeconfig.yaml":
        "nameReference:\n  - kind: ConfigMap\n    version: v1\n    fieldSpecs:\n"
        "      - path: spec/valuesFrom/name\n        kind: HelmRelease\n",
    "apps/web/dev/web-values.yaml": "image:\n  repository: ghcr.io/acme/web\n  tag: 1.0.0\n",
    "apps/web/dev/helmrelease.yaml":
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n"
        "  chart:\n    spec:\n      chart: web\n  valuesFrom:\n    - kind: ConfigMap\n"
        "      name: web-values\n  values:\n    replicaCount: 2\n    image:\n      tag: 0.9.0\n"}


@pytest.mark.parametrize("repository", ["ghcr.io/acme/web", "ghcr.io/acme/other"])
def test_a_tag_in_spec_values_is_checked_against_the_merged_repository(
        tmp_path: Path, repository: str) -> None:
    """spec.values overrides only the tag; the repository comes from the valuesFrom ConfigMap.
    Another program's image was given that tag and pushed (the cluster ran acme/web:1.1.0)."""
    repo = _repo(tmp_path, FLUX_CM_OVERRIDE)
    code, log, outputs = _deploy(repo, tmp_path, f"{repository}:1.1.0", "web@1.1.0", "apps/web/dev",
                                 "--helm-tag-key", "image.tag")
    assert code == 0, log
    if repository.endswith("/web"):
        assert "      tag: 1.1.0\n" in (repo.work / "apps/web/dev/helmrelease.yaml").read_text()
    else:
        assert outputs["refused-reason"] == "policy", log
        assert "merged values (image.repository) give ghcr.io/acme/web" in log, log
        assert repo.git("status", "--porcelain") == ""
        assert "0.9.0" in (repo.work / "apps/web/dev/helmrelease.yaml").read_text()


def test_a_base_helmrelease_with_two_blocks_of_the_image_names_them_and_the_key_picks_one(
        tmp_path: Path) -> None:
    """The base HelmRelease sets image and sidecar.image, both of the app's repository; the
    overlay's patch sets replicaCount. It said "set no image, so the chart's default runs", and
    helm-tag-key then failed on the patch ("has no mapping spec.values.image")."""
    repo = _flux_staging(tmp_path, f"  values:\n    image:\n      repository: {PODINFO}\n"
                                   f"      tag: 6.9.0\n    sidecar:\n      image:\n"
                                   f"        repository: {PODINFO}\n        tag: 6.9.0\n")
    code, log, _ = _deploy(repo, tmp_path, f"{PODINFO}:6.9.2", "podinfo@6.9.2", "apps/staging")
    assert code == 1 and "candidates: sidecar.image, image" in log, log
    assert "helm-tag-key: image.tag" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{PODINFO}:6.9.2", "podinfo@6.9.2",
                                 "apps/staging", "--helm-tag-key", "image.tag")
    assert code == 0 and outputs["files"] == "apps/staging/podinfo-values.yaml", log
    rendered = _kustomize(repo.work / "apps/staging")[0]["spec"]["values"]
    assert rendered["image"]["tag"] == "6.9.2" and rendered["sidecar"]["image"]["tag"] == "6.9.0"


def test_an_image_inside_a_list_of_the_values_is_named(tmp_path: Path) -> None:
    """A runner scale set's values embed a pod template (template.spec.containers[0].image):
    the message said the values "set no image, so the chart's default runs"."""
    repo = _flux_staging(tmp_path, "  values:\n    template:\n      spec:\n        containers:\n"
                                   f"          - name: runner\n            image: {PODINFO}:6.9.0\n")
    code, log, _ = _deploy(repo, tmp_path, f"{PODINFO}:6.9.2", "podinfo@6.9.2", "apps/staging")
    _refused_cleanly(repo, code, log)
    assert "inside a list (spec.values.template.spec.containers[0].image, line" in log, log
    assert "set no image" not in log


def test_a_tag_that_is_not_the_releases_version_is_not_said_to_be_allowed_by_policy(
        tmp_path: Path) -> None:
    """No policy key relaxes the tag rule (open-telemetry's demo tags `2.1.4-cart`): the
    refusal says to send the right tag, not to allow it in gitops-release.yaml."""
    repo = _repo(tmp_path, {"apps/web/deployment.yaml": deployment(
        "web", "registry.example.com/web:1.0.0")})
    code, log, outputs = _deploy(repo, tmp_path, "registry.example.com/web:1.1.0-web",
                                 "web@1.1.0", "apps/web")
    assert code == 0 and outputs["refused-reason"] == "policy", log
    assert "Send the image tag built for that release" in log
    assert "allow it in gitops-release.yaml" not in log


INLINE_BASE = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
               "  template:\n    spec:\n      initContainers:\n        - name: migrate\n"
               "          image: ghcr.io/acme/web:green\n      containers:\n        - name: web\n"
               "          image: ghcr.io/acme/web:green\n")
INLINE_OP = ("- op: replace\n  path: /spec/template/spec/containers/0/image\n"
             "  value: ghcr.io/acme/web:1.3.0\n")


def test_an_inline_json_patch_setting_the_image_is_edited_in_place(tmp_path: Path) -> None:
    """An inline JSON6902 patch (a literal block) sets the image; a new images: entry would
    move an init container on the same image too. The op's value is edited inside the block:
    one line of the kustomization changes, and the render moves the container alone."""
    block = "".join("      " + line + "\n" for line in INLINE_OP.splitlines())
    kust = ("resources:\n  - ../../base\npatches:\n  - target:\n      kind: Deployment\n"
            f"      name: web\n    patch: |-\n{block}  # the op above pins prod\n")
    repo = _repo(tmp_path, {"app/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
                            "app/base/deployment.yaml": INLINE_BASE,
                            "app/overlays/prod/kustomization.yaml": kust})
    code, log, outputs = _deploy(repo, tmp_path, "ghcr.io/acme/web:1.4.0", "web@1.4.0",
                                 "app/overlays/prod")
    assert code == 0 and outputs["previous-image"] == "ghcr.io/acme/web:1.3.0", log
    assert (repo.work / "app/overlays/prod/kustomization.yaml").read_text() == kust.replace(
        "value: ghcr.io/acme/web:1.3.0", "value: ghcr.io/acme/web:1.4.0")
    rendered = repo.git("show", "HEAD", "--stat")
    assert "app/overlays/prod/kustomization.yaml | 2 +-" in rendered, rendered


def test_an_inline_patch_it_cannot_edit_is_named_with_how_to_make_it_editable(
        tmp_path: Path) -> None:
    """The same op as a quoted string (not a literal block): the only other place, a new
    images: entry, would move the init container too, so the deploy is refused; the refusal
    names the inline patch and says to write it as a literal block or move it to a file, not
    to set inputs already given."""
    quoted = INLINE_OP.replace("\n", "\\n")
    kust = ("resources:\n  - ../../base\npatches:\n  - target:\n      kind: Deployment\n"
            f"      name: web\n    patch: \"{quoted}\"\n")
    repo = _repo(tmp_path, {"app/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
                            "app/base/deployment.yaml": INLINE_BASE,
                            "app/overlays/prod/kustomization.yaml": kust})
    for extra in ((), ("--workload", "web", "--container", "web")):
        code, log, _ = _deploy(repo, tmp_path, "ghcr.io/acme/web:1.4.0", "web@1.4.0",
                               "app/overlays/prod", *extra)
        _refused_cleanly(repo, code, log)
        assert "app/overlays/prod/kustomization.yaml patches[0] (line 7): the patch is not a " \
            "literal block" in log, log
        assert "make it one, or move it to a file listed under patches:" in log, log
        assert ("Set 'workload'/'container'" in log) == (not extra), log


def test_a_helmrelease_patch_holding_only_the_tag_of_its_bases_image_is_deployed(
        tmp_path: Path) -> None:
    """Flux's usual layout: the base HelmRelease sets image.repository and image.tag, the
    overlay's patch overrides image.tag only. The patch's tag is the base's block's: it is
    written (it was refused, asking for helm-tag-key), the base is untouched, and the merged
    repository is still checked (another repository is refused)."""
    repo = _flux_staging(tmp_path, f"  values:\n    image:\n      repository: {PODINFO}\n"
                                   "      tag: 6.5.3\n")
    patch = repo.work / "apps/staging/podinfo-values.yaml"
    patch.write_text(patch.read_text() + "    image:\n      tag: 6.6.0\n")
    repo.commit_all("The staging patch pins the tag")
    base = (repo.work / "apps/base/podinfo/release.yaml").read_text()
    code, log, outputs = _deploy(repo, tmp_path, f"{PODINFO}:6.6.1", "podinfo@6.6.1",
                                 "apps/staging")
    assert code == 0 and outputs["commit"], log
    assert outputs["previous-image"].endswith(":6.6.0"), outputs
    assert patch.read_text().endswith("    image:\n      tag: 6.6.1\n")
    assert (repo.work / "apps/base/podinfo/release.yaml").read_text() == base
    assert _kustomize(repo.work / "apps/staging")[0]["spec"]["values"]["image"] == {
        "repository": PODINFO, "tag": "6.6.1"}
    code, log, outputs = _deploy(repo, tmp_path, "ghcr.io/acme/podinfo:6.6.2", "podinfo@6.6.2",
                                 "apps/staging")
    assert code == 0 and outputs["refused-reason"] == "policy", log


def test_a_helmrelease_values_patch_written_inline_is_edited_in_its_block(
        tmp_path: Path) -> None:
    """Flux's layout with the overlay's values patch written inline in the kustomization (a
    literal block): the tag inside the block is edited, one line of the kustomization changes,
    and the rendered HelmRelease runs the new tag."""
    repo = _flux_staging(tmp_path, f"  values:\n    image:\n      repository: {PODINFO}\n"
                                   "      tag: 6.5.3\n")
    kust = repo.work / "apps/staging/kustomization.yaml"
    inline = ("resources:\n  - ../base/podinfo\npatches:\n  - target:\n      kind: HelmRelease\n"
              "    patch: |\n      apiVersion: helm.toolkit.fluxcd.io/v2\n"
              "      kind: HelmRelease\n      metadata:\n        name: podinfo\n"
              "      spec:\n        values:\n          image:\n            tag: 6.6.0\n")
    kust.write_text(inline)
    (repo.work / "apps/staging/podinfo-values.yaml").unlink()
    repo.commit_all("The staging patch is inline")
    code, log, outputs = _deploy(repo, tmp_path, f"{PODINFO}:6.6.1", "podinfo@6.6.1",
                                 "apps/staging")
    assert code == 0 and outputs["commit"], log
    assert outputs["previous-image"].endswith(":6.6.0"), outputs
    assert kust.read_text() == inline.replace("tag: 6.6.0", "tag: 6.6.1")
    assert _kustomize(repo.work / "apps/staging")[0]["spec"]["values"]["image"] == {
        "repository": PODINFO, "tag": "6.6.1"}


@pytest.mark.parametrize("inline", [False, True], ids=["patch-file", "inline-patch"])
def test_a_helmrelease_patch_without_a_tag_is_checked_against_the_bases_tag(
        tmp_path: Path, inline: bool) -> None:
    """The base HelmRelease runs 6.9.0; the overlay's values patch sets image.repository only.
    The tag it gets is compared with what the merged values run: an older release is refused as
    a downgrade (it was deployed: the patch's missing tag hid the version), a newer one deploys
    naming the image that ran."""
    repo = _flux_staging(tmp_path, f"  values:\n    image:\n      repository: {PODINFO}\n"
                                   "      tag: 6.9.0\n")
    patch = ("apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n"
             f"  name: podinfo\n  namespace: podinfo\nspec:\n  values:\n    image:\n"
             f"      repository: {PODINFO}\n")
    if inline:
        (repo.work / "apps/staging/kustomization.yaml").write_text(
            "resources:\n  - ../base/podinfo\npatches:\n  - patch: |\n"
            + "".join(f"      {line}\n" for line in patch.splitlines()))
        (repo.work / "apps/staging/podinfo-values.yaml").unlink()
    else:
        (repo.work / "apps/staging/podinfo-values.yaml").write_text(patch)
    repo.commit_all("The staging patch names the repository only")
    code, log, outputs = _deploy(repo, tmp_path, f"{PODINFO}:6.8.0", "podinfo@6.8.0",
                                 "apps/staging")
    assert code == 0 and outputs["refused-reason"] == "downgrade", log
    assert outputs["previous-image"] == f"{PODINFO}:6.9.0", outputs
    code, log, outputs = _deploy(repo, tmp_path, f"{PODINFO}:6.9.1", "podinfo@6.9.1",
                                 "apps/staging")
    assert code == 0 and outputs["commit"] and outputs["previous-image"] == f"{PODINFO}:6.9.0", log
    assert _kustomize(repo.work / "apps/staging")[0]["spec"]["values"]["image"] == {
        "repository": PODINFO, "tag": "6.9.1"}


def test_a_held_sibling_says_the_fan_out_stopped_and_how_to_deploy_prod_alone(
        tmp_path: Path) -> None:
    prod = "image:\n  repository: registry.example.com/web\n  tag: 1.0.0\n"
    hold = ("holds:\n  - path: envs/prod-ap\n    reason: pinned for the APAC launch\n"
            "    since: 2026-11-26T10:00:00Z\n    by: sre\n")
    repo = repo_of_files(tmp_path, {"envs/prod/values.yaml": prod,
                                    "envs/prod-ap/values.yaml": prod,
                                    "gitops-release.yaml": hold})
    code, log, outputs = run_cli(repo, tmp_path, [
        "image-update", "--image", "registry.example.com/web:1.1.0", "--release", "web@1.1.0",
        "--path", "envs/prod", "--fan-out", "true", "--push", "false"])
    assert code == 0 and outputs["refused-reason"] == "held", log
    assert "envs/prod-ap is a sibling in the fan-out of envs/prod" in log
    assert "fan-out: false deploys envs/prod alone" in log
    code, log, outputs = run_cli(repo, tmp_path, [
        "image-update", "--image", "registry.example.com/web:1.1.0", "--release", "web@1.1.0",
        "--path", "envs/prod-ap", "--push", "false"])
    assert outputs["refused-reason"] == "held" and "sibling" not in log, log


def test_an_overlay_beside_that_builds_on_it_through_a_symlink_is_refused(tmp_path: Path) -> None:
    """staging lists ../PROD_LINK, a symlink to prod, and pins its own image: kustomize follows
    it, the receiver does not, so what prod's edit does to staging cannot be rendered: the
    deploy is refused naming staging (staging was not seen, and got half the deploy)."""
    web = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
           "    spec:\n      containers:\n        - name: web\n"
           "          image: registry.example.com/web:v1.0.0\n          env:\n"
           "            - name: APP_RELEASEVERSION\n              value: web@v1.0.0\n")
    repo = _repo(tmp_path, {
        "o/prod/kustomization.yaml": "resources:\n  - web.yaml\n", "o/prod/web.yaml": web,
        "o/staging/kustomization.yaml": "resources:\n  - ../PROD_LINK\nimages:\n"
                                        "  - name: registry.example.com/web\n    newTag: v1.0.0\n"})
    (repo.work / "o/PROD_LINK").symlink_to("prod")
    repo.commit_all("prod by another name")
    code, log, _ = _deploy(repo, tmp_path, "registry.example.com/web:v1.1.0", "web@v1.1.0", "o/prod")
    assert code == 1 and "o/staging builds on the overlay deployed, and the receiver cannot " \
        "render it" in log, log
    assert "Replace the symlink in o/staging" in log and "input 'path'" not in log, log
    assert repo.git("status", "--porcelain") == ""
