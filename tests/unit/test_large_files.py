"""A file too large to parse is refused only where the receiver could have to edit it: a large
CRD next to the workloads (Argo CD's own install has one over 1 MiB) is rendered, not parsed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitops_release import yamledit as y
from tests.harness.cli import run_cli
from tests.unit.test_corpus import deployment, kustomization
from tests.unit.test_receiver_messages import _repo

pytestmark = pytest.mark.skipif(shutil.which("kustomize") is None and shutil.which("kubectl") is None,
                                reason="needs kustomize")
REG = "registry.example.com/acme"


def _crd(size: int) -> str:
    head = ("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
            "  name: widgets.example.com\nspec:\n  group: example.com\n  names:\n"
            "    kind: Widget\n    plural: widgets\n  scope: Namespaced\n  versions:\n"
            "    - name: v1\n      served: true\n      storage: true\n      schema:\n"
            "        openAPIV3Schema:\n          type: object\n          description: ")
    return head + "x" * (size - len(head)) + "\n"


@pytest.mark.parametrize(("kind", "deploys"), [("Widget", True), ("Deployment", False)],
                         ids=["a-crd", "a-workload-kind-inside"])
def test_a_large_file_is_rendered_unless_it_may_hold_a_target(
        tmp_path: Path, kind: str, deploys: bool) -> None:
    crd = _crd(y.MAX_FILE_BYTES + 4096)
    if kind == "Deployment":  # the same size, but it could hold a workload: not read blindly
        crd = crd.replace("    kind: Widget\n", "    kind: Widget\n---\nkind: Deployment\n", 1)
    repo = _repo(tmp_path, {
        "app/kustomization.yaml": kustomization("resources:\n  - crd.yaml\n  - web.yaml\n"),
        "app/crd.yaml": crd,
        "app/web.yaml": deployment("web", f"{REG}/web:v1.0.0")})
    code, log, _ = run_cli(repo, tmp_path, [
        "image-update", "--image", f"{REG}/web:v1.1.0", "--release", "web@v1.1.0",
        "--path", "app", "--push", "false"])
    if deploys:
        assert code == 0, log
        assert f"image: {REG}/web:v1.1.0" in (repo.work / "app/web.yaml").read_text()
        assert (repo.work / "app/crd.yaml").read_text() == crd
    else:
        assert code == 1, log
        assert f"app/crd.yaml is larger than {y.MAX_FILE_BYTES} bytes" in log
        assert repo.git("status", "--porcelain") == ""
