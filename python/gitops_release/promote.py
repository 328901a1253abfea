"""Promotion in the config repo: deploy to one overlay exactly what another overlay runs.

``gitops-release promote --from apps/web-api/overlays/dev --to apps/web-api/overlays/prod`` renders
the source overlay (``kubectl kustomize``: what the cluster would run, ``images:`` entries and
patches applied), takes the app's container image, which must be pinned by digest, and its
version, and runs the receiver's deploy of that image and release to the target overlay: every
check of a deploy applies (versions only move forward, fan-out to ``prod-*`` all or none, the
push loop), and the one commit carries a ``Promoted-From:`` trailer.

Refused with the reason, before anything is written: the same overlay twice, overlays of two
apps (``<app>/overlays/<env>`` must share ``<app>``), a source image without a digest, and a
target whose image repository differs from the source's (a promotion never changes what is run,
only which build of it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gitops_release.errors import InputError, ManifestError
from gitops_release.paths import check_relative, resolve_overlay
from gitops_release.reference import ImageReference, parse_reference

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Rollout", "CronJob", "Job")
RENDER_TIMEOUT = 120


@dataclass(frozen=True)
class Running:
    """What an overlay runs for the app: the container's image, as rendered."""

    overlay: str
    container: str
    image: ImageReference

    @property
    def version(self) -> str:
        return self.image.tag or ""


def app_of(path: str, input_name: str) -> tuple[str, str]:
    """``(app folder, environment)`` of ``<...>/<app>/overlays/<env>``."""
    parts = check_relative(path, input_name).parts
    if len(parts) < 3 or parts[-2] != "overlays":
        raise InputError(f"{path!r} is not an overlay folder <app>/overlays/<env>",
                         input_name=input_name, hint="e.g. apps/web-api/overlays/dev")
    return str(PurePosixPath(*parts[:-2])), parts[-1]


def _containers(doc: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec: Any = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    pod = ((spec.get("template") or {}).get("spec") or {}) if isinstance(spec, dict) else {}
    for container in pod.get("containers") or []:
        if isinstance(container, dict):
            yield container


def render(root: Path, overlay: str, shown: str) -> list[Mapping[str, Any]]:
    """``kubectl kustomize`` of an overlay folder, as documents."""
    from ruamel.yaml import YAML

    try:
        result = subprocess.run(["kubectl", "kustomize", "--", overlay], cwd=root,
                                capture_output=True, text=True, timeout=RENDER_TIMEOUT,
                                check=False)
    except FileNotFoundError:
        raise ManifestError("kubectl is not installed", hint="Install kubectl (GitHub's Ubuntu "
                            "runners have it)") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise ManifestError(f"{shown} does not render with kubectl kustomize: {last}",
                            hint="Promote between kustomize overlays that render")
    return [d for d in YAML(typ="safe", pure=True).load_all(result.stdout) if isinstance(d, dict)]


def running(root: Path, config_root: str, path: str, app: str, container: str,
            input_name: str) -> Running:
    """The image the app's container runs in the overlay ``path``."""
    overlay = resolve_overlay(root, config_root, path)
    found: list[tuple[str, str]] = []
    for doc in render(root, overlay.relative_to(root).as_posix(), path):
        if doc.get("kind") in WORKLOAD_KINDS:
            found += [(str(c.get("name", "")), str(c.get("image", ""))) for c in _containers(doc)]
    wanted = [f for f in found if f[0] == (container or app)]
    if not wanted and not container and len(found) == 1:
        wanted = found
    if len(wanted) != 1:
        names = ", ".join(sorted({name for name, _ in found})) or "none"
        raise ManifestError(f"{path} has no single container named {container or app!r}; its "
                            f"containers: {names}", hint="Pass container to pick one")
    name, image = wanted[0]
    return Running(path, name, parse_reference(image, input_name))


@dataclass(frozen=True)
class Promotion:
    """A checked promotion: what to deploy where."""

    source: Running
    target: Running
    app: str

    @property
    def release(self) -> str:
        return f"{self.app}@{self.source.version}"


def plan(root: Path, config_root: str, source: str, target: str, container: str) -> Promotion:
    """Check a promotion from ``source`` to ``target``; raise InputError with the reason."""
    source_app, _ = app_of(source, "from")
    target_app, _ = app_of(target, "to")
    if source.strip("/") == target.strip("/"):
        raise InputError("is the same overlay as 'from'", input_name="to",
                         hint="Promote from one environment to another, e.g. dev to prod")
    if source_app != target_app:
        raise InputError(f"{target!r} is an overlay of {target_app}, not of {source_app}",
                         input_name="to", hint="Promote between overlays of one app")
    app = PurePosixPath(source_app).name
    found = running(root, config_root, source, app, container, "from")
    if found.image.digest is None or found.image.tag is None:
        raise InputError(f"{source} runs {found.image} without a tag and a digest",
                         input_name="from", hint="Promote only from an overlay whose image is "
                         "pinned by digest (registry/name:version@sha256:…), as a deploy writes it")
    current = running(root, config_root, target, app, found.container, "to")
    if current.image.name != found.image.name:
        raise InputError(f"{target} runs {current.image.name}, {source} runs {found.image.name}: "
                         "a promotion does not change the image repository", input_name="to",
                         hint="Deploy the other repository with a dispatch (and a policy that "
                              "allows it), not with promote")
    return Promotion(found, current, app)
