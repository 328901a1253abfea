"""A chart whose templates hand the whole image map to a helper, as Bitnami-style charts do with
their library chart (``include "common.images.image" (dict "imageRoot" .Values.image ...)``, the
library a dependency that may not be vendored): the template never names ``.Values.image.tag``,
yet the helper reads registry, repository, tag and digest.

Shapes written after such charts (none copied). Each case asserts the outcome: the tag (and the
digest where the key exists or the chart reads it) changed and nothing else, or a refusal naming
the templates, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files

DIGEST = "sha256:" + "cd" * 32
CHART_YAML = ("apiVersion: v2\nname: web\nversion: 1.0.0\nappVersion: 1.2.0\ndependencies:\n"
              "  - name: common\n    repository: oci://charts.example.com/library\n"
              "    version: 2.x.x\n")
VALUES = ("global:\n  imageRegistry: \"\"\n## @param image.registry Image registry\nimage:\n"
          "  registry: registry.example.com\n  repository: acme/web\n  tag: 1.2.0-r0\n"
          "  digest: \"\"\n  pullPolicy: IfNotPresent\n  debug: false\nreplicaCount: 1\n")
HELPERS = ('{{/* the image of web */}}\n{{- define "web.image" -}}\n'
           '{{ include "common.images.image" (dict "imageRoot" .Values.image "global" '
           '.Values.global) }}\n{{- end -}}\n\n'
           '{{- define "web.worker.image" -}}\n'
           '{{ include "common.images.image" (dict "imageRoot" .Values.image "global" '
           '.Values.global) }}-worker\n{{- end -}}\n')


def workload(name: str, image: str) -> str:
    return ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
            f"  name: {name}\n  labels: {{{{- include \"common.labels.standard\" . | nindent 4 }}}}\n"
            "spec:\n  template:\n    spec:\n      containers:\n        - name: web\n"
            f"          image: {image}\n"
            "          imagePullPolicy: {{ .Values.image.pullPolicy | quote }}\n")


CHART = {"web/Chart.yaml": CHART_YAML, "web/values.yaml": VALUES,
         "web/templates/_helpers.tpl": HELPERS,
         "web/templates/NOTES.txt": '{{- include "common.warnings.rollingTag" .Values.image }}\n',
         "web/templates/deployment.yaml": workload('{{ include "common.names.fullname" . }}',
                                                   '{{ include "web.image" . }}')}


def _repo(tmp_path: Path, files: dict[str, str]) -> GitRepo:
    return repo_of_files(tmp_path, files)


def _deploy(repo: GitRepo, tmp_path: Path, *extra: str) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, ["image-update", "--image",
                                    "registry.example.com/acme/web:1.3.0-r0", "--release",
                                    "web@1.3.0-r0", "--path", "web", "--push", "false", *extra])


def test_the_map_handed_to_the_library_helper_counts_as_read(tmp_path: Path) -> None:
    repo = _repo(tmp_path, CHART)
    code, log, outputs = _deploy(repo, tmp_path)
    assert code == 0, log
    assert (repo.work / "web/values.yaml").read_text() == VALUES.replace("1.2.0-r0", "1.3.0-r0")
    assert outputs["previous-image"] == "registry.example.com/acme/web:1.2.0-r0"
    code, log, _ = _deploy(repo, tmp_path, "--helm-tag-key", "image.tag")
    assert code == 0, log


def test_the_digest_key_of_the_map_is_written(tmp_path: Path) -> None:
    repo = _repo(tmp_path, CHART)
    code, log, _ = _deploy(repo, tmp_path, "--digest", DIGEST)
    assert code == 0, log
    assert (repo.work / "web/values.yaml").read_text() == VALUES.replace(
        "1.2.0-r0", "1.3.0-r0").replace('digest: ""', f'digest: "{DIGEST}"')


def test_a_digest_key_the_library_helper_takes_is_added(tmp_path: Path) -> None:
    values = VALUES.replace('  digest: ""\n', "")
    repo = _repo(tmp_path, {**CHART, "web/values.yaml": values})
    code, log, _ = _deploy(repo, tmp_path, "--digest", DIGEST)
    assert code == 0, log
    after = YAML(typ="safe").load((repo.work / "web/values.yaml").read_text())
    expected = YAML(typ="safe").load(values.replace("1.2.0-r0", "1.3.0-r0"))
    expected["image"]["digest"] = DIGEST
    assert after == expected


def test_a_local_helper_that_reads_no_digest_gets_none(tmp_path: Path) -> None:
    helper = ('{{- define "web.image" -}}\n{{- with .Values.image -}}\n'
              '{{ .registry }}/{{ .repository }}:{{ .tag }}\n{{- end -}}\n{{- end -}}\n')
    values = VALUES.replace('  digest: ""\n', "")
    repo = _repo(tmp_path, {**CHART, "web/values.yaml": values,
                            "web/templates/_helpers.tpl": helper})
    code, log, _ = _deploy(repo, tmp_path, "--digest", DIGEST)
    assert code == 0, log
    assert "digest not pinned" in log
    assert (repo.work / "web/values.yaml").read_text() == values.replace("1.2.0-r0", "1.3.0-r0")


def test_the_map_handed_over_by_another_workloads_template_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {**CHART, "web/templates/worker.yaml": workload(
        "worker", '{{ include "web.worker.image" . }}')})
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 1, log
    assert "the chart in web reads .Values.image.tag in the templates of 2 workloads, none of " \
           "them named after 'web': templates/deployment.yaml (Deployment {{ include " \
           "\"common.names.fullname\" . }}); templates/worker.yaml (Deployment worker)" in log
    assert repo.git("rev-parse", "HEAD").strip() == head
    assert repo.git("status", "--porcelain") == ""


def test_a_map_only_tested_is_not_read(tmp_path: Path) -> None:
    helper = '{{- define "web.image" -}}\n{{- if .Values.image }}nginx:stable{{ end -}}\n{{- end -}}\n'
    repo = _repo(tmp_path, {**CHART, "web/templates/_helpers.tpl": helper})
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 1, log
    assert "the chart in web never reads .Values.image.tag" in log


def test_a_local_helper_whose_image_reads_another_key_is_followed(tmp_path: Path) -> None:
    """The library is not vendored (no render: the templates are read as text). The image line
    includes the chart's own helper, which joins image.repository and image.version; image.tag
    is read only by a label. Writing image.tag would move no image: refused, the helper read
    through (it was taken for a helper text cannot follow, and the deploy pushed)."""
    helpers = ('{{- define "web.image" -}}\n{{ .Values.image.repository }}:'
               '{{ .Values.image.version }}\n{{- end -}}\n')
    deployment = workload("web", '{{ include "web.image" . | quote }}').replace(
        "  labels: {{- include \"common.labels.standard\" . | nindent 4 }}\n",
        "  labels:\n    version: {{ .Values.image.tag | quote }}\n")
    repo = _repo(tmp_path, {**CHART, "web/templates/_helpers.tpl": helpers,
                            "web/templates/deployment.yaml": deployment,
                            "web/values.yaml": VALUES.replace("  tag: 1.2.0-r0\n",
                                                              "  tag: 1.2.0-r0\n  version: 1.2.0-r0\n")})
    code, log, _ = _deploy(repo, tmp_path)
    assert code == 1 and "reads .Values.image.tag, but not in an image" in log, log
    assert repo.git("status", "--porcelain") == ""
