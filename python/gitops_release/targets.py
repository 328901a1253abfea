"""Which containers a deploy is for, chosen on the rendered objects (what really runs).

In this order: what the caller names (``workload``, ``container``); the workload named after the
app (also after namePrefix/nameSuffix); the container named after the app; else the containers
running the new image's repository. Several candidates left: an error listing them and the input
that picks one. A container whose image repository differs from the new image's is never chosen
silently: that is another program (the deploy is refused unless the repository change is allowed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gitops_release.errors import ImageReferenceError, ManifestError
from gitops_release.reference import ImageReference, parse_reference, same_repository

POD_SPEC = {"CronJob": ("spec", "jobTemplate", "spec", "template", "spec")}
DEFAULT_POD_SPEC = ("spec", "template", "spec")
KINDS = {"workloads": ("Deployment", "StatefulSet", "DaemonSet", "Rollout"),
         "jobs": ("CronJob", "Job")}


@dataclass(frozen=True)
class Found:
    """One target container in the render."""

    index: int  # position of its object in the render
    kind: str
    name: str  # rendered metadata.name, else metadata.generateName (then ``generated``)
    container: str
    init: bool
    image: str
    generated: bool = False

    @property
    def label(self) -> str:
        named = f"{self.name} (generateName)" if self.generated else self.name
        return f"{self.kind}/{named} container {self.container}"


def dig(obj: Any, path: Sequence[str | int]) -> Any:
    for key in path:
        if isinstance(key, int):
            obj = obj[key] if isinstance(obj, list) and 0 <= key < len(obj) else None
        else:
            obj = obj.get(key) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


def object_name(obj: Any) -> str:
    """``metadata.name``, else ``metadata.generateName`` (a Job created with a generated name:
    the API server appends a random suffix); '' when it has neither."""
    name = dig(obj, ("metadata", "name"))
    if name is None:
        name = dig(obj, ("metadata", "generateName"))
    return "" if name is None else str(name)


def generated(obj: Any) -> bool:
    return dig(obj, ("metadata", "name")) is None and \
        dig(obj, ("metadata", "generateName")) is not None


def object_names(obj: Any, prefixes: Sequence[str], suffixes: Sequence[str]) -> set[str]:
    """The names ``obj`` answers to: its name without namePrefix/nameSuffix; a generateName
    also without its trailing '-' (``migrate-`` is the app ``migrate``)."""
    name = object_name(obj)
    names = name_variants(name, prefixes, suffixes)
    if generated(obj) and name.rstrip("-"):
        names |= name_variants(name.rstrip("-"), prefixes, suffixes)
    return names


def pod_spec(obj: Any) -> Any:
    return dig(obj, POD_SPEC.get(str(dig(obj, ("kind",))), DEFAULT_POD_SPEC))


def containers_of(obj: Any) -> list[tuple[str, str, bool, dict[str, Any]]]:
    """(name, image, init, container) of a workload object's pod."""
    pod = pod_spec(obj)
    out = []
    for key, init in (("containers", False), ("initContainers", True)):
        for item in (pod or {}).get(key) or []:
            if isinstance(item, dict):
                out.append((str(item.get("name", "")), str(item.get("image", "") or ""), init, item))
    return out


def env_list(container: Any) -> list[Any]:
    """A rendered container's env entries ([] for none, an empty ``env:`` or not a list)."""
    env = container.get("env") if isinstance(container, dict) else None
    return env if isinstance(env, list) else []


def env_values(container: Any, env: str) -> list[str]:
    """The values a rendered container gives the env var ``env``, in order (given twice, the
    pod gets the last one)."""
    return [str(e.get("value", "")) for e in env_list(container)
            if isinstance(e, dict) and e.get("name") == env]


def repository(image: str) -> str | None:
    try:
        return parse_reference(image, "image").name
    except ImageReferenceError:
        return None


def parsed_image(image: str) -> ImageReference | None:
    try:
        return parse_reference(image, "image")
    except ImageReferenceError:
        return None


def name_variants(name: str, prefixes: Sequence[str], suffixes: Sequence[str]) -> set[str]:
    """``name`` with any of the chain's namePrefix/nameSuffix values taken off."""
    out = {name}
    for _ in range(2):
        for n in list(out):
            out.update(n[len(p):] for p in prefixes if p and n.startswith(p))
            out.update(n[: -len(s)] for s in suffixes if s and n.endswith(s))
    return out


@dataclass(frozen=True)
class Wanted:
    app: str
    repository: str
    kinds: tuple[str, ...]
    workload: str = ""
    container: str = ""


def _candidates_text(render: Sequence[Any], kinds: Sequence[str]) -> str:
    items = [f"{_found(i, o, c).label} ({c[1] or 'no image'})"
             for i, o in enumerate(render) if isinstance(o, dict) and o.get("kind") in kinds
             for c in containers_of(o)]
    return "; ".join(items[:12]) + (" …" if len(items) > 12 else "") if items else "none"


class NoAppWorkload(ManifestError):
    """The render holds no workload of the app: none named after it or running its image's
    repository (``workloads``: the (kind, name) of those it renders). A fan-out sibling like it
    (a Job-only prod-migrate, a database's prod-db) is not the app's environment."""

    def __init__(self, message: str, workloads: frozenset[tuple[str, str]], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.workloads = workloads


def select(render: Sequence[Any], want: Wanted, prefixes: Sequence[str],
           suffixes: Sequence[str], shown: str) -> Found:
    """The one target container of ``want`` in ``render``."""
    workloads = [(i, o) for i, o in enumerate(render)
                 if isinstance(o, dict) and o.get("kind") in want.kinds]
    if not workloads:
        raise NoAppWorkload(f"{shown} renders no {'/'.join(want.kinds)}", frozenset(),
                            hint=f"Point 'path' at the overlay of the app, or {other_event(want.kinds)}")

    def named(obj: Any, wanted: str) -> bool:
        return wanted in object_names(obj, prefixes, suffixes)

    by_name = False
    if want.workload:
        workloads = [(i, o) for i, o in workloads if named(o, want.workload)]
        if not workloads:
            raise ManifestError(f"{shown} renders no {'/'.join(want.kinds)} named "
                                f"{want.workload!r} (input 'workload'); candidates: "
                                f"{_candidates_text(render, want.kinds)}",
                                hint="Set 'workload' to one of the names listed")
        by_name = True
    elif any(named(o, want.app) for _, o in workloads):
        workloads = [(i, o) for i, o in workloads if named(o, want.app)]
        by_name = True
    seen: dict[tuple[str, str], list[str]] = {}
    for _, obj in workloads:
        key = (str(obj.get("kind")), object_name(obj))
        spaces = seen.setdefault(key, [])
        spaces.append(str(dig(obj, ("metadata", "namespace")) or ""))
        if len(spaces) > 1 and len(set(spaces)) == len(spaces) and all(spaces):
            raise ManifestError(f"{shown} renders {key[0]}/{key[1]} in the namespaces "
                                f"{', '.join(spaces)}; one deploy moves one workload",
                                hint="Point 'path' at the overlay of one namespace, and deploy "
                                "each namespace's overlay on its own")
        if len(spaces) > 1:
            raise ManifestError(f"{shown} renders {key[0]}/{key[1]} twice",
                                hint="Define each workload once (a folder applies every file)")
    found = _containers(workloads, want, by_name)
    if by_name and not want.workload and len(found) == 1 and not want.container and \
            (found[0].container != want.app or want.repository.rsplit("/", 1)[-1] == want.app) \
            and not same_repository(repository(found[0].image) or "", want.repository):
        # the workload named like the app runs another program (a proxy in front of it): look
        # for the app's image. Not when both disagree with the payload's image: a container
        # named after the app, and an image named after another app, is a payload mixing two
        # apps; the deploy is refused, never moved to the workload that runs that image.
        others = [_found(i, o, c)
                  for i, o in enumerate(render) if isinstance(o, dict) and o.get("kind") in want.kinds
                  for c in containers_of(o)
                  if not c[2] and same_repository(repository(c[1]) or "", want.repository)]
        if len(others) == 1:
            found = others
    if len(found) == 1:
        return found[0]
    if len(found) > 1 and len({(f.kind, f.name, f.container, f.init) for f in found}) == 1:
        raise ManifestError(f"{shown}: {found[0].kind}/{found[0].name} has {len(found)} "
                            f"containers named {found[0].container!r}",
                            hint="Container names must be unique within a pod")
    listing = _candidates_text(render, want.kinds)
    if not found:
        what = f"named {want.container!r} (input 'container')" if want.container else \
            f"named after the app {want.app!r} or running {want.repository}"
        inits = [_found(i, o, c).label.replace(" container ", " init container ", 1)
                 for i, o in enumerate(render)
                 if isinstance(o, dict) and o.get("kind") in want.kinds for c in containers_of(o)
                 if c[2] and same_repository(repository(c[1]) or "", want.repository)]
        taken = (f" ({'; '.join(inits)} runs {want.repository}: an init container is taken "
                 "only when 'container' names it)") if inits and not want.container else ""
        message = f"{shown} has no container {what}; candidates: {listing}{taken}"
        hint = ("Set 'workload' and 'container' (or the policy's target settings) to the one to "
                "update")
        if not want.container and not want.workload:
            raise NoAppWorkload(message, frozenset((str(o.get("kind")), object_name(o))
                                                   for _, o in workloads), hint=hint)
        raise ManifestError(message, hint=hint)
    raise ManifestError(f"{shown} has several candidates for {want.app!r}: "
                        + "; ".join(f.label for f in found),
                        hint="Set 'container' to the one to update" if len(
                            {(f.kind, f.name) for f in found}) == 1 else
                        "Set 'workload' to the one that records the release (the app's "
                        "other workloads that ran exactly its image move with it where one place "
                        "sets the image of them all and none is named after the app; set "
                        "'container' too to move it alone)")


def other_event(kinds: Sequence[str]) -> str:
    """How to deploy the kinds a command does not update: the other event and command."""
    if set(kinds) <= set(KINDS["jobs"]):
        return ("send new-image (image-update) for " + "/".join(KINDS["workloads"]))
    return "send new-job-image (cronjob-update) for " + "/".join(KINDS["jobs"])


def _found(i: int, o: Any, c: tuple[str, str, bool, Any]) -> Found:
    return Found(i, str(o["kind"]), object_name(o), c[0], c[2], c[1], generated(o))


def _containers(workloads: list[tuple[int, Any]], want: Wanted, by_name: bool) -> list[Found]:
    found = _found
    every = [(i, o, c) for i, o in workloads for c in containers_of(o)]
    if want.container:
        return [found(i, o, c) for i, o, c in every if c[0] == want.container]
    main = [(i, o, c) for i, o, c in every if not c[2]]
    picks = [found(i, o, c) for i, o, c in main if c[0] == want.app]
    if not picks:
        picks = [found(i, o, c) for i, o, c in main
                 if same_repository(repository(c[1]) or "", want.repository)]
    if not picks and by_name and len(workloads) == 1 and len(main) == 1 and not any(
            c[2] and same_repository(repository(c[1]) or "", want.repository) for _, _, c in every):
        # the workload's one container, named otherwise; not when an init container runs the
        # image (a backup's dump step): the error then names it and the 'container' input
        i, o, c = main[0]
        picks = [found(i, o, c)]
    return picks
