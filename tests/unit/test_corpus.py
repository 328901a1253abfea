"""The receiver against the layouts real config repos use (written after studying public Argo CD,
Flux and Kargo example repos, microservice demos and teams' config repos; none copied).

Each case is judged by the render, not by our diff: the overlay is rendered with the real
kustomize (a plain folder: every document of its files) before and after the deploy, and only the
target container's image and release env var may differ — or the deploy is refused with a message
naming what to set, and nothing is committed.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, make_repo

REG = "registry.example.com/acme"


def deployment(name: str, image: str, *, containers: str = "", env: str = "",
               kind: str = "Deployment", api: str = "apps/v1") -> str:
    env_block = f"          env:\n{env}" if env else ""
    return (f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"
            f"  selector:\n    matchLabels:\n      app: {name}\n  template:\n    metadata:\n"
            f"      labels:\n        app: {name}\n    spec:\n      containers:\n"
            f"        - name: {name}\n          image: {image}\n{env_block}{containers}")


def service(name: str) -> str:
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector:\n"
            f"    app: {name}\n  ports:\n    - port: 80\n")


def kustomization(body: str) -> str:
    return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + body


def base(folder: str, name: str, image: str, **kw: str) -> dict[str, str]:
    """A base folder: its kustomization and the Deployment ``name`` it lists."""
    return {f"{folder}/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
            f"{folder}/deployment.yaml": deployment(name, image, **kw)}


RELEASE_ENV = "            - name: APP_RELEASEVERSION\n              value: {release}\n"


@dataclass
class Case:
    files: dict[str, str]
    path: str
    image: str
    release: str
    target: tuple[str, str, str] = ("", "", "")  # kind, rendered name, container
    extra: tuple[str, ...] = ()
    command: str = "image-update"
    error: str = ""  # words of the error (exit 1), or of the refusal with refused
    refused: str = ""
    written: tuple[str, ...] = ()  # files the deploy must change
    env_written: bool = True
    texts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # file: lines it must hold
    whole: dict[str, str] = field(default_factory=dict)  # file: its whole text after the deploy
    also: tuple[tuple[str, str, str, str, str], ...] = ()  # kind, name, key, key, value it gets
    unchanged: tuple[str, ...] = ()  # other overlays (folders) whose render must not change
    followers: tuple[str, ...] = ()  # containers of the target's pod moved to the image with it
    moved: tuple[tuple[str, str, str], ...] = ()  # other workloads' containers moved with it
    logged: tuple[str, ...] = ()  # what the deploy's log must say


CRONJOB = ("apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {name}\nspec:\n"
           "  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
           "          restartPolicy: Never\n          containers:\n            - name: {name}\n"
           "              image: {image}\n")
GENERATED_JOB = ("apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: {name}-\nspec:\n"
                 "  template:\n    spec:\n      restartPolicy: Never\n      containers:\n"
                 f"        - name: main\n          image: {REG}/{{name}}:v1.0.0\n")


# a strategic-merge patch of Deployment/web setting only its release env var, web@v1
RELEASE_PATCH = ("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
                 "  template:\n    spec:\n      containers:\n        - name: web\n"
                 "          env:\n" + RELEASE_ENV.format(release="web@v1"))
# podinfo's production overlay, in short: two bases on one image, none named after the app
PODINFO_LIKE = {
    **{f"p/bases/{name}/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n")
       for name in ("frontend", "backend")},
    **{f"p/bases/{name}/deployment.yaml": deployment(name, f"{REG}/podinfo:6.14.1")
       for name in ("frontend", "backend")},
    "p/overlays/production/kustomization.yaml": kustomization(
        "resources:\n  - ../../bases/frontend\n  - ../../bases/backend\n")}


VERSIONS_CONFIGMAP = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: versions\ndata:\n"
                     f"  web: {REG}/web:v1.0.0\n")
IMAGE_REPLACEMENT = ("replacements:\n  - source:\n      kind: ConfigMap\n      name: versions\n"
                     "      fieldPath: data.web\n    targets:\n      - select:\n"
                     "          kind: Deployment\n          name: web\n        fieldPaths:\n"
                     "          - spec.template.spec.containers.[name=web].image\n")


def _name(obj: dict[str, Any]) -> Any:
    return obj["metadata"].get("name", obj["metadata"].get("generateName"))


JSON_APP = """\
{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {"name": "app"},
  "spec": {
    "selector": {"matchLabels": {"app": "app"}},
    "template": {
      "metadata": {"labels": {"app": "app"}},
      "spec": {
        "containers": [
          {"name": "app", "image": "registry.example.com/acme/app:v1"}
        ]
      }
    }
  }
}
"""


def block(text: str) -> str:
    """``text`` as the lines of a literal block under ``  - patch: |``."""
    return "".join(f"      {line}\n" for line in text.splitlines())


def built_on(base: str, pin: str, extra: str = "") -> str:
    """A kustomization on ``base`` whose images: entry for the web image sets ``pin``."""
    return kustomization(f"resources:\n  - {base}\n{extra}images:\n"
                         f"  - name: registry.example.com/acme/web\n    {pin}\n")


def image_ops(image: str, *containers: str) -> str:
    """A JSON patch replacing the image of each of the pod's ``containers`` (``containers/0``,
    ``initContainers/0``) with ``image``."""
    return json.dumps([{"op": "replace", "path": f"/spec/template/spec/{c}/image",
                        "value": image} for c in containers], indent=2) + "\n"


def held(path: str, reason: str) -> str:
    """A policy holding ``path`` (by alice, since 2026-01-01)."""
    return (f"holds:\n  - path: {path}\n    reason: {reason}\n"
            "    since: 2026-01-01T00:00:00Z\n    by: alice\n")


def held_on(deployed: str, held_folder: str, base: str, prefix: str,
            reason: str) -> dict[str, str]:
    """``deployed`` (web_overlay) and a held overlay ``held_folder`` that builds on it through
    ``base``, naming its objects with ``prefix``: the deploy moves it too."""
    return {**web_overlay(deployed),
            f"{held_folder}/kustomization.yaml": kustomization(
                f"resources:\n  - {base}\nnamePrefix: {prefix}-\n"),
            "gitops-release.yaml": held(held_folder, reason)}


def web_overlay(folder: str) -> dict[str, str]:
    """A kustomization listing web.yaml, a Deployment that records web@v1.0.0."""
    return {f"{folder}/kustomization.yaml": kustomization("resources:\n  - web.yaml\n"),
            f"{folder}/web.yaml": deployment("web", f"{REG}/web:v1.0.0",
                                             env=RELEASE_ENV.format(release="web@v1.0.0"))}


# a workload in the overlay, its images: entry, and an init container of the same image
INIT_OF_THE_SAME_IMAGE = {
    "r/kustomization.yaml": kustomization(
        f"resources:\n  - report.yaml\nimages:\n  - name: {REG}/report\n    newTag: '20240101'\n"),
    "r/report.yaml": deployment("report", f"{REG}/report:20240101").replace(
        "      containers:\n",
        f"      initContainers:\n        - name: fetch\n          image: {REG}/report:20240101\n"
        "      containers:\n")}

WEB_AND_API = deployment("web", f"{REG}/web:v1.0.0") + "---\n" + deployment("api", f"{REG}/api:v1.0.0")
# web and api in a base; the overlay's patch file web.yaml is applied by target: to web
TARGETED_PATCH = {
    "t/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
    "t/base/deployment.yaml": WEB_AND_API,
    "t/overlays/dev/kustomization.yaml": kustomization(
        "resources:\n  - ../../base\npatches:\n  - path: web.yaml\n    target:\n"
        "      kind: Deployment\n      name: web\n"),
}

SHARED_BASE = {
    "apps/shop/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
    "apps/shop/base/deployment.yaml": deployment("shop", f"{REG}/shop:v1.0.0"),
    "apps/shop/overlays/dev/kustomization.yaml": kustomization("resources:\n  - ../../base\n"),
    "apps/shop/overlays/prod/kustomization.yaml": kustomization(
        "resources:\n  - ../../base\nimages:\n  - name: registry.example.com/acme/shop\n"
        "    newTag: v1.0.0\n"),
}

# The overlay is the app's top folder and its base a subfolder of it; test overlays in the same
# subtree build on that base too (a microservice demo's layout).
BASE_IN_THE_OVERLAY = {
    "app/kustomization.yaml": kustomization("resources:\n  - base\n"),
    "app/base/kustomization.yaml": kustomization("resources:\n  - web.yaml\n  - db.yaml\n"),
    "app/base/web.yaml": deployment("web", f"{REG}/web:v1.0.0"),
    "app/base/db.yaml": deployment("db", f"{REG}/db:v1.0.0"),
    "app/tests/mesh/kustomization.yaml": kustomization(
        "resources:\n  - ../../base\nnamePrefix: mesh-\n"),
}
PIN = f"images:\n  - name: {REG}/web\n    newName: mirror.example.com/acme/web\n    newTag: v1.0.0\n"
PIN_COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" + PIN
PINNED = {**BASE_IN_THE_OVERLAY,
          "app/kustomization.yaml": kustomization(
              "resources:\n  - base\ncomponents:\n  - components/pin\n"),
          "app/components/pin/kustomization.yaml": PIN_COMPONENT}

CASES: dict[str, Case] = {
    "base-in-the-overlay-folder-shared-with-test-overlays-gets-an-images-entry": Case(
        dict(BASE_IN_THE_OVERLAY), "app", f"{REG}/web:v1.1.0", "web@v1.1.0",
        ("Deployment", "web", "web"), written=("app/kustomization.yaml",), env_written=False,
        texts={"app/kustomization.yaml": ("images:", f"  - name: {REG}/web", "    newTag: v1.1.0")},
        unchanged=("app/tests/mesh",)),
    "base-in-the-overlay-folder-reached-through-a-chain": Case(
        {**BASE_IN_THE_OVERLAY,
         "app/tests/mesh/kustomization.yaml": kustomization("resources:\n  - ../common\n"),
         "app/tests/common/kustomization.yaml": kustomization("resources:\n  - ../../base\n")},
        "app", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("app/kustomization.yaml",), env_written=False, unchanged=("app/tests/mesh",)),
    "base-in-the-overlay-folder-shared-with-a-broken-test-overlay": Case(
        {**BASE_IN_THE_OVERLAY, "app/tests/mesh/kustomization.yaml": kustomization(
            "resources:\n  - ../../base\n  - missing.yaml\n")},
        "app", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("app/kustomization.yaml",), env_written=False),
    "shared-base-in-the-overlay-folder-moves-a-sidecar-of-the-same-image-too": Case(
        {**BASE_IN_THE_OVERLAY, "app/base/web.yaml": deployment(
            "web", f"{REG}/web:v1.0.0",
            containers=f"        - name: migrate\n          image: {REG}/web:v1.0.0\n")},
        "app", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("app/kustomization.yaml",), env_written=False, followers=("migrate",),
        unchanged=("app/tests/mesh",)),
    "overlay-built-on-the-overlay-does-not-share-its-base": Case(
        {**BASE_IN_THE_OVERLAY, "app/tests/mesh/kustomization.yaml": kustomization(
            "resources:\n  - ../..\nnamePrefix: mesh-\n")},
        "app", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("app/base/web.yaml",)),
    "images-entry-of-a-component-in-the-overlay": Case(
        dict(PINNED), "app", "mirror.example.com/acme/web:v1.1.0", "web@v1.1.0",
        ("Deployment", "web", "web"), written=("app/components/pin/kustomization.yaml",),
        env_written=False,
        whole={"app/components/pin/kustomization.yaml": PIN_COMPONENT.replace(
            "newTag: v1.0.0", "newTag: v1.1.0")},
        unchanged=("app/tests/mesh",)),
    "images-entry-of-a-component-wins-over-an-unshared-base": Case(
        {k: v for k, v in PINNED.items() if not k.startswith("app/tests/")},
        "app", "mirror.example.com/acme/web:v1.1.0", "web@v1.1.0",
        ("Deployment", "web", "web"),
        written=("app/components/pin/kustomization.yaml", "app/base/web.yaml"),
        texts={"app/components/pin/kustomization.yaml": ("    newTag: v1.1.0",)}),
    "downgrade-judged-on-the-images-entry-of-a-component": Case(
        dict(PINNED), "app", "mirror.example.com/acme/web:v0.9.0", "web@v0.9.0",
        refused="downgrade"),
    "shared-component-gets-an-images-entry-in-the-overlay": Case(
        {**PINNED, "app/tests/mesh/kustomization.yaml": kustomization(
            "resources:\n  - ../../base\ncomponents:\n  - ../../components/pin\n"
            "namePrefix: mesh-\n")},
        "app", "mirror.example.com/acme/web:v1.1.0", "web@v1.1.0",
        ("Deployment", "web", "web"), written=("app/kustomization.yaml",), env_written=False,
        texts={"app/kustomization.yaml": ("  - name: mirror.example.com/acme/web",
                                          "    newTag: v1.1.0")},
        unchanged=("app/tests/mesh",)),

    "file-named-after-the-app": Case(
        {"guestbook/guestbook-ui-deployment.yaml": deployment(
            "guestbook-ui", "gcr.io/acme/gb-frontend:v5"),
         "guestbook/guestbook-ui-svc.yaml": service("guestbook-ui")},
        "guestbook", "gcr.io/acme/gb-frontend:v6", "guestbook-ui@v6",
        ("Deployment", "guestbook-ui", "guestbook-ui"),
        written=("guestbook/guestbook-ui-deployment.yaml",)),
    "several-apps-per-folder-kustomized": Case(
        {"sock/kustomization.yaml": kustomization(
            "resources:\n  - carts-dep.yaml\n  - carts-svc.yaml\n  - orders-dep.yaml\n"),
         "sock/carts-dep.yaml": deployment("carts", "weaveworks/carts:0.4.8",
                                           env="            - name: JAVA_OPTS\n"
                                               "              value: -Xms64m\n"),
         "sock/carts-svc.yaml": service("carts"),
         "sock/orders-dep.yaml": deployment("orders", "weaveworks/orders:0.4.7")},
        "sock", "weaveworks/carts:0.4.9", "carts@0.4.9", ("Deployment", "carts", "carts"),
        written=("sock/carts-dep.yaml",)),
    "all-in-one-manifest": Case(
        {"demo/kubernetes-manifests.yaml": "---\n".join([
            deployment("frontend", f"{REG}/frontend:v0.10.3"), service("frontend"),
            deployment("cartservice", f"{REG}/cartservice:v0.10.3",
                       env=RELEASE_ENV.format(release="cartservice@v0.10.3")),
            service("cartservice"), deployment("adservice", f"{REG}/adservice:v0.10.3")])},
        "demo", f"{REG}/cartservice:v0.10.4", "cartservice@v0.10.4",
        ("Deployment", "cartservice", "cartservice"),
        written=("demo/kubernetes-manifests.yaml",)),
    "other-app-in-the-only-file-is-refused": Case(
        {"apps/a/deployment.yaml": deployment("alpha", f"{REG}/alpha:v1")},
        "apps/a", f"{REG}/beta:v2", "beta@v2",
        error="has no container named after the app 'beta' or running registry.example.com/acme/beta"),
    "placeholder-pinned-by-images-entry": Case(
        {"node/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "node/base/deployment.yaml": deployment("acme-node", "acme-node"),
         "node/overlays/prod/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\nimages:\n  - name: acme-node\n"
             "    newName: registry.example.com/acme/acme-node\n    newTag: v1.2.0  # pinned\n")},
        "node/overlays/prod", f"{REG}/acme-node:v1.3.0", "acme-node@v1.3.0",
        ("Deployment", "acme-node", "acme-node"), written=("node/overlays/prod/kustomization.yaml",),
        env_written=False,
        texts={"node/overlays/prod/kustomization.yaml": ("    newTag: v1.3.0  # pinned",)}),
    "downgrade-judged-on-the-images-entry": Case(
        {"node/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "node/base/deployment.yaml": deployment("acme-node", "acme-node:v9.9.9"),
         "node/overlays/prod/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\nimages:\n  - name: acme-node\n"
             "    newName: registry.example.com/acme/acme-node\n    newTag: v2.0.0\n")},
        "node/overlays/prod", f"{REG}/acme-node:v1.9.0", "acme-node@v1.9.0", refused="downgrade"),
    "patch-overridden-by-a-later-patch": Case(
        {**base("web/base", "web", f"{REG}/web:v1.0.0"),
         "web/overlays/prod/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - path: old-pin.yaml\n  - path: pin.yaml\n"),
         "web/overlays/prod/old-pin.yaml": deployment("web", f"{REG}/web:v1.1.0"),
         "web/overlays/prod/pin.yaml": deployment(
             "web", f"{REG}/web:v1.2.0", env=RELEASE_ENV.format(release="web@v1.2.0"))},
        "web/overlays/prod", f"{REG}/web:v1.3.0", "web@v1.3.0", ("Deployment", "web", "web"),
        written=("web/overlays/prod/pin.yaml",)),
    "json6902-patch": Case(
        {**base("api/base", "api", f"{REG}/api:v1.0.0"),
         "api/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - path: image-patch.yaml\n    target:\n"
             "      kind: Deployment\n      name: api\n"),
         "api/overlays/dev/image-patch.yaml":
             "- op: replace\n  path: /spec/template/spec/containers/0/image\n"
             f"  value: {REG}/api:v1.1.0\n"},
        "api/overlays/dev", f"{REG}/api:v1.2.0", "api@v1.2.0", ("Deployment", "api", "api"),
        written=("api/overlays/dev/image-patch.yaml",), env_written=False,
        logged=("api/overlays/dev/image-patch.yaml (JSON patch op 1) sets its image: a JSON "
                "patch, to which the receiver adds no env list); add an op on its env (where an "
                "op adds its whole env list, an entry named APP_RELEASEVERSION in that list: "
                "later deploys update it)",)),
    # ... as that note says: the release env var in the list an op adds is updated
    "json6902-patch-adding-the-env-list-with-the-release": Case(
        {**base("api/base", "api", f"{REG}/api:v1.0.0"),
         "api/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - path: image-patch.yaml\n    target:\n"
             "      kind: Deployment\n      name: api\n"),
         "api/overlays/dev/image-patch.yaml":
             "- op: replace\n  path: /spec/template/spec/containers/0/image\n"
             f"  value: {REG}/api:v1.1.0\n- op: add\n  path: /spec/template/spec/containers/0/env\n"
             "  value:\n    - name: LOG\n      value: debug\n    - name: APP_RELEASEVERSION\n"
             "      value: api@v1.1.0\n"},
        "api/overlays/dev", f"{REG}/api:v1.2.0", "api@v1.2.0", ("Deployment", "api", "api"),
        written=("api/overlays/dev/image-patch.yaml",)),
    # a JSON manifest (kustomize reads it as YAML): what is added is written as JSON, so the
    # file stays JSON (the env list was written in YAML's flow style, unquoted)
    "a-json-manifest-stays-json": Case(
        {"j/kustomization.yaml": kustomization("resources:\n  - app.json\n"),
         "j/app.json": JSON_APP},
        "j", f"{REG}/app:v2", "app@v2", ("Deployment", "app", "app"), written=("j/app.json",),
        whole={"j/app.json": JSON_APP.replace(
            '"image": "registry.example.com/acme/app:v1"}', '"image": "registry.example.com/'
            'acme/app:v2", "env": [{"name": "APP_RELEASEVERSION", "value": "app@v2"}]}')}),
    # prod builds on the overlay deployed (dev's folder) and pins its own image: the release
    # env var would reach prod while its image stays: refused naming it (it was pushed)
    "an-overlay-beside-that-would-take-half-the-deploy-is-refused": Case(
        {**web_overlay("e/dev"),
         "e/prod/kustomization.yaml": built_on("../dev", "newTag: v0.9.0")},
        "e/dev", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="e/prod builds on the overlay deployed, and with this edit Deployment/web "
              "container web would record web@v1.1.0 in APP_RELEASEVERSION but run "
              "registry.example.com/acme/web:v0.9.0"),
    # the same without prod's own pin: prod takes the whole deploy, as its kustomization says
    "an-overlay-beside-that-takes-the-whole-deploy-is-named": Case(
        {**web_overlay("e/dev"),
         "e/prod/kustomization.yaml": kustomization("resources:\n  - ../dev\nnamePrefix: p-\n")},
        "e/dev", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("e/dev/web.yaml",),
        logged=("e/prod builds on the overlay deployed: it takes this deploy too",)),
    # prod-eu builds on prod and pins its own image; its release env var comes from prod: the
    # fan-out moves its pin, prod's edit in the same commit sets the env var, and prod-eu's
    # render with the whole commit takes the deploy whole (it was left out of the fan-out, and
    # pushed with the release env var alone)
    "a-fan-out-sibling-on-prod-with-its-own-pin-is-deployed-with-it": Case(
        {**web_overlay("f/prod"),
         "f/prod-eu/kustomization.yaml": built_on("../prod", "newTag: v1.0.0", "namePrefix: eu-\n")},
        "f/prod", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("f/prod/web.yaml", "f/prod-eu/kustomization.yaml"),
        texts={"f/prod-eu/kustomization.yaml": ("    newTag: v1.1.0",)},
        logged=("APP_RELEASEVERSION comes from f/prod, which this deploy updates in the same "
                "commit", "f/prod-eu builds on the overlay deployed: it takes this deploy too")),
    # prod-tuned builds on prod and is in the fan-out: its inline JSON patch sets env/0 (its
    # LOG_LEVEL) by position. prod's edit adds the release env var first: with both edits,
    # prod-tuned's render would write its LOG_LEVEL into the release env var. Each overlay's
    # proof alone holds; their render together is checked (it was pushed)
    "a-fan-out-sibling-on-prod-is-rendered-with-the-whole-commit": Case(
        {**base("g/base", "web", f"{REG}/web:v1.0.0",
                env="            - name: LOG_LEVEL\n              value: info\n"),
         "g/prod/kustomization.yaml": kustomization(
             "resources:\n  - ../base\npatches:\n  - patch: |\n"
             + block(deployment("web", f"{REG}/web:v1.0.0"))),
         "g/prod-tuned/kustomization.yaml": kustomization(
             "resources:\n  - ../prod\nnameSuffix: -tuned\npatches:\n"
             "  - target: {kind: Deployment}\n    patch: |\n      - op: replace\n"
             "        path: /spec/template/spec/containers/0/image\n"
             f"        value: {REG}/web:v1.0.0\n      - op: replace\n"
             "        path: /spec/template/spec/containers/0/env/0/value\n"
             "        value: debug\n")},
        "g/prod", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="g/prod-tuned builds on the overlay deployed, and with this edit "
              "Deployment/web-tuned changes beyond its image and APP_RELEASEVERSION"),
    # a prod-* sibling that runs none of the app (a migration Job, the app's database): not
    # its environment, skipped with a warning (it stopped the whole fan-out)
    "a-prod-sibling-that-runs-none-of-the-app-is-skipped": Case(
        {**web_overlay("f/prod"), **web_overlay("f/prod-eu"),
         "f/prod-migrate/kustomization.yaml": kustomization("resources:\n  - job.yaml\n"),
         "f/prod-migrate/job.yaml": GENERATED_JOB.format(name="migrate").replace(
             "  generateName: migrate-\n", "  name: migrate\n"),
         "f/prod-db/kustomization.yaml": kustomization("resources:\n  - db.yaml\n"),
         "f/prod-db/db.yaml": deployment("db", "postgres:16.6", kind="StatefulSet")},
        "f/prod", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("f/prod/web.yaml", "f/prod-eu/web.yaml"), unchanged=("f/prod-migrate", "f/prod-db"),
        logged=("Fan-out skipped: f/prod-migrate runs no workload of web",
                "Fan-out skipped: f/prod-db runs no workload of web")),
    # ... but one that renders the deployed workload from another repository (a mirror) stops
    # the fan-out, saying so
    # (many-appsets-demo: the app is found by its image, in a workload and container of other
    # names, and prod-eu pulls it from a mirror)
    "a-prod-sibling-that-runs-the-app-from-a-mirror-stops-the-fan-out": Case(
        {"f/prod/kustomization.yaml": kustomization("resources:\n  - web.yaml\n"),
         "f/prod/web.yaml": deployment("storefront", f"{REG}/shop:v1.0.0"),
         "f/prod-eu/kustomization.yaml": kustomization("resources:\n  - web.yaml\n"),
         "f/prod-eu/web.yaml": deployment("storefront", "mirror.example.com/acme/shop:v1.0.0")},
        "f/prod", f"{REG}/shop:v1.1.0", "shop@v1.1.0",
        error="it renders Deployment/storefront as f/prod does, so the app runs there from "
              "another image repository (a registry mirror?)"),
    # an overlay that builds on the one deployed takes the deploy: it is judged as deployed,
    # by its hold (an adversarial round: a held prod-eu on ../prod, a held staging on ../dev,
    # moved without a word)
    "a-held-overlay-that-builds-on-the-one-deployed-refuses-the-deploy": Case(
        held_on("h/overlays/dev", "h/overlays/staging", "../dev", "staging", "load test"),
        "h/overlays/dev", f"{REG}/web:v1.1.0", "web@v1.1.0", refused="held",
        error="h/overlays/staging builds on h/overlays/dev, and its render takes this deploy"),
    # a folder of patches inside prod sent as the path (plain: no kustomization of its own):
    # prod reads its files, so they are prod's, not edited (pushed past prod's hold before)
    "a-folder-of-patches-inside-an-overlay-sent-as-the-path-is-refused": Case(
        {**base("h/base", "web", f"{REG}/web:v1.0.0"),
         "h/overlays/prod/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - path: patches/web.yaml\n"),
         "h/overlays/prod/patches/web.yaml": deployment("web", f"{REG}/web:v1.0.0"),
         "gitops-release.yaml": held("h/overlays/prod", "migration")},
        "h/overlays/prod/patches", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="(its files are read by h/overlays/prod/kustomization.yaml: shared, not edited)"),
    # a base sent as the path: the overlays on it that take the deploy are judged as deployed
    "a-base-sent-as-the-path-with-a-held-overlay-on-it-is-refused": Case(
        {**base("h/base", "web", f"{REG}/web:v1.0.0"),  # no env yet: the release env var added
         "h/overlays/prod/kustomization.yaml": kustomization("resources:\n  - ../../base\n"),
         "gitops-release.yaml": held("h/overlays/prod", "migration")},
        "h/base", f"{REG}/web:v1.1.0", "web@v1.1.0", refused="held",
        error="h/overlays/prod builds on h/base, and its render takes this deploy"),
    # a held overlay further away than discovery looks (three folders off): read through its
    # hold, rendered, and judged when it takes the deploy (it moved without a word) ...
    "a-held-overlay-far-away-that-takes-the-deploy-refuses-it": Case(
        held_on("a/overlays/dev", "a/regions/eu/far", "../../../overlays/dev", "far",
                "region freeze"),
        "a/overlays/dev", f"{REG}/web:v1.1.0", "web@v1.1.0", refused="held",
        error="a/regions/eu/far is held since 2026-01-01T00:00:00Z by alice: region freeze"),
    # ... and left alone when it pins its own image and release (its render does not move)
    "a-held-overlay-far-away-with-its-own-pin-does-not-stop-the-deploy": Case(
        {**web_overlay("a/overlays/dev"),
         "a/regions/eu/far/kustomization.yaml": built_on(
             "../../../overlays/dev", "newTag: v0.9.0", "patches:\n  - path: release.yaml\n"),
         "a/regions/eu/far/release.yaml": deployment(
             "web", f"{REG}/web:v0.9.0", env=RELEASE_ENV.format(release="web@v0.9.0")).replace(
             "  selector:\n    matchLabels:\n      app: web\n", ""),
         "gitops-release.yaml": held("a/regions/eu/far", "region freeze")},
        "a/overlays/dev", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("a/overlays/dev/web.yaml",), unchanged=("a/regions/eu/far",)),
    # a hold on a folder above the far overlay (no kustomization of its own): the overlays
    # below it are held too, and one that takes the deploy refuses it (it was pushed)
    "a-held-folder-above-a-far-overlay-that-takes-the-deploy-refuses-it": Case(
        {**held_on("a/overlays/dev", "clusters/prod/web", "../../../a/overlays/dev", "far",
                   "incident 42"),
         "gitops-release.yaml": held("clusters/prod", "incident 42")},
        "a/overlays/dev", f"{REG}/web:v1.1.0", "web@v1.1.0", refused="held",
        error="incident 42"),
    # a CronJob's folder inside prod, which lists it and pins the image with its own images:
    # entry: the deploy edited the folder and pushed, and prod's render did not move
    "a-folder-prod-reads-and-overrides-is-refused-naming-prod": Case(
        {"t/template/kustomization.yaml": kustomization("resources:\n  - cronjob.yaml\n"),
         "t/template/cronjob.yaml": CRONJOB.format(name="report", image=f"{REG}/app"),
         "t/prod/cron/kustomization.yaml": kustomization(
             "resources:\n  - ../../template\nnameSuffix: -daily\n"),
         "t/prod/kustomization.yaml": kustomization(
             f"resources:\n  - cron\nimages:\n  - name: {REG}/app\n    newTag: 1.0.0\n")},
        "t/prod/cron", f"{REG}/app:2.0.0", "app@2.0.0", command="cronjob-update",
        error="t/prod/cron is read by t/prod, which builds on it, and t/prod's render does not "
              "change with this deploy"),
    "a-held-prod-sibling-that-builds-on-prod-refuses-the-fan-out": Case(
        held_on("h/overlays/prod", "h/overlays/prod-eu", "../prod", "eu", "migration"),
        "h/overlays/prod", f"{REG}/web:v1.1.0", "web@v1.1.0", refused="held",
        error="h/overlays/prod-eu is held since 2026-01-01T00:00:00Z by alice: migration"),
    # staging builds on qa, which builds on dev; staging pins its image and names only qa:
    # found through qa (it was not read: its text does not name dev)
    "an-overlay-beside-that-builds-on-it-through-another-is-checked": Case(
        {**web_overlay("t/dev"),
         "t/qa/kustomization.yaml": kustomization("resources:\n  - ../dev\n"),
         "t/staging/kustomization.yaml": built_on("../qa", "newTag: v0.9.0")},
        "t/dev", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="t/staging builds on the overlay deployed, and with this edit"),
    # an overlay beside it that maps the image to a mirror (newName) takes the same tag: it
    # takes the deploy whole (it was refused: 'would run mirror...'); one that does not render
    # as it is (a missing file) is named in a note, not checked, and does not stop the deploy
    "an-overlay-beside-on-a-mirror-takes-the-deploy-and-a-broken-one-is-noted": Case(
        {**web_overlay("m/dev"),
         "m/mirror/kustomization.yaml": built_on("../dev", "newName: mirror.example.com/web"),
         "m/broken/kustomization.yaml": kustomization("resources:\n  - ../dev\n  - gone.yaml\n")},
        "m/dev", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("m/dev/web.yaml",),
        logged=("m/mirror builds on the overlay deployed: it takes this deploy too",
                "m/broken builds on the overlay deployed but could not be read")),
    # a component in the overlay's folder that an overlay beside it lists too: shared, not
    # edited (staging's render does not move); the overlay gets an images: entry of its own
    "a-component-in-the-overlay-that-an-overlay-beside-lists-is-shared": Case(
        {**base("c/base", "web", f"{REG}/web:v1.0.0"),
         "c/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\ncomponents:\n  - comp\n"),
         "c/overlays/dev/comp/kustomization.yaml":
             "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nimages:\n"
             "  - name: registry.example.com/acme/web\n    newTag: v1.1.0\n",
         "c/overlays/staging/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\ncomponents:\n  - ../dev/comp\n")},
        "c/overlays/dev", f"{REG}/web:v1.2.0", "web@v1.2.0", ("Deployment", "web", "web"),
        written=("c/overlays/dev/kustomization.yaml",), env_written=False,
        unchanged=("c/overlays/staging",)),
    # images: written as null (kustomize renders it): refused naming the line, not a traceback
    "images-written-as-null-is-refused-naming-the-line": Case(
        {**base("n/base", "web", f"{REG}/web:v1.0.0"),
         "n/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\nimages: ~\n")},
        "n/overlays/dev", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="n/overlays/dev/kustomization.yaml: images: (line 5) holds '~', not a list"),
    # an inline JSON patch writes the image (a literal block): its value is edited in place,
    # the block's indentation and everything else of the kustomization kept
    "inline-json-patch-of-the-image-is-edited": Case(
        {**base("bg/base", "gobg", f"{REG}/gobg:latest"),
         "bg/aks/kustomization.yaml": kustomization(
             "resources:\n  - ../base\npatches:\n  - target:\n      kind: Deployment\n"
             "      name: gobg\n    patch: |-\n      - op: replace\n"
             "        path: /spec/template/spec/containers/0/image\n"
             f"        value: {REG}/gobg:blue\n")},
        "bg/aks", f"{REG}/gobg:green", "gobg@green", ("Deployment", "gobg", "gobg"),
        written=("bg/aks/kustomization.yaml",), env_written=False,
        whole={"bg/aks/kustomization.yaml": kustomization(
            "resources:\n  - ../base\npatches:\n  - target:\n      kind: Deployment\n"
            "      name: gobg\n    patch: |-\n      - op: replace\n"
            "        path: /spec/template/spec/containers/0/image\n"
            f"        value: {REG}/gobg:green\n")}),
    # an images: entry decides the render (kustomize applies it after patches): the entry is
    # edited, and the note says that the inline patch keeps the old value
    "inline-json-patch-under-an-images-entry-is-named": Case(
        {**base("bg/base", "gobg", f"{REG}/gobg:latest"),
         "bg/aks/kustomization.yaml": kustomization(
             "resources:\n  - ../base\nimages:\n  - name: registry.example.com/acme/gobg\n"
             "    newTag: red\npatches:\n  - target:\n      kind: Deployment\n"
             "      name: gobg\n    patch: |-\n      - op: replace\n"
             "        path: /spec/template/spec/containers/0/image\n"
             f"        value: {REG}/gobg:blue\n")},
        "bg/aks", f"{REG}/gobg:green", "gobg@green", ("Deployment", "gobg", "gobg"),
        written=("bg/aks/kustomization.yaml",), env_written=False,
        texts={"bg/aks/kustomization.yaml": ("    newTag: green", f"        value: {REG}/gobg:blue")},
        logged=("an inline patch still writes an image of registry.example.com/acme/gobg",)),
    # two patches of the container, one with an env list: the release joins that list (it was
    # added as a second env list to the other patch)
    "env-var-joins-the-patch-that-has-an-env-list": Case(
        {**base("sb/base", "sbdemo", f"{REG}/sbdemo:1.0.0"),
         "sb/prod/kustomization.yaml": kustomization(
             "resources:\n  - ../base\npatches:\n  - path: health.yaml\n  - path: memory.yaml\n"),
         "sb/prod/health.yaml": deployment("sbdemo", f"{REG}/sbdemo:1.0.0").replace(
             f"          image: {REG}/sbdemo:1.0.0\n", "          readinessProbe:\n"
             "            httpGet: {path: /health, port: 8080}\n"),
         "sb/prod/memory.yaml": deployment("sbdemo", f"{REG}/sbdemo:1.0.0").replace(
             f"          image: {REG}/sbdemo:1.0.0\n", "          env:\n"
             "            - name: MEM_TOTAL_MB\n              value: '512'\n")},
        "sb/prod", f"{REG}/sbdemo:2.0.0", "sbdemo@2.0.0", ("Deployment", "sbdemo", "sbdemo"),
        written=("sb/prod/kustomization.yaml", "sb/prod/memory.yaml"),
        texts={"sb/prod/memory.yaml": ("            - name: APP_RELEASEVERSION",)}),
    # an inline patch holds the container (its env): the release env var joins that env list,
    # and the image gets a new images: entry of the same kustomization (one file, two edits)
    "inline-patch-of-the-container-gets-the-release": Case(
        {**base("kc/base", "keycloak", f"{REG}/keycloak:25.0.0"),
         "kc/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - patch: |-\n      apiVersion: apps/v1\n"
             "      kind: Deployment\n      metadata:\n        name: keycloak\n      spec:\n"
             "        template:\n          spec:\n            containers:\n"
             "              - name: keycloak\n                env:\n"
             "                  - name: KC_LOG_LEVEL\n                    value: debug\n")},
        "kc/overlays/dev", f"{REG}/keycloak:26.0.0", "keycloak@26.0.0",
        ("Deployment", "keycloak", "keycloak"), written=("kc/overlays/dev/kustomization.yaml",),
        texts={"kc/overlays/dev/kustomization.yaml": (
            "                  - name: KC_LOG_LEVEL", "                    value: debug",
            "                  - name: APP_RELEASEVERSION",
            "                    value: keycloak@26.0.0", "  - name: registry.example.com/acme/keycloak",
            "    newTag: 26.0.0")}),
    # a JSON patch that sets another env var by index (COLOR, env/0): no place for the release
    "json6902-op-on-another-env-var-is-left-alone": Case(
        {"bgd/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "bgd/base/deployment.yaml": deployment(
             "bgd", f"{REG}/bgd:latest", env="            - name: COLOR\n              value: green\n"),
         "bgd/overlays/blue/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - path: color.yaml\n    target:\n"
             "      kind: Deployment\n      name: bgd\n"),
         "bgd/overlays/blue/color.yaml":
             "- op: replace\n  path: /spec/template/spec/containers/0/env/0/value\n  value: blue\n"},
        "bgd/overlays/blue", f"{REG}/bgd:v2", "bgd@v2", ("Deployment", "bgd", "bgd"),
        written=("bgd/overlays/blue/kustomization.yaml",), env_written=False,
        logged=("APP_RELEASEVERSION not written",)),
    "overlay-of-a-shared-base-gets-an-images-entry": Case(
        dict(SHARED_BASE), "apps/shop/overlays/dev", f"{REG}/shop:v1.1.0", "shop@v1.1.0",
        ("Deployment", "shop", "shop"), written=("apps/shop/overlays/dev/kustomization.yaml",),
        env_written=False,
        texts={"apps/shop/overlays/dev/kustomization.yaml": (
            "images:", "  - name: registry.example.com/acme/shop", "    newTag: v1.1.0")}),
    "existing-images-entry-of-a-shared-base": Case(
        dict(SHARED_BASE), "apps/shop/overlays/prod", f"{REG}/shop:v1.1.0", "shop@v1.1.0",
        ("Deployment", "shop", "shop"), written=("apps/shop/overlays/prod/kustomization.yaml",),
        env_written=False),
    "images-entry-moves-a-sidecar-of-the-same-image-too": Case(
        {"x/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "x/base/deployment.yaml": deployment(
             "x", f"{REG}/x:v1", containers=f"        - name: migrate\n          image: {REG}/x:v1\n"),
         "x/overlays/dev/kustomization.yaml": kustomization("resources:\n  - ../../base\n")},
        "x/overlays/dev", f"{REG}/x:v2", "x@v2", ("Deployment", "x", "x"),
        written=("x/overlays/dev/kustomization.yaml",), env_written=False, followers=("migrate",)),
    "images-entry-moving-a-sidecar-when-the-container-is-named-is-refused": Case(
        {"x/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "x/base/deployment.yaml": deployment(
             "x", f"{REG}/x:v1", containers=f"        - name: migrate\n          image: {REG}/x:v1\n"),
         "x/overlays/dev/kustomization.yaml": kustomization("resources:\n  - ../../base\n")},
        "x/overlays/dev", f"{REG}/x:v2", "x@v2", extra=("--container", "x"),
        error="does not render as the deploy needs"),
    # one images: entry for the app's web, worker and CronJob (dbca-wa/prs, a dev-cluster's
    # infobiz): one build, one version, so they move together (they were refused with no way
    # out); the release env var is the target's
    "images-entry-shared-by-the-apps-worker-and-cronjob-moves-them-too": Case(
        {"x/base/kustomization.yaml": kustomization(
            "resources:\n  - deployment.yaml\n  - worker.yaml\n  - cron.yaml\n"),
         "x/base/deployment.yaml": deployment("x", "x-image"),
         "x/base/worker.yaml": deployment("x-worker", "x-image"),
         "x/base/cron.yaml": CRONJOB.format(name="x-dump", image="x-image"),
         "x/overlays/dev/kustomization.yaml": kustomization(
             f"resources:\n  - ../../base\nimages:\n  - name: x-image\n    newName: {REG}/x\n"
             "    newTag: v1\n")},
        "x/overlays/dev", f"{REG}/x:v2", "x@v2", ("Deployment", "x", "x"),
        written=("x/overlays/dev/kustomization.yaml",), env_written=False,
        moved=(("Deployment", "x-worker", "x-worker"), ("CronJob", "x-dump", "x-dump")),
        logged=("ran in Deployment/x-worker container x-worker, CronJob/x-dump container "
                "x-dump too: moved to the new image with it",)),
    # the same with the workloads' files inside the overlay folder (the probe of the places
    # refused it, while the proof allowed it for a base's files)
    "images-entry-shared-by-the-apps-worker-in-the-overlay-folder-moves-it-too": Case(
        {"x/overlays/dev/kustomization.yaml": kustomization(
            "resources:\n  - deployment.yaml\n  - worker.yaml\nimages:\n  - name: x-image\n"
            f"    newName: {REG}/x\n    newTag: v1\n"),
         "x/overlays/dev/deployment.yaml": deployment("x", "x-image"),
         "x/overlays/dev/worker.yaml": deployment("x-worker", "x-image")},
        "x/overlays/dev", f"{REG}/x:v2", "x@v2", ("Deployment", "x", "x"),
        written=("x/overlays/dev/kustomization.yaml", "x/overlays/dev/deployment.yaml"),
        moved=(("Deployment", "x-worker", "x-worker"),)),
    # a public image other apps run too (nginx for the app proxy): not the app's own build,
    # so another workload on it is never moved with the target (an adversarial round: a static
    # site, another team's workload in another namespace and a CronJob's init container moved)
    "images-entry-of-a-public-image-that-would-move-another-workload-is-refused": Case(
        {"n/base/kustomization.yaml": kustomization(
            "resources:\n  - proxy.yaml\n  - site.yaml\n"),
         "n/base/proxy.yaml": deployment("proxy", "nginx"),
         "n/base/site.yaml": deployment("static-site", "nginx"),
         "n/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\nimages:\n  - name: nginx\n    newTag: \"1.25\"\n")},
        "n/overlays/dev", "nginx:1.26", "proxy@1.26",
        error="it would also move Deployment/static-site container static-site, which run the "
              "same image"),
    # ... also when the caller names the workload (it picks the one that records the
    # release) ...
    "images-entry-shared-by-the-apps-worker-moves-it-with-the-named-workload": Case(
        {"x/base/kustomization.yaml": kustomization(
            "resources:\n  - deployment.yaml\n  - worker.yaml\n"),
         "x/base/deployment.yaml": deployment("x", "x-image"),
         "x/base/worker.yaml": deployment("x-worker", "x-image"),
         "x/overlays/dev/kustomization.yaml": kustomization(
             f"resources:\n  - ../../base\nimages:\n  - name: x-image\n    newName: {REG}/x\n"
             "    newTag: v1\n")},
        "x/overlays/dev", f"{REG}/x:v2", "x@v2", ("Deployment", "x", "x"),
        extra=("--workload", "x"), written=("x/overlays/dev/kustomization.yaml",),
        env_written=False, moved=(("Deployment", "x-worker", "x-worker"),)),
    # ... which is the only way to deploy an app whose workloads are none named after it
    # (podinfo's production overlay: frontend, backend and database on the podinfo image, one
    # new images: entry moves them all): without 'workload' it has several candidates, and
    # naming one was refused as moving the others, advising to deploy without 'workload'
    "images-entry-for-an-app-of-several-candidates-moves-them-with-the-named-one": Case(
        PODINFO_LIKE,
        "p/overlays/production", f"{REG}/podinfo:6.15.0", "podinfo@6.15.0",
        ("Deployment", "frontend", "frontend"), extra=("--workload", "frontend"),
        written=("p/overlays/production/kustomization.yaml",), env_written=False,
        moved=(("Deployment", "backend", "backend"),)),
    # ... but a workload named beside the app's own (a canary beside web, one images: entry
    # for both) moves alone or not at all: web moving with web-canary ends the canary
    "images-entry-shared-by-a-canary-and-the-apps-own-workload-is-refused": Case(
        {"c/base/kustomization.yaml": kustomization(
            "resources:\n  - web.yaml\n  - canary.yaml\n"),
         "c/base/web.yaml": deployment("web", "web-image"),
         "c/base/canary.yaml": deployment("web-canary", "web-image"),
         "c/overlays/prod/kustomization.yaml": kustomization(
             f"resources:\n  - ../../base\nimages:\n  - name: web-image\n    newName: {REG}/web\n"
             "    newTag: v1\n")},
        "c/overlays/prod", f"{REG}/web:v2", "web@v2", extra=("--workload", "web-canary"),
        error="it would also move Deployment/web container web, which run the same image: the "
              "app's other workloads move with the target only when"),
    "an-app-of-several-candidates-without-workload-is-refused-naming-the-input": Case(
        PODINFO_LIKE,
        "p/overlays/production", f"{REG}/podinfo:6.15.0", "podinfo@6.15.0",
        error="several candidates for 'podinfo': Deployment/backend container backend; "
              "Deployment/frontend container frontend"),
    # ... but with 'container' named the target moves alone, or not at all
    "images-entry-that-would-move-another-workload-than-the-named-container-is-refused": Case(
        {"x/base/kustomization.yaml": kustomization(
            "resources:\n  - deployment.yaml\n  - worker.yaml\n"),
         "x/base/deployment.yaml": deployment("x", "x-image"),
         "x/base/worker.yaml": deployment("x-worker", "x-image"),
         "x/overlays/dev/kustomization.yaml": kustomization(
             f"resources:\n  - ../../base\nimages:\n  - name: x-image\n    newName: {REG}/x\n"
             "    newTag: v1\n")},
        "x/overlays/dev", f"{REG}/x:v2", "x@v2", extra=("--workload", "x", "--container", "x"),
        error="it would also move Deployment/x-worker container x-worker, which run the same "
              "image: deploy without 'container' to move them with it"),
    # another workload on the same image that records its own release keeps the proof's
    # refusal: moved without its release env var, it would claim the old version
    "images-entry-moving-a-worker-that-records-its-own-release-is-refused": Case(
        {"x/base/kustomization.yaml": kustomization(
            "resources:\n  - deployment.yaml\n  - worker.yaml\n"),
         "x/base/deployment.yaml": deployment("x", "x-image"),
         "x/base/worker.yaml": deployment("x-worker", "x-image",
                                          env=RELEASE_ENV.format(release="x@v1")),
         "x/overlays/dev/kustomization.yaml": kustomization(
             f"resources:\n  - ../../base\nimages:\n  - name: x-image\n    newName: {REG}/x\n"
             "    newTag: v1\n")},
        "x/overlays/dev", f"{REG}/x:v2", "x@v2",
        error="it would also move Deployment/x-worker container x-worker, which run the same "
              "image"),
    # a kustomization inside the overlay folder with its own images: entry is a place: prod
    # lists blue and green, each with its entry; deploying green edits green's (a new entry in
    # prod moved both colours, switching the live one)
    "nested-kustomizations-own-images-entry-moves-its-colour-alone": Case(
        {"bg/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "bg/base/deployment.yaml": deployment("web", f"{REG}/web:v1"),
         "bg/prod/kustomization.yaml": kustomization("resources:\n  - blue\n  - green\n"),
         **{f"bg/prod/{c}/kustomization.yaml": kustomization(
             f"nameSuffix: -{c}\nresources:\n  - ../../base\nimages:\n  - name: {REG}/web\n"
             "    newTag: v1\n") for c in ("blue", "green")}},
        "bg/prod", f"{REG}/web:v2", "web@v2", ("Deployment", "web-green", "web"),
        extra=("--workload", "web-green"), written=("bg/prod/green/kustomization.yaml",),
        env_written=False),
    # a prod-* sibling that builds on prod and sets the release env var itself (a patch of its
    # own, the image from prod): its env var is written in the same commit (it was refused: it
    # would run the new image and claim the old release)
    "prod-sibling-building-on-prod-with-its-own-release-env-gets-it-written": Case(
        {"f/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "f/base/deployment.yaml": deployment("web", f"{REG}/web:v1"),
         "f/prod/kustomization.yaml": kustomization(
             f"resources:\n  - ../base\nimages:\n  - name: {REG}/web\n    newTag: v1\n"),
         "f/prod-eu/kustomization.yaml": kustomization(
             "resources:\n  - ../prod\npatches:\n  - path: web.yaml\n"),
         "f/prod-eu/web.yaml": RELEASE_PATCH},
        "f/prod", f"{REG}/web:v2", "web@v2", ("Deployment", "web", "web"),
        written=("f/prod/kustomization.yaml", "f/prod-eu/web.yaml"), env_written=False,
        texts={"f/prod-eu/web.yaml": ("              value: web@v2",)}),
    # ... but one whose JSON op adds the env var a second time (env/-) keeps the old release as
    # the pod's (the last one wins): refused, naming it (it was pushed as "takes this deploy")
    "prod-sibling-adding-the-release-env-a-second-time-is-refused": Case(
        {"g/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "g/base/deployment.yaml": deployment("web", f"{REG}/web:v1"),
         "g/prod/kustomization.yaml": kustomization(
             f"resources:\n  - ../base\npatches:\n  - path: env.yaml\nimages:\n"
             f"  - name: {REG}/web\n    newTag: v1\n"),
         "g/prod/env.yaml": RELEASE_PATCH,
         "g/prod-eu/kustomization.yaml": kustomization(
             "resources:\n  - ../prod\npatches:\n  - target:\n      kind: Deployment\n"
             "      name: web\n    patch: |\n      - op: add\n"
             "        path: /spec/template/spec/containers/0/env/-\n"
             "        value: {name: APP_RELEASEVERSION, value: web@v1}\n")},
        "g/prod", f"{REG}/web:v2", "web@v2",
        error="g/prod-eu builds on the overlay deployed, and with this edit Deployment/web "
              "container web would run the new image with APP_RELEASEVERSION web@v1"),
    # the deployed overlay's render gives the var twice (a strategic-merge patch sets it, an op
    # adds it again): the pod gets the last; editing one proves nothing, refused
    "release-env-given-twice-in-the-render-is-refused": Case(
        {"h/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "h/base/deployment.yaml": deployment("web", f"{REG}/web:v1"),
         "h/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../base\npatches:\n  - path: env.yaml\n  - target:\n"
             "      kind: Deployment\n      name: web\n    patch: |\n      - op: add\n"
             "        path: /spec/template/spec/containers/0/env/-\n"
             "        value: {name: APP_RELEASEVERSION, value: web@v1}\n"),
         "h/dev/env.yaml": RELEASE_PATCH},
        "h/dev", f"{REG}/web:v2", "web@v2", error="does not render as the deploy needs"),
    # 'workload' named as rendered (namePrefix: prod-): prod-web is the app's own workload, and
    # its worker on the same entry moves with it (it was refused as a canary's deploy)
    "images-entry-shared-with-the-worker-named-with-its-prefix-moves-it-too": Case(
        {"q/prod/kustomization.yaml": kustomization(
            "namePrefix: prod-\nresources:\n  - web.yaml\n  - worker.yaml\nimages:\n"
            f"  - name: {REG}/web\n    newTag: v1\n"),
         "q/prod/web.yaml": deployment("web", f"{REG}/web:v1"),
         "q/prod/worker.yaml": deployment("web-worker", f"{REG}/web:v1")},
        "q/prod", f"{REG}/web:v2", "web@v2", ("Deployment", "prod-web", "web"),
        extra=("--workload", "prod-web"), written=("q/prod/kustomization.yaml", "q/prod/web.yaml"),
        moved=(("Deployment", "prod-web-worker", "web-worker"),)),
    # prod runs the new image already (an earlier deploy), a sibling's own release env var is
    # stale: written now (it was left, "no file of its own to write")
    "prod-sibling-with-a-stale-release-env-is-written-when-prod-runs-the-image": Case(
        {"k/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "k/base/deployment.yaml": deployment("web", f"{REG}/web:v1"),
         "k/prod/kustomization.yaml": kustomization(
             f"resources:\n  - ../base\nimages:\n  - name: {REG}/web\n    newTag: v2\n"),
         "k/prod-eu/kustomization.yaml": kustomization(
             "resources:\n  - ../prod\npatches:\n  - path: web.yaml\n"),
         "k/prod-eu/web.yaml": RELEASE_PATCH},
        "k/prod", f"{REG}/web:v2", "web@v2", ("Deployment", "web", "web"),
        written=("k/prod-eu/web.yaml",), env_written=False,
        texts={"k/prod-eu/web.yaml": ("              value: web@v2",)}),
    "images-entry-moves-a-migration-init-container-of-the-same-image-too": Case(
        {"m/base/kustomization.yaml": kustomization("resources:\n  - deployment.yaml\n"),
         "m/base/deployment.yaml": deployment("web", "web-image").replace(
             "      containers:\n", "      initContainers:\n        - name: migrate\n"
             "          image: web-image\n          args: [migrate]\n      containers:\n"),
         "m/overlays/dev/kustomization.yaml": kustomization(
             f"resources:\n  - ../../base\nimages:\n  - name: web-image\n    newName: {REG}/web\n"
             "    newTag: v1\n")},
        "m/overlays/dev", f"{REG}/web:v2", "web@v2", ("Deployment", "web", "web"),
        written=("m/overlays/dev/kustomization.yaml",), env_written=False, followers=("migrate",),
        logged=("ran in Deployment/web init container migrate too: moved to the new image",)),
    "patch-applied-by-target-whatever-its-own-name": Case(
        {**TARGETED_PATCH,
         "t/overlays/dev/web.yaml": deployment("not-important", f"{REG}/web:v1.1.0",
                                               env=RELEASE_ENV.format(release="web@v1.1.0"))
         .replace("        - name: not-important\n", "        - name: web\n")},
        "t/overlays/dev", f"{REG}/web:v1.2.0", "web@v1.2.0", ("Deployment", "web", "web"),
        written=("t/overlays/dev/web.yaml",)),
    "patch-applied-by-target-to-another-workload-is-not-the-place": Case(
        {**TARGETED_PATCH,
         "t/overlays/dev/web.yaml": deployment("api", f"{REG}/web:v1.1.0")
         .replace("        - name: api\n", "        - name: web\n")},
        "t/overlays/dev", f"{REG}/api:v1.2.0", "api@v1.2.0", ("Deployment", "api", "api"),
        written=("t/overlays/dev/kustomization.yaml",), env_written=False),
    "patch-applied-by-labels-to-several-workloads-is-not-the-place": Case(
        {**TARGETED_PATCH,
         "t/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - path: web.yaml\n    target:\n"
             "      kind: Deployment\n      labelSelector: app\n"),
         "t/overlays/dev/web.yaml": deployment("any", f"{REG}/web:v1.0.0").replace(
             f"          image: {REG}/web:v1.0.0\n", "          resources: {}\n")},
        "t/overlays/dev", f"{REG}/web:v1.2.0", "web@v1.2.0", ("Deployment", "web", "web"),
        written=("t/overlays/dev/kustomization.yaml",), env_written=False),
    "json6902-op-setting-the-whole-env-list": Case(
        {**base("j/base", "web", f"{REG}/web:v1.0.0"),
         "j/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\nimages:\n  - name: registry.example.com/acme/web\n"
             "    newTag: v1.1.0\npatches:\n  - path: version.yaml\n    target:\n"
             "      kind: Deployment\n      name: web\n"),
         "j/overlays/dev/version.yaml":
             "- op: add\n  path: /spec/template/spec/containers/0/env\n  value:\n"
             "    - name: LOG_LEVEL\n      value: info\n"
             "    - name: APP_RELEASEVERSION\n      value: web@v1.1.0\n"},
        "j/overlays/dev", f"{REG}/web:v1.2.0", "web@v1.2.0", ("Deployment", "web", "web"),
        written=("j/overlays/dev/kustomization.yaml", "j/overlays/dev/version.yaml")),
    # an inline strategic-merge patch sets the image and the release: both are edited there
    "image-and-release-env-in-an-inline-patch": Case(
        {**base("i/base", "web", f"{REG}/web:v1.0.0"),
         "i/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - patch: |-\n"
             + block(deployment(
                 "web", f"{REG}/web:v1.1.0", env=RELEASE_ENV.format(release="web@v1.1.0"))))},
        "i/overlays/dev", f"{REG}/web:v1.2.0", "web@v1.2.0", ("Deployment", "web", "web"),
        written=("i/overlays/dev/kustomization.yaml",),
        whole={"i/overlays/dev/kustomization.yaml": kustomization(
            "resources:\n  - ../../base\npatches:\n  - patch: |-\n"
            + block(deployment(
                "web", f"{REG}/web:v1.2.0", env=RELEASE_ENV.format(release="web@v1.2.0"))))}),
    # the release set by an inline patch of a base other overlays use: the refusal names that
    # kustomization (it said "a file outside the overlay")
    "release-env-in-an-inline-patch-of-a-shared-base-is-named": Case(
        {**base("s/base", "web", f"{REG}/web:v1.0.0"),
         "s/mid/kustomization.yaml": kustomization(
             "resources:\n  - ../base\npatches:\n  - patch: |-\n"
             + block(deployment(
                 "web", f"{REG}/web:v1.0.0", env=RELEASE_ENV.format(release="web@v1.0.0")))),
         "s/overlays/dev/kustomization.yaml": kustomization("resources:\n  - ../../mid\n")},
        "s/overlays/dev", f"{REG}/web:v1.2.0", "web@v1.2.0",
        error="gets APP_RELEASEVERSION from s/mid/kustomization.yaml, which other overlays share"),
    # the same patch as a quoted string: not edited, and the refusal says which form is
    "release-env-in-a-quoted-inline-patch-is-refused-naming-the-form": Case(
        {**base("i/base", "web", f"{REG}/web:v1.0.0"),
         "i/overlays/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - patch: \""
             + deployment("web", f"{REG}/web:v1.1.0", env=RELEASE_ENV.format(
                 release="web@v1.1.0")).replace("\n", "\\n") + "\"\n")},
        "i/overlays/dev", f"{REG}/web:v1.2.0", "web@v1.2.0",
        error="gets APP_RELEASEVERSION from i/overlays/dev/kustomization.yaml, inside "
              "i/overlays/dev, in a form the receiver does not edit (an inline patch it cannot "
              "edit: i/overlays/dev/kustomization.yaml patches[0] (line 6): the patch is not a "
              "literal block"),
    "a-sidecar-written-with-the-same-image-moves-with-it": Case(
        {"p/web.yaml": deployment(
            "web", f"{REG}/web:v1",
            containers=f"        - name: migrate\n          image: {REG}/web:v1\n")},
        "p", f"{REG}/web:v2", "web@v2", ("Deployment", "web", "web"), written=("p/web.yaml",),
        followers=("migrate",), logged=("ran in Deployment/web container migrate too: moved",)),
    "a-sidecar-of-the-same-image-with-its-own-release-is-named-not-moved": Case(
        {"p/web.yaml": deployment(
            "web", f"{REG}/web:v1",
            containers=f"        - name: migrate\n          image: {REG}/web:v1\n          env:\n"
                       + RELEASE_ENV.format(release="web@v1"))},
        "p", f"{REG}/web:v2", "web@v2", ("Deployment", "web", "web"), written=("p/web.yaml",),
        logged=("runs in Deployment/web container migrate (it sets APP_RELEASEVERSION itself) "
                "too, which this edit leaves on it",)),
    # the app's CronJob on the same image, set in a field of its own: left on the old image,
    # and the summary did not say so
    "the-apps-cronjob-left-on-the-old-image-is-named": Case(
        {"b/billing.yaml": deployment("billing", f"{REG}/billing:1.4.0") + "---\n"
         + CRONJOB.format(name="billing-invoices", image=f"{REG}/billing:1.4.0")},
        "b", f"{REG}/billing:1.5.0", "billing@1.5.0", ("Deployment", "billing", "billing"),
        written=("b/billing.yaml",),
        logged=("runs in CronJob/billing-invoices container billing-invoices too, which this "
                "edit leaves on it",)),
    # a JSON patch that sets the target's image and its init container's, the same value:
    # only the target's op was edited, and the pod ran two versions
    "json-patch-op-of-the-same-image-for-an-init-container-moves-with-it": Case(
        {"j/base/kustomization.yaml": kustomization("resources:\n  - worker.yaml\n"),
         "j/base/worker.yaml": deployment(
             "worker", f"{REG}/worker:2.0.0",
             containers="      initContainers:\n        - name: migrate\n"
                        f"          image: {REG}/worker:2.0.0\n"),
         "j/dev/kustomization.yaml": kustomization(
             "resources:\n  - ../base\npatches:\n  - path: image.json\n    target:\n"
             "      kind: Deployment\n      name: worker\n"),
         "j/dev/image.json": image_ops(f"{REG}/worker:2.1.0", "containers/0",
                                       "initContainers/0")},
        "j/dev", f"{REG}/worker:2.2.0", "worker@2.2.0", ("Deployment", "worker", "worker"),
        written=("j/dev/image.json",), env_written=False, followers=("migrate",)),
    # the image runs in the CronJob's init container only: the one main container (another
    # program) was taken, and the refusal said to fix the payload
    "image-of-an-init-container-only-names-it-and-the-container-input": Case(
        {"c/backup.yaml": CRONJOB.format(name="db-backup", image="amazon/aws-cli:2.22.35")
         .replace("- name: db-backup", "- name: upload") + "          initContainers:\n"
         "            - name: dump\n              image: postgres:17.4\n"},
        "c", "postgres:17.5", "db-backup@17.5", command="cronjob-update",
        error="(CronJob/db-backup init container dump runs postgres: an init container is "
              "taken only when 'container' names it)"),
    # argocd-image-updater's write-back file pins the image over the kustomization: the deploy
    # edited the kustomization and reported the wrong previous version; Argo CD kept 1.0.9
    "argocd-source-override-of-the-image-is-refused": Case(
        {"q/kustomization.yaml": kustomization(
            f"resources:\n  - web.yaml\nimages:\n  - name: {REG}/web\n    newTag: 1.0.1\n"),
         "q/web.yaml": deployment("web", f"{REG}/web:1.0.0"),
         "q/.argocd-source-web.yaml": f"kustomize:\n  images:\n  - {REG}/web:1.0.9\n"},
        "q", f"{REG}/web:1.1.0", "web@1.1.0",
        error=f"q/.argocd-source-web.yaml sets kustomize.images '{REG}/web:1.0.9': Argo CD "
              "applies it over the kustomization"),
    "argocd-source-override-of-another-image-is-left-alone": Case(
        {"q/kustomization.yaml": kustomization("resources:\n  - web.yaml\n"),
         "q/web.yaml": deployment("web", f"{REG}/web:1.0.0"),
         "q/.argocd-source.yaml": "kustomize:\n  images:\n  - redis=redis:7.2\n"},
        "q", f"{REG}/web:1.1.0", "web@1.1.0", ("Deployment", "web", "web"),
        written=("q/web.yaml",)),
    # ... but not a container of the pod that sets the release env var itself: its op stays
    # (the deploy failed: the proof saw it move)
    "json-patch-op-of-a-container-with-its-own-release-stays": Case(
        {"k/kustomization.yaml": kustomization(
            "resources:\n  - web.yaml\npatches:\n  - path: image.json\n    target:\n"
            "      kind: Deployment\n      name: web\n"),
         "k/web.yaml": deployment(
             "web", f"{REG}/web:v0.1.0", env=RELEASE_ENV.format(release="web@v1.0.0"),
             containers=f"        - name: worker\n          image: {REG}/web:v0.1.0\n"
                        "          env:\n" + RELEASE_ENV.format(release="web@v1.0.0")),
         "k/image.json": image_ops(f"{REG}/web:v1.0.0", "containers/0", "containers/1")},
        "k", f"{REG}/web:v2.0.0", "web@v2.0.0", ("Deployment", "web", "web"),
        written=("k/image.json", "k/web.yaml"),
        logged=("runs in Deployment/web container worker (it sets APP_RELEASEVERSION itself) "
                "too, which this edit leaves on it",)),
    "rollout-named-after-its-kind": Case(
        {"checkout/kustomization.yaml": kustomization("resources:\n  - canary-rollout.yaml\n"),
         "checkout/canary-rollout.yaml": deployment(
             "checkout", f"{REG}/checkout:v2.0.0", kind="Rollout", api="argoproj.io/v1alpha1",
             env=RELEASE_ENV.format(release="checkout@v2.0.0"))},
        "checkout", f"{REG}/checkout:v2.1.0", "checkout@v2.1.0",
        ("Rollout", "checkout", "checkout"), written=("checkout/canary-rollout.yaml",)),
    "statefulset-file": Case(
        {"db/cassandra-statefulset.yaml": deployment("cassandra", f"{REG}/cassandra:4.1.3",
                                                    kind="StatefulSet")},
        "db", f"{REG}/cassandra:4.1.4", "cassandra@4.1.4", ("StatefulSet", "cassandra", "cassandra"),
        written=("db/cassandra-statefulset.yaml",)),
    "name-prefix-overlay": Case(
        {**base("web/base", "web", f"{REG}/web:v1.0.0"),
         "web/overlays/prod/kustomization.yaml": kustomization(
             "namePrefix: prod-\nresources:\n  - ../../base\npatches:\n  - path: deployment.yaml\n"),
         "web/overlays/prod/deployment.yaml": deployment("web", f"{REG}/web:v1.0.0")},
        "web/overlays/prod", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "prod-web", "web"),
        written=("web/overlays/prod/deployment.yaml",)),
    "forged-image-repository-is-refused": Case(
        {"pay/deployment.yaml": deployment("pay", f"{REG}/pay:v1.0.0")},
        "pay", "evil.example.net/x/miner:v9.9.9", "pay@v9.9.9", refused="policy"),
    # the workload in the overlay, an images: entry, and an init container of the same image
    # (assets copied from the app's own build): the entry moves both; the summary names it
    "images-entry-moves-the-init-container-of-the-same-image": Case(
        dict(INIT_OF_THE_SAME_IMAGE),
        "r", f"{REG}/report:20240201", "report@20240201", ("Deployment", "report", "report"),
        written=("r/kustomization.yaml", "r/report.yaml"), followers=("fetch",),
        logged=("init container fetch too: moved to the new image with it",)),
    "images-entry-and-a-named-container-says-what-to-unset": Case(
        dict(INIT_OF_THE_SAME_IMAGE),
        "r", f"{REG}/report:20240201", "report@20240201", extra=("--container", "report"),
        error="Leave 'container' unset to move them with the target"),
    # an empty env: (null) in the target container: the release env var is added there
    "empty-env-in-a-plain-folder": Case(
        {"n/web.yaml": deployment("web", f"{REG}/web:v1.0.0") + "          env:\n"},
        "n", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("n/web.yaml",)),
    "empty-env-with-a-comment-in-an-overlay": Case(
        {"k/kustomization.yaml": kustomization("resources:\n  - web.yaml\n"),
         "k/web.yaml": deployment("web", f"{REG}/web:v1.0.0") + "          env: # none yet\n"
         + "        - name: sidecar\n          image: busybox:1\n"},
        "k", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("k/web.yaml",)),
    # files named after the apps, one folder: the release names userservice, the image is
    # contacts' (a payload mixing two apps): refused, never moved to the workload running it
    "another-apps-image-for-the-app-named-workload-is-refused": Case(
        {"m/userservice.yaml": deployment("userservice", f"{REG}/userservice:v0.6.10"),
         "m/contacts.yaml": deployment("contacts", f"{REG}/contacts:v0.6.10")},
        "m", f"{REG}/contacts:v0.6.11", "userservice@v0.6.11", refused="policy"),
    "another-apps-image-through-an-images-entry-is-refused": Case(
        {"pc/base/kustomization.yaml": kustomization("resources:\n  - client.yaml\n  - server.yaml\n"),
         "pc/base/client.yaml": deployment("client", f"{REG}/client:v1"),
         "pc/base/server.yaml": deployment("server", f"{REG}/server:v1"),
         "pc/prod/kustomization.yaml": kustomization(
             f"resources:\n  - ../base\nimages:\n  - name: {REG}/client\n    newTag: v1\n"
             f"  - name: {REG}/server\n    newTag: v1\n")},
        "pc/prod", f"{REG}/server:v2", "client@v2", refused="policy"),
    "tag-that-is-not-the-release-version-is-refused": Case(
        {"pay/deployment.yaml": deployment("pay", f"{REG}/pay:v1.0.0")},
        "pay", f"{REG}/pay:v0.1.0", "pay@v9.9.9", refused="policy"),
    "several-candidates-are-listed": Case(
        {"w/deployment.yaml": deployment("web-a", f"{REG}/web:v1") + "---\n"
         + deployment("web-b", f"{REG}/web:v1")},
        "w", f"{REG}/web:v2", "web@v2",
        error="has several candidates for 'web': Deployment/web-a container web-a; "
              "Deployment/web-b container web-b. Set 'workload'"),
    "several-candidates-picked-by-workload": Case(
        {"w/deployment.yaml": deployment("web-a", f"{REG}/web:v1") + "---\n"
         + deployment("web-b", f"{REG}/web:v1")},
        "w", f"{REG}/web:v2", "web@v2", ("Deployment", "web-b", "web-b"),
        extra=("--workload", "web-b"), written=("w/deployment.yaml",)),
    "cronjob-named-after-its-purpose": Case(
        {"jobs/cronjob-warm-cache.yaml":
            "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: warm-cache\nspec:\n"
            "  schedule: '*/5 * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n"
            "          restartPolicy: Never\n          containers:\n            - name: warm-cache\n"
            f"              image: {REG}/warm-cache:20261120093000123\n"},
        "jobs", f"{REG}/warm-cache:20261126093000123", "warm-cache@20261126093000123",
        ("CronJob", "warm-cache", "warm-cache"), command="cronjob-update",
        written=("jobs/cronjob-warm-cache.yaml",)),
    "same-env-var-twice-is-refused": Case(
        {"d/web.yaml": deployment("web", f"{REG}/web:v1", env=RELEASE_ENV.format(release="web@v0")
                                  + RELEASE_ENV.format(release="web@v1"))},
        "d", f"{REG}/web:v2", "web@v2", error="sets the env var APP_RELEASEVERSION 2 times"),
    "two-images-entries-for-one-image-are-refused": Case(
        {"d/kustomization.yaml": kustomization(
            f"resources:\n  - web.yaml\nimages:\n  - name: {REG}/web\n    newTag: v1\n"
            f"  - name: {REG}/web\n    newTag: v1.1\n"),
         "d/web.yaml": deployment("web", f"{REG}/web:v0")},
        "d", f"{REG}/web:v2", "web@v2",
        error=f"has 2 images: entries named {REG}/web; kustomize applies every one of them"),
    "chained-images-entries-the-last-one-is-edited": Case(
        # argocd-image-updater's write-back leaves a chain: the first entry renames the image,
        # the second (named as renamed) sets its tag. A third entry was appended, and every
        # later deploy of the app refused ("2 images: entries named").
        {"d/kustomization.yaml": kustomization(
            f"resources:\n  - web.yaml\nimages:\n  - name: web\n    newName: {REG}/web\n"
            f"    newTag: v1.0.1\n  - name: {REG}/web\n    newTag: v1.0.2\n"),
         "d/web.yaml": deployment("web", "web")},
        "d", f"{REG}/web:v1.0.3", "web@v1.0.3", ("Deployment", "web", "web"),
        written=("d/kustomization.yaml", "d/web.yaml"), whole={"d/kustomization.yaml": kustomization(
            f"resources:\n  - web.yaml\nimages:\n  - name: web\n    newName: {REG}/web\n"
            f"    newTag: v1.0.1\n  - name: {REG}/web\n    newTag: v1.0.3\n")}),
    # the image that runs is a variable filled in later (Flux postBuild) or empty: the
    # repository rule had nothing to compare, and another repository's image was pushed
    "running-image-a-variable-is-refused": Case(
        {"v/web.yaml": deployment("web", REG + "/web:${TAG}")},
        "v", "evil.example.net/x/web:v2.0.0", "web@v2.0.0",
        refused="policy", error="which is no image reference"),
    "running-image-empty-is-refused": Case(
        {"v/web.yaml": deployment("web", '""')},
        "v", "evil.example.net/x/web:v2.0.0", "web@v2.0.0",
        refused="policy", error="runs '', which is no image reference"),
    "running-image-a-variable-allowed-by-the-policy-says-versions-not-compared": Case(
        {"v/web.yaml": deployment("web", REG + "/web:v3.0.0-${SUFFIX}"),
         "gitops-release.yaml": f"apps:\n  - match: v\n    images: [{REG}/web]\n"},
        "v", f"{REG}/web:v2.0.0", "web@v2.0.0", ("Deployment", "web", "web"),
        written=("v/web.yaml",), logged=("no version can be read from what runs now",)),
    # an entry named "web" does not rename docker.io/library/web (kustomize matches names
    # literally): a new entry of the full name was refused as a duplicate
    "an-entry-of-a-short-name-kustomize-does-not-match-is-no-duplicate": Case(
        {**base("w/base", "web", "docker.io/library/web:v1.0.0"),
         "w/prod/kustomization.yaml": kustomization(
             "resources:\n  - ../base\nimages:\n  - name: web\n    newTag: v0.9.0\n")},
        "w/prod", "docker.io/library/web:v2.0.0", "web@v2.0.0", ("Deployment", "web", "web"),
        written=("w/prod/kustomization.yaml",), env_written=False),
    # a prod-* sibling running a variable: prod's rule (which lists images) was applied to it,
    # and another repository's image replaced the variable there
    "fan-out-sibling-running-a-variable-is-judged-by-its-own-rule": Case(
        {**web_overlay("x/overlays/prod"),
         "x/overlays/prod-eu/kustomization.yaml": kustomization("resources:\n  - web.yaml\n"),
         "x/overlays/prod-eu/web.yaml": deployment("web", "other.example.com/web:${TAG}"),
         "gitops-release.yaml": f"apps:\n  - match: x/overlays/prod\n    images: [{REG}/web]\n"},
        "x/overlays/prod", f"{REG}/web:v2.0.0", "web@v2.0.0", refused="policy",
        error="x/overlays/prod-eu runs 'other.example.com/web:${TAG}', which is no image "
              "reference"),
    "docker-hub-short-name-is-the-same-repository": Case(
        {"sock/carts.yaml": deployment("carts", "weaveworksdemos/carts:0.4.8")},
        "sock", "docker.io/weaveworksdemos/carts:0.4.9", "carts@0.4.9",
        ("Deployment", "carts", "carts"), written=("sock/carts.yaml",)),
    "workload-named-like-the-app-runs-another-program": Case(
        {"x/web.yaml": deployment("web", "nginx:1.25"),
         "x/api.yaml": deployment("web-api", f"{REG}/web:v1.0.0")},
        "x", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web-api", "web-api"),
        written=("x/api.yaml",)),
    "env-var-merged-with-a-component": Case(
        {**base("e/base", "web", f"{REG}/web:v1.0.0"),
         "e/comp/kustomization.yaml":
             "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n"
             "  - path: region.yaml\n",
         "e/comp/region.yaml": deployment("web", f"{REG}/web:v1.0.0").replace(
             f"          image: {REG}/web:v1.0.0\n",
             "          env:\n            - name: REGION\n              value: eu\n"),
         "e/overlays/qa/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\ncomponents:\n  - ../../comp\npatches:\n"
             "  - path: version.yaml\n"),
         "e/overlays/qa/version.yaml": deployment("web", f"{REG}/web:v1.0.0")},
        "e/overlays/qa", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("e/overlays/qa/version.yaml",)),
    "json6902-adds-the-release-env-item": Case(
        {"j/dep.yaml": deployment("web", f"{REG}/web:v1.0.0"),
         "j/kustomization.yaml": kustomization(
             "resources:\n  - dep.yaml\npatches:\n  - path: rel.yaml\n    target:\n"
             "      kind: Deployment\n      name: web\n"),
         "j/rel.yaml": "- op: add\n  path: /spec/template/spec/containers/0/env\n  value: []\n"
                       "- op: add\n  path: /spec/template/spec/containers/0/env/-\n"
                       "  value: {name: APP_RELEASEVERSION, value: web@v1.0.0}\n"},
        "j", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("j/dep.yaml", "j/rel.yaml")),
    "byte-order-mark-kept": Case(
        {"b/web.yaml": "\ufeff" + deployment("web", f"{REG}/web:v1.0.0")},
        "b", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("b/web.yaml",)),
    "empty-env-is-filled-in": Case(
        {"n/web.yaml": deployment("web", f"{REG}/web:v1.0.0") + "          env: # none yet\n"},
        "n", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("n/web.yaml",)),
    "new-images-entry-before-the-trailing-comments": Case(
        {**SHARED_BASE, "apps/shop/overlays/dev/kustomization.yaml": kustomization(
            "resources:\n- ../../base\n# - ../../debug-sidecar\nnamePrefix: dev-\n"
            "commonLabels:\n  env: dev\n  # team: shop\n\n"
            "# Images are set by gitops-release.\n# Owner: team-shop\n")},
        "apps/shop/overlays/dev", f"{REG}/shop:v1.1.0", "shop@v1.1.0",
        ("Deployment", "dev-shop", "shop"), written=("apps/shop/overlays/dev/kustomization.yaml",),
        env_written=False,
        whole={"apps/shop/overlays/dev/kustomization.yaml": kustomization(
            "resources:\n- ../../base\n# - ../../debug-sidecar\nnamePrefix: dev-\n"
            "commonLabels:\n  env: dev\n  # team: shop\n"
            "images:\n- name: registry.example.com/acme/shop\n  newTag: v1.1.0\n\n"
            "# Images are set by gitops-release.\n# Owner: team-shop\n")}),
    "new-images-entry-keeps-a-commented-out-resource-in-its-list": Case(
        {**SHARED_BASE, "apps/shop/overlays/dev/kustomization.yaml": kustomization(
            "resources:\n  - ../../base\n  # - ../../debug-sidecar\n# end of the resources\n")},
        "apps/shop/overlays/dev", f"{REG}/shop:v1.1.0", "shop@v1.1.0",
        ("Deployment", "shop", "shop"), written=("apps/shop/overlays/dev/kustomization.yaml",),
        env_written=False,
        whole={"apps/shop/overlays/dev/kustomization.yaml": kustomization(
            "resources:\n  - ../../base\n  # - ../../debug-sidecar\n"
            "images:\n  - name: registry.example.com/acme/shop\n    newTag: v1.1.0\n"
            "# end of the resources\n")}),
    "image-from-a-replacement-source-in-the-overlay": Case(
        {"r/dep.yaml": deployment("web", f"{REG}/web:placeholder"),
         "r/versions.yaml": VERSIONS_CONFIGMAP,
         "r/kustomization.yaml": kustomization("resources:\n  - dep.yaml\n  - versions.yaml\n"
                                               + IMAGE_REPLACEMENT)},
        "r", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("r/versions.yaml", "r/dep.yaml"),
        also=(("ConfigMap", "versions", "data", "web", f"{REG}/web:v1.1.0"),)),
    # kustomize's recommended replacement source: local-config, read but never rendered
    "image-from-a-local-config-replacement-source-in-the-overlay": Case(
        {"r/dep.yaml": deployment("web", f"{REG}/web:placeholder"),
         "r/versions.yaml": VERSIONS_CONFIGMAP.replace(
             "  name: versions\n", "  name: versions\n  annotations:\n"
             "    config.kubernetes.io/local-config: \"true\"\n"),
         "r/kustomization.yaml": kustomization("resources:\n  - dep.yaml\n  - versions.yaml\n"
                                               + IMAGE_REPLACEMENT)},
        "r", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("r/versions.yaml", "r/dep.yaml"),
        texts={"r/versions.yaml": (f"  web: {REG}/web:v1.1.0",)}),
    # the release env var copied by a replacement: a patch cannot set it (applied after)
    "release-env-from-a-replacement-is-named": Case(
        {"r/dep.yaml": deployment("web", f"{REG}/web:v1.0.0", env=(
            "            - name: APP_RELEASEVERSION\n              value: unset\n")),
         "r/versions.yaml": VERSIONS_CONFIGMAP + "  release: web@v1.0.0\n",
         "r/kustomization.yaml": kustomization(
             "resources:\n  - dep.yaml\n  - versions.yaml\n" + IMAGE_REPLACEMENT.replace(
                 "data.web", "data.release").replace(
                 "[name=web].image", "[name=web].env.[name=APP_RELEASEVERSION].value"))},
        "r", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="Deployment/web container web gets APP_RELEASEVERSION from replacements: "
              "r/kustomization.yaml:7 copies ConfigMap/versions data.release"),
    # a replacement source feeding the app's other workload too: they move together, as under
    # one images: entry
    "replacement-source-that-also-feeds-the-apps-other-workload-moves-both": Case(
        {"r/dep.yaml": deployment("web", f"{REG}/web:placeholder") + "---\n"
         + deployment("web-worker", f"{REG}/web:placeholder"),
         "r/versions.yaml": VERSIONS_CONFIGMAP,
         "r/kustomization.yaml": kustomization(
             "resources:\n  - dep.yaml\n  - versions.yaml\n" + IMAGE_REPLACEMENT.replace(
                 "          name: web\n", "").replace("[name=web]", "0"))},
        "r", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("r/versions.yaml", "r/dep.yaml"),
        moved=(("Deployment", "web-worker", "web-worker"),),
        also=(("ConfigMap", "versions", "data", "web", f"{REG}/web:v1.1.0"),)),
    # ... refused when that workload records a release of its own (it would claim the old one)
    "replacement-source-that-also-feeds-another-workload-is-refused": Case(
        {"r/dep.yaml": deployment("web", f"{REG}/web:placeholder") + "---\n"
         + deployment("web-canary", f"{REG}/web:placeholder",
                      env=RELEASE_ENV.format(release="web@v1.0.0")),
         "r/versions.yaml": VERSIONS_CONFIGMAP,
         "r/kustomization.yaml": kustomization(
             "resources:\n  - dep.yaml\n  - versions.yaml\n" + IMAGE_REPLACEMENT.replace(
                 "          name: web\n", "").replace("[name=web]", "0"))},
        "r", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="r: Deployment/web container web takes its image from replacements: "
              "(r/kustomization.yaml:7) copies ConfigMap/versions field data.web into "
              "spec.template.spec.containers.0.image"),
    "replacement-copying-a-part-of-the-source-is-refused": Case(
        {"r/dep.yaml": deployment("web", f"{REG}/web:placeholder"),
         "r/versions.yaml": VERSIONS_CONFIGMAP.replace(f"{REG}/web:", ""),
         "r/kustomization.yaml": kustomization(
             "resources:\n  - dep.yaml\n  - versions.yaml\n" + IMAGE_REPLACEMENT.replace(
                 "        fieldPaths:", "        options: {delimiter: ':', index: 1}\n"
                 "        fieldPaths:"))},
        "r", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="remove spec.template.spec.containers.[name=web].image from the replacement's "
              "fieldPaths (r/kustomization.yaml:7); or update ConfigMap/versions data.web "
              "yourself"),
    "image-from-a-replacement-file-of-a-generated-configmap-is-refused": Case(
        {"r/dep.yaml": deployment("web", f"{REG}/web:placeholder"),
         "r/replace-web.yaml": IMAGE_REPLACEMENT.split("\n", 1)[1].replace("\n    ", "\n")[4:],
         "r/kustomization.yaml": kustomization(
             "resources:\n  - dep.yaml\nconfigMapGenerator:\n  - name: versions\n"
             f"    literals:\n      - web={REG}/web:v1.0.0\nreplacements:\n"
             "  - path: replace-web.yaml\n")},
        "r", f"{REG}/web:v1.1.0", "web@v1.1.0",
        error="(r/replace-web.yaml:1) copies ConfigMap/versions field data.web into "
              "spec.template.spec.containers.[name=web].image"),
    "images-entry-of-the-overlay-wins-over-a-base-replacement": Case(
        {"r/base/dep.yaml": deployment("web", f"{REG}/web:placeholder"),
         "r/base/versions.yaml": VERSIONS_CONFIGMAP,
         "r/base/kustomization.yaml": kustomization(
             "resources:\n  - dep.yaml\n  - versions.yaml\n" + IMAGE_REPLACEMENT),
         "r/overlays/dev/kustomization.yaml": kustomization("resources:\n  - ../../base\n")},
        "r/overlays/dev", f"{REG}/web:v1.1.0", "web@v1.1.0", ("Deployment", "web", "web"),
        written=("r/overlays/dev/kustomization.yaml",), env_written=False),
    "job-with-generate-name": Case(
        {"jobs/jobs.yaml": GENERATED_JOB.format(name="migrate") + "---\n"
         + GENERATED_JOB.format(name="seed")},
        "jobs", f"{REG}/migrate:v1.1.0", "migrate@v1.1.0", ("Job", "migrate-", "main"),
        command="cronjob-update", written=("jobs/jobs.yaml",)),
    "generate-name-picked-by-workload": Case(
        {"jobs/jobs.yaml": GENERATED_JOB.format(name="migrate") + "---\n"
         + GENERATED_JOB.format(name="seed").replace("/seed:", "/migrate:")},
        "jobs", f"{REG}/migrate:v1.1.0", "db@v1.1.0", ("Job", "seed-", "main"),
        command="cronjob-update", extra=("--workload", "seed"), written=("jobs/jobs.yaml",)),
    "generate-name-candidates-are-listed": Case(
        {"jobs/jobs.yaml": GENERATED_JOB.format(name="migrate") + "---\n"
         + GENERATED_JOB.format(name="seed").replace("/seed:", "/migrate:")},
        "jobs", f"{REG}/migrate:v1.1.0", "db@v1.1.0", command="cronjob-update",
        error="has several candidates for 'db': Job/migrate- (generateName) container main; "
              "Job/seed- (generateName) container main. Set 'workload'"),
    "json6902-op-adding-a-whole-sidecar-with-an-init-container-of-its-image": Case(
        {**base("mesh/base", "web", f"{REG}/web:v1.0.0"),
         "mesh/overlays/prod/kustomization.yaml": kustomization(
             "resources:\n  - ../../base\npatches:\n  - path: sidecar.patch.yaml\n    target:\n"
             "      kind: Deployment\n      name: web\n"),
         "mesh/overlays/prod/sidecar.patch.yaml":
             "- op: add\n  path: /spec/template/spec/initContainers\n  value:\n"
             f"    - name: proxy-init\n      image: {REG}/proxy:1.18.5\n"
             "- op: add\n  path: /spec/template/spec/containers/1\n  value:\n"
             f"    name: proxy\n    args: [proxy, sidecar]\n    image: {REG}/proxy:1.18.5\n"},
        "mesh/overlays/prod", f"{REG}/proxy:1.18.6", "proxy@1.18.6", ("Deployment", "web", "proxy"),
        extra=("--container", "proxy"), written=("mesh/overlays/prod/sidecar.patch.yaml",),
        env_written=False),
}


def _render(folder: Path) -> list[Any]:
    """The independent judge: kustomize (or kubectl kustomize), or a plain folder's documents."""
    if any((folder / n).exists() for n in ("kustomization.yaml", "kustomization.yml")):
        command = ["kustomize", "build"] if shutil.which("kustomize") else ["kubectl", "kustomize"]
        text = subprocess.run([*command, str(folder)], capture_output=True, text=True,
                              check=True).stdout
    else:
        text = "\n---\n".join(p.read_text() for p in sorted(folder.glob("*.y*ml")))
    return [d for d in YAML(typ="safe").load_all(text) if d is not None]


def _container(render: list[Any], kind: str, name: str, container: str) -> dict[str, Any]:
    for obj in render:
        if obj.get("kind") == kind and _name(obj) == name:
            spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
            for item in spec["template"]["spec"]["containers"]:
                if item["name"] == container:
                    return dict(item)
    raise AssertionError(f"{kind}/{name} {container} not rendered")


def _deploy(repo: GitRepo, tmp_path: Path, case: Case) -> tuple[int, str, dict[str, str]]:
    return run_cli(repo, tmp_path, [case.command, "--image", case.image, "--release",
                                    case.release, "--path", case.path, "--push", "false",
                                    *case.extra])


def _repo_of(tmp_path: Path, case: Case) -> GitRepo:
    """A config repo (with its bare origin) holding the case's files."""
    template = tmp_path / "template"
    for rel, text in case.files.items():
        (template / rel).parent.mkdir(parents=True, exist_ok=True)
        (template / rel).write_text(text)
    return make_repo(tmp_path / "repos", "acme", "config", template)


@pytest.mark.parametrize("name", list(CASES))
def test_deploy_changes_only_the_target_in_the_render(tmp_path: Path, name: str) -> None:
    case = CASES[name]
    repo = _repo_of(tmp_path, case)
    head = repo.git("rev-parse", "HEAD").strip()
    before = _render(repo.work / case.path)
    others = {folder: _render(repo.work / folder) for folder in case.unchanged}
    code, log, outputs = _deploy(repo, tmp_path, case)
    if case.error or case.refused:
        assert code == (1 if case.error and not case.refused else 0), log  # error: the words
        assert case.error in log
        if case.refused:
            assert (outputs["refused"], outputs["refused-reason"]) == ("true", case.refused), log
        assert repo.git("rev-parse", "HEAD").strip() == head
        assert repo.git("status", "--porcelain") == ""
        return
    assert code == 0, log
    changed = repo.git("diff", "--name-only", head, "HEAD").split()
    assert sorted(changed) == sorted(case.written), log
    after = _render(repo.work / case.path)
    kind, rendered, container = case.target
    expected = copy.deepcopy(before)
    for obj in expected:  # the one change the deploy may make
        if obj.get("kind") == kind and _name(obj) == rendered:
            spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
            for item in spec["template"]["spec"].get("initContainers", []):
                if item["name"] in case.followers:
                    item["image"] = case.image
            for item in spec["template"]["spec"]["containers"]:
                if item["name"] in case.followers:
                    item["image"] = case.image
                if item["name"] == container:
                    item["image"] = case.image
                    if case.env_written:
                        envs = item["env"] = item.get("env") or []
                        hit = [e for e in envs if e["name"] == "APP_RELEASEVERSION"]
                        if hit:
                            hit[0]["value"] = case.release
                        else:
                            envs.append({"name": "APP_RELEASEVERSION", "value": case.release})
    for kind_, name_, container_ in case.moved:  # the app's other workloads on its image
        for obj in expected:
            if obj.get("kind") == kind_ and _name(obj) == name_:
                spec = obj["spec"]["jobTemplate"]["spec"] if kind_ == "CronJob" else obj["spec"]
                for item in spec["template"]["spec"]["containers"]:
                    if item["name"] == container_:
                        item["image"] = case.image
    for kind_, name_, key, sub, value in case.also:  # a replacement's source, set with it
        for obj in expected:
            if obj.get("kind") == kind_ and _name(obj) == name_:
                obj[key][sub] = value
    assert _container(after, kind, rendered, container)["image"] == case.image
    for render in (after, expected):  # where a merge puts a new env var is kustomize's business
        _container(render, kind, rendered, container)  # (raises when absent)
        for obj in render:
            for item in obj.get("spec", {}).get("template", {}).get("spec", {}).get(
                    "containers", []):
                item.get("env", []).sort(key=lambda e: e["name"])
    assert after == expected, log
    for folder, render in others.items():
        assert _render(repo.work / folder) == render, f"{folder} changed: {log}"
    for rel, whole in case.whole.items():
        assert (repo.work / rel).read_text() == whole
    for said in case.logged:
        assert said in log, log
    for rel, lines in case.texts.items():
        text = (repo.work / rel).read_text()
        for line in lines:
            assert line in text.splitlines(), text
    # the same event delivered again: nothing to change, nothing committed
    deployed = repo.git("rev-parse", "HEAD").strip()
    code, log, outputs = _deploy(repo, tmp_path, case)
    assert (code, outputs["changed"]) == (0, "false"), log
    assert repo.git("rev-parse", "HEAD").strip() == deployed


def test_a_remote_base_that_cannot_be_fetched_is_named(tmp_path: Path) -> None:
    """A remote base the runner cannot fetch (polar-deployment's production overlay, offline):
    named as the remote's failure, with the fix, not as an overlay to fix."""
    case = Case({"q/overlays/prod/kustomization.yaml": kustomization(
        "resources:\n  - https://127.0.0.1:9/acme/web//k8s?ref=main\n"
        "images:\n  - name: registry.example.com/acme/web\n    newTag: v1.0.0\n")},
        "q/overlays/prod", f"{REG}/web:v1.1.0", "web@v1.1.0")
    repo = _repo_of(tmp_path, case)
    head = repo.git("rev-parse", "HEAD").strip()
    code, log, _ = _deploy(repo, tmp_path, case)
    assert code == 1, log
    assert "kustomize could not fetch the remote resource https://127.0.0.1:9/acme/web//k8s" \
        in log and "Run the job again once the remote answers" in log, log
    assert repo.git("rev-parse", "HEAD").strip() == head
    assert repo.git("status", "--porcelain") == ""
