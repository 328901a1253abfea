"""The Helm render proof: the chart in the overlay's folder rendered with the real ``helm
template`` before and after a values edit, where helm is on PATH (GitHub's Ubuntu runners have
it; Debian does not package it, and the templates check of ``helmchart`` is what runs then).

The edit is proven when the render changes exactly the images of the containers that ran the
target's repository, to the new image, and nothing else but values that carried the old tag (a
``app.kubernetes.io/version`` label), the release (``helm-release-key``) or a ``checksum/*``
annotation; the summary names what else changed. Anything else is refused with the difference:
an edit the chart never reads (the render does not move), an image the chart assembles wrongly
(``repo:1.1.0:1.0.0``), another program's container, an object that appears or disappears.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from gitops_release.errors import ManifestError
from gitops_release.reference import same_repository
from gitops_release.targets import containers_of, object_name, parsed_image

HELM_TIMEOUT = 120
MAX_CHART_BYTES = 64 * 1024 * 1024  # a larger chart folder is checked by its templates only
SHOWN_DIFFS = 6


class HelmRenderError(ManifestError):
    """The chart does not render with the planned values."""

    title = "Render failed"


def _copy(source: Path, dest: Path) -> None:
    """The chart folder; refused past MAX_CHART_BYTES, and when it holds a symlink (helm
    follows symlinks: one could bring a file of the runner into the render, and so into the
    job's log)."""
    size = 0
    for path in source.rglob("*"):
        if path.is_symlink():
            raise OSError(f"the chart holds a symlink ({path.relative_to(source)}), which helm "
                          "would follow")
        if path.is_file():
            size += path.stat().st_size
            if size > MAX_CHART_BYTES:
                raise OSError(f"the chart folder holds more than {MAX_CHART_BYTES >> 20} MB")
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))


def _start(helm: str, chart: Path, release: str, values: str | None) -> subprocess.Popen[str]:
    args = [helm, "template", release, str(chart)]
    if values is not None:
        args += ["--values", str(chart / values)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], scratch: str) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=HELM_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return 1, "", f"helm template took longer than {HELM_TIMEOUT} s"
    return proc.returncode, out, err.replace(scratch + "/", "")


def render_variants(chart_dir: Path, values_name: str, texts: list[str | None], release: str,
                    layered: bool) -> list[tuple[int, str, str]] | str:
    """``helm template`` of the chart in ``chart_dir`` once per text of ``texts``, all at once:
    ``values_name`` (a file of the chart's folder) holding that text (None: as it is);
    ``layered``: the file is layered over the chart's values.yaml (``--values``). A string says
    why no render ran."""
    helm = shutil.which("helm")
    if helm is None:
        return "helm is not on PATH"
    scratch = tempfile.mkdtemp(prefix="gitops-release-helm-")
    try:
        charts = [Path(scratch) / str(i) / chart_dir.name for i in range(len(texts))]
        try:
            for chart, text in zip(charts, texts, strict=True):
                _copy(chart_dir, chart)
                if text is not None:
                    (chart / values_name).write_bytes(text.encode("utf-8"))
        except OSError as exc:
            return f"the chart could not be copied to render it ({exc})"
        values = values_name if layered else None
        procs = [_start(helm, chart, release, values) for chart in charts]
        return [_finish(proc, str(chart)) for proc, chart in zip(procs, charts, strict=True)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def unstable_paths(first: list[Any], second: list[Any]) -> set[tuple[Any, ...]]:
    """Where two renders of the same chart and values differ (``randAlphaNum``, ``now``): (object
    index, *path) of each differing value. A difference in the objects themselves: every path of
    those objects (their index alone)."""
    if len(first) != len(second):
        return {(i,) for i in range(max(len(first), len(second)))}
    out: set[tuple[Any, ...]] = set()
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        if a != b:
            out |= {(i, *path) for path, _, _ in _diffs(a, b)}
    return out


def _diffs(old: Any, new: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            yield from _diffs(old.get(key), new.get(key), (*at, key))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _diffs(a, b, (*at, i))
    elif old != new:
        yield at, old, new


def _identity(obj: Any) -> tuple[str, str, str]:
    if not isinstance(obj, dict):
        return ("", "", "")
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    return (str(obj.get("kind", "")), object_name(obj) or "", str(meta.get("namespace", "")))


def _shown(obj: Any) -> str:
    kind, name, _ = _identity(obj)
    return f"{kind}/{name}"


def _is_target(value: Any, target: Any, tag: bool = True) -> bool:
    """Whether ``value`` is an image of the target's repository (``tag``: with its new tag)."""
    ref = parsed_image(value) if isinstance(value, str) and value else None
    return ref is not None and same_repository(ref.name, target.image.name) and \
        (not tag or ref.tag == target.image.tag)


def prove(before: list[Any], after: list[Any], target: Any, old_tag: str | None,
          where: str, unstable: AbstractSet[tuple[Any, ...]] = frozenset()
          ) -> tuple[list[str], list[str], str | None]:
    """Check the chart's render ``after`` the edit against ``before``. Returns the containers
    moved ('Deployment/web container web'), notes on the other allowed changes, and the image
    they ran before; raises ManifestError (nothing written) otherwise."""
    if [_identity(o) for o in before] != [_identity(o) for o in after]:
        gone = sorted({_shown(o) for o in before} - {_shown(o) for o in after})
        new = sorted({_shown(o) for o in after} - {_shown(o) for o in before})
        raise ManifestError(f"the values edit changes which objects the chart in {where} "
                            f"renders (gone: {', '.join(gone) or 'none'}; new: "
                            f"{', '.join(new) or 'none'}); nothing was written",
                            hint="Point helm-tag-key/helm-image-key at the image keys the chart "
                            "reads")
    moved: list[str] = []
    workloads: dict[str, None] = {}  # in render order
    previous: set[str] = set()
    notes: list[str] = []
    wrong: list[str] = []
    changed = [(i, old, new) for i, (old, new) in enumerate(zip(before, after, strict=True))
               if old != new]
    for _, old, new in changed:
        images = {(n, init): image for n, image, init, _ in containers_of(old)}
        for name, image, init, _ in containers_of(new):
            was = images.get((name, init))
            if was is None or was == image:
                continue
            label = f"{_shown(new)} {'init container' if init else 'container'} {name}"
            ref = parsed_image(image)
            if ref is None or not same_repository(ref.name, target.image.name) or \
                    ref.tag != target.image.tag or \
                    (target.image.digest and ref.digest not in (None, target.image.digest)):
                wrong.append(f"{label} renders {image!r} (was {was!r})")
                continue
            old_ref = parsed_image(was)
            if old_ref is None or not same_repository(old_ref.name, target.image.name):
                wrong.append(f"{label} ran {was!r}, another repository than {target.image.name}")
                continue
            moved.append(label)
            workloads.setdefault(_shown(new), None)
            previous.add(was)
    old_tags = {old_tag} | {getattr(parsed_image(p), "tag", None) for p in previous}
    old_tags.discard(None)
    old_tags.discard("")
    for i, old, new in changed:
        for path, a, b in _diffs(old, new):
            if (i,) in unstable or (i, *path) in unstable:
                continue  # differs between two renders of the same input (random, time)
            if len(path) >= 3 and path[-1] == "image" and \
                    path[-3] in ("containers", "initContainers"):
                continue  # a container's image: checked above
            what = f"{_shown(new)} {'.'.join(str(p) for p in path)}".strip()
            if _is_target(b, target) and _is_target(a, target, tag=False):
                moved.append(what)  # an image field of a custom resource (spec.image)
                workloads.setdefault(_shown(new), None)
                previous.add(str(a))
            elif a in old_tags and b == target.image.tag:
                notes.append(f"{what} carries the tag ({a} → {b})")
            elif b == target.release:
                notes.append(f"{what} carries the release ({b})")
            elif len(path) >= 2 and path[-2] == "annotations" and str(path[-1]).startswith("checksum/"):
                notes.append(f"{what} changes with the values")
            else:
                wrong.append(f"{what}: {a!r} → {b!r}")
    if wrong:
        raise ManifestError(f"helm template of the chart in {where} changes more than the "
                            f"target's image: {'; '.join(wrong[:SHOWN_DIFFS])}"
                            + (f" (and {len(wrong) - SHOWN_DIFFS} more)" if len(wrong) > SHOWN_DIFFS
                               else "") + "; nothing was written",
                            hint="Set helm-tag-key/helm-image-key (and helm-registry-key) to the "
                            "keys the chart reads for this app's image")
    if not moved:
        raise ManifestError(f"helm template of the chart in {where} renders the same images "
                            "before and after the values edit: the chart does not read the keys "
                            "written, so the deploy would change nothing; nothing was written",
                            hint="Set helm-tag-key/helm-image-key to the keys the chart's image "
                            "template reads")
    if len(previous) > 1:
        raise ManifestError(f"helm template of the chart in {where}: the values edit moves "
                            f"containers that ran different images ({', '.join(sorted(previous))}"
                            f"): {', '.join(moved)}; nothing was written",
                            hint="Set helm-tag-key/helm-image-key to keys only this app's "
                            "workload reads")
    if len(workloads) > 1:
        notes.append(f"the same image moves in {', '.join(workloads)} (the chart reads the keys "
                     "in each of them)")
    return moved, notes, next(iter(previous))
