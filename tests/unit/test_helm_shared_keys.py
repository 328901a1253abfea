"""A chart in the repo whose templates read the image keys: the key a deploy writes must decide the
target's image and no other workload's. These tests hide helm: the judge is then which workload
templates read the key, the helpers they include followed (the check that runs where helm is not
on PATH; test_helmrender.py runs the same charts through helm).

Shapes written after microservice-demo charts (one shared ``images.tag`` read by every service's
template, one template per service, ``name: {{ .Values.<service>.name }}``), single-app charts with
a migration Job of the same image, and a template ranging over services. Each case asserts the
outcome: the right key changed and nothing else, or a refusal naming the templates and the key to
set, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files

REG = "registry.example.com/shop"
CHART_YAML = "apiVersion: v2\nname: shop\nversion: 0.1.0\nappVersion: v0.1.0\n"
SHARED = ("images:\n  repository: registry.example.com/shop\n  # empty: the chart's appVersion\n"
          "  tag: \"\"\n\nfrontend:\n  name: frontend\n  replicas: 1\n\ncart:\n  name: cart\n")


def service(key: str, kind: str = "Deployment", image: str = "") -> str:
    image = image or (f"{{{{ .Values.images.repository }}}}/{{{{ .Values.{key}.name }}}}:"
                      "{{ .Values.images.tag | default .Chart.AppVersion }}")
    return (f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {{{{ .Values.{key}.name }}}}\n"
            f"  labels:\n    app: {{{{ .Values.{key}.name }}}}\nspec:\n  template:\n    spec:\n"
            f"      containers:\n        - name: server\n          image: {image}\n")


REDIS = ("---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: redis-cart\nspec:\n"
         "  template:\n    spec:\n      containers:\n        - name: redis\n"
         "          image: {{ .Values.images.repository }}/redis:7\n")
SHOP = {"shop/Chart.yaml": CHART_YAML, "shop/values.yaml": SHARED,
        "shop/templates/frontend.yaml": service("frontend"),
        "shop/templates/cart.yaml": service("cart") + REDIS}


@pytest.fixture(autouse=True)
def no_helm(monkeypatch: pytest.MonkeyPatch) -> None:
    """helm is not on PATH (as on a machine without it): the templates check decides."""
    import shutil

    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "helm"
                        else which(name, *a, **k))


def _repo(tmp_path: Path, files: dict[str, str]) -> GitRepo:
    return repo_of_files(tmp_path, files)


def _deploy(repo: GitRepo, tmp_path: Path, app: str, tag: str,
            *extra: str) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, ["image-update", "--image", f"{REG}/{app}:{tag}", "--release",
                                    f"{app}@{tag}", "--path", "shop", "--push", "false", *extra])


def _refused(repo: GitRepo, tmp_path: Path, app: str, *extra: str) -> str:
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path, app, "v0.2.0", *extra)
    assert code == 1, log
    assert repo.git("rev-parse", "HEAD").strip() == head
    assert repo.git("status", "--porcelain") == ""
    return log


def test_a_tag_key_every_service_reads_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path, SHOP)
    log = _refused(repo, tmp_path, "frontend", "--helm-tag-key", "images.tag")
    assert "input 'helm-tag-key': the chart in shop reads .Values.images.tag in the templates of " \
           "workloads other than frontend's: templates/cart.yaml (Deployment " \
           "{{ .Values.cart.name }}); writing it would change the image of every one of them; " \
           "nothing was written" in log
    assert "Give frontend an image key of its own that only its template reads (e.g. " \
           "frontend.image.tag) and set helm-tag-key (and helm-image-key) to it" in log
    assert "redis-cart" not in log  # its image does not read the tag


def test_a_per_component_key_is_edited_alone(tmp_path: Path) -> None:
    values = SHARED.replace("  replicas: 1\n", "  replicas: 1\n  image:\n"
                            f"    repository: {REG}/frontend\n    tag: v0.1.0\n")
    image = "{{ .Values.frontend.image.repository }}:{{ .Values.frontend.image.tag }}"
    repo = _repo(tmp_path, {**SHOP, "shop/values.yaml": values,
                            "shop/templates/frontend.yaml": service("frontend", image=image)})
    code, log, outputs = _deploy(repo, tmp_path, "frontend", "v0.2.0",
                                 "--helm-tag-key", "frontend.image.tag",
                                 "--helm-image-key", "frontend.image.repository")
    assert code == 0, log
    assert (repo.work / "shop/values.yaml").read_text() == values.replace(
        "    tag: v0.1.0\n", "    tag: v0.2.0\n")
    assert outputs["previous-image"] == f"{REG}/frontend:v0.1.0"


def test_the_policy_key_of_the_app_is_edited(tmp_path: Path) -> None:
    values = SHARED.replace("  replicas: 1\n", "  replicas: 1\n  tag: v0.1.0\n")
    image = "{{ .Values.images.repository }}/frontend:{{ .Values.frontend.tag }}"
    policy = ("version: 1\napps:\n  - match: shop\n    target:\n      helm:\n"
              "        tag-key: frontend.tag\n")
    repo = _repo(tmp_path, {**SHOP, "shop/values.yaml": values, "gitops-release.yaml": policy,
                            "shop/templates/frontend.yaml": service("frontend", image=image)})
    code, log, _ = _deploy(repo, tmp_path, "frontend", "v0.2.0")
    assert code == 0, log
    assert (repo.work / "shop/values.yaml").read_text() == values.replace("v0.1.0", "v0.2.0")


SINGLE = f"image:\n  repository: {REG}/web\n  tag: v0.1.0\n"
SAME_IMAGE = "\"{{ .Values.image.repository }}:{{ .Values.image.tag }}\""
NAMED = ("apiVersion: batch/v1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n  template:\n"
         "    spec:\n      containers:\n        - name: main\n          image: {image}\n")


@pytest.mark.parametrize("names", [("web", "web-migrate"),
                                   ("{{ include \"app.fullname\" . }}",
                                    "{{ include \"app.fullname\" . }}-migrate")],
                         ids=["named-after-the-app", "names-from-a-helper"])
def test_a_migration_job_of_the_same_image_follows_the_app(tmp_path: Path,
                                                           names: tuple[str, str]) -> None:
    repo = _repo(tmp_path, {
        "shop/Chart.yaml": CHART_YAML, "shop/values.yaml": SINGLE,
        "shop/templates/deployment.yaml": NAMED.format(kind="Deployment", name=names[0],
                                                       image=SAME_IMAGE),
        "shop/templates/migrate.yaml": NAMED.format(kind="Job", name=names[1],
                                                    image=SAME_IMAGE)})
    code, log, _ = _deploy(repo, tmp_path, "web", "v0.2.0")
    assert code == 0, log
    assert (repo.work / "shop/values.yaml").read_text() == SINGLE.replace("v0.1.0", "v0.2.0")


def test_a_key_read_by_several_images_none_the_apps_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {
        "shop/Chart.yaml": CHART_YAML, "shop/values.yaml": SINGLE,
        "shop/templates/api.yaml": NAMED.format(
            kind="Deployment", name="api", image="{{ .Values.image.repository }}-api:"
            "{{ .Values.image.tag }}"),
        "shop/templates/worker.yaml": NAMED.format(
            kind="Deployment", name="worker", image="{{ .Values.image.repository }}-worker:"
            "{{ .Values.image.tag }}")})
    log = _refused(repo, tmp_path, "web")
    assert "the chart in shop reads .Values.image.tag in the templates of 2 workloads, none of " \
           "them named after 'web': templates/api.yaml (Deployment api); templates/worker.yaml " \
           "(Deployment worker)" in log


def test_a_template_ranging_over_services_is_refused(tmp_path: Path) -> None:
    ranged = ("{{- range .Values.services }}\n---\n"
              + NAMED.format(kind="Deployment", name="{{ .name }}",
                             image="{{ $.Values.image.repository }}/{{ .name }}:"
                             "{{ $.Values.image.tag }}") + "{{- end }}\n")
    repo = _repo(tmp_path, {
        "shop/Chart.yaml": CHART_YAML, "shop/values.yaml": SINGLE + "services:\n  - name: web\n"
        "  - name: mail\n", "shop/templates/services.yaml": ranged})
    log = _refused(repo, tmp_path, "web")
    assert "templates/services.yaml (Deployment {{ .name }}, in a range: several workloads)" in log


def test_another_workload_in_the_apps_file_counts_as_another(tmp_path: Path) -> None:
    worker = ("---\n" + NAMED.format(kind="Deployment", name="cart-worker", image=(
        "{{ .Values.images.repository }}/cart-worker:{{ .Values.images.tag }}")))
    repo = _repo(tmp_path, {"shop/Chart.yaml": CHART_YAML, "shop/values.yaml": SHARED,
                            "shop/templates/cart.yaml": service("cart") + worker})
    log = _refused(repo, tmp_path, "cart", "--helm-tag-key", "images.tag")
    assert "in the templates of workloads other than cart's: templates/cart.yaml (Deployment " \
           "cart-worker)" in log


def test_the_apps_name_is_found_after_its_labels(tmp_path: Path) -> None:
    labelled = NAMED.format(kind="Deployment", name="web", image=SAME_IMAGE).replace(
        "metadata:\n", "metadata:\n  labels:\n    app.kubernetes.io/name: shop\n"
        "    {{- include \"shop.labels\" . | nindent 4 }}\n")
    repo = _repo(tmp_path, {
        "shop/Chart.yaml": CHART_YAML, "shop/values.yaml": SINGLE,
        "shop/templates/deployment.yaml": labelled,
        "shop/templates/worker.yaml": NAMED.format(
            kind="Deployment", name="worker", image="{{ .Values.image.repository }}-worker:"
            "{{ .Values.image.tag }}")})
    log = _refused(repo, tmp_path, "web")
    assert "in the templates of workloads other than web's: templates/worker.yaml (Deployment " \
           "worker)" in log


def _fullname(part: str) -> str:
    image = "{{ .Values.images.repository }}/" + part + ":{{ .Values.images.tag }}"
    return service(part, image=image).replace(
        f"name: {{{{ .Values.{part}.name }}}}\n  labels", "name: {{ include \"shop.fullname\" . }}-"
        + part + "\n  labels")


@pytest.mark.parametrize("extra", [(), ("--workload", "shop")], ids=["app", "workload-shop"])
def test_templates_named_with_the_fullname_helper_are_told_apart(
        tmp_path: Path, extra: tuple[str, ...]) -> None:
    """``{{ include "shop.fullname" . }}-frontend``: the app's template by its last name part
    (none was found, and the refusal named the key already in use). A workload input that every
    template's name holds (``shop``) picks none: the shared key is still refused."""
    repo = _repo(tmp_path, {**SHOP, "shop/templates/frontend.yaml": _fullname("frontend"),
                            "shop/templates/cart.yaml": _fullname("cart")})
    log = _refused(repo, tmp_path, "frontend", "--helm-tag-key", "images.tag", *extra)
    assert "in the templates of workloads other than frontend's: templates/cart.yaml" in log, log


def test_the_example_of_a_key_of_its_own_is_never_the_key_refused(tmp_path: Path) -> None:
    """tempo-distributed: tempo.image.tag, read by four components, was refused for tempo and
    given as the example of a key of its own."""
    values = SHARED.replace("  replicas: 1\n", "  replicas: 1\n  image:\n"
                            f"    repository: {REG}/frontend\n    tag: v0.1.0\n")
    image = "{{ .Values.frontend.image.repository }}:{{ .Values.frontend.image.tag }}"
    repo = _repo(tmp_path, {**SHOP, "shop/values.yaml": values,
                            "shop/templates/frontend.yaml": service("frontend", image=image),
                            "shop/templates/cart.yaml": service(
                                "cart", image="{{ .Values.images.repository }}/cart:"
                                "{{ .Values.frontend.image.tag }}")})
    log = _refused(repo, tmp_path, "frontend", "--helm-tag-key", "frontend.image.tag",
                   "--helm-image-key", "frontend.image.repository")
    assert "reads .Values.frontend.image.tag in the templates of workloads other than " \
        "frontend's" in log, log
    assert "(e.g. frontendImage.tag)" in log, log


def test_a_workload_whose_kind_is_templated_reads_the_shared_key(tmp_path: Path) -> None:
    """web writes ``kind: {{ ternary "StatefulSet" "Deployment" ... }}`` and runs image.tag;
    the worker runs its own repository at the same tag. The worker's deploy to image.tag is
    refused naming web (the templated kind was no workload, the worker taken for the key's only
    reader, and the worker's tag pushed for web too)."""
    values = SINGLE + f"worker:\n  repository: {REG}/worker\n"
    repo = _repo(tmp_path, {
        "shop/Chart.yaml": CHART_YAML, "shop/values.yaml": values,
        "shop/templates/web.yaml": NAMED.format(
            kind='{{ ternary "StatefulSet" "Deployment" .Values.persistent }}', name="web",
            image=SAME_IMAGE),
        "shop/templates/worker.yaml": NAMED.format(
            kind="Deployment", name="worker",
            image="{{ .Values.worker.repository }}:{{ .Values.image.tag }}")})
    log = _refused(repo, tmp_path, "worker", "--helm-tag-key", "image.tag",
                   "--helm-image-key", "worker.repository")
    assert "the chart in shop reads .Values.image.tag in the templates of workloads other than " \
           "worker's: templates/web.yaml (StatefulSet/Deployment web); writing it would change " \
           "the image of every one of them" in log


SIDECAR = ("        - name: metrics\n"
           "          image: \"{{ .Values.metrics.repository }}:{{ .Values.metrics.tag }}\"\n")
METRICS = f"metrics:\n  repository: {REG}/exporter\n  tag: v1\n"


@pytest.mark.parametrize("same", [True, False], ids=["same-image-line", "another-image-line"])
def test_workloads_running_the_key_through_one_image_line_follow_each_other(
        tmp_path: Path, same: bool) -> None:
    """The primary and the replicas (neither named after web) run image.tag through the same
    image line, the primary with a metrics sidecar of its own: both run web's image, and the
    deploy writes image.tag (it was refused as two workloads reading the key, their image lines
    not the same set). A replica running image.tag through another line (-debug) is another
    image: still refused."""
    replica = SAME_IMAGE if same else \
        "\"{{ .Values.image.repository }}-debug:{{ .Values.image.tag }}\""
    repo = _repo(tmp_path, {
        "shop/Chart.yaml": CHART_YAML, "shop/values.yaml": SINGLE + METRICS,
        "shop/templates/primary.yaml": NAMED.format(
            kind="StatefulSet", name="db-primary", image=SAME_IMAGE) + SIDECAR,
        "shop/templates/replicas.yaml": NAMED.format(
            kind="StatefulSet", name="db-replicas", image=replica)})
    if not same:
        log = _refused(repo, tmp_path, "web")
        assert "reads .Values.image.tag in the templates of 2 workloads, none of them named " \
               "after 'web': templates/primary.yaml (StatefulSet db-primary); " \
               "templates/replicas.yaml (StatefulSet db-replicas)" in log
        return
    code, log, _ = _deploy(repo, tmp_path, "web", "v0.2.0")
    assert code == 0, log
    assert (repo.work / "shop/values.yaml").read_text() == (SINGLE + METRICS).replace(
        "tag: v0.1.0", "tag: v0.2.0")


def test_a_sidecar_of_the_same_image_line_follows_the_app(tmp_path: Path) -> None:
    """web's Deployment and a backup CronJob whose main container runs web's image line beside
    a sidecar of its own: the CronJob follows web (its other line reads another key)."""
    cron = NAMED.format(kind="CronJob", name="web-backup", image=SAME_IMAGE) + SIDECAR
    repo = _repo(tmp_path, {
        "shop/Chart.yaml": CHART_YAML, "shop/values.yaml": SINGLE + METRICS,
        "shop/templates/deployment.yaml": NAMED.format(kind="Deployment", name="web",
                                                       image=SAME_IMAGE),
        "shop/templates/backup.yaml": cron})
    code, log, _ = _deploy(repo, tmp_path, "web", "v0.2.0")
    assert code == 0, log
    assert (repo.work / "shop/values.yaml").read_text() == (SINGLE + METRICS).replace(
        "tag: v0.1.0", "tag: v0.2.0")


def test_an_init_container_of_a_helper_runs_the_key(tmp_path: Path) -> None:
    """The shell image runs in an init container that web's template includes from a helper
    (``include "web.initContainers" .``); the template's own image line reads image.*: the shell
    key reaches an image all the same (it was refused as read "but not in an image", the
    helper's image line not looked at)."""
    helpers = ('{{- define "web.initContainers" -}}\n- name: volume-permissions\n'
               '  image: "{{ .Values.shell.image.repository }}:{{ .Values.shell.image.tag }}"\n'
               '{{- end -}}\n')
    deployment = NAMED.format(kind="Deployment", name="web", image=SAME_IMAGE).replace(
        "      containers:\n", "      initContainers:\n"
        "        {{- include \"web.initContainers\" . | nindent 8 }}\n      containers:\n")
    values = SINGLE + f"shell:\n  image:\n    repository: {REG}/os-shell\n    tag: \"12-r50\"\n"
    repo = _repo(tmp_path, {"shop/Chart.yaml": CHART_YAML, "shop/values.yaml": values,
                            "shop/templates/_helpers.tpl": helpers,
                            "shop/templates/deployment.yaml": deployment})
    code, log, _ = _deploy(repo, tmp_path, "os-shell", "12-r51")
    assert code == 0, log
    assert (repo.work / "shop/values.yaml").read_text() == values.replace("12-r50", "12-r51")
