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

import atexit
import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from gitops_release import early
from gitops_release.errors import ManifestError
from gitops_release.reference import same_repository
from gitops_release.targets import object_name, parsed_image

HELM_TIMEOUT = 60
MAX_CHART_BYTES = 64 * 1024 * 1024  # a larger chart folder is checked by its templates only
SHOWN_DIFFS = 6


class HelmRenderError(ManifestError):
    """The chart does not render with the planned values."""

    title = "Render failed"


def _chart_files(source: Path) -> list[Path]:
    """The chart folder's files (``.git`` left out); refused past MAX_CHART_BYTES, and when it
    holds a symlink (helm follows symlinks: one could bring a file of the runner into the render,
    and so into the job's log)."""
    files, size = [], 0
    for path in sorted(source.rglob("*")):
        if ".git" in path.relative_to(source).parts:
            continue
        if path.is_symlink():
            raise OSError(f"the chart holds a symlink ({path.relative_to(source)}), which helm "
                          "would follow")
        if path.is_file():
            size += path.stat().st_size
            if size > MAX_CHART_BYTES:
                raise OSError(f"the chart folder holds more than {MAX_CHART_BYTES >> 20} MB")
            files.append(path)
    return files


def _start(helm: str, chart: Path, release: str, values: str | None) -> subprocess.Popen[str]:
    args = [helm, "template", release_name(release), str(chart)]
    if values is not None:
        args += ["--values", str(chart / values)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def release_name(app: str) -> str:
    """The app as a Helm release name (lowercase letters, digits and '-', at most 53): helm
    refuses ``payments_api`` or ``Web``; both renders use the same name."""
    name = re.sub(r"[^a-z0-9-]+", "-", app.lower()).strip("-")[:53].strip("-")
    return name or "release"


def _finish(proc: subprocess.Popen[str], scratch: str, deadline: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return 1, "", f"helm template took longer than {HELM_TIMEOUT} s"
    return proc.returncode, out, err.replace(scratch + "/", "")


_RENDERS: dict[str, tuple[int, str, str]] = {}  # this process's helm renders, by exact input
_RUNNING: set[subprocess.Popen[str]] = set()
_SCRATCH: set[str] = set()
_LOCK = threading.Lock()


def _chart_digest(source: Path, files: list[Path]) -> Any:  # a hashlib object
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"\0{path.relative_to(source).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    return digest


def _input_key(chart: Any, helm: str, values_name: str, text: str | None,
               release: str, layered: bool) -> str:
    digest = chart.copy()
    digest.update("\0".join([helm, release, str(layered), values_name,
                              "-" if text is None else "+" + text]).encode())
    return str(digest.hexdigest())


def render_variants(chart_dir: Path, values_name: str, texts: list[str | None], release: str,
                    layered: bool, fresh: bool = False) -> list[tuple[int, str, str]] | str:
    """``helm template`` of the chart in ``chart_dir`` once per text of ``texts``, all at once:
    ``values_name`` (a file of the chart's folder) holding that text (None: as it is);
    ``layered``: the file is layered over the chart's values.yaml (``--values``). A render of
    exactly the same input (the deploy's plan made ahead, then on the fetched branch) is made
    once, unless ``fresh``. A string says why no render ran."""
    helm = shutil.which("helm")
    if helm is None:
        return "helm is not on PATH"
    scratch = tempfile.mkdtemp(prefix="gitops-release-helm-")
    with _LOCK:
        _SCRATCH.add(scratch)
    procs: list[subprocess.Popen[str]] = []
    try:
        try:  # the chart is read once: its digest keys the renders, its files are copied
            files = _chart_files(chart_dir)
            digest = _chart_digest(chart_dir, files)
        except OSError as exc:
            return f"the chart could not be copied to render it ({exc})"
        keys = [_input_key(digest, helm, values_name, text, release, layered) for text in texts]
        with _LOCK:
            known = {k: _RENDERS[k] for k in keys if not fresh and k in _RENDERS}
        todo: list[tuple[str, Path]] = []
        try:  # only the renders not made yet get a copy of the chart
            for i, (key, text) in enumerate(zip(keys, texts, strict=True)):
                if key in known or any(key == k for k, _ in todo):
                    continue
                chart = Path(scratch) / str(i) / chart_dir.name
                for path in files:
                    target = chart / path.relative_to(chart_dir)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)
                if text is not None:
                    (chart / values_name).write_bytes(text.encode("utf-8"))
                todo.append((key, chart))
        except OSError as exc:
            return f"the chart could not be copied to render it ({exc})"
        values = values_name if layered else None
        deadline = time.monotonic() + HELM_TIMEOUT  # one for all: they run side by side
        with _LOCK:
            procs = [_start(helm, chart, release, values) for _, chart in todo]
            _RUNNING.update(procs)
        for (key, chart), proc in zip(todo, procs, strict=True):
            known[key] = _finish(proc, str(chart), deadline)
        with _LOCK:
            _RENDERS.update(known)  # a timeout too: the same input would take as long again
        return [known[k] for k in keys]
    finally:
        for proc in procs:  # interrupted, or stopped by close(): no helm left running
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with _LOCK:
            _RUNNING.difference_update(procs)
            _SCRATCH.discard(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def close() -> None:
    """Stop every helm render still running (a signal, the process ending) and remove their
    scratch copies: renders run in the deploy's background planning thread too."""
    locked = _LOCK.acquire(timeout=1)  # a signal's handler may interrupt the thread holding it
    try:
        running, scratch = list(_RUNNING), list(_SCRATCH)
    finally:
        if locked:
            _LOCK.release()
    for proc in running:
        if proc.poll() is None:
            proc.kill()
    for folder in scratch:
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(close)
early.STOPPERS.append(close)


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
    """Whether ``value`` is an image of the target's repository (``tag``: with its new tag).
    ``repo:`` (a chart that joins a tag key not set yet) is that repository without a tag."""
    ref = parsed_image(value.removesuffix(":")) if isinstance(value, str) and value else None
    return ref is not None and same_repository(ref.name, target.image.name) and \
        (not tag or ref.tag == target.image.tag)


def _image_like(value: Any) -> bool:
    """Whether a rendered string is an image reference with a tag or digest (a Tekton step's
    ``image``, an Argo Workflow's ``container.image``, an env var naming an image)."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    ref = parsed_image(value)
    return ref is not None and bool(ref.tag or ref.digest) and ("/" in ref.name or ":" in value)


def _runs_target(ref: Any, target: Any) -> bool:
    """Whether a rendered image reference is exactly what the deploy asks to run: the new tag
    (no digest left over: a stale one would keep the old image running), or with a digest the
    new digest (with or without the tag; the tag alone where the chart reads no digest)."""
    if ref is None or not same_repository(ref.name, target.image.name):
        return False
    if target.image.digest:
        return (ref.digest == target.image.digest and ref.tag in (None, target.image.tag)) or \
            (ref.digest is None and ref.tag == target.image.tag)
    return ref.tag == target.image.tag and ref.digest is None


def _names_image(a: Any, b: Any, target: Any) -> bool:
    """Whether the strings ``a`` and ``b`` name the target's repository inside a longer text,
    ``b`` with the new tag (an operator's argument:
    ``--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v1``)."""
    if not isinstance(a, str) or not isinstance(b, str) or not target.image.tag:
        return False
    name = re.escape(target.image.name)
    return re.search(rf"(?<![\w./-]){name}:", a) is not None and re.search(
        rf"(?<![\w./-]){name}:{re.escape(target.image.tag)}(?![\w.-])", b) is not None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _change(a: Any, b: Any) -> str:
    """``a → b`` for a message; two long strings shown around where they first differ (a
    ConfigMap's embedded config: its first 120 characters are the same on both sides)."""
    if isinstance(a, str) and isinstance(b, str) and max(len(a), len(b)) > 120:
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                  min(len(a), len(b)))
        start = max(0, at - 40)
        return (f"{'…' if start else ''}{_short(a[start:start + 100])} → "
                f"{'…' if start else ''}{_short(b[start:start + 100])} (from character {at})")
    return f"{_short(a)} → {_short(b)}"


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and 0 <= key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


class NothingMoved(ManifestError):
    """The values edit moves no container's image: the chart does not read the keys, or (a
    probe render tells) the container that reads them already runs the new image."""


def _containers(render: list[Any]) -> Iterator[tuple[str, str]]:
    """Every container of ``render`` with an image, in any kind of object: (its label,
    'Deployment/web container web', and its image)."""
    def walk(node: Any, obj: Any) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("containers", "initContainers") and isinstance(value, list):
                    kind = "init container" if key == "initContainers" else "container"
                    yield from ((f"{_shown(obj)} {kind} {c.get('name', '?')}", c["image"])
                                for c in value
                                if isinstance(c, dict) and isinstance(c.get("image"), str))
                else:
                    yield from walk(value, obj)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, obj)

    for obj in render:
        yield from walk(obj, obj)


def custom_resource(obj: Any) -> bool:
    """Whether ``obj`` is a custom resource: its API group is a domain name
    (``monitoring.coreos.com/v1``), as no built-in object with a ``spec.image`` has."""
    version = obj.get("apiVersion") if isinstance(obj, dict) else None
    return isinstance(version, str) and "." in version.rpartition("/")[0]


def _operated(obj: Any) -> bool:
    """A custom resource whose ``spec.image`` its operator runs (kube-prometheus-stack's
    Alertmanager, Prometheus and ThanosRuler: the operator creates the StatefulSet that runs
    it, with the resource's image)."""
    return custom_resource(obj) and isinstance(_at(obj, ("spec", "image")), str)


def _images(render: list[Any]) -> Iterator[tuple[str, str]]:
    """``_containers``, and the ``spec.image`` of each custom resource ('Alertmanager/main
    spec.image'), which its operator runs."""
    yield from _containers(render)
    for obj in render:
        if _operated(obj):
            yield f"{_shown(obj)} spec.image", obj["spec"]["image"]


def running(render: list[Any], target: Any) -> list[str]:
    """The containers (and custom resources' ``spec.image``) of ``render`` that run exactly
    what the deploy asks (``_runs_target``)."""
    return [label for label, image in _images(render)
            if _runs_target(parsed_image(image), target)]


def _core(tag: str) -> str:
    """A tag up to its first '-' or '+' (``2.13.2-debian-12-r5``: ``2.13.2``)."""
    return re.split(r"[-+]", tag, maxsplit=1)[0]


# Kubernetes' label value: empty, or up to 63 characters, alphanumeric at both ends.
LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def prove(before: list[Any], after: list[Any], target: Any, old_tag: str | None,
          where: str, unstable: AbstractSet[tuple[Any, ...]] = frozenset()
          ) -> tuple[list[str], list[str], str | None]:
    """Check the chart's render ``after`` the edit against ``before``. Returns the containers
    moved ('Deployment/web container web'), notes on the other allowed changes, and the image
    they ran before; raises ManifestError (nothing written) otherwise. ``unstable``: what
    differs between two renders of the same values (left out)."""
    def steady(i: int, *path: Any) -> bool:  # no part of (i, *path) differs between renders
        full = (i, *path)
        return not any(full[:k] in unstable for k in range(1, len(full) + 1))

    if len(before) != len(after) or any(
            _identity(a) != _identity(b) and steady(i, "metadata", "name")
            and steady(i, "metadata", "generateName")
            for i, (a, b) in enumerate(zip(before, after, strict=False))):
        gone = sorted({_shown(o) for o in before} - {_shown(o) for o in after})
        new = sorted({_shown(o) for o in after} - {_shown(o) for o in before})
        raise ManifestError(f"the values edit changes which objects the chart in {where} "
                            f"renders (gone: {', '.join(gone) or 'none'}; new: "
                            f"{', '.join(new) or 'none'}); nothing was written",
                            hint="Point helm-tag-key/helm-image-key at the image keys the chart "
                            "reads")
    moved: list[str] = []  # containers, of any kind of object (a Pod, a ScaledJob)
    workloads: dict[str, None] = {}  # in render order
    previous: set[str] = set()
    notes: list[str] = []
    wrong: list[str] = []
    operated: list[str] = []  # custom resources whose spec.image moved (their operator runs it)
    passed: list[str] = []  # other fields that carry the image (an operator's argument)
    tags: list[tuple[str, str, str]] = []  # (where, before, after): strings that may carry the tag
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        if old == new:
            continue
        secret = isinstance(new, dict) and new.get("kind") == "Secret"
        for path, a, b in _diffs(old, new):
            if not steady(i, *path):
                continue  # differs between two renders of the same input (random, time)
            what = f"{_shown(new)} {'.'.join(str(p) for p in path)}".strip()
            if secret and path[:1] in (("data",), ("stringData",)):
                wrong.append(f"{what} changes (a Secret's value, not shown)")
                continue
            cr_image = path == ("spec", "image") and _operated(old) and _operated(new)
            if cr_image or (len(path) >= 3 and path[-1] == "image" and
                            path[-3] in ("containers", "initContainers")):
                container = _at(new, path[:-1])
                name = container.get("name", path[-2]) if isinstance(container, dict) else path[-2]
                # named as before the edit: a name the chart draws at random (a test Pod's
                # randAlphaNum) is left out of the comparison, and differs in every render
                label = f"{_shown(old)} spec.image" if cr_image else (
                    f"{_shown(old)} "
                    f"{'init container' if path[-3] == 'initContainers' else 'container'} "
                    f"{name}")
                if not _runs_target(parsed_image(b) if isinstance(b, str) else None, target):
                    other = cr_image and not _is_target(b, target, tag=False)
                    wrong.append(f"{label} renders {_short(b)} (was {_short(a)})" + (
                        f", another repository than {target.image.name}" if other else ""))
                elif not _is_target(a, target, tag=False):
                    wrong.append(f"{label} ran {_short(a)}, another repository than "
                                 f"{target.image.name}")
                else:
                    moved.append(label)
                    workloads.setdefault(_shown(old), None)
                    previous.add(str(a))
                    if cr_image:
                        operated.append(_shown(old))
                continue
            if (_is_target(b, target) and _is_target(a, target, tag=False)) or \
                    _names_image(a, b, target):
                notes.append(f"{what} carries the image ({_short(b)})")
                passed.append(f"{what}, which carries the image " + (
                    "into a custom resource (its operator creates the pods that run it; of a "
                    "custom resource, the receiver deploys the image of spec.image only)"
                    if custom_resource(new) else "to what starts the pods that run it (an "
                    "operator's argument, a configuration)"))
            elif _image_like(a) and _image_like(b) and not _is_target(b, target, tag=False):
                wrong.append(f"{what} renders {_short(b)} (was {_short(a)}), another repository "
                             f"than {target.image.name}")
            elif len(path) >= 2 and path[-2] in ("labels", "matchLabels") and \
                    isinstance(b, str) and not LABEL_VALUE.fullmatch(b):
                # a release key written into a label: "web@1.2.0" is no label value, and the
                # API server refuses the object
                wrong.append(f"{what} renders {b!r}, which is no valid label value (at most 63 "
                             "letters, digits, '-', '_' and '.'; the API server refuses it)")
            elif b == target.release:
                notes.append(f"{what} carries the release ({b})")
            elif len(path) >= 2 and path[-2] == "annotations" and \
                    str(path[-1]).startswith("checksum/"):
                notes.append(f"{what} changes with the values")
            elif isinstance(a, str) and isinstance(b, str):
                tags.append((what, a, b))
            else:
                wrong.append(f"{what}: {_change(a, b)}")
    old_tags: set[str] = {t for t in [old_tag, *(getattr(parsed_image(p), "tag", None)
                                                   for p in previous)] if isinstance(t, str) and t}
    new_tag = target.image.tag or ""
    for what, a, b in tags:
        carried = [t for t in old_tags if t in a and a.replace(t, new_tag) == b] or [
            # the tag's version before its first '-' (Bitnami's common.images.version label:
            # 2.13.2 of 2.13.2-debian-12-r5), which the new tag's moves with
            t for t in old_tags if _core(t) != t and a == _core(t) and b == _core(new_tag)]
        if carried:
            notes.append(f"{what} carries the tag ({_short(a)} → {_short(b)})")
        else:
            wrong.append(f"{what}: {_change(a, b)}")
    runs = any(_is_target(image, target, tag=False) for _, image in _images(before))
    if (wrong or passed) and not moved and not runs:
        # the image is only named elsewhere (jenkins' agent in its JCasC ConfigMap, an
        # operator's argument, a custom resource's sidecar): the difference is not the reason,
        # no container to deploy is; the component is enabled, its pods are another program's
        raise NothingMoved(f"helm template of the chart in {where}: no container of the render "
                           f"runs {target.image.name}; the values edit only changes "
                           f"{'; '.join((passed + wrong)[:SHOWN_DIFFS])}; nothing was written",
                           hint="Point 'path' at the chart whose workload runs the image, or "
                           "deploy that configuration's image by hand (no container runs it here)"
                           if not passed else "The receiver deploys an image only where a "
                           "container, or a custom resource's spec.image, runs it; this one is "
                           "handed to a program (an operator, a controller) that starts the pods "
                           "running it, which no render shows: change its values key by hand, or "
                           "deploy it with the release of that program")
    if wrong:
        raise ManifestError(f"helm template of the chart in {where} changes more than the "
                            f"target's image: {'; '.join(wrong[:SHOWN_DIFFS])}"
                            + (f" (and {len(wrong) - SHOWN_DIFFS} more)" if len(wrong) > SHOWN_DIFFS
                               else "") + "; nothing was written",
                            hint="Set helm-tag-key/helm-image-key (and helm-registry-key, "
                            "helm-digest-key) to the keys the chart reads for this app's image")
    if not moved:
        if not runs:
            raise NothingMoved(f"helm template of the chart in {where}: no container of the "
                               f"render runs {target.image.name}, so the values edit changes "
                               "no container's image; nothing was written",
                               hint="Enable the component that runs it in the values (a "
                               "disabled component renders no container), or point 'path' at "
                               "the chart that runs it")
        resources = [label for label, image in _images(before)
                     if label.endswith(" spec.image") and _is_target(image, target, tag=False)]
        if resources and not any(_is_target(image, target, tag=False)
                                 for _, image in _containers(before)):
            raise NothingMoved(f"helm template of the chart in {where}: the values edit changes "
                               f"no image: {target.image.name} runs in {', '.join(resources)} "
                               "(a custom resource its operator runs), and the keys written do "
                               "not decide it; nothing was written",
                               hint="Set helm-tag-key/helm-image-key to the keys the chart "
                               "writes into that resource's spec.image")
        raise NothingMoved(f"helm template of the chart in {where}: no container's image "
                            "changes with the values edit (the chart does not read the keys "
                            "written for a container's image), so the deploy would change "
                            "nothing; nothing was written",
                            hint="Set helm-tag-key/helm-image-key to the keys the chart's image "
                            "template reads")
    if len(previous) > 1:
        raise ManifestError(f"helm template of the chart in {where}: the values edit moves "
                            f"containers that ran different images ({', '.join(sorted(previous))}"
                            f"): {', '.join(moved)}; nothing was written",
                            hint="Set helm-tag-key/helm-image-key to keys only this app's "
                            "workload reads")
    named = getattr(target, "workload", "")
    # the workload named: as rendered, else a workload the chart names <release>-...-<named>
    # (rendered as the release named after the app: the worker's release renders the chart's
    # worker as worker-web-worker)
    exact = [w for w in workloads if w.split("/", 1)[-1] == named]
    mine = exact or [w for w in workloads if w.split("/", 1)[-1].endswith("-" + named)]
    others = [w for w in workloads if named and w not in mine]
    if others:
        raise ManifestError(f"helm template of the chart in {where}: the values edit moves "
                            f"{', '.join(others)}, not only the workload named {named!r} "
                            "(the chart reads the same keys there); nothing was written",
                            input_name="workload",
                            hint="Give that workload a tag key of its own in the values (the "
                            "chart's override for it), or deploy without 'workload' to move "
                            "them together")
    if len(workloads) > 1:
        notes.append(f"the same image moves in {', '.join(workloads)} (the chart reads the keys "
                     "in each of them)")
    for shown in operated:
        notes.append(f"{shown} is a custom resource: its operator runs spec.image in the pods it "
                     "creates (the render holds no container of them; the operator rolls them "
                     "once the resource is applied)")
    return moved, notes, next(iter(previous))
