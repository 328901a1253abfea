"""Helm values whose image keys leave part of the image to the chart, and keys the caller names.

Shapes written after public charts: kube-state-metrics (``image.sha`` beside the tag, named with
``helm-digest-key``); argo-cd (a component's ``repository: ""`` falling back to
``global.image.repository``; tempo-distributed's is ``null``). Cases run with helm (the render
decides) and without it (the templates check decides), and assert the values written and the
image rendered, or a refusal naming the file, the key and the fix, with nothing written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files

DIGEST = "sha256:" + "b" * 64


@pytest.fixture(params=["helm", "no-helm"])
def helm(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Each case with helm on PATH (the render decides) and without it (the templates check)."""
    if request.param == "helm":
        assert shutil.which("helm"), "the tests need helm on PATH: ./scripts/setup installs it"
        return True
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "helm"
                        else which(name, *a, **k))
    return False


def _deploy(repo: GitRepo, tmp_path: Path, path: str, image: str, release: str,
            *extra: str) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, ["image-update", "--image", image, "--release", release,
                                    "--path", path, "--push", "false", *extra])


def _rendered(repo: GitRepo, path: str) -> list[str]:
    """The images of the chart's render, as the working tree holds it."""
    out = subprocess.run(["helm", "template", "x", str(repo.work / path)], capture_output=True,
                         text=True, check=True).stdout
    return [line.split("image:", 1)[1].strip().strip('"') for line in out.splitlines()
            if line.strip().startswith("image:")]


def _deployment(name: str, image: str) -> str:
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n"
            f"  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n"
            f"    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n"
            f"        - name: {name}\n{image}")


# -- kube-state-metrics: image.sha, the chart's digest key ------------------------------------

KSM_VALUES = ("image:\n  registry: registry.k8s.io\n  repository: kube-state-metrics/"
              "kube-state-metrics\n  # If unset use v + .Charts.appVersion\n  tag: \"\"\n"
              "  sha: \"\"\n  pullPolicy: IfNotPresent\n")
KSM_IMAGE = (
    "          {{- if .Values.image.sha }}\n"
    "          image: {{ printf \"%s/%s:%s@%s\" .Values.image.registry .Values.image.repository "
    "(default (printf \"v%s\" .Chart.AppVersion) .Values.image.tag) .Values.image.sha }}\n"
    "          {{- else }}\n"
    "          image: {{ printf \"%s/%s:%s\" .Values.image.registry .Values.image.repository "
    "(default (printf \"v%s\" .Chart.AppVersion) .Values.image.tag) }}\n"
    "          {{- end }}\n")
KSM = {"ksm/Chart.yaml": "apiVersion: v2\nname: kube-state-metrics\nversion: 8.4.0\n"
       "appVersion: 2.20.0\n",
       "ksm/values.yaml": KSM_VALUES,
       "ksm/templates/deployment.yaml": _deployment("kube-state-metrics", KSM_IMAGE)}
KSM_NEW = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.21.0"


def test_a_named_digest_key_is_written_without_a_named_tag_key(tmp_path: Path,
                                                                helm: bool) -> None:
    """helm-digest-key image.sha alone (the block found by its repository): the digest goes
    there. It was honoured only beside helm-tag-key, with a warning to set the flag set."""
    repo = repo_of_files(tmp_path, KSM)
    code, log, _ = _deploy(repo, tmp_path, "ksm", KSM_NEW, "kube-state-metrics@v2.21.0",
                           "--digest", DIGEST, "--helm-digest-key", "image.sha")
    assert code == 0, log
    assert "digest not pinned" not in log, log
    assert (repo.work / "ksm/values.yaml").read_text() == KSM_VALUES.replace(
        'tag: ""', 'tag: "v2.21.0"').replace('sha: ""', f'sha: "{DIGEST}"')
    if helm:
        assert "rendered with `helm template` before and after" in log, log
        assert _rendered(repo, "ksm") == [f"{KSM_NEW}@{DIGEST}"]


def test_a_named_digest_key_of_another_block_is_refused(tmp_path: Path, helm: bool) -> None:
    """A digest key elsewhere than beside the tag is never moved silently beside it."""
    repo = repo_of_files(tmp_path, KSM)
    code, log, _ = _deploy(repo, tmp_path, "ksm", KSM_NEW, "kube-state-metrics@v2.21.0",
                           "--digest", DIGEST, "--helm-digest-key", "global.image.sha")
    assert code == 1, log
    assert "ksm/values.yaml: helm-digest-key global.image.sha is not beside the image's tag " \
        "key (image)" in log, log
    assert "Set helm-digest-key: image.sha" in log, log
    assert (repo.work / "ksm/values.yaml").read_text() == KSM_VALUES


@pytest.mark.parametrize(("pinned", "digest"), [
    (DIGEST, ""), (DIGEST, DIGEST), ("c" * 64, DIGEST)],
    ids=["pin-cleared", "pin-moved", "bare-hex-pin-moved-as-bare-hex"])
def test_a_digest_under_another_key_is_cleared_or_moved(tmp_path: Path, helm: bool,
                                                        pinned: str, digest: str) -> None:
    """A digest already pinned under the chart's own key (image.sha), no helm-digest-key: the
    tag moved and the pin stayed, so the render ran the new tag at the old digest (the old
    build) and the deploy was pushed. The pin is cleared, or moved to the deploy's digest in
    the form the key holds it (sha256:<hex>, or the bare hex)."""
    bare = not pinned.startswith("sha256:")  # the real chart's form: it writes @sha256: itself
    repo = repo_of_files(tmp_path, {
        **KSM, "ksm/values.yaml": KSM_VALUES.replace('tag: ""', 'tag: "v2.20.0"').replace(
            'sha: ""', f'sha: "{pinned}"'),
        "ksm/templates/deployment.yaml": KSM["ksm/templates/deployment.yaml"].replace(
            "%s/%s:%s@%s", "%s/%s:%s@sha256:%s" if bare else "%s/%s:%s@%s")})
    code, log, _ = _deploy(repo, tmp_path, "ksm", KSM_NEW, "kube-state-metrics@v2.21.0",
                           *(("--digest", digest) if digest else ()))
    assert code == 0, log
    written = "" if not digest else digest.split(":", 1)[1] if bare else digest
    assert (repo.work / "ksm/values.yaml").read_text() == KSM_VALUES.replace(
        'tag: ""', 'tag: "v2.21.0"').replace('sha: ""', f'sha: "{written}"')
    assert "image.sha holds a digest: it pins the image" in log, log
    if helm:
        assert _rendered(repo, "ksm") == [f"{KSM_NEW}@{digest}" if digest else KSM_NEW]


# -- argo-cd: per-component blocks whose repository falls back to global.image.repository -----

ARGO_VALUES = (
    "global:\n  image:\n    # -- If defined, a repository applied to all Argo CD deployments\n"
    "    repository: quay.io/argoproj/argocd\n    tag: \"\"\n"
    "server:\n  image:\n    # @default -- `\"\"` (defaults to global.image.repository)\n"
    "    repository: \"\" # defaults to global.image.repository\n    tag: \"\"\n"
    "repoServer:\n  image:\n    repository: {repo}\n    tag: \"\"\n")


def _argo(tmp_path: Path, repo: str = "\"\"", server_repo: str = "\"\"") -> GitRepo:
    files = {"argo-cd/Chart.yaml": "apiVersion: v2\nname: argo-cd\nversion: 10.1.1\n"
             "appVersion: v3.4.4\n",
             "argo-cd/values.yaml": ARGO_VALUES.format(repo=repo).replace(
                 "    repository: \"\" # defaults", f"    repository: {server_repo} # defaults"),
             "argo-cd/templates/_helpers.tpl":
             "{{- define \"argo-cd.defaultTag\" -}}{{- default .Chart.AppVersion "
             ".Values.global.image.tag }}{{- end -}}\n"}
    for key, name in (("server", "server"), ("repoServer", "repo-server")):
        files[f"argo-cd/templates/{name}.yaml"] = _deployment(
            f"argocd-{name}", "          image: {{ default .Values.global.image.repository "
            f".Values.{key}.image.repository }}}}:{{{{ default (include \"argo-cd.defaultTag\" .) "
            f".Values.{key}.image.tag }}}}\n")
    return repo_of_files(tmp_path, files)


ARGO_NEW = "quay.io/argoproj/argocd:v3.4.5"


@pytest.mark.parametrize("held", ["\"\"", "null"], ids=["empty", "null"])
def test_an_inherited_repository_is_what_the_render_runs(tmp_path: Path, held: str) -> None:
    """server.image.repository "" or null (tempo-distributed's ingester.image): the chart runs
    global.image.repository there. The tag key is written and the render shows only the server
    container moving; it was a policy refusal ("server.image.repository gives , and the new
    image is ...")."""
    repo = _argo(tmp_path, server_repo=held)
    before = (repo.work / "argo-cd/values.yaml").read_text()
    code, log, outputs = _deploy(repo, tmp_path, "argo-cd", ARGO_NEW, "argocd-server@v3.4.5",
                                 "--helm-tag-key", "server.image.tag")
    assert code == 0 and outputs["refused"] == "false", log
    assert "only Deployment/argocd-server container argocd-server moved to the new image" in log
    assert outputs["previous-image"] == "quay.io/argoproj/argocd:v3.4.4", log
    assert (repo.work / "argo-cd/values.yaml").read_text() == before.replace(
        "    tag: \"\"\nrepoServer", "    tag: \"v3.4.5\"\nrepoServer")
    assert _rendered(repo, "argo-cd") == ["quay.io/argoproj/argocd:v3.4.4", ARGO_NEW]


def test_an_inherited_repository_of_another_program_is_refused_by_the_render(
        tmp_path: Path) -> None:
    """The global repository is another program's: the server container would run it with the
    new tag. The render refuses, naming what it would run; nothing is written."""
    repo = _argo(tmp_path)
    values = (repo.work / "argo-cd/values.yaml").read_text()
    code, log, _ = _deploy(repo, tmp_path, "argo-cd", "quay.io/acme/argocd-fork:v3.4.5",
                           "argocd-server@v3.4.5", "--helm-tag-key", "server.image.tag")
    assert code == 1, log
    assert "renders 'quay.io/argoproj/argocd:v3.4.5'" in log, log
    assert (repo.work / "argo-cd/values.yaml").read_text() == values


def test_an_inherited_repository_without_a_render_names_the_key_to_compare(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without helm no render shows the repository: refused (not by policy), naming the key the
    templates fall back to; naming it with helm-image-key compares it and deploys."""
    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "helm"
                        else which(name, *a, **k))
    repo = _argo(tmp_path)
    values = (repo.work / "argo-cd/values.yaml").read_text()
    code, log, outputs = _deploy(repo, tmp_path, "argo-cd", ARGO_NEW, "argocd-server@v3.4.5",
                                 "--helm-tag-key", "server.image.tag")
    assert code == 1 and outputs.get("refused-reason") != "policy", log
    assert "argo-cd/values.yaml server.image.repository is empty: the chart fills the " \
        "repository in (its templates fall back to .Values.global.image.repository)" in log, log
    assert "Set helm-image-key: global.image.repository (it is compared, never written)" in log
    assert (repo.work / "argo-cd/values.yaml").read_text() == values
    code, log, outputs = _deploy(repo, tmp_path, "argo-cd", ARGO_NEW, "argocd-server@v3.4.5",
                                 "--helm-tag-key", "server.image.tag",
                                 "--helm-image-key", "global.image.repository")
    assert code == 0 and outputs["refused"] == "false", log
    assert (repo.work / "argo-cd/values.yaml").read_text() == values.replace(
        "    tag: \"\"\nrepoServer", "    tag: \"v3.4.5\"\nrepoServer")


def test_a_named_image_key_away_from_the_tag_is_read_where_named(tmp_path: Path,
                                                                 helm: bool) -> None:
    """helm-image-key global.image.repository beside helm-tag-key server.image.tag is that key,
    never server.image.repository (it was cut to its last name): another program there is
    compared and refused by policy, a key that is not there is named."""
    repo = _argo(tmp_path, server_repo="quay.io/acme/other")
    values = (repo.work / "argo-cd/values.yaml").read_text()
    code, log, outputs = _deploy(repo, tmp_path, "argo-cd", ARGO_NEW,
                                 "argocd-repo-server@v3.4.5", "--helm-tag-key", "repoServer.image.tag",
                                 "--helm-image-key", "global.image.repository")
    assert code == 0 and outputs["refused"] == "false", log
    assert (repo.work / "argo-cd/values.yaml").read_text() == values.replace(
        "    tag: \"\"\n", "    tag: \"v3.4.5\"\n", 3).replace(
        "    tag: \"v3.4.5\"\n", "    tag: \"\"\n", 2)
    repo = _argo(tmp_path / "again")
    code, log, outputs = _deploy(repo, tmp_path, "argo-cd", "quay.io/acme/other:v2",
                                 "other@v2", "--helm-tag-key", "server.image.tag",
                                 "--helm-image-key", "global.image.repository")
    assert code == 0 and outputs["refused-reason"] == "policy", log
    assert "argo-cd/values.yaml global.image.repository gives quay.io/argoproj/argocd" in log, log
    code, log, _ = _deploy(repo, tmp_path, "argo-cd", ARGO_NEW, "argocd-server@v3.4.5",
                           "--helm-tag-key", "server.image.tag",
                           "--helm-image-key", "global.images.repository")
    assert code == 1, log
    assert "argo-cd/values.yaml sets no global.images.repository (helm-image-key)" in log, log


# -- traefik: image.{registry,repository,tag} null, beside marketplace image blocks -----------

TRAEFIK_VALUES = (
    "image:  # @schema additionalProperties: false\n"
    "  # -- Traefik image host registry. Defaults to `docker.io`\n"
    "  registry:  # @schema type:[string, null]\n"
    "  # -- Traefik image repository. Defaults to `traefik`\n"
    "  repository:  # @schema type:[string, null]\n"
    "  # -- defaults to appVersion.\n  tag:  # @schema type:[string, null]\n"
    "  pullPolicy: IfNotPresent\n"
    "global:\n  azure:\n    enabled: false\n    images:\n      proxy:\n        image: traefik\n"
    "        tag: latest\n        registry: docker.io/library\n")
OCI_META = ("oci_meta:\n  enabled: false\n  repo: traefik\n  images:\n    proxy:\n"
            "      image: traefik\n      tag: v3.7.0\n")
TRAEFIK_HELPER = (
    "{{- define \"traefik.image-name\" -}}\n{{- if .Values.global.azure.enabled -}}\n"
    "{{- printf \"%s/%s:%s\" .Values.global.azure.images.proxy.registry "
    ".Values.global.azure.images.proxy.image .Values.global.azure.images.proxy.tag }}\n"
    "{{- else if .Values.oci_meta.enabled -}}\n"
    "{{- printf \"%s/%s:%s\" .Values.oci_meta.repo .Values.oci_meta.images.proxy.image "
    ".Values.oci_meta.images.proxy.tag }}\n{{- else -}}\n"
    "{{- printf \"%s/%s:%s\" (.Values.image.registry | default \"docker.io\") "
    "(.Values.image.repository | default \"traefik\") (.Values.image.tag | default "
    ".Chart.AppVersion) }}\n{{- end -}}\n{{- end -}}\n")


def _traefik(tmp_path: Path, oci: bool) -> GitRepo:
    return repo_of_files(tmp_path, {
        "traefik/Chart.yaml": "apiVersion: v2\nname: traefik\nversion: 41.3.0\n"
        "appVersion: v3.7.11\n",
        "traefik/values.yaml": TRAEFIK_VALUES + (OCI_META if oci else ""),
        "traefik/templates/_helpers.tpl": TRAEFIK_HELPER if oci else TRAEFIK_HELPER.replace(
            TRAEFIK_HELPER[TRAEFIK_HELPER.index("{{- else if"):TRAEFIK_HELPER.index(
                "{{- else -}}")], ""),
        "traefik/templates/deployment.yaml": _deployment(
            "traefik", "          image: {{ include \"traefik.image-name\" . }}\n")})


@pytest.mark.parametrize("oci", [False, True], ids=["azure", "azure-and-oci-meta"])
def test_the_charts_own_image_block_is_told_from_marketplace_blocks(tmp_path: Path, helm: bool,
                                                                    oci: bool) -> None:
    """No keys named. global.azure.images.proxy (image: traefik, registry: docker.io/library)
    runs docker.io/traefik by its values, but the chart reads it only when global.azure.enabled;
    image, the chart's own block, leaves the repository to the template (null). With helm the
    render tells them apart: image.tag is written (the azure block was written, then refused as
    read by no container; with oci_meta too the hint named the azure key). Without helm: refused,
    naming image.tag first."""
    repo = _traefik(tmp_path, oci)
    values = (repo.work / "traefik/values.yaml").read_text()
    code, log, outputs = _deploy(repo, tmp_path, "traefik", "docker.io/traefik:v3.7.12",
                                 "traefik@v3.7.12")
    if helm:
        assert code == 0 and outputs["refused"] == "false", log
        assert "traefik/values.yaml: image is the image block the chart renders for traefik" in log
        assert (repo.work / "traefik/values.yaml").read_text() == values.replace(
            "  tag:  # @schema", "  tag: v3.7.12  # @schema")
        assert _rendered(repo, "traefik") == ["docker.io/traefik:v3.7.12"]
        return
    assert code == 1, log
    assert "traefik/values.yaml: cannot tell which image block is 'traefik': image, the chart's " \
        "own, leaves its repository to the chart (image.repository is null), and " in log, log
    assert "(candidates: image, " in log and "global.azure.images.proxy" in log, log
    assert "Set helm-tag-key: image.tag for the chart's own image" in log, log
    code, log, _ = _deploy(repo, tmp_path, "traefik", "docker.io/traefik:v3.7.12",
                           "traefik@v3.7.12", "--helm-tag-key", "image.tag")
    assert code == 1, log
    assert "traefik/values.yaml image.repository is null: the chart fills the repository in (a " \
        "default in its templates, or another key)" in log, log
    assert "Write the repository the chart runs into image.repository once" in log, log
    assert (repo.work / "traefik/values.yaml").read_text() == values
