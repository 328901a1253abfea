"""Exact edits of real-looking manifests: a deploy changes only the lines holding the new values."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from gitops_release.errors import ManifestError
from gitops_release.manifests import (
    WORKLOAD_KINDS,
    Target,
    edit_kustomization,
    edit_values,
    edit_workload,
)
from gitops_release.reference import parse_reference

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "receiver"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config-repo" / "apps"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
IMAGE_KINDS = WORKLOAD_KINDS["new-image"]
JOB_KINDS = WORKLOAD_KINDS["new-job-image"]


def target(image: str, release: str, **kw: str) -> Target:
    app, version = release.split("@")
    return Target(parse_reference(image), release, app, version, **kw)


def changed_lines(old: str, new: str) -> list[str]:
    return [line.rstrip("\n") for line in difflib.unified_diff(old.splitlines(True),
                                                               new.splitlines(True), n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def edit_fixture(name: str, tgt: Target, kinds: tuple[str, ...] = IMAGE_KINDS) -> tuple[str, str]:
    path = FIXTURES / name
    change = edit_workload(path, path.read_text(), name, tgt, kinds)
    return change.old_text, change.new_text


def test_example_prod_overlay_exact_unified_diff() -> None:
    path = EXAMPLE / "web-api" / "overlays" / "prod" / "deployment.yaml"
    change = edit_workload(path, path.read_text(), "prod/deployment.yaml",
                           target("registry.example.com/acme/web-api:v1.5.0", "web-api@v1.5.0"),
                           IMAGE_KINDS)
    diff = "".join(difflib.unified_diff(change.old_text.splitlines(True),
                                        change.new_text.splitlines(True), "a", "b"))
    assert diff == """\
--- a
+++ b
@@ -17,12 +17,12 @@
             - name: SHIP_TO
               value: "logs.prod.example.com:5044"
         - name: web-api
-          image: registry.example.com/acme/web-api:v1.4.0
+          image: registry.example.com/acme/web-api:v1.5.0
           env:
             - name: LOG_LEVEL
               value: info   # per-environment verbosity
             - name: APP_RELEASEVERSION
-              value: "web-api@v1.4.0"
+              value: "web-api@v1.5.0"
           resources:
             requests:
               cpu: 100m
"""
    assert change.previous_image == "registry.example.com/acme/web-api:v1.4.0"
    assert change.previous_version == "v1.4.0"


def test_compact_style_overlay_keeps_single_quotes() -> None:
    path = EXAMPLE / "web-api" / "overlays" / "prod-eu" / "deployment.yaml"
    change = edit_workload(path, path.read_text(), "x",
                           target("registry.example.com/acme/web-api:v1.5.0", "web-api@v1.5.0"),
                           IMAGE_KINDS)
    assert changed_lines(change.old_text, change.new_text) == [
        "-        image: 'registry.example.com/acme/web-api:v1.4.0'",
        "+        image: 'registry.example.com/acme/web-api:v1.5.0'",
        "-          value: 'web-api@v1.4.0'",
        "+          value: 'web-api@v1.5.0'",
    ]


def test_multidoc_picks_the_app_container_and_its_env_only() -> None:
    old, new = edit_fixture("multidoc-deployment.yaml",
                            target(f"registry.example.com/acme/api:v1.1.0@{DIGEST_A}", "api@v1.1.0"))
    assert changed_lines(old, new) == [
        '-          image: "registry.example.com/acme/api:v1.0.0"   # pinned by the receiver',
        f'+          image: "registry.example.com/acme/api:v1.1.0@{DIGEST_A}"   # pinned by the '
        "receiver",
        "-              value: api@v1.0.0",
        "+              value: api@v1.1.0",
    ]
    assert new.startswith("# A Service and a Deployment in one file")
    assert "%YAML 1.2\n---\n" in new and "\n...\n---\n" in new


def test_named_init_container_is_updated() -> None:
    old, new = edit_fixture("multidoc-deployment.yaml",
                            target("registry.example.com/acme/api-migrate:v1.1.0", "api@v1.1.0",
                                   container="migrate"))
    assert changed_lines(old, new) == [
        "-          image: registry.example.com/acme/api-migrate:v1.0.0",
        "+          image: registry.example.com/acme/api-migrate:v1.1.0",
        "+          env:",
        "+            - name: APP_RELEASEVERSION",
        "+              value: api@v1.1.0",
    ]


def test_statefulset_without_env_gets_the_release_var_in_its_style() -> None:
    old, new = edit_fixture("statefulset.yaml",
                            target("registry.example.com/acme/ledger:v4.2.0", "ledger@v4.2.0"))
    assert changed_lines(old, new) == [
        "-          image: registry.example.com/acme/ledger:v4.1.0",
        "+          image: registry.example.com/acme/ledger:v4.2.0",
        "+          env:",
        "+            - name: APP_RELEASEVERSION",
        "+              value: ledger@v4.2.0",
    ]
    assert new.endswith("              value: ledger@v4.2.0\n      # trailing comment of the pod spec\n")


def test_daemonset_env_list_gets_a_new_item_in_compact_style() -> None:
    old, new = edit_fixture("daemonset.yaml",
                            target("registry.example.com/acme/node-agent:20261102120000000",
                                   "node-agent@20261102120000000"))
    assert changed_lines(old, new) == [
        "-        image: registry.example.com/acme/node-agent:20261101120000000",
        "+        image: registry.example.com/acme/node-agent:20261102120000000",
        "+        - name: APP_RELEASEVERSION",
        "+          value: node-agent@20261102120000000",
    ]


def test_job_for_new_job_image() -> None:
    old, new = edit_fixture("job.yaml", target("registry.example.com/acme/db-migrate:v8",
                                               "db-migrate@v8"), JOB_KINDS)
    assert changed_lines(old, new) == [
        "-          image: registry.example.com/acme/db-migrate:v7",
        "+          image: registry.example.com/acme/db-migrate:v8",
        "-              value: 'db-migrate@v7'",
        "+              value: 'db-migrate@v8'",
    ]


def test_cronjob_example_overlay() -> None:
    path = EXAMPLE / "report-job" / "overlays" / "prod" / "cronjob.yaml"
    change = edit_workload(path, path.read_text(), "x",
                           target("registry.example.com/acme/report-job:v2.2.0", "report-job@v2.2.0"),
                           JOB_KINDS)
    assert changed_lines(change.old_text, change.new_text) == [
        "-              image: registry.example.com/acme/report-job:v2.1.0",
        "+              image: registry.example.com/acme/report-job:v2.2.0",
        "-                  value: report-job@v2.1.0",
        "+                  value: report-job@v2.2.0",
    ]


def test_rollout_example_overlay() -> None:
    path = EXAMPLE / "checkout" / "overlays" / "prod" / "rollout.yaml"
    change = edit_workload(path, path.read_text(), "x",
                           target("registry.example.com/acme/checkout:v3.3.0", "checkout@v3.3.0"),
                           IMAGE_KINDS)
    assert changed_lines(change.old_text, change.new_text) == [
        "-          image: registry.example.com/acme/checkout:v3.2.1",
        "+          image: registry.example.com/acme/checkout:v3.3.0",
        "-              value: checkout@v3.2.1",
        "+              value: checkout@v3.3.0",
    ]


def test_same_values_change_nothing() -> None:
    path = EXAMPLE / "web-api" / "overlays" / "prod" / "deployment.yaml"
    change = edit_workload(path, path.read_text(), "x",
                           target("registry.example.com/acme/web-api:v1.4.0", "web-api@v1.4.0"),
                           IMAGE_KINDS)
    assert not change.changed


def test_values_yaml_keeps_quotes_and_comment() -> None:
    path = FIXTURES / "values.yaml"
    change = edit_values(path, path.read_text(), "values.yaml",
                         target("registry.example.com/acme/storefront:v1.0.0", "storefront@v1.0.0"))
    assert changed_lines(change.old_text, change.new_text) == [
        '-  tag: "v0.9.3"   # quoted: the receiver keeps the quotes',
        '+  tag: "v1.0.0"   # quoted: the receiver keeps the quotes',
    ]
    assert change.previous_image == "registry.example.com/acme/storefront:v0.9.3"


def test_values_yaml_custom_keys_and_release_key() -> None:
    text = "app:\n  img: r.io/a/s\n  version: v1   # tag\n"
    change = edit_values(Path("v.yaml"), text, "v.yaml",
                         target("r.io/a/s:v2", "s@v2", helm_image_key="app.img",
                                helm_tag_key="app.version", helm_release_key="app.release"))
    assert change.new_text == "app:\n  img: r.io/a/s\n  version: v2   # tag\n  release: s@v2\n"


@pytest.mark.parametrize(("image", "expected"), [
    ("registry.example.com/acme/web:v2.1.0",
     ["-    newTag: v2.0.0", f"-    digest: sha256:{'1' * 64}", "+    newTag: v2.1.0"]),
    (f"registry.example.com/acme/web:v2.1.0@{DIGEST_B}",
     ["-    newTag: v2.0.0", f"-    digest: sha256:{'1' * 64}", "+    newTag: v2.1.0",
      f"+    digest: {DIGEST_B}"]),
], ids=["stale-digest-dropped", "digest-replaced"])
def test_kustomization_images_entry(image: str, expected: list[str]) -> None:
    path = FIXTURES / "kustomization.yaml"
    change = edit_kustomization(path, path.read_text(), "k", target(image, "web@v2.1.0"))
    assert changed_lines(change.old_text, change.new_text) == expected
    assert change.previous_version == "v2.0.0"


@pytest.mark.parametrize(("fixture", "message"), [
    ("bomb.yaml", "bomb.yaml uses 45 YAML aliases, more than 20"),
    ("duplicate-keys.yaml", "duplicate-keys.yaml has the key 'image' twice in one mapping (line 11)"),
    ("malformed.yaml", "malformed.yaml is not valid YAML at line 8"),
], ids=["alias-bomb", "duplicate-keys", "malformed"])
def test_unsafe_yaml_is_refused_naming_the_file(fixture: str, message: str) -> None:
    with pytest.raises(ManifestError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        edit_fixture(fixture, target("registry.example.com/acme/api:v2", "api@v2"))


def test_wider_bomb_is_refused() -> None:
    text = "a: &a [x]\n" + "".join(f"k{i}: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" for i in range(9))
    with pytest.raises(ManifestError, match="90 YAML aliases"):
        edit_workload(Path("b.yaml"), text, "b.yaml", target("r.io/a:v1", "a@v1"), IMAGE_KINDS)


@pytest.mark.parametrize(("text", "tgt", "message"), [
    ("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
     "        - name: a\n          image: r.io/a:v1\n        - name: b\n          image: r.io/b:v1\n",
     target("r.io/c:v2", "c@v2"), "has no container named after the app 'c'; its containers: a, b"),
    ("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
     "        - name: a\n          image: r.io/a:v1\n        - name: a\n          image: r.io/b:v1\n",
     target("r.io/a:v2", "a@v2"), "has several containers named after the app 'a'"),
    ("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
     "        - name: a\n          image: r.io/a:v1\n",
     target("r.io/a:v2", "a@v2", container="sidecar"), "has no container named 'sidecar'"),
    ("kind: Service\nspec: {}\n", target("r.io/a:v2", "a@v2"), "holds no Deployment/Rollout"),
    ("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
     "        - name: a\n          image: &img r.io/a:v1\n",
     target("r.io/a:v2", "a@v2"), "carries a YAML anchor"),
    ("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
     "        - name: a\n          image: r.io/a:v1\n          env:\n"
     "            - name: APP_RELEASEVERSION\n              valueFrom: {fieldRef: {fieldPath: x}}\n",
     target("r.io/a:v2", "a@v2"), "uses valueFrom"),
], ids=["no-match", "duplicate-container", "named-missing", "no-workload", "anchor", "valuefrom"])
def test_ambiguous_or_unsupported_manifests_fail_clearly(text: str, tgt: Target, message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("(", r"\(")):
        edit_workload(Path("d.yaml"), text, "d.yaml", tgt, IMAGE_KINDS)


def test_only_container_is_used_when_not_named_like_the_app() -> None:
    text = "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n" \
           "        - name: main\n          image: r.io/a:v1\n          env:\n" \
           "            - name: X\n              value: '1'\n"
    change = edit_workload(Path("d.yaml"), text, "d.yaml", target("r.io/a:v2", "a@v2"), IMAGE_KINDS)
    assert changed_lines(change.old_text, change.new_text) == [
        "-          image: r.io/a:v1", "+          image: r.io/a:v2",
        "+            - name: APP_RELEASEVERSION", "+              value: a@v2"]


def test_crlf_file_keeps_crlf() -> None:
    text = ("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
            "        - name: a\n          image: r.io/a:v1\n").replace("\n", "\r\n")
    change = edit_workload(Path("d.yaml"), text, "d.yaml", target("r.io/a:v2", "a@v2"), IMAGE_KINDS)
    assert change.new_text == text.replace("r.io/a:v1", "r.io/a:v2") + (
        "          env:\r\n            - name: APP_RELEASEVERSION\r\n              value: a@v2\r\n")


def test_value_that_would_read_as_another_type_is_quoted() -> None:
    text = "kind: Job\nspec:\n  template:\n    spec:\n      containers:\n" \
           "        - name: a\n          image: old\n"
    change = edit_workload(Path("j.yaml"), text, "j.yaml", target("true", "a@1.0"), JOB_KINDS)
    assert '          image: "true"\n' in change.new_text


def test_empty_values_are_filled_after_the_colon() -> None:
    text = ("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
            "        - name: a\n          image:\n          env:\n"
            "            - name: APP_RELEASEVERSION\n              value:   # set by CI\n"
            "            - name: B\n              value: x\n")
    change = edit_workload(Path("d.yaml"), text, "d.yaml", target("r.io/a:v2", "a@v2"), IMAGE_KINDS)
    assert changed_lines(change.old_text, change.new_text) == [
        "-          image:", "+          image: r.io/a:v2",
        "-              value:   # set by CI", "+              value: a@v2   # set by CI"]
