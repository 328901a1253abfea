"""The Helm render proof: a values edit of a chart in the folder is rendered with the real ``helm
template`` before and after (helm-binary in the dev venv, as GitHub's runners have helm), and
only the target's image may move. Shapes written after public charts: an image string beside a
separate tag key, a tag defaulting to the chart's appVersion, a template that reads another key
than the one a values file carries, an umbrella chart whose subchart reads the key, a chart
reading one shared key in several services. Each asserts the outcome: the edit pushed and the
render moved, or a refusal naming the difference, and nothing written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files
from tests.unit.test_helm_shared_keys import SHOP

REG = "ghcr.io/acme"
CHART = "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.2.3\"\n"


RANDOM_SECRET = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\nstringData:\n"
                 "  password: {{ randAlphaNum 16 | quote }}\n")


def deployment(image: str, name: str = "web", extra: str = "", label: bool = True) -> str:
    version = "{{ .Values.image.tag | default .Chart.AppVersion | quote }}" if label else "v"
    return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  labels:\n"
            f"    app.kubernetes.io/version: {version}\n"
            f"spec:\n  template:\n    spec:\n      containers:\n        - name: {name}\n"
            f"          image: \"{image}\"\n{extra}")


def _deploy(repo: GitRepo, tmp_path: Path, image: str, release: str, path: str = "apps/web",
            *extra: str) -> tuple[int, str, dict[str, str]]:
    assert shutil.which("helm"), "the tests need helm on PATH: ./scripts/setup installs helm-binary"
    return run_cli(repo, tmp_path, ["image-update", "--image", image, "--release", release,
                                    "--path", path, *extra])


def _refused(repo: GitRepo, tmp_path: Path, image: str, release: str, *extra: str,
             path: str = "apps/web") -> str:
    head = repo.origin_git("rev-parse", "main").strip()
    code, log, outputs = _deploy(repo, tmp_path, image, release, path, *extra)
    assert code in (0, 1) and outputs.get("changed") != "true", log
    assert repo.origin_git("rev-parse", "main").strip() == head, log
    assert repo.git("status", "--porcelain") == "", log
    return log


def _rendered_image(repo: GitRepo, path: str, name: str = "web") -> str:
    repo.git("pull", "-q", "--ff-only")
    out = subprocess.run(["helm", "template", "x", str(repo.work / path)], capture_output=True,
                         text=True, check=True).stdout
    block = out[out.index(f"name: {name}\n"):]
    return block[block.index("image: ") + 7:].split("\n", 1)[0].strip('"')


def test_a_tag_defaulting_to_the_app_version_is_what_runs(tmp_path: Path) -> None:
    """``tag: ""`` renders appVersion 1.2.3: an older release is refused as a downgrade, and a
    newer one is pushed with the label that carries the tag named in the summary."""
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART,
        "apps/web/values.yaml": f"image:\n  repository: {REG}/web\n  tag: \"\"\n",
        "apps/web/templates/deployment.yaml": deployment(
            "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}")})
    log = _refused(repo, tmp_path, f"{REG}/web:1.0.0", "web@1.0.0")
    assert "1.0.0 is older than 1.2.3" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.3.0", "web@1.3.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert outputs["previous-image"] == f"{REG}/web:1.2.3", log
    assert "rendered with `helm template` before and after" in log, log
    assert "app.kubernetes.io/version carries the tag ('1.2.3' → '1.3.0')" in log, log
    assert _rendered_image(repo, "apps/web") == f"{REG}/web:1.3.0"


RANDOM_TEST_POD = ("apiVersion: v1\nkind: Pod\nmetadata:\n"
                   "  name: \"web-ui-test-{{ randAlphaNum 5 | lower }}\"\n"
                   "  annotations:\n    helm.sh/hook: test-success\nspec:\n  containers:\n"
                   "    - name: ui-test\n      image: \"{{ .Values.image.repository }}:"
                   "{{ .Values.image.tag | default .Chart.AppVersion }}\"\n")


@pytest.mark.parametrize("random", ["", "secret.yaml", "test-pod.yaml"],
                         ids=["steady", "random-secret", "randomly-named-test-pod"])
def test_the_version_that_already_runs_is_no_error(tmp_path: Path, random: str) -> None:
    """``tag: ""`` renders appVersion 1.2.3: deploying 1.2.3 changes no render (the tag is
    written: what runs is now named), and the same event delivered again, or after a release,
    is nothing to change (exit 0): both were refused as keys the chart does not read. With a
    random Secret, or a test Pod named at random that runs the image too (jenkins' chart), the
    comparison leaves out what differs between two renders."""
    random_files = {"secret.yaml": RANDOM_SECRET, "test-pod.yaml": RANDOM_TEST_POD}
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART,
        "apps/web/values.yaml": f"image:\n  repository: {REG}/web\n  tag: \"\"\n",
        "apps/web/templates/deployment.yaml": deployment(
            "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"),
        **({f"apps/web/templates/{random}": random_files[random]} if random else {})})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.2.3", "web@1.2.3")
    assert code == 0 and outputs["changed"] == "true", log
    said = "container web, Pod/web-ui-test-" if random == "test-pod.yaml" else "container web"
    assert f"Deployment/web {said}" in log and "already run" in log, log
    assert f"run{'' if random == 'test-pod.yaml' else 's'} {REG}/web:1.2.3" in log, log
    assert "the containers the keys decide already run the new image" in log, log
    for release in ("1.2.3", "1.3.0", "1.3.0"):
        code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:{release}", f"web@{release}")
        assert code == 0, log
    assert outputs["changed"] == "false" and "nothing to change" in log, log
    assert _rendered_image(repo, "apps/web") == f"{REG}/web:1.3.0"


def test_a_key_that_decides_another_container_already_on_the_version_is_refused(
        tmp_path: Path) -> None:
    """The Deployment reads image.version; a Job of the chart already runs the new version
    through image.tag. Writing image.tag moves nothing, and a render with another tag moves
    the Job, not the target: refused (a container already running the new image anywhere in
    the chart was taken for the target)."""
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  version: 1.0.0\n  tag: 2.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.version }}",
                             label=False),
                  {"apps/web/templates/job.yaml":
                   "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\nspec:\n"
                   "  template:\n    spec:\n      containers:\n        - name: migrate\n"
                   "          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n"})
    log = _refused(repo, tmp_path, f"{REG}/web:2.0.0", "web@2.0.0", "--workload", "web")
    assert "no container's image changes with the values edit" in log, log


def test_a_checksum_of_the_values_does_not_hide_the_version_already_running(
        tmp_path: Path) -> None:
    """tag: "" renders appVersion 2.0.0, and a checksum annotation of the values changes with
    any values edit: deploying 2.0.0 moves no image, and the probe render shows the keys
    decide the container, which already runs it: written (it was refused)."""
    template = deployment(
        "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}",
        label=False).replace("    spec:\n      containers:", "    metadata:\n      annotations:\n"
                             "        checksum/values: {{ .Values | toYaml | sha256sum }}\n"
                             "    spec:\n      containers:")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: \"\"\n", template,
                  chart=CHART.replace("1.2.3", "2.0.0"))
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:2.0.0", "web@2.0.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert "already runs" in log, log


def test_a_workload_named_alone_is_not_moved_with_another(tmp_path: Path) -> None:
    """worker reads worker.tag, else image.tag: the edit of image.tag moves both. With
    'workload: web' named, moving worker too is refused, naming it."""
    worker = deployment("{{ .Values.image.repository }}:{{ .Values.worker.tag | default "
                        ".Values.image.tag }}", name="worker", label=False)
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\nworker: {{}}\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}", label=False),
                  {"apps/web/templates/worker.yaml": worker})
    log = _refused(repo, tmp_path, f"{REG}/web:2.0.0", "web@2.0.0", "--workload", "web")
    assert "the values edit moves Deployment/worker, not only the workload named 'web'" in log, log
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/web:2.0.0", "web@2.0.0")
    assert code == 0 and "the same image moves in Deployment/web, Deployment/worker" in log, log


def test_a_repository_only_block_read_without_a_default_gets_its_tag(tmp_path: Path) -> None:
    """image.repository only, and a template that joins image.tag with no default (it renders
    'repo:'): the tag is added, and the render proves it (it was refused as another
    repository)."""
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web  # tag: set by CI\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}", label=False))
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:2.0.0", "web@2.0.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert _rendered_image(repo, "apps/web") == f"{REG}/web:2.0.0"


def test_an_image_in_a_library_charts_helper_sent_again_is_nothing_to_change(
        tmp_path: Path) -> None:
    """The image line is in a helper of a library chart (vendored under charts/), which the
    templates check cannot read: the probe render for a re-delivery used that check and
    refused it (exit 1); it now only renders."""
    library = ('{{- define "common.deployment" -}}\n' + deployment(
        "{{ .Values.image.repository }}:{{ .Values.image.tag }}", label=False) + "{{- end -}}\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.2.0\n",
                  '{{- include "common.deployment" . -}}\n',
                  {"apps/web/charts/common/Chart.yaml":
                   "apiVersion: v2\nname: common\nversion: 0.1.0\ntype: library\n",
                   "apps/web/charts/common/templates/_deployment.tpl": library},
                  chart=CHART + "dependencies:\n  - name: common\n    version: 0.1.0\n")
    for _ in range(2):
        code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.3.0", "web@1.3.0")
        assert code == 0, log
    assert outputs["changed"] == "false" and "nothing to change" in log, log
    assert _rendered_image(repo, "apps/web") == f"{REG}/web:1.3.0"


def test_an_image_string_beside_a_tag_key_is_not_given_a_second_tag(tmp_path: Path) -> None:
    """``image: repo`` + ``imageTag:``, read as ``{{ image }}:{{ imageTag }}``: writing the whole
    image into ``image`` renders ``repo:1.1.0:1.0.0``; the render shows it and nothing is written."""
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART,
        "apps/web/values.yaml": f"image: {REG}/web\nimageTag: 1.0.0\n",
        "apps/web/templates/deployment.yaml": deployment("{{ .Values.image }}:{{ .Values.imageTag }}",
                                                         label=False)})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    if code == 0 and outputs.get("changed") == "true":  # the tag key written: the right edit
        assert _rendered_image(repo, "apps/web") == f"{REG}/web:1.1.0", log
    else:
        assert "1.1.0:1.0.0" in log or "imageTag" in log, log
        assert repo.origin_git("log", "-1", "--format=%s", "main") != "Deploy web@1.1.0"


def test_a_disabled_component_is_named_as_rendering_no_container(tmp_path: Path) -> None:
    """bitnami/nginx's metrics exporter, disabled in the values: the edit of its keys moves
    nothing because no container of the render runs its image (it said the chart does not
    read the keys, which it does)."""
    exporter = ("{{- if .Values.metrics.enabled }}\n" + deployment(
        "{{ .Values.metrics.image.repository }}:{{ .Values.metrics.image.tag }}", name="exporter")
        + "{{- end }}\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\nmetrics:\n"
                            f"  enabled: false\n  image:\n    repository: {REG}/exporter\n"
                            "    tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}"),
                  {"apps/web/templates/exporter.yaml": exporter})
    log = _refused(repo, tmp_path, f"{REG}/exporter:1.1.0", "exporter@1.1.0",
                   "--helm-tag-key", "metrics.image.tag")
    assert f"no container of the render runs {REG}/exporter" in log, log
    assert "Enable the component that runs it in the values" in log, log


def test_a_key_the_chart_never_reads_deploys_nothing_and_is_refused(tmp_path: Path) -> None:
    """The template reads ``image.version``; values.yaml still carries a stale ``image.tag``, and
    another container reads ``.tag`` of another block (the text check took that for a read)."""
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART,
        "apps/web/values.yaml": f"image:\n  repository: {REG}/web\n  version: 1.0.0\n"
                                "  tag: latest\nexporter:\n  tag: 0.9.0\n",
        "apps/web/templates/deployment.yaml": deployment(
            "{{ with .Values.image }}{{ .repository }}:{{ .version }}{{ end }}",
            extra="        - name: exporter\n          image: \"exporter:{{ .Values.exporter.tag }}\"\n")})
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert "no container's image changes with the values edit" in log, log


def test_an_umbrella_charts_subchart_key_is_proven(tmp_path: Path) -> None:
    """The umbrella has a template of its own; its subchart ``frontend`` reads
    ``.Values.image.tag``, which the umbrella's values set as ``frontend.image.tag``."""
    sub = "apiVersion: v2\nname: frontend\nversion: 0.1.0\n"
    repo = repo_of_files(tmp_path, {
        "apps/shop/Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\ndependencies:\n"
                                "  - name: frontend\n    version: 0.1.0\n",
        "apps/shop/values.yaml": f"frontend:\n  image:\n    repository: {REG}/frontend\n"
                                 "    tag: \"1.2.0\"   # bumped by CI\n",
        "apps/shop/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                              "  name: shop\ndata:\n  a: b\n",
        "apps/shop/charts/frontend/Chart.yaml": sub,
        "apps/shop/charts/frontend/templates/deployment.yaml": deployment(
            "{{ .Values.image.repository }}:{{ .Values.image.tag }}", name="frontend")})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/frontend:1.3.0", "frontend@1.3.0",
                                 "apps/shop")
    assert code == 0 and outputs["changed"] == "true", log
    assert "only Deployment/frontend container frontend moved" in log, log
    assert '    tag: "1.3.0"   # bumped by CI\n' in repo.origin_git("show", "main:apps/shop/values.yaml")
    assert _rendered_image(repo, "apps/shop", "frontend") == f"{REG}/frontend:1.3.0"


def test_a_key_every_service_reads_is_refused_by_the_render(tmp_path: Path) -> None:
    """One shared ``images.tag`` read by every service (test_helm_shared_keys' chart), beside
    the repository prefix every service's image starts with: nothing is written, and the
    message says why (the render would move the other services too)."""
    repo = repo_of_files(tmp_path, SHOP)
    log = _refused(repo, tmp_path, "registry.example.com/shop/frontend:v0.2.0", "frontend@v0.2.0",
                   "--helm-tag-key", "images.tag", "--helm-image-key", "images.repository",
                   "--allow-downgrade", "true", path="shop")
    assert "the start of the new image's repository registry.example.com/shop/frontend" in log
    assert "images.tag is the version of every service it renders" in log, log


def test_a_chart_that_does_not_render_is_checked_by_its_templates(tmp_path: Path) -> None:
    """A dependency that is not vendored: helm cannot render the chart as it is, so the values
    keys are checked against the templates, and the summary says so."""
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART + "dependencies:\n  - name: redis\n    version: 1.0.0\n"
                               "    repository: https://charts.example.com\n",
        "apps/web/values.yaml": f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
        "apps/web/templates/deployment.yaml": deployment(
            "{{ .Values.image.repository }}:{{ .Values.image.tag }}")})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert "cannot render the chart in apps/web as it is in the repository" in log, log
    assert "checked against its templates" in log, log


def test_without_a_render_a_key_every_component_of_a_range_reads_is_refused(
        tmp_path: Path) -> None:
    """The opentelemetry-demo shape, its dependency not vendored: one template ranges over the
    components and includes a helper that writes each one's Deployment, which reads the shared
    default.image.tag through an alias (``set . "defaultValues" $.Values.default``). Writing it
    moved every component (pushed); the helper's object is now a workload of that template."""
    helper = ('{{- define "demo.deployment" }}\n---\napiVersion: apps/v1\nkind: Deployment\n'
              "metadata:\n  name: {{ .name }}\nspec:\n  template:\n    spec:\n      containers:\n"
              "        - name: {{ .name }}\n          image: '{{ .defaultValues.image.repository }}:"
              "{{ printf \"%s-%s\" (default .Chart.AppVersion .defaultValues.image.tag) .name }}'\n"
              "{{- end }}\n")
    component = ("{{- range $name, $config := .Values.components }}\n"
                 "{{- $config := set . \"name\" $name }}\n{{- $config := set . \"Chart\" $.Chart }}\n"
                 "{{- $config := set . \"defaultValues\" $.Values.default }}\n"
                 "{{- include \"demo.deployment\" $config }}\n{{- end }}\n")
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART + "dependencies:\n  - name: collector\n    version: 1.0.0\n"
                               "    repository: https://charts.example.com\n",
        "apps/web/values.yaml": f"default:\n  image:\n    repository: {REG}/demo\n    tag: \"\"\n"
                                "components:\n  frontend: {}\n  cart: {}\n",
        "apps/web/templates/_objects.tpl": helper,
        "apps/web/templates/component.yaml": component})
    log = _refused(repo, tmp_path, f"{REG}/demo:1.3.0-frontend", "frontend@1.3.0-frontend",
                   "--helm-tag-key", "default.image.tag", "--helm-image-key",
                   "default.image.repository")
    assert "reads .Values.default.image.tag in the templates of 1 workloads" in log, log
    assert "templates/component.yaml (Deployment {{ .name }}, in a range: several workloads)" \
        in log, log


@pytest.mark.parametrize("layered", [True, False])
def test_a_layered_values_file_is_rendered_over_values_yaml(tmp_path: Path, layered: bool) -> None:
    """helm-values-file: values-prod.yaml is rendered as the environment renders it, over the
    chart's values.yaml (a values.yaml edit is rendered alone)."""
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART,
        "apps/web/values.yaml": f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
        "apps/web/values-prod.yaml": "image:\n  tag: 1.0.5\n",
        "apps/web/templates/deployment.yaml": deployment(
            "{{ .Values.image.repository }}:{{ .Values.image.tag }}")})
    name = "values-prod.yaml" if layered else "values.yaml"
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0", "apps/web",
                                 "--helm-values-file", name)
    assert code == 0 and outputs["changed"] == "true", log
    assert outputs["previous-image"] == f"{REG}/web:{'1.0.5' if layered else '1.0.0'}", log
    assert ("values.yaml, then values-prod.yaml" in log) == layered, log


def test_a_chart_that_renders_random_values_is_judged_on_the_rest(tmp_path: Path) -> None:
    """A Secret with randAlphaNum (and a checksum of it): two renders of the same values differ
    there, so those values are left out of the comparison, and the deploy is proven on the rest
    (it was refused for a difference the deploy did not make)."""
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART,
        "apps/web/values.yaml": f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
        "apps/web/templates/secret.yaml": RANDOM_SECRET,
        "apps/web/templates/deployment.yaml": deployment(
            "{{ .Values.image.repository }}:{{ .Values.image.tag }}")})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert "left out of the comparison" in log and "4 renders" in log, log
    assert _rendered_image(repo, "apps/web") == f"{REG}/web:1.1.0"


def test_random_values_do_not_hide_another_change(tmp_path: Path) -> None:
    """What differs between two renders is left out, nothing else: the other service that reads
    the same key still refuses the deploy."""
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART,
        "apps/web/values.yaml": f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
        "apps/web/templates/secret.yaml": RANDOM_SECRET,
        "apps/web/templates/deployment.yaml": deployment(
            "{{ .Values.image.repository }}:{{ .Values.image.tag }}"),
        "apps/web/templates/other.yaml": deployment(
            "ghcr.io/acme/other:{{ .Values.image.tag }}", name="other", label=False)})
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert "Deployment/other container other renders 'ghcr.io/acme/other:1.1.0'" in log, log


def test_a_chart_holding_a_symlink_is_not_rendered(tmp_path: Path) -> None:
    """helm follows symlinks: a chart file linked to a file of the runner would bring it into
    the render (and an error message). helm is not run; the templates check decides."""
    repo = repo_of_files(tmp_path, {
        "apps/web/Chart.yaml": CHART,
        "apps/web/values.yaml": f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
        "apps/web/templates/deployment.yaml": deployment(
            "{{ .Values.image.repository }}:{{ .Values.image.tag }}")})
    (repo.work / "apps/web/files").mkdir()
    (repo.work / "apps/web/files/host").symlink_to("/etc/hostname")
    repo.commit_all("A symlink in the chart")
    repo.git("push", "-q")
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert "the chart holds a symlink (files/host)" in log, log


def _chart(tmp_path: Path, values: str, template: str, extra: dict[str, str] | None = None,
           chart: str = CHART) -> GitRepo:
    return repo_of_files(tmp_path, {"apps/web/Chart.yaml": chart, "apps/web/values.yaml": values,
                                    "apps/web/templates/deployment.yaml": template,
                                    **(extra or {})})


def _web_and(tmp_path: Path, name: str, text: str) -> GitRepo:
    """The web chart (image.repository and image.tag) with one more template, ``name``."""
    return _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}", label=False),
                  {f"apps/web/templates/{name}": text})


def test_a_digest_left_from_before_is_refused(tmp_path: Path) -> None:
    """``repo:{{tag}}@{{sha}}`` under a key the receiver does not know: a deploy without a digest
    rendered the new tag beside the old digest, which keeps the old image running. The pin is
    now cleared with the tag, and this chart appends ``@`` whatever it holds: the render proof
    refuses that image too."""
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n"
                            f"  sha: sha256:{'1' * 64}\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}"
                             "@{{ .Values.image.sha }}", label=False))
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert f"renders '{REG}/web:1.1.0@'" in log and "helm-digest-key" in log, log


def test_a_digest_rendered_without_the_tag_is_the_new_image(tmp_path: Path) -> None:
    """Bitnami's helper renders ``repo@digest`` alone once a digest is set."""
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n  digest: \"\"\n",
                  deployment("{{ .Values.image.repository }}{{ if .Values.image.digest }}@"
                             "{{ .Values.image.digest }}{{ else }}:{{ .Values.image.tag }}{{ end }}",
                             label=False))
    digest = "sha256:" + "2" * 64
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0@{digest}", "web@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert _rendered_image(repo, "apps/web") == f"{REG}/web@{digest}"


@pytest.mark.parametrize("kind", ["Pod", "ScaledJob"])
def test_containers_of_any_object_are_checked(tmp_path: Path, kind: str) -> None:
    """A bare Pod or a KEDA ScaledJob reading the tag under another repository: its container
    moved unchecked (only Deployment-style pod templates were compared)."""
    if kind == "Pod":
        other = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: smoke\nspec:\n  containers:\n"
                 "    - name: smoke\n      image: docker.io/acme/smoke:{{ .Values.image.tag }}\n")
    else:
        other = ("apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata:\n  name: batch\nspec:\n"
                 "  jobTargetRef:\n    template:\n      spec:\n        containers:\n"
                 "          - name: batch\n            image: docker.io/acme/batch:"
                 "{{ .Values.image.tag }}\n")
    repo = _web_and(tmp_path, "other.yaml", other)
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert f"{kind}/" in log and "renders 'docker.io/acme/" in log, log


def test_an_edit_that_moves_only_an_annotation_is_refused(tmp_path: Path) -> None:
    template = deployment("{{ .Values.runImage }}", label=False).replace(
        "  labels:\n", "  annotations:\n    acme.io/built-from: \"{{ .Values.image.repository }}:"
        "{{ .Values.image.tag }}\"\n  labels:\n")
    repo = _chart(tmp_path, f"runImage: {REG}/web:1.0.0\nimage:\n  repository: {REG}/web\n"
                            "  tag: 1.0.0\n", template)
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert "no container's image changes with the values edit" in log, log


def test_random_object_names_and_an_app_that_is_no_release_name(tmp_path: Path) -> None:
    """A hook Job named with randAlphaNum (its identity differs between renders), and the app
    ``web_api``, which helm refuses as a release name (the proof was switched off)."""
    job = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate-{{ randAlphaNum 5 | lower }}\n"
           "  annotations:\n    helm.sh/hook: pre-upgrade\nspec:\n  template:\n    spec:\n"
           "      containers:\n        - name: migrate\n"
           "          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web_api\n  tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                             name="web_api", label=False),
                  {"apps/web/templates/job.yaml": job})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web_api:1.1.0", "web_api@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert "rendered with `helm template`" in log and "left out of the comparison" in log, log


def test_a_secrets_values_are_not_shown(tmp_path: Path) -> None:
    secret = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: web\nstringData:\n"
              "  token: \"hunter2-{{ .Values.image.tag }}\"\n")
    repo = _web_and(tmp_path, "secret.yaml", secret)
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert "Secret/web stringData.token changes (a Secret's value, not shown)" in log, log
    assert "hunter2" not in log


def test_the_plan_made_ahead_and_the_deploy_render_the_chart_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan made in the background and the plan on the fetched branch ask for the same
    renders: helm runs twice in all (before and after), not four times."""
    import os
    import stat

    from gitops_release import helmrender

    monkeypatch.setattr(helmrender, "_RENDERS", {})  # nothing from another test of this process
    real = shutil.which("helm")
    assert real is not None
    log_file = tmp_path / "helm.log"
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "helm").write_text(f'#!/bin/sh\necho "$@" >> {log_file}\nexec {real} "$@"\n')
    (shim / "helm").chmod((shim / "helm").stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}"))
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert len(log_file.read_text().splitlines()) == 2, log_file.read_text()


@pytest.mark.parametrize("empty", ['""', "null", "~", ""])
def test_without_a_render_an_empty_tag_is_the_charts_app_version(
        tmp_path: Path, empty: str) -> None:
    """The chart does not render as it is (a dependency not vendored): the templates check runs,
    and ``tag: ""`` counts as the chart's appVersion for the downgrade guard (a rollback from
    1.2.3 to 1.0.0 was pushed with no word). So does a null tag (``null``, ``~``, nothing: the
    version read was "null", not compared, and the rollback pushed; tempo-distributed)."""
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: {empty}\n".replace(" \n", "\n"),
                  deployment("{{ .Values.image.repository }}:"
                             "{{ .Values.image.tag | default .Chart.AppVersion }}"),
                  chart=CHART + "dependencies:\n  - name: redis\n    version: 1.0.0\n"
                  "    repository: https://charts.example.com\n")
    log = _refused(repo, tmp_path, f"{REG}/web:1.0.0", "web@1.0.0")
    assert "1.0.0 is older than 1.2.3" in log, log


def test_another_programs_image_outside_a_containers_list_is_refused(tmp_path: Path) -> None:
    """A Tekton Task's steps[].image reading the same tag under another repository: it was
    noted as "carries the tag" and pushed."""
    task = ("apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: smoke\nspec:\n  steps:\n"
            "    - name: run\n      image: docker.io/acme/smoke:{{ .Values.image.tag }}\n")
    repo = _web_and(tmp_path, "task.yaml", task)
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert "Task/smoke spec.steps.0.image renders 'docker.io/acme/smoke:1.1.0'" in log, log


@pytest.mark.parametrize("shape", ["pod-reads-the-key", "annotation-only"])
def test_without_a_render_the_templates_check_holds_the_same_line(
        tmp_path: Path, shape: str) -> None:
    """helm cannot render the chart as it is (a dependency not vendored): the templates check
    refuses what the render refuses (another program's Pod reading the key; a key read only in
    an annotation), which it pushed before."""
    chart = CHART + "dependencies:\n  - name: redis\n    version: 1.0.0\n" \
        "    repository: https://charts.example.com\n"
    if shape == "pod-reads-the-key":
        pod = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: smoke\nspec:\n  containers:\n"
               "    - name: smoke\n      image: docker.io/acme/smoke:{{ .Values.image.tag }}\n")
        repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
                      deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                                 label=False), {"apps/web/templates/pod.yaml": pod}, chart=chart)
        expected = "templates/pod.yaml (Pod smoke)"
    else:
        template = deployment("{{ .Values.runImage }}", label=False).replace(
            "  labels:\n", "  annotations:\n    built: \"{{ .Values.image.tag }}\"\n  labels:\n")
        repo = _chart(tmp_path, f"runImage: {REG}/web:1.0.0\nimage:\n  repository: {REG}/web\n"
                                "  tag: 1.0.0\n", template, chart=chart)
        expected = "reads .Values.image.tag, but not in an image"
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert expected in log and "helm template cannot render it" in log, log


def test_an_override_file_of_any_name_beside_the_chart_is_named(tmp_path: Path) -> None:
    """prod.yaml beside the chart sets the tag (an Argo CD Application lists it in
    helm.valueFiles): an edit of values.yaml alone would deploy nothing there."""
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}"),
                  {"apps/web/prod.yaml": "image:\n  tag: 1.0.3\n"})
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert "apps/web/prod.yaml image.tag (line 2) also sets it" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0", "apps/web",
                                 "--helm-values-file", "prod.yaml")
    assert code == 0 and outputs["changed"] == "true", log
    assert "values.yaml, then prod.yaml" in log, log


def test_two_long_strings_are_shown_where_they_differ() -> None:
    """A ConfigMap's embedded config (jenkins' agent template): the refusal showed the same
    first 120 characters on both sides."""
    from gitops_release.helmrender import _change

    a = "x" * 150 + "image: jenkins/inbound-agent:3301.v4363ddcca_4e7-1" + "y" * 50
    b = "x" * 150 + "image: jenkins/inbound-agent:3302.v1cfe4e081049-1" + "y" * 50
    shown = _change(a, b)
    assert "inbound-agent:3301" in shown and "inbound-agent:3302" in shown, shown
    assert shown.endswith(f"(from character {150 + len('image: jenkins/inbound-agent:330')})"), shown
    assert _change("a", "b") == "'a' → 'b'"


def test_the_image_of_another_component_than_the_apps_is_refused(tmp_path: Path) -> None:
    """Release web with the image of the chart's admin UI: admin.image.tag was pushed and
    Deployment/web-admin moved under "Deploy web@1.1.0" (argo-rollouts: the kubectl plugin's
    image moved the dashboard). A kustomize overlay refuses it by Deployment/web's repository,
    and so does the chart; naming the workload deploys it."""
    admin = deployment("{{ .Values.admin.image.repository }}:{{ .Values.admin.image.tag }}",
                       name="web-admin", label=False)
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\nadmin:\n  image:\n"
                  f"    repository: {REG}/admin-ui\n    tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                             label=False), {"apps/web/templates/admin.yaml": admin})
    log = _refused(repo, tmp_path, f"{REG}/admin-ui:1.1.0", "web@1.1.0")
    assert "renders Deployment/web, the app's own workload, running " \
        f"{REG}/web:1.0.0, and the new image is {REG}/admin-ui" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/admin-ui:1.1.0", "web@1.1.0",
                                 "apps/web", "--workload", "web-admin")
    assert code == 0 and outputs["changed"] == "true", log
    assert _rendered_image(repo, "apps/web", "web-admin") == f"{REG}/admin-ui:1.1.0"
    assert _rendered_image(repo, "apps/web") == f"{REG}/web:1.0.0"


def test_the_reason_helm_failed_is_its_error_not_a_warning() -> None:
    from gitops_release.helmvalues import _helm_failure

    err = ("WARNING: This chart is deprecated\nError: An error occurred while checking for chart "
           "dependencies. You may need to run `helm dependency build` to fetch missing "
           "dependencies: found in Chart.yaml, but missing in charts/ directory: minio\n")
    assert _helm_failure(err).startswith("Error: An error occurred while checking for chart")
    assert _helm_failure("WARNING: x\nsomething else\n") == "something else"
    assert _helm_failure("") == "helm template failed"


def test_a_layered_files_global_image_registry_wins_over_the_blocks_registry(
        tmp_path: Path) -> None:
    """Bitnami's convention: global.imageRegistry wins over image.registry. Set in the
    environment's values-prod.yaml (a mirror), it was left out: the right deploy was refused
    as a repository change, and the one to the old registry was judged against the wrong one."""
    template = deployment("{{ .Values.global.imageRegistry | default .Values.image.registry }}/"
                          "{{ .Values.image.repository }}:{{ .Values.image.tag }}", label=False)
    repo = _chart(tmp_path, "global:\n  imageRegistry: \"\"\nimage:\n  registry: docker.io\n"
                  "  repository: acme/web\n  tag: 1.0.0\n", template,
                  {"apps/web/values-prod.yaml": "global:\n  imageRegistry: mirror.example.com\n"
                   "image:\n  tag: 1.0.0\n"})
    log = _refused(repo, tmp_path, "docker.io/acme/web:1.1.0", "web@1.1.0",
                   "--helm-values-file", "values-prod.yaml")
    assert "values-prod.yaml image.repository gives mirror.example.com/acme/web" in log, log
    code, log, outputs = _deploy(repo, tmp_path, "mirror.example.com/acme/web:1.1.0", "web@1.1.0",
                                 "apps/web", "--helm-values-file", "values-prod.yaml")
    assert code == 0 and outputs["changed"] == "true", log
    assert repo.origin_git("show", "main:apps/web/values-prod.yaml") == \
        "global:\n  imageRegistry: mirror.example.com\nimage:\n  tag: 1.1.0\n"


def test_a_release_key_that_renders_into_a_label_is_refused(tmp_path: Path) -> None:
    """prometheus' server.podLabels: --helm-release-key server.podLabels.release wrote
    ``release: web@1.1.0`` into the pod's labels, which the API server refuses ('@' is no label
    character); the proof passed it. An annotation takes it."""
    template = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
                "  template:\n    metadata:\n      labels:\n"
                "        {{- toYaml .Values.podLabels | nindent 8 }}\n      annotations:\n"
                "        {{- toYaml .Values.podAnnotations | nindent 8 }}\n    spec:\n"
                "      containers:\n        - name: web\n"
                "          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\npodLabels:\n"
                  "  app: web\n  release: web-1.0.0\npodAnnotations:\n  release: web@1.0.0\n",
                  template)
    log = _refused(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0",
                   "--helm-release-key", "podLabels.release")
    assert "renders 'web@1.1.0', which is no valid label value" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0", "apps/web",
                                 "--helm-release-key", "podAnnotations.release")
    assert code == 0 and outputs["changed"] == "true", log


SHOP_TEMPLATE = ("{{- range $name := list \"web\" \"worker\" }}\n---\napiVersion: apps/v1\n"
                 "kind: Deployment\nmetadata:\n  name: shop-{{ $name }}\nspec:\n  template:\n"
                 "    spec:\n      containers:\n        - name: {{ $name }}\n"
                 "          image: {{ (index $.Values $name).image | quote }}\n{{- end }}\n")


def test_blocks_holding_the_whole_image_are_told_apart_by_the_workload(tmp_path: Path) -> None:
    """web.image and worker.image hold the same image as one string each: without 'workload'
    the error advised helm-tag-key: shop.image.tag (no such key; a string has no tag key),
    and 'workload' did not pick the block named after it."""
    values = f"web:\n  image: {REG}/shop:1.0.0\nworker:\n  image: {REG}/shop:1.0.0\n"
    repo = _chart(tmp_path, values, SHOP_TEMPLATE)
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/shop:1.2.0", "shop@1.2.0")
    assert code == 1 and "cannot tell which image block is 'shop'" in log, log
    assert "Set helm-image-key to the key that holds the app's whole image, e.g. " \
        "helm-image-key: web.image" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/shop:1.2.0", "shop@1.2.0", "apps/web",
                                 "--workload", "shop-worker")
    assert code == 0 and outputs["changed"] == "true", log
    assert repo.origin_git("show", "main:apps/web/values.yaml") == \
        f"web:\n  image: {REG}/shop:1.0.0\nworker:\n  image: {REG}/shop:1.2.0\n"


def test_an_image_named_only_in_a_configmap_is_no_container_to_deploy(tmp_path: Path) -> None:
    """jenkins' inbound agent: its image is only a string in the JCasC ConfigMap, so the edit
    changes the ConfigMap and moves no container. It was refused as "changes more than the
    target's image", with advice on helm keys. The field that carries the image is named
    with what reads it (it was left out, naming only the ConfigMap's hash)."""
    config = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: casc\ndata:\n"
              "  agent: \"{{ .Values.agent.image.repository }}:{{ .Values.agent.image.tag }}\"\n"
              "  id: {{ .Values.agent | toJson | sha256sum | trunc 8 | quote }}\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\nagent:\n  image:\n"
                  f"    repository: {REG}/agent\n    tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                             label=False), {"apps/web/templates/casc.yaml": config})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/agent:1.1.0", "agent@1.1.0")
    assert code == 1 and outputs.get("changed") != "true", log
    assert f"no container of the render runs {REG}/agent; the values edit only changes " \
        "ConfigMap/casc data.agent, which carries the image to what starts the pods that run it " \
        "(an operator's argument, a configuration); ConfigMap/casc data.id" in log, log
    assert "handed to a program (an operator, a controller) that starts the pods" in log, log


def test_the_workload_picks_its_components_own_block(tmp_path: Path) -> None:
    """tempo-distributed: --workload tempo-ingester planned tempo.image.tag (read by every
    component) and was refused as moving them all, although ingester.image.tag (null: the
    chart falls back to tempo.image.*) is the ingester's own."""
    def component(name: str) -> str:
        return deployment(f"{{{{ .Values.{name}.image.repository | default "
                          f".Values.tempo.image.repository }}}}:{{{{ .Values.{name}.image.tag | "
                          "default .Values.tempo.image.tag }}", name=f"tempo-{name}", label=False)
    values = (f"tempo:\n  image:\n    repository: {REG}/tempo\n    tag: 1.0.0\n"
              "ingester:\n  image:\n    repository: null\n    tag: null\n"
              "distributor:\n  image:\n    repository: null\n    tag: null\n")
    repo = _chart(tmp_path, values, component("ingester"),
                  {"apps/web/templates/distributor.yaml": component("distributor")})
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/tempo:1.1.0", "tempo@1.1.0", "apps/web",
                                 "--workload", "tempo-ingester")
    assert code == 0 and outputs["changed"] == "true", log
    assert _rendered_image(repo, "apps/web", "tempo-ingester") == f"{REG}/tempo:1.1.0"
    assert _rendered_image(repo, "apps/web", "tempo-distributor") == f"{REG}/tempo:1.0.0"


def test_a_release_named_component_running_another_image_is_refused(tmp_path: Path) -> None:
    """harbor: the release harbor-core with the jobservice image moved Deployment
    harbor-core-jobservice. Charts name workloads after the release (<release>-<component>), so
    the app's own is <app>-<app> or has a container named after the app; a named container
    the edit does not move is refused too (it was ignored)."""
    def component(name: str) -> str:
        return deployment(f"{{{{ .Values.{name}.image.repository }}}}:"
                          f"{{{{ .Values.{name}.image.tag }}}}", name=name,
                          label=False).replace(f"name: {name}\n", f"name: {{{{ .Release.Name }}}}-"
                                               f"{name}\n", 1)
    repo = _chart(tmp_path, f"core:\n  image:\n    repository: {REG}/core\n    tag: 1.0.0\n"
                  f"jobs:\n  image:\n    repository: {REG}/jobs\n    tag: 1.0.0\n",
                  component("core"), {"apps/web/templates/jobs.yaml": component("jobs")})
    log = _refused(repo, tmp_path, f"{REG}/jobs:1.1.0", "core@1.1.0")
    assert "renders Deployment/core-core, the app's own workload" in log, log
    code, log, _ = _deploy(repo, tmp_path, f"{REG}/core:1.1.0", "core@1.1.0", "apps/web",
                           "--container", "jobs")
    assert code == 1 and "not container 'jobs'" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/core:1.1.0", "core@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log


def test_a_release_carrying_a_sidecars_image_is_refused(tmp_path: Path) -> None:
    """bitnami/redis: the release of redis with the metrics exporter's image moved the exporter
    container beside redis in the app's own StatefulSet, while its container named redis runs
    another repository (a kustomize overlay refuses the same payload). Refused, saying to name
    the container; named, it deploys. A repository named after the app, in another container
    than the one named like it (a proxy in front of it), is still the app's."""
    extra = ("        - name: exporter\n          image: \"{{ .Values.metrics.image.repository }}:"
             "{{ .Values.metrics.image.tag }}\"\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\nmetrics:\n  image:\n"
                  f"    repository: {REG}/exporter\n    tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                             label=False, extra=extra))
    log = _refused(repo, tmp_path, f"{REG}/exporter:1.1.0", "web@1.1.0")
    assert "renders Deployment/web container web, the app's own container, running " \
        f"{REG}/web:1.0.0" in log and "would move Deployment/web container exporter" in log, log
    assert "set 'container' to the container that runs it (container: exporter" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/exporter:1.1.0", "web@1.1.0",
                                 "apps/web", "--container", "exporter")
    assert code == 0 and outputs["changed"] == "true", log
    proxy = ("        - name: app\n          image: \"{{ .Values.app.image.repository }}:"
             "{{ .Values.app.image.tag }}\"\n")
    repo = _chart(tmp_path / "proxy", f"image:\n  repository: {REG}/nginx\n  tag: 1.0.0\napp:\n"
                  f"  image:\n    repository: {REG}/web\n    tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                             label=False, extra=proxy))
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log


def test_a_values_file_with_a_top_level_kind_is_still_the_charts(tmp_path: Path) -> None:
    """prometheus-blackbox-exporter's values.yaml has a top-level ``kind: Deployment`` (which
    workload kind to render): the folder was read as manifests and the chart could not be
    deployed ("no container named after the app")."""
    repo = _chart(tmp_path, f"kind: Deployment\nimage:\n  repository: {REG}/web\n  tag: 1.0.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                             label=False))
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert _rendered_image(repo, "apps/web") == f"{REG}/web:1.1.0"


def test_a_label_of_the_tags_version_core_carries_the_tag(tmp_path: Path) -> None:
    """Bitnami's common.images.version: app.kubernetes.io/version is the tag up to its first
    '-' (2.13.2 of 2.13.2-debian-12-r5). A version bump was refused as "changes more than the
    target's image" (28 Bitnami charts); a label that moves otherwise still is."""
    label = '{{ regexReplaceAll "-.*" .Values.image.tag "" | quote }}'
    template = deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                          label=False).replace("app.kubernetes.io/version: v\n",
                                               f"app.kubernetes.io/version: {label}\n", 1)
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0-debian-12-r1\n",
                  template)
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0-debian-12-r0",
                                 "web@1.1.0-debian-12-r0")
    assert code == 0 and outputs["changed"] == "true", log
    assert "app.kubernetes.io/version carries the tag" in log, log


def test_a_release_named_after_a_component_is_not_the_charts_main_workload(
        tmp_path: Path) -> None:
    """The chart minio's fullname is the release name where that holds "minio": rendered as the
    release of minio-object-browser, minio's own Deployment is named minio-object-browser, and
    was taken for the app's own workload running another repository: the console's deploy was
    refused. It deploys, and moves the console alone."""
    helpers = ('{{- define "minio.fullname" -}}\n{{- if contains .Chart.Name .Release.Name }}'
               '{{ .Release.Name }}{{ else }}{{ printf "%s-%s" .Release.Name .Chart.Name }}'
               '{{ end -}}\n{{- end -}}\n')
    console = deployment("{{ .Values.console.image.repository }}:"
                         "{{ .Values.console.image.tag }}", label=False).replace(
        "  name: web\n", '  name: {{ include "minio.fullname" . }}-console\n').replace(
        "- name: web\n", "- name: console\n")
    main = deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}", label=False) \
        .replace("  name: web\n", '  name: {{ include "minio.fullname" . }}\n') \
        .replace("- name: web\n", "- name: minio\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/minio\n  tag: 1.0.0\nconsole:\n"
                  f"  image:\n    repository: {REG}/minio-object-browser\n    tag: 2.0.2\n",
                  main, {"apps/web/templates/_helpers.tpl": helpers,
                         "apps/web/templates/console.yaml": console},
                  chart="apiVersion: v2\nname: minio\nversion: 1.0.0\n")
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/minio-object-browser:2.0.3",
                                 "minio-object-browser@2.0.3")
    assert code == 0 and outputs["changed"] == "true", log
    values = repo.origin_git("show", "main:apps/web/values.yaml")
    assert "tag: 2.0.3" in values and "tag: 1.0.0" in values, values


@pytest.mark.parametrize(("enabled", "deploys"), [("false", False), ("true", True)])
def test_without_a_render_a_disabled_components_image_is_refused(
        tmp_path: Path, enabled: str, deploys: bool) -> None:
    """helm cannot render the chart as it is (a dependency not vendored): the exporter's only
    template is rendered only if .Values.exporter.enabled, false in the values, so no container
    runs its image; the edit was pushed, changing nothing in the cluster (where helm renders,
    the same deploy is refused). Enabled, it deploys."""
    chart = CHART + "dependencies:\n  - name: redis\n    version: 1.0.0\n" \
        "    repository: https://charts.example.com\n"
    exporter = ("{{- if .Values.exporter.enabled }}\n" + deployment(
        "{{ .Values.exporter.image.repository }}:{{ .Values.exporter.image.tag }}",
        name="web-exporter", label=False) + "{{- end }}\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\nexporter:\n"
                  f"  enabled: {enabled}\n  image:\n    repository: {REG}/web-exporter\n"
                  "    tag: 1.1.0\n",
                  deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}",
                             label=False), {"apps/web/templates/exporter.yaml": exporter},
                  chart=chart)
    if deploys:
        code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web-exporter:1.2.0",
                                     "web-exporter@1.2.0")
        assert code == 0 and outputs["changed"] == "true", log
        return
    log = _refused(repo, tmp_path, f"{REG}/web-exporter:1.2.0", "web-exporter@1.2.0")
    assert "no workload runs the image of .Values.exporter.image.tag" in log, log
    assert "only if .Values.exporter.enabled, set false" in log, log


def test_without_a_render_an_if_inside_the_template_is_no_gate(tmp_path: Path) -> None:
    """A licence comment first, the workload, then a part behind an if (Bitnami's core-dpl.yaml):
    the if does not gate the workload (harbor-core was refused as disabled)."""
    chart = CHART + "dependencies:\n  - name: redis\n    version: 1.0.0\n" \
        "    repository: https://charts.example.com\n"
    template = ("{{- /*\nCopyright Example.\n*/}}\n\n" + deployment(
        "{{ .Values.image.repository }}:{{ .Values.image.tag }}", label=False)
        + "{{- /* an optional sidecar */}}\n{{- if .Values.sidecar.enabled }}\n"
        "        - name: sidecar\n          image: busybox\n{{- end }}\n")
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.0.0\nsidecar:\n"
                  "  enabled: false\n", template, chart=chart)
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/web:1.1.0", "web@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log


def test_a_workload_named_as_the_charts_component_is_found_in_the_render(tmp_path: Path) -> None:
    """The chart names its workloads <release>-<chart>-worker; rendered as the worker's release
    that is worker-web-worker, and 'workload: worker' (the component, as the README says) was
    refused as "not only the workload named 'worker'" though it moved that one alone."""
    helpers = '{{- define "web.fullname" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end -}}\n'
    worker = deployment("{{ .Values.worker.image.repository }}:{{ .Values.worker.image.tag }}",
                        label=False).replace("  name: web\n",
                                             '  name: {{ include "web.fullname" . }}-worker\n')
    server = deployment("{{ .Values.image.repository }}:{{ .Values.image.tag }}", label=False) \
        .replace("  name: web\n", '  name: {{ include "web.fullname" . }}-server\n')
    repo = _chart(tmp_path, f"image:\n  repository: {REG}/web\n  tag: 1.2.0\nworker:\n  image:\n"
                  f"    repository: {REG}/worker\n    tag: 1.2.0\n", server,
                  {"apps/web/templates/_helpers.tpl": helpers,
                   "apps/web/templates/worker.yaml": worker})
    log = _refused(repo, tmp_path, f"{REG}/worker:1.3.0", "worker@1.3.0", "--workload", "server")
    assert "not only the workload named 'server'" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/worker:1.3.0", "worker@1.3.0",
                                 "apps/web", "--workload", "worker")
    assert code == 0 and outputs["changed"] == "true", log
