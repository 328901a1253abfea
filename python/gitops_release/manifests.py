"""What a deploy changes in one overlay folder: the workload's container image and release env var,
or Helm ``values.yaml`` keys, or a kustomization ``images:`` entry.

Each edit function takes a file's text and returns a :class:`FileChange` (old and new text) without
writing anything; the receiver writes only after every file of the deploy has been planned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops_release import yamledit as y
from gitops_release.errors import ImageReferenceError, ManifestError
from gitops_release.paths import check_file
from gitops_release.reference import ImageReference, parse_reference

WORKLOAD_FILES = {
    "new-image": ("deployment", "rollout", "statefulset", "daemonset"),
    "new-job-image": ("cronjob", "job"),
}
WORKLOAD_KINDS = {
    "new-image": ("Deployment", "Rollout", "StatefulSet", "DaemonSet"),
    "new-job-image": ("CronJob", "Job"),
}
POD_SPEC = {"CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
DEFAULT_POD_SPEC = ("spec", "template", "spec")
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Target:
    """What to write: the image, the release and where to find them."""

    image: ImageReference
    release: str
    app: str
    version: str
    release_env: str = "APP_RELEASEVERSION"
    container: str = ""
    helm_image_key: str = "image.repository"
    helm_tag_key: str = "image.tag"
    helm_digest_key: str = "image.digest"
    helm_release_key: str = ""


@dataclass(frozen=True)
class FileChange:
    """One file's planned edit."""

    path: Path
    old_text: str
    new_text: str
    previous_image: str
    previous_version: str | None
    what: str

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text


def tag_of(image: str) -> str | None:
    try:
        return parse_reference(image, "image").tag
    except ImageReferenceError:
        return None


def find_target(overlay: Path, event: str, shown: str) -> tuple[Path, str] | None:
    """The file to edit in ``overlay`` and its kind ('workload', 'values' or 'kustomization'),
    None when the folder holds none of them."""
    found = [overlay / f"{stem}{ext}" for stem in WORKLOAD_FILES[event] for ext in (".yaml", ".yml")
             if check_file(overlay / f"{stem}{ext}", "path", shown)]
    if len(found) > 1:
        raise ManifestError(f"{shown} holds several workload files ({', '.join(p.name for p in found)})",
                            hint="Keep one workload file per overlay, or point 'path' at a folder "
                            "with one")
    if found:
        return found[0], "workload"
    for name in ("values.yaml", "values.yml"):
        if check_file(overlay / name, "path", shown):
            return overlay / name, "values"
    for name in KUSTOMIZATION_FILES:
        if check_file(overlay / name, "path", shown):
            text = overlay.joinpath(name).read_text(encoding="utf-8")
            docs = y.compose(text, f"{shown}/{name}")
            if docs and y.get(docs[0], "images") is not None:
                return overlay / name, "kustomization"
    return None


def nothing_to_update(shown: str, event: str) -> ManifestError:
    looked = ", ".join(f"{stem}.yaml" for stem in WORKLOAD_FILES[event])
    return ManifestError(f"{shown} has nothing to update: no {looked}, no values.yaml, and no "
                         "kustomization.yaml with an images: list",
                         hint="Point 'path' at the overlay folder holding the workload")


def read_text(path: Path, shown: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{shown} cannot be read: {exc.strerror}") from None
    if len(data) > y.MAX_FILE_BYTES:
        raise ManifestError(f"{shown} is larger than {y.MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{shown} is not UTF-8 text") from None


def plan_file(path: Path, kind: str, shown: str, target: Target, event: str) -> FileChange:
    text = read_text(path, shown)
    if kind == "workload":
        return edit_workload(path, text, shown, target, WORKLOAD_KINDS[event])
    if kind == "values":
        return edit_values(path, text, shown, target)
    return edit_kustomization(path, text, shown, target)


# -- workloads ---------------------------------------------------------------------------------

def _pick_workload(docs: Sequence[y.Node], shown: str, target: Target,
                   kinds: Sequence[str]) -> y.Node:
    workloads = [d for d in docs if y.scalar(y.get(d, "kind")) in kinds]
    if len(workloads) > 1:
        workloads = [d for d in workloads
                     if y.scalar(y.get_path(d, ("metadata", "name"))) == target.app]
    if len(workloads) != 1:
        raise ManifestError(f"{shown} holds {'no' if not workloads else 'several'} "
                            f"{'/'.join(kinds)} document{'s' if workloads else ''} for {target.app!r}",
                            hint="The receiver edits exactly one workload per file")
    return workloads[0]


def _pick_container(pod: y.Node, shown: str, target: Target) -> y.Node:
    containers = list(y.iter_items(y.get(pod, "containers")))
    named = [(y.scalar(y.get(c, "name")), c) for c in containers]
    if target.container:
        inits = [(y.scalar(y.get(c, "name")), c) for c in y.iter_items(y.get(pod, "initContainers"))]
        matches = [c for name, c in named + inits if name == target.container]
        wanted = f"named {target.container!r} (input 'container')"
    else:
        matches = [c for name, c in named if name == target.app]
        wanted = f"named after the app {target.app!r}"
        if not matches and len(containers) == 1:
            matches = containers
    names = ", ".join(str(name) for name, _ in named) or "none"
    if not matches:
        raise ManifestError(f"{shown} has no container {wanted}; its containers: {names}",
                            hint="Pass the input 'container' with the name to update")
    if len(matches) > 1:
        raise ManifestError(f"{shown} has several containers {wanted}",
                            hint="Container names must be unique within a pod")
    y.check_plain_node(matches[0], shown, "the container")
    return matches[0]


def _insert_entry(text: str, mapping: y.Node, lines: Sequence[str], shown: str) -> y.Edit:
    """Insert ``lines`` (indented relative to the mapping's keys) after the mapping's last line."""
    if y.is_flow(mapping) or not mapping.value:
        raise ManifestError(f"{shown}: the mapping at line {mapping.start_mark.line + 1} is in flow "
                            "style or empty; the receiver adds keys only to block mappings")
    column = y.key_column(mapping)
    nl = y.newline_of(text)
    at = y.end_of_node_line(text, mapping)
    body = "".join(" " * column + line + nl for line in lines)
    if at == len(text) and not text.endswith("\n"):
        body = nl + body
    return y.Edit(at, at, body)


def _env_item_lines(text: str, env: y.Node, name: str, value: str) -> tuple[int, list[str]]:
    """Lines of a new ``- name/value`` item in the style of the list's last item."""
    last = env.value[-1]
    dash = y.dash_column(text, last)
    key = y.key_column(last) if y.node_kind(last) == "mapping" else (dash or 0) + 2
    dash = key - 2 if dash is None else dash
    return dash, [" " * dash + "-" + " " * (key - dash - 1) + f"name: {y.format_scalar(name, None)}",
                  " " * key + f"value: {y.format_scalar(value, None)}"]


def _release_edits(text: str, pod: y.Node, container: y.Node, shown: str,
                   target: Target) -> tuple[list[y.Edit], str | None]:
    env = y.get(container, "env")
    name, value = target.release_env, target.release
    if env is None:
        outer = next(k for k, v in pod.value if any(item is container for item in y.iter_items(v)))
        dash = y.dash_column(text, container)
        key = y.key_column(container)
        offset = (dash if dash is not None else key - 2) - outer.start_mark.column
        gap = key - (dash if dash is not None else key - 2)
        lines = ["env:", " " * offset + "-" + " " * (gap - 1) + f"name: {y.format_scalar(name, None)}",
                 " " * (offset + gap) + f"value: {y.format_scalar(value, None)}"]
        return [_insert_entry(text, container, lines, shown)], None
    if y.node_kind(env) != "sequence" or y.is_flow(env) or not env.value:
        raise ManifestError(f"{shown}: env of the container (line {env.start_mark.line + 1}) is not "
                            "a block list", hint="Write env as a block list of name/value items")
    y.check_plain_node(env, shown, "env")
    items = [item for item in env.value if y.scalar(y.get(item, "name")) == name]
    if len(items) > 1:
        raise ManifestError(f"{shown} sets the env var {name} twice in one container")
    if not items:
        dash, lines = _env_item_lines(text, env, name, value)
        at = y.end_of_node_line(text, env)
        nl = y.newline_of(text)
        return [y.Edit(at, at, "".join(line + nl for line in lines))], None
    item = items[0]
    y.check_plain_node(item, shown, f"env var {name}")
    if y.get(item, "valueFrom") is not None:
        raise ManifestError(f"{shown}: env var {name} uses valueFrom, so it cannot hold the release",
                            hint="Use another 'release-env' name or a plain value")
    node = y.get(item, "value")
    if node is None:
        return [_insert_entry(text, item, [f"value: {y.format_scalar(value, None)}"], shown)], None
    edit = y.replace_scalar(node, value, shown, f"env var {name}", y.get_key(item, "value"))
    return ([edit] if edit else []), y.scalar(node)


def edit_workload(path: Path, text: str, shown: str, target: Target,
                  kinds: Sequence[str]) -> FileChange:
    doc = _pick_workload(y.compose(text, shown), shown, target, kinds)
    kind = str(y.scalar(y.get(doc, "kind")))
    pod = y.get_path(doc, POD_SPEC.get(kind, DEFAULT_POD_SPEC))
    if pod is None or y.get(pod, "containers") is None:
        raise ManifestError(f"{shown}: the {kind} has no "
                            f"{'.'.join(POD_SPEC.get(kind, DEFAULT_POD_SPEC))}.containers")
    container = _pick_container(pod, shown, target)
    image_node = y.get(container, "image")
    if image_node is None:
        edits = [_insert_entry(text, container, [f"image: {y.format_scalar(str(target.image), None)}"],
                               shown)]
        previous = ""
    else:
        previous = str(y.scalar(image_node))
        edit = y.replace_scalar(image_node, str(target.image), shown, "the container image",
                                y.get_key(container, "image"))
        edits = [edit] if edit else []
    release_edits, previous_release = _release_edits(text, pod, container, shown, target)
    new_text = y.apply_edits(text, edits + release_edits)
    version = tag_of(previous) if previous else None
    if version is None and previous_release and "@" in previous_release:
        version = previous_release.rsplit("@", 1)[1]
    change = FileChange(path, text, new_text, previous, version, kind)
    if change.changed:
        _verify_workload(change, shown, target, kinds)
    return change


def _verify_workload(change: FileChange, shown: str, target: Target, kinds: Sequence[str]) -> None:
    """Read the edited text back: it must parse and hold the new values where they belong."""
    try:
        doc = _pick_workload(y.compose(change.new_text, shown), shown, target, kinds)
        kind = str(y.scalar(y.get(doc, "kind")))
        container = _pick_container(y.get_path(doc, POD_SPEC.get(kind, DEFAULT_POD_SPEC)), shown,
                                    target)
        values = {y.scalar(y.get(item, "name")): y.scalar(y.get(item, "value"))
                  for item in y.iter_items(y.get(container, "env"))}
        ok = (y.scalar(y.get(container, "image")) == str(target.image)
              and values.get(target.release_env) == target.release)
    except ManifestError as exc:
        raise ManifestError(f"the edit of {shown} did not read back as written ({exc.message}); "
                            "nothing was written", hint="Please report this with the file") from None
    if not ok:
        raise ManifestError(f"the edit of {shown} did not read back as written; nothing was written",
                            hint="Please report this with the file")


# -- Helm values -------------------------------------------------------------------------------

def _set_key(text: str, doc: y.Node, dotted: str, value: str, shown: str,
             edits: list[y.Edit]) -> str | None:
    """Set ``dotted`` (e.g. image.tag) to ``value``; insert the last key when its parent exists."""
    keys = dotted.split(".")
    node = y.get_path(doc, keys)
    if node is not None:
        edit = y.replace_scalar(node, value, shown, dotted,
                                y.get_key(y.get_path(doc, keys[:-1]) if len(keys) > 1 else doc, keys[-1]))
        if edit:
            edits.append(edit)
        return y.scalar(node)
    parent = y.get_path(doc, keys[:-1]) if len(keys) > 1 else doc
    if parent is None or y.node_kind(parent) != "mapping":
        raise ManifestError(f"{shown} has no {dotted} (nor a mapping {'.'.join(keys[:-1])} to add it "
                            "to)", hint="Set the helm-*-key inputs to where the chart reads it")
    edits.append(_insert_entry(text, parent, [f"{keys[-1]}: {y.format_scalar(value, None)}"], shown))
    return None


def edit_values(path: Path, text: str, shown: str, target: Target) -> FileChange:
    docs = y.compose(text, shown)
    if len(docs) != 1 or y.node_kind(docs[0]) != "mapping":
        raise ManifestError(f"{shown} is not one YAML mapping")
    doc = docs[0]
    if target.image.tag is None:
        raise ImageReferenceError(f"'{target.image}' has no tag, and {shown} needs one for "
                                  f"{target.helm_tag_key}", input_name="image")
    for key in (target.helm_image_key, target.helm_tag_key):
        if y.get_path(doc, key.split(".")) is None:
            raise ManifestError(f"{shown} has no {key}",
                                hint="Set helm-image-key / helm-tag-key to the chart's keys")
    edits: list[y.Edit] = []
    repository = _set_key(text, doc, target.helm_image_key, target.image.name, shown, edits)
    tag = _set_key(text, doc, target.helm_tag_key, target.image.tag, shown, edits)
    digest_node = y.get_path(doc, target.helm_digest_key.split("."))
    if target.image.digest or (digest_node is not None and y.scalar(digest_node)):
        _set_key(text, doc, target.helm_digest_key, target.image.digest or "", shown, edits)
    if target.helm_release_key:
        _set_key(text, doc, target.helm_release_key, target.release, shown, edits)
    previous = f"{repository}:{tag}"
    return FileChange(path, text, y.apply_edits(text, edits), previous, tag, "values")


# -- kustomization images: ---------------------------------------------------------------------

def _pick_image_entry(images: y.Node, shown: str, image: ImageReference) -> y.Node:
    def field(item: y.Node, key: str) -> str | None:
        return y.scalar(y.get(item, key))

    items = list(y.iter_items(images))
    matches = [i for i in items if (field(i, "newName") or field(i, "name")) == image.name]
    if not matches:
        matches = [i for i in items
                   if str(field(i, "newName") or field(i, "name")).rsplit("/", 1)[-1] == image.short_name]
    if len(matches) != 1:
        raise ManifestError(f"{shown} has {'no' if not matches else 'several'} images: entries for "
                            f"{image.name!r}", hint="Keep one images: entry per image")
    y.check_plain_node(matches[0], shown, "the images: entry")
    return matches[0]


def edit_kustomization(path: Path, text: str, shown: str, target: Target) -> FileChange:
    doc = y.compose(text, shown)[0]
    entry = _pick_image_entry(y.get(doc, "images"), shown, target.image)
    old_name = y.scalar(y.get(entry, "newName")) or y.scalar(y.get(entry, "name"))
    old_tag = y.scalar(y.get(entry, "newTag"))
    old_digest = y.scalar(y.get(entry, "digest"))
    edits: list[y.Edit] = []
    if y.get(entry, "newName") is not None or y.scalar(y.get(entry, "name")) != target.image.name:
        _set_key(text, entry, "newName", target.image.name, shown, edits)
    if target.image.tag is not None:
        _set_key(text, entry, "newTag", target.image.tag, shown, edits)
    if target.image.digest is not None:
        _set_key(text, entry, "digest", target.image.digest, shown, edits)
    elif old_digest:
        # a stale digest would win over the new tag: drop its line
        for key_node, value in entry.value:
            if key_node.value == "digest":
                start = y.line_start(text, key_node.start_mark.index)
                edits.append(y.Edit(start, y.end_of_node_line(text, value), ""))
    previous = f"{old_name}{':' + old_tag if old_tag else ''}{'@' + old_digest if old_digest else ''}"
    return FileChange(path, text, y.apply_edits(text, edits), previous, old_tag, "kustomization")
