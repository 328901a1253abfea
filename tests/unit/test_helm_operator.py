"""An operator's chart (shapes after kube-prometheus-stack, written here): the operator's
Deployment named after the release and the chart (``<release>-stk-operator``), known as the app
by its ``app.kubernetes.io/component`` label and a container named by the chart's name helper;
admission-webhook Jobs running a certificate generator; custom resources whose ``spec.image`` the
operator runs. Each case is deployed twice: with the chart renderable (the helm proof), and with
a dependency missing from ``charts/`` (helm cannot render it: the templates check decides).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files

REG = "ghcr.io/acme"
CHART = "apiVersion: v2\nname: stack\nversion: 40.0.0\nappVersion: 0.9.0\n"
# a dependency helm dependency build would fetch: not vendored, so helm template fails
MISSING_DEPENDENCY = ("dependencies:\n  - name: dashboards\n    version: 1.0.0\n"
                      "    repository: https://charts.example.com\n"
                      "    condition: dashboards.enabled\n")

HELPERS = """\
{{- define "stack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 50 | trimSuffix "-" -}}
{{- end }}

{{/* The release's name and the chart's, cut to leave room for suffixes. */}}
{{- define "stack.fullname" -}}
{{- printf "%s-stk" .Release.Name | trunc 26 | trimSuffix "-" -}}
{{- end }}

{{- define "stack.labels" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: {{ template "stack.name" . }}
{{- end }}

{{- define "stack.operator.labels" }}
{{- include "stack.labels" . }}
app: {{ template "stack.name" . }}-operator
app.kubernetes.io/name: {{ template "stack.name" . }}-metrics-operator
app.kubernetes.io/component: metrics-operator
{{- end }}

{{- define "stack.webhook.labels" }}
{{- include "stack.labels" . }}
app.kubernetes.io/name: {{ template "stack.name" . }}-metrics-operator
app.kubernetes.io/component: metrics-operator-webhook
{{- end }}
"""

OPERATOR = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ template "stack.fullname" . }}-operator
  labels:
    {{- include "stack.operator.labels" . | nindent 4 }}
spec:
  template:
    metadata:
      labels:
        {{- include "stack.operator.labels" . | nindent 8 }}
    spec:
      containers:
        - name: {{ template "stack.name" . }}
          image: "{{ .Values.operator.image.repository }}:{{ .Values.operator.image.tag }}"
          args:
            - --log-level=info
            - --config-reloader-image=RELOADER
""".replace("RELOADER", "{{ .Values.operator.reloader.image.repository }}:"
            "{{ .Values.operator.reloader.image.tag }}")


def job(step: str) -> str:
    image = ("{{ .Values.operator.webhooks.patch.image.repository }}:"
             "{{ .Values.operator.webhooks.patch.image.tag }}")
    return f"""\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{{{ template "stack.fullname" . }}}}-admission-{step}
  labels:
    {{{{- include "stack.webhook.labels" . | nindent 4 }}}}
spec:
  template:
    spec:
      containers:
        - name: {step}
          image: {image}
"""


ALERTMANAGER = """\
apiVersion: monitoring.example.com/v1
kind: Alertmanager
metadata:
  name: {{ template "stack.fullname" . }}-alertmanager
  labels:
    app: {{ template "stack.name" . }}-alertmanager
spec:
  image: "{{ .Values.alertmanager.spec.image.repository }}:{{ .Values.alertmanager.spec.image.tag }}"
  version: {{ .Values.alertmanager.spec.image.tag }}
  replicas: 1
"""

# a custom resource that names an image in a field of its own (a sidecar the operator adds)
RULER = """\
apiVersion: monitoring.example.com/v1
kind: Ruler
metadata:
  name: {{ template "stack.fullname" . }}-ruler
spec:
  sidecar:
    image: "{{ .Values.ruler.sidecar.image.repository }}:{{ .Values.ruler.sidecar.image.tag }}"
"""

# a value drawn at random in every render (kube-prometheus-stack's grafana admin password)
RANDOM_SECRET = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-admin\n"
                 "stringData:\n  password: {{ randAlphaNum 16 | quote }}\n")

VALUES = f"""\
nameOverride: ""
dashboards:
  enabled: false
operator:
  image:
    repository: {REG}/metrics-operator
    tag: 0.9.0
  reloader:
    image:
      repository: {REG}/config-reloader
      tag: 0.9.0
  webhooks:
    patch:
      image:
        repository: {REG}/certgen
        tag: 1.0.0
alertmanager:
  spec:
    image:
      repository: {REG}/alertmanager
      tag: 0.30.0
ruler:
  sidecar:
    image:
      repository: {REG}/reloader
      tag: 0.9.0
"""


def _stack(tmp_path: Path, renderable: bool, extra: dict[str, str] | None = None,
           values: str = VALUES) -> GitRepo:
    return repo_of_files(tmp_path, {**(extra or {}),
        "apps/stack/Chart.yaml": CHART + ("" if renderable else MISSING_DEPENDENCY),
        "apps/stack/values.yaml": values,
        "apps/stack/templates/_helpers.tpl": HELPERS,
        "apps/stack/templates/operator/deployment.yaml": OPERATOR,
        "apps/stack/templates/operator/webhook/job-create.yaml": job("create"),
        "apps/stack/templates/operator/webhook/job-patch.yaml": job("patch"),
        "apps/stack/templates/alertmanager/alertmanager.yaml": ALERTMANAGER,
        "apps/stack/templates/ruler/ruler.yaml": RULER,
        "apps/stack/templates/secret.yaml": RANDOM_SECRET})


def _deploy(repo: GitRepo, tmp_path: Path, image: str, release: str,
            *extra: str) -> tuple[int, str, dict[str, str]]:
    assert shutil.which("helm"), "the tests need helm on PATH: ./scripts/setup installs helm-binary"
    return run_cli(repo, tmp_path, ["image-update", "--image", image, "--release", release,
                                    "--path", "apps/stack", *extra])


def _refused(repo: GitRepo, tmp_path: Path, image: str, release: str, *extra: str) -> str:
    head = repo.origin_git("rev-parse", "main").strip()
    code, log, outputs = _deploy(repo, tmp_path, image, release, *extra)
    assert code in (0, 1) and outputs.get("changed") != "true", log
    assert repo.origin_git("rev-parse", "main").strip() == head, log
    assert repo.git("status", "--porcelain") == "", log
    return log


def _proof(renderable: bool) -> str:
    return "rendered with `helm template`" if renderable else \
        "values keys checked against the chart's templates"


def _rendered(repo: GitRepo, kind: str, name: str) -> str:
    """The image the renderable chart renders for one object (release x), after a pull."""
    repo.git("pull", "-q", "--ff-only")
    out = subprocess.run(["helm", "template", "x", str(repo.work / "apps/stack")],
                         capture_output=True, text=True, check=True).stdout
    doc = next(d for d in out.split("\n---") if f"kind: {kind}\n" in d and f"name: {name}\n" in d)
    return doc[doc.index("image: ") + 7:].split("\n", 1)[0].strip('"')


@pytest.mark.parametrize("renderable", [True, False], ids=["rendered", "templates-check"])
@pytest.mark.parametrize("app", ["metrics-operator", "stack"])
def test_the_operators_release_with_the_webhook_jobs_image_is_refused(
        tmp_path: Path, renderable: bool, app: str) -> None:
    """kube-prometheus-stack: the release of the operator (prometheus-operator, or the chart's
    own name) with the admission webhook's certgen image moved the admission Jobs. The
    operator's Deployment is <release>-kube-p-operator: not named after the app, but labelled
    app.kubernetes.io/component: prometheus-operator, its container named by the chart's name
    helper. Refused, in the render and in the templates check (a dependency not vendored); the
    certgen's own release, and the operator's own image, deploy."""
    repo = _stack(tmp_path, renderable)
    log = _refused(repo, tmp_path, f"{REG}/certgen:1.1.0", f"{app}@1.1.0")
    if renderable:
        assert f"Deployment/{app}-stk-operator, the app's own workload" in log, log
        assert f"running {REG}/metrics-operator:0.9.0" in log, log
    else:
        assert "templates/operator/deployment.yaml (Deployment {{ template \"stack.fullname\" . }}" \
            "-operator), the app's own workload" in log, log
        assert f"runs {REG}/metrics-operator (.Values.operator.image.repository)" in log, log
    assert "admission-create" in log and "e.g. certgen@<version>" in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/certgen:1.1.0", "certgen@1.1.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert _proof(renderable) in log, log
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/metrics-operator:1.0.0", f"{app}@1.0.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert _proof(renderable) in log, log
    if renderable:
        assert _rendered(repo, "Job", "x-stk-admission-create") == f"{REG}/certgen:1.1.0"
        assert _rendered(repo, "Deployment", "x-stk-operator") == f"{REG}/metrics-operator:1.0.0"


@pytest.mark.parametrize("renderable", [True, False], ids=["rendered", "templates-check"])
def test_the_image_of_a_custom_resource_its_operator_runs_deploys(
        tmp_path: Path, renderable: bool) -> None:
    """alertmanager.alertmanagerSpec.image: the chart writes it into the Alertmanager
    resource's spec.image, and the operator runs it in the StatefulSet it creates. The render
    holds no container of it: the deploy was refused with advice to enable the component, or
    (with a value drawn at random in the render) as changing only that value. The resource's
    spec.image moving to exactly the new image is the deploy; the same event again changes
    nothing."""
    repo = _stack(tmp_path, renderable)
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/alertmanager:0.31.0",
                                 "alertmanager@0.31.0")
    assert code == 0 and outputs["changed"] == "true", log
    assert outputs["previous-image"] == f"{REG}/alertmanager:0.30.0", log
    assert _proof(renderable) in log, log
    if renderable:
        assert "only Alertmanager/alertmanager-stk-alertmanager spec.image moved" in log, log
        assert "Alertmanager/alertmanager-stk-alertmanager is a custom resource: its operator " \
            "runs spec.image" in log, log
        assert "spec.version carries the tag" in log, log
        assert _rendered(repo, "Alertmanager", "x-stk-alertmanager") == \
            f"{REG}/alertmanager:0.31.0"
    code, log, outputs = _deploy(repo, tmp_path, f"{REG}/alertmanager:0.31.0",
                                 "alertmanager@0.31.0")
    assert code == 0 and outputs["changed"] == "false" and "nothing to change" in log, log


@pytest.mark.parametrize(("image", "where"), [
    ("reloader", "Ruler/reloader-stk-ruler spec.sidecar.image, which carries the image into a "
     "custom resource (its operator creates the pods that run it; of a custom resource, the "
     "receiver deploys the image of spec.image only)"),
    ("config-reloader", "Deployment/config-reloader-stk-operator "
     "spec.template.spec.containers.0.args.1, which carries the image to what starts the pods "
     "that run it (an operator's argument, a configuration)"),
], ids=["custom-resource-field", "operator-argument"])
def test_an_image_an_operator_is_handed_elsewhere_is_refused_saying_so(
        tmp_path: Path, image: str, where: str) -> None:
    """A resource's sidecar image (spec.sidecar.image), or the operator's argument naming the
    config reloader it adds to the pods it creates (--prometheus-config-reloader=<image>): no
    container of the render runs it, and the edit was refused with advice to enable the
    component, which is enabled, or (with a value drawn at random in the render) as changing
    only that value. The refusal names the field and why the receiver does not deploy it."""
    repo = _stack(tmp_path, renderable=True)
    log = _refused(repo, tmp_path, f"{REG}/{image}:0.9.1", f"{image}@0.9.1")
    assert f"no container of the render runs {REG}/{image}; the values edit only changes " \
        f"{where}" in log, log
    assert "handed to a program (an operator, a controller) that starts the pods running it" \
        in log and "Enable the component" not in log, log


def test_a_custom_resource_of_another_repository_moved_with_the_image_is_refused(
        tmp_path: Path) -> None:
    """grafana's agent-operator: the GrafanaAgent resource runs the agent with the operator's
    tag key, so the operator's release moves the agent's image too: refused, naming the
    resource's spec.image and its repository (the custom resource is no container of the
    target's repository)."""
    agent = ("apiVersion: monitoring.example.com/v1\nkind: Agent\nmetadata:\n"
             "  name: {{ .Release.Name }}-agent\nspec:\n"
             "  image: \"{{ .Values.agent.repository }}:{{ .Values.operator.image.tag }}\"\n")
    repo = _stack(tmp_path, True, {"apps/stack/templates/agent.yaml": agent},
                  VALUES + f"agent:\n  repository: {REG}/agent\n")
    log = _refused(repo, tmp_path, f"{REG}/metrics-operator:1.0.0", "metrics-operator@1.0.0")
    assert "Agent/metrics-operator-agent spec.image renders 'ghcr.io/acme/agent:1.0.0' (was " \
        f"'ghcr.io/acme/agent:0.9.0'), another repository than {REG}/metrics-operator" in log, log
