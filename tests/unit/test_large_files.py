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


def test_a_fan_out_lists_the_folder_beside_its_overlays_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every overlay of a prod fan-out looks for kustomizations beside it (in its parent's
    subfolders) that build on it; the siblings share that parent, and it is listed once for the
    whole fan-out: listed again per sibling, planning 300 siblings spent 5 s there."""
    from gitops_release.receiver import parse_settings, plan_deploy

    listed: list[int] = []

    def plan(siblings: int) -> int:
        files = {f"apps/web/{name}/web.yaml": deployment("web", f"{REG}/web:v1.0.0")
                 for name in ["prod"] + [f"prod-{i}" for i in range(siblings)]}
        repo = _repo(tmp_path / str(siblings), files)
        parent = repo.work / "apps" / "web"
        glob = Path.glob

        def counted(self: Path, pattern: str) -> object:
            if self == parent:
                listed.append(siblings)
            return glob(self, pattern)

        monkeypatch.setattr(Path, "glob", counted)
        raw = {"image": f"{REG}/web:v1.1.0", "release": "web@v1.1.0", "path": "apps/web/prod",
               "digest": "", "container": "", "workload": "", "release-env": "APP_RELEASEVERSION",
               "config-root": ".", "fan-out": "true", "allow-downgrade": "false",
               "push": "false", "dry-run": "true", "commit-message": "Deploy {release}",
               "git-user-name": "t", "git-user-email": "t@example.com", "max-attempts": "1",
               "source": "", "token": ""}
        plan_ = plan_deploy(repo.work, parse_settings(raw, "new-image"))
        monkeypatch.setattr(Path, "glob", glob)
        assert plan_.refusal is None and len(plan_.changed) == siblings + 1, plan_.refusal
        return listed.count(siblings)

    assert plan(2) == plan(8) > 0
