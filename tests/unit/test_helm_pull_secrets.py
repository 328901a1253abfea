"""A chart whose pod templates all include one pull-secrets helper that is handed every image map
(Bitnami's ``include "common.images.pullSecrets" (dict "images" (list .Values.image
.Values.worker.image) "global" .Values.global)``, or ``common.images.renderPullSecrets``): the
helper reads each map's ``pullSecrets`` and nothing that reaches a container's image, so the map
handed to it is no read of its ``tag``. Where the library is not vendored (no render: the
templates are read as text) the deploy of one component was refused as "shared keys", every
workload taken for a reader of every image's tag.

Shapes written after such charts (none copied): a web Deployment and a worker Deployment, each
with an image map of its own, the library's image helper or plain ``repository:tag`` image lines,
a pull-secrets helper of the library or of the chart itself. Each case asserts the outcome: the
app's tag changed and nothing else, or a refusal naming the other template, and nothing written.
The library vendored in ``charts/`` (helm renders it) keeps the render proof.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files

REG = "registry.example.com/acme"
CHART_YAML = ("apiVersion: v2\nname: web\nversion: 1.0.0\nappVersion: 1.2.0\ndependencies:\n"
              "  - name: common\n    repository: oci://charts.example.com/library\n"
              "    version: 2.x.x\n")
VALUES = ("global:\n  imageRegistry: \"\"\nimage:\n  registry: registry.example.com\n"
          "  repository: acme/web\n  tag: 1.2.0-r0\n  digest: \"\"\n  pullSecrets: [web-pull]\n"
          "worker:\n  image:\n    registry: registry.example.com\n    repository: acme/worker\n"
          "    tag: 1.2.0-r0\n    digest: \"\"\n    pullSecrets: [worker-pull]\n")
LIBRARY_IMAGES = (
    '{{- define "web.image" -}}\n{{ include "common.images.image" (dict "imageRoot" '
    '.Values.image "global" .Values.global) }}\n{{- end -}}\n\n'
    '{{- define "web.worker.image" -}}\n{{ include "common.images.image" (dict "imageRoot" '
    '.Values.worker.image "global" .Values.global) }}\n{{- end -}}\n\n')
PULL_SECRETS = ('{{/* every image\'s pull secrets, in one list */}}\n'
                '{{- define "web.imagePullSecrets" -}}\n'
                '{{- include "common.images.pullSecrets" (dict "images" (list .Values.image '
                '.Values.worker.image) "global" .Values.global) -}}\n{{- end -}}\n')
RENDER_PULL_SECRETS = ('{{- define "web.imagePullSecrets" -}}\n'
                       '{{- include "common.images.renderPullSecrets" (dict "images" (list '
                       '.Values.image .Values.worker.image) "context" $) -}}\n{{- end -}}\n')
# the chart's own helper, no library: it ranges over the maps and reads their pullSecrets
OWN_PULL_SECRETS = ('{{- define "web.pullSecretsList" -}}\n{{- $names := list -}}\n'
                    '{{- range .images -}}\n{{- range .pullSecrets -}}\n'
                    '{{- $names = append $names . -}}\n{{- end -}}\n{{- end -}}\n'
                    '{{- if $names }}\nimagePullSecrets:\n{{- range $names | uniq }}\n'
                    '  - name: {{ . }}\n{{- end }}\n{{- end }}\n{{- end -}}\n\n'
                    '{{- define "web.imagePullSecrets" -}}\n'
                    '{{- include "web.pullSecretsList" (dict "images" (list .Values.image '
                    '.Values.worker.image)) -}}\n{{- end -}}\n')
PLAIN = {"web": '{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}',
         "worker": '{{ .Values.worker.image.registry }}/{{ .Values.worker.image.repository }}:'
                   '{{ .Values.worker.image.tag }}'}
HELPED = {"web": '{{ include "web.image" . }}', "worker": '{{ include "web.worker.image" . }}'}


def workload(name: str, container: str, image: str) -> str:
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
            f"  name: {name}\nspec:\n  template:\n    spec:\n"
            "      {{- include \"web.imagePullSecrets\" . | nindent 6 }}\n"
            f"      containers:\n        - name: {container}\n          image: {image}\n")


def chart(helpers: str, images: dict[str, str]) -> dict[str, str]:
    """Both Deployments are named by the library's fullname helper, as Bitnami's are: neither
    is named after the app web (the worker's ends in -worker)."""
    return {"web/Chart.yaml": CHART_YAML, "web/values.yaml": VALUES,
            "web/templates/_helpers.tpl": helpers,
            "web/templates/deployment.yaml": workload('{{ include "common.names.fullname" . }}',
                                                      "web", images["web"]),
            "web/templates/worker/deployment.yaml": workload(
                '{{ include "common.names.fullname" . }}-worker', "worker", images["worker"])}


# the library, vendored in charts/ (written for these tests: the helpers' shape, not the code)
LIBRARY = {
    "web/charts/common/Chart.yaml": "apiVersion: v2\nname: common\nversion: 2.0.0\ntype: library\n",
    "web/charts/common/templates/_images.tpl": (
        '{{- define "common.images.image" -}}\n'
        '{{- $registry := default .imageRoot.registry ((.global).imageRegistry) -}}\n'
        '{{- $name := printf "%s/%s" $registry .imageRoot.repository | trimPrefix "/" -}}\n'
        '{{- if .imageRoot.digest -}}\n{{- printf "%s@%s" $name .imageRoot.digest -}}\n'
        '{{- else -}}\n{{- printf "%s:%s" $name (.imageRoot.tag | toString) -}}\n{{- end -}}\n'
        '{{- end -}}\n\n'
        '{{- define "common.images.pullSecrets" -}}\n{{- $names := list -}}\n'
        '{{- range .images -}}\n{{- range .pullSecrets -}}\n{{- $names = append $names . -}}\n'
        '{{- end -}}\n{{- end -}}\n{{- if $names }}\nimagePullSecrets:\n'
        '{{- range $names | uniq }}\n  - name: {{ . }}\n{{- end }}\n{{- end }}\n{{- end -}}\n'),
    "web/charts/common/templates/_names.tpl": (
        '{{- define "common.names.fullname" -}}\n{{ .Release.Name }}-{{ .Chart.Name }}\n'
        '{{- end -}}\n'),
}


@pytest.fixture
def no_helm(monkeypatch: pytest.MonkeyPatch) -> None:
    """helm is not on PATH (as on a machine without it): the templates check decides."""
    import shutil

    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "helm"
                        else which(name, *a, **k))


def _deploy(repo: GitRepo, tmp_path: Path, app: str, *extra: str) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, ["image-update", "--image", f"{REG}/{app}:1.3.0-r0",
                                    "--release", f"{app}@1.3.0-r0", "--path", "web",
                                    "--push", "false", *extra])


def _refused(repo: GitRepo, tmp_path: Path, app: str) -> str:
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path, app)
    assert code == 1, log
    assert repo.git("rev-parse", "HEAD").strip() == head
    assert repo.git("status", "--porcelain") == ""
    return log


WEB_MOVED = VALUES.replace("acme/web\n  tag: 1.2.0-r0", "acme/web\n  tag: 1.3.0-r0")
WORKER_MOVED = VALUES.replace("acme/worker\n    tag: 1.2.0-r0", "acme/worker\n    tag: 1.3.0-r0")


@pytest.mark.parametrize("helpers", [LIBRARY_IMAGES + PULL_SECRETS,
                                     LIBRARY_IMAGES + RENDER_PULL_SECRETS],
                         ids=["pullSecrets", "renderPullSecrets"])
@pytest.mark.parametrize(("app", "expected"), [("web", WEB_MOVED), ("worker", WORKER_MOVED)])
def test_the_maps_handed_to_the_library_pull_secrets_helper_are_not_read(
        tmp_path: Path, helpers: str, app: str, expected: str) -> None:
    repo = repo_of_files(tmp_path, chart(helpers, HELPED))
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, outputs = _deploy(repo, tmp_path, app)
    assert code == 0, log
    assert repo.git("rev-parse", "HEAD~1").strip() == head, log  # committed (push: false)
    assert outputs["previous-image"] == f"{REG}/{app}:1.2.0-r0"
    assert (repo.work / "web/values.yaml").read_text() == expected
    assert "values keys checked against the chart's templates" in log


@pytest.mark.parametrize("helpers", [PULL_SECRETS, OWN_PULL_SECRETS], ids=["library", "own"])
@pytest.mark.parametrize(("app", "expected"), [("web", WEB_MOVED), ("worker", WORKER_MOVED)])
def test_a_pull_secrets_helper_beside_image_lines_that_name_the_tag(
        tmp_path: Path, helpers: str, app: str, expected: str) -> None:
    """Each image line names its own tag key (.Values.worker.image.tag): the worker's text reads
    .tag, and the web map handed to the pull-secrets helper counted as read through it."""
    repo = repo_of_files(tmp_path, chart(helpers, PLAIN))
    code, log, _ = _deploy(repo, tmp_path, app)
    assert code == 0, log
    assert (repo.work / "web/values.yaml").read_text() == expected


def test_a_map_the_other_image_line_reads_is_still_refused(tmp_path: Path) -> None:
    """The worker's image is web's map through the library's image helper: image.tag is shared,
    whatever the pull-secrets helper does."""
    worker = '{{ include "common.images.image" (dict "imageRoot" .Values.image "global" ' \
             '.Values.global) }}-worker'
    repo = repo_of_files(tmp_path, chart(LIBRARY_IMAGES + PULL_SECRETS,
                                         {**HELPED, "worker": worker}))
    log = _refused(repo, tmp_path, "web")
    assert "reads .Values.image.tag in the templates of 2 workloads, none of them named after " \
           "'web': templates/deployment.yaml" in log
    assert "templates/worker/deployment.yaml (Deployment {{ include \"common.names.fullname\" " \
           ". }}-worker)" in log


def test_a_helper_of_the_chart_that_reads_the_tag_of_the_map_is_still_a_reader(
        tmp_path: Path) -> None:
    """The chart's own helper is handed web's map and prints its tag into the worker's image:
    not a pull-secrets helper, the key is shared."""
    helper = ('{{- define "web.sidecar.image" -}}\n{{ .root.repository }}-worker:{{ .root.tag }}\n'
              '{{- end -}}\n')
    worker = '{{ include "web.sidecar.image" (dict "root" .Values.image) }}'
    repo = repo_of_files(tmp_path, chart(helper + OWN_PULL_SECRETS, {**PLAIN, "worker": worker}))
    log = _refused(repo, tmp_path, "web")
    assert "templates/worker/deployment.yaml" in log and "reads .Values.image.tag" in log


@pytest.mark.usefixtures("no_helm")
def test_the_vendored_library_read_as_text(tmp_path: Path) -> None:
    """The library in charts/, helm not on PATH: its helpers are not the chart's own, and the
    pull-secrets helper still reads no tag."""
    repo = repo_of_files(tmp_path, {**chart(LIBRARY_IMAGES + PULL_SECRETS, HELPED), **LIBRARY})
    code, log, _ = _deploy(repo, tmp_path, "worker")
    assert code == 0, log
    assert (repo.work / "web/values.yaml").read_text() == WORKER_MOVED
    assert "values keys checked against the chart's templates" in log


@pytest.mark.parametrize("app", ["web", "worker"])
def test_the_vendored_library_rendered(tmp_path: Path, app: str) -> None:
    """The library in charts/ and helm on PATH: the render proves the edit, and only the app's
    container moves (the other Deployment keeps its image and its pull secrets)."""
    repo = repo_of_files(tmp_path, {**chart(LIBRARY_IMAGES + PULL_SECRETS, HELPED), **LIBRARY})
    before = subprocess.run(["helm", "template", "x", str(repo.work / "web")], capture_output=True,
                            text=True, check=True).stdout
    code, log, _ = _deploy(repo, tmp_path, app)
    assert code == 0, log
    assert "rendered with `helm template` before and after" in log
    after = subprocess.run(["helm", "template", "x", str(repo.work / "web")], capture_output=True,
                           text=True, check=True).stdout
    assert after == before.replace(f"{REG}/{app}:1.2.0-r0", f"{REG}/{app}:1.3.0-r0")
    assert after != before and "- name: web-pull\n" in after and "- name: worker-pull\n" in after


MIGRATE_JOB = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n"
               "  name: {{ include \"common.names.fullname\" . }}-migrate\nspec:\n  template:\n"
               "    spec:\n      {{- include \"web.imagePullSecrets\" . | nindent 6 }}\n"
               "      containers:\n        - name: migrate\n"
               "          image: {{ template \"web.image\" . }}\n")


def test_a_job_of_the_same_helper_through_template_follows_the_app(tmp_path: Path) -> None:
    """The migration Job writes ``{{ template "web.image" . }}``, the Deployment ``{{ include
    "web.image" . }}``: the same image (it was taken for another one, and the deploy refused
    as writing a key two workloads' images read)."""
    files = chart(LIBRARY_IMAGES + PULL_SECRETS, HELPED)
    repo = repo_of_files(tmp_path, {**files, "web/templates/migrate-job.yaml": MIGRATE_JOB})
    code, log, _ = _deploy(repo, tmp_path, "web")
    assert code == 0, log
    assert (repo.work / "web/values.yaml").read_text() == WEB_MOVED


def test_a_job_of_another_helper_through_template_is_still_refused(tmp_path: Path) -> None:
    job = MIGRATE_JOB.replace('template "web.image"', 'template "web.migrate.image"')
    helper = ('{{- define "web.migrate.image" -}}\n{{ include "common.images.image" (dict '
              '"imageRoot" .Values.image "global" .Values.global) }}-migrate\n{{- end -}}\n')
    files = chart(LIBRARY_IMAGES + helper + PULL_SECRETS, HELPED)
    repo = repo_of_files(tmp_path, {**files, "web/templates/migrate-job.yaml": job})
    log = _refused(repo, tmp_path, "web")
    assert "templates/migrate-job.yaml (Job {{ include \"common.names.fullname\" . }}-migrate)" \
        in log
