"""The render proof: the overlay rendered before and after a planned edit, and whether the
"after" render is the "before" one with only the target container's image and release env var
set as the deploy sets them (every other object byte-identical)."""

from __future__ import annotations

import copy
import difflib
import re
import time
from typing import Any

from gitops_release.discovery import Tree
from gitops_release.reference import ImageReference, same_repository
from gitops_release.render import Scratch, render_plain
from gitops_release.targets import (
    DEFAULT_POD_SPEC,
    POD_SPEC,
    Found,
    containers_of,
    dig,
    env_list,
    env_values,
    object_name,
    parsed_image,
)

PROBE_HOST = "probe.gitops-release.invalid"  # a probe render's marker images (manifests._probe)


class Renderer:
    """Renders the overlay's variants: kustomize in a scratch copy, or a plain folder's docs."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.scratch = Scratch(tree) if tree.kustomization is not None else None
        self.count = 0
        self.seconds = 0.0

    def __call__(self, texts: dict[str, str], planned: bool = False) -> list[Any]:
        """The render with ``texts`` in place of the files' own; ``planned``: the edit the
        deploy means to write, not a probe."""
        self.count += 1
        start = time.perf_counter()
        try:
            if self.scratch is not None:
                return self.scratch.render(texts, planned)
            return render_plain(self.tree, texts)
        finally:
            self.seconds += time.perf_counter() - start

    def close(self) -> None:
        if self.scratch is not None:
            self.scratch.close()

    @property
    def proof(self) -> str:
        if self.scratch is None:
            return "plain folder: every document of its YAML files compared before and after"
        from gitops_release.early import kustomize_command

        command = ' '.join(self.scratch.command() or kustomize_command() or ['kustomize'])
        if self.tree.unrestricted:
            return (f"rendered with `{command}` before and after: the overlay reads files "
                    "outside its folder, which kustomize's default load restrictor refuses "
                    "(Flux builds this way; Argo CD needs `--load-restrictor "
                    "LoadRestrictionsNone` in kustomize.buildOptions)")
        return f"rendered with `{command}` before and after"


def locate(render: list[Any], found: Found) -> dict[str, Any] | None:
    for obj in render:
        if isinstance(obj, dict) and obj.get("kind") == found.kind and \
                object_name(obj) == found.name:
            for name, _image, init, container in containers_of(obj):
                if name == found.container and init == found.init:
                    return container
    return None


def probe_markers(render: list[Any], skip: dict[str, Any] | None) -> set[str]:
    """The probe markers running in containers other than the target."""
    out = set()
    for obj in render:
        if isinstance(obj, dict):
            for _n, image, _i, container in containers_of(obj):
                if container is not skip and PROBE_HOST in image:
                    out.add(image)
                for env in env_list(container):
                    if container is not skip and isinstance(env, dict) and \
                            PROBE_HOST in str(env.get("value", "")):
                        out.add(str(env.get("value")))
    return out


def moved_elsewhere(before: list[Any], after: list[Any], found: Found) -> list[str]:
    """The containers of other workloads whose image the render of an edit changed from the
    target's old image."""
    old = locate(before, found)
    image = str((old or {}).get("image", ""))
    index = _target_index(before, found)
    out = []
    for i, (obj, got) in enumerate(zip(before, after, strict=False)):
        if i == index or not isinstance(obj, dict) or not isinstance(got, dict):
            continue
        theirs = {(n, init): im for n, im, init, _ in containers_of(got)}
        out += [f"{obj.get('kind')}/{object_name(obj)} {'init container' if init else 'container'} "
                f"{name}" for name, im, init, _ in containers_of(obj)
                if image and im == image and theirs.get((name, init), im) != im]
    return out


def render_diff(before: list[Any], after: list[Any]) -> str:
    from io import StringIO

    from ruamel.yaml import YAML

    def dump(objs: list[Any]) -> list[str]:
        out = StringIO()
        YAML(typ="safe", pure=True).dump_all(objs, out)
        return out.getvalue().splitlines(keepends=True)

    lines = list(difflib.unified_diff(dump(before), dump(after), "expected render",
                                      "render of the planned edit", n=2))
    return "".join(lines[:60])


def _target_index(render: list[Any], found: Found) -> int | None:
    for index, obj in enumerate(render):
        if isinstance(obj, dict) and obj.get("kind") == found.kind and \
                object_name(obj) == found.name:
            return index
    return None


def _copy_target(obj: Any, found: Found, env: str) -> Any:
    """A copy of the workload ``obj`` in which what :func:`prove` sets is new: the dicts down
    to the pod, the target's container list, the target container, its env list and its env
    items named ``env``; the rest is shared with ``obj`` (and never changed)."""
    if not isinstance(obj, dict):
        return obj
    out = node = dict(obj)
    for key in POD_SPEC.get(found.kind, DEFAULT_POD_SPEC):
        child = node.get(key)
        if not isinstance(child, dict):
            return out
        node[key] = node = dict(child)
    key = "initContainers" if found.init else "containers"
    items = node.get(key)
    if isinstance(items, list):
        node[key] = items = [dict(c) if isinstance(c, dict) and c.get("name") == found.container
                             else c for c in items]
        for container in items:
            if isinstance(container, dict) and container.get("name") == found.container and \
                    isinstance(container.get("env"), list):
                container["env"] = [dict(e) if isinstance(e, dict) and e.get("name") == env else e
                                    for e in container["env"]]
    return out


def prove(before: list[Any], after: list[Any], found: Found, image: ImageReference,
            env: str, release: str, env_planned: bool,
            notes: list[str] | None = None, followers: bool = True,
            others: bool = False) -> tuple[bool, list[Any]]:
    """Whether ``after`` is ``before`` with only the target's image and release env var set as
    the deploy must set them; and the expected render (for the error's difference). Other
    containers of the target's pod that ran exactly its image (a migration init container, a
    sidecar of the same build) may move to exactly its new image with it (an ``images:`` entry
    moves them all): the pod runs one version, unless the caller named the container
    (``followers`` false). With ``others`` (no container named), so may the
    containers of other workloads that ran exactly the target's image (the app's worker and
    CronJob under one ``images:`` entry: one build, one version); nothing else of them changes.
    ``notes`` gets which moved, and which run the old image still."""
    index = _target_index(before, found)
    if index is None or len(before) != len(after) or _target_index(after, found) != index:
        return False, before
    expected_obj = _copy_target(before[index], found, env)
    expected = [*before[:index], expected_obj, *before[index + 1:]]
    old, new = locate([expected_obj], found), locate(after, found)
    if old is None or new is None:
        return False, expected
    old_image = str(old.get("image", ""))
    rendered = parsed_image(str(new.get("image", "")))
    if rendered is not None and same_repository(rendered.name, image.name) and (
            (image.digest is None and rendered.digest is None and rendered.tag == image.tag)
            or (image.digest is not None and rendered.digest == image.digest
                and rendered.tag in (None, image.tag))):
        old["image"] = new.get("image")
    else:
        old["image"] = str(image)
    if env_planned:
        items = old.get("env")
        if not isinstance(items, list):  # an empty env: renders as '' (or null)
            items = []
        old["env"] = items
        hit = [e for e in items if isinstance(e, dict) and e.get("name") == env]
        if len(env_values(new, env)) > 1:
            # the var twice (a patch's op adds another): the last one is what the pod gets, and
            # an edit of one of them proves nothing of it
            return False, expected
        if hit:
            hit[0]["value"] = release
        else:  # a new env var: where the render merges it in is the renderer's business
            got = env_list(new)
            added = [e for e in got if isinstance(e, dict) and e.get("name") == env]
            rest = [e for e in got if not (isinstance(e, dict) and e.get("name") == env)]
            if rest == items and added == [{"name": env, "value": release}]:
                old["env"] = got
            else:
                items.append({"name": env, "value": release})
    expected, moved, stayed = _followers(expected, after, found, env, (
        old_image, str(new.get("image", ""))), others) if followers else (expected, [], [])
    same = all(a == b for a, b in zip(expected, after, strict=True))
    if same and notes is not None:
        if moved:
            notes.append(f"the image of {found.label} ({old_image}) ran in "
                         f"{', '.join(moved)} too: moved to the new image with it")
        if stayed:
            notes.append(f"the image of {found.label} ({old_image}) runs in "
                         f"{', '.join(stayed)} too, which this edit leaves on it (two "
                         "versions run); set their image where the target's is set to move "
                         "them too")
    return same, expected


def apps_own_image(repository: str, app: str) -> bool:
    """Whether ``repository`` is the app's own build (its last part named after the app:
    ghcr.io/dbca-wa/prs for prs, infobiz-back for back), not a public image such as nginx that
    other apps may run too: only then do the app's other workloads on it move with the target."""
    def norm(text: str) -> str:
        return re.sub(r"[-_.]+", "-", text.lower())

    return bool(app) and norm(app) in norm(repository.rsplit("/", 1)[-1])


def in_reach(obj: Any, target_obj: Any, others: bool) -> bool:
    """Whether the containers of ``obj`` may move with the target (``target_obj``, the object
    holding it, in the same render): those of its pod; with ``others``, also those of a workload
    in its namespace (none set counts as one). The proof and the probe of places share it."""
    return obj is target_obj or (others and (dig(obj, ("metadata", "namespace")) or "")
                                 == (dig(target_obj, ("metadata", "namespace")) or ""))


def sets_env(container: Any, env: str) -> bool:
    """Whether a container sets the release env var ``env`` itself: it does not move with the
    target (its release would claim the old version)."""
    return any(isinstance(e, dict) and e.get("name") == env for e in env_list(container))


def _followers(expected: list[Any], after: list[Any], found: Found, env: str,
               images: tuple[str, str], others: bool = False) -> tuple[list[Any], list[str],
                                                                     list[str]]:
    """``expected`` with every other container of the target's pod (``others``: of any
    workload) that ran the old image (``images``: old, new) set to the new one where the render
    of the edit runs it; the labels of those that moved and of those that kept the old
    image (in the target's pod, or with ``others`` in reach). A container that sets the
    release env var ``env`` is no follower: its release would claim the old version."""
    old_image, new_image = images
    index = _target_index(expected, found)
    moved: list[str] = []
    stayed: list[str] = []
    if not old_image or new_image == old_image:
        return expected, moved, stayed
    out = list(expected)
    mark = expected[index] if index is not None else None
    for i, (obj, got) in enumerate(zip(expected, after, strict=True)):
        if not in_reach(obj, mark, others) or not isinstance(obj, dict) or \
                not isinstance(got, dict):
            continue
        mine = [c for c in containers_of(obj) if c[1] == old_image and not (
            i == index and c[0] == found.container and c[2] == found.init)]
        if not mine:
            continue
        theirs = {(n, init): image for n, image, init, _ in containers_of(got)}
        label = f"{obj.get('kind')}/{object_name(obj)}"
        for name, _image, init, container in mine:
            shown = f"{label} {'init container' if init else 'container'} {name}"
            releases = sets_env(container, env)
            if theirs.get((name, init)) == new_image and not releases:
                if out[i] is obj:
                    out[i] = copy.deepcopy(obj)
                for n, _im, ini, container in containers_of(out[i]):
                    if (n, ini) == (name, init):
                        container["image"] = new_image
                moved.append(shown)
            elif theirs.get((name, init)) == old_image:
                # of the target's pod, or (``others``) another workload of the app's: the
                # summary names it (a CronJob on the app's image, set in a place of its own)
                stayed.append(shown + (f" (it sets {env} itself)" if releases else ""))
    return out, moved, stayed
