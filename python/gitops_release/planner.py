"""Plan one overlay: discover what it renders from, then plan the edit of its workload or of its
Helm values, proven before anything is written (request → plan; writing is the receiver's)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gitops_release import yamledit as y
from gitops_release.discovery import discover
from gitops_release.errors import ManifestError
from gitops_release.helmvalues import plan_values, values_file
from gitops_release.manifests import OverlayPlan, Refusal, Target, plan_workload
from gitops_release.versions import Order, compare, parse_version


def _has_workloads(docs: Sequence[y.Node], kinds: Sequence[str]) -> bool:
    return any(y.scalar(y.get(doc, "kind")) in kinds for doc in docs)


def plan_overlay(root: Path, folder: str, target: Target, kinds: Sequence[str],
                 sibling: bool = False) -> OverlayPlan:
    """The plan of the overlay at ``folder`` (repo-relative, checked to exist). A fan-out
    ``sibling`` whose image is decided outside its folder (e.g. it builds on ../prod) raises
    OutsideOverlayError: it follows that place, so it is left as it is."""
    tree = discover(root, folder)
    if tree.kustomization is not None or \
            any(_has_workloads(f.parsed.docs, kinds) for f in tree.files.values()):
        return plan_workload(tree, target, kinds, new_entry=not sibling)
    values = values_file(tree)
    if values is not None:
        return plan_values(tree, values, target, root)
    raise ManifestError(f"{folder} has nothing to update: no {'/'.join(kinds)} in its YAML files, "
                        "no kustomization.yaml and no values.yaml",
                        hint="Point 'path' at the overlay folder of the app, or send the other "
                        "event type (new-job-image for CronJob/Job)")


def tag_agrees(tag: str | None, version: str) -> bool:
    """The image tag names the release's version (a leading 'v' aside)."""
    return tag is not None and (tag == version or tag.removeprefix("v") == version.removeprefix("v"))


def version_refusal(plan: OverlayPlan, target: Target, forced: bool) -> Refusal | None:
    """Refuse an older version, and on prod* a change of version scheme, unless forced."""
    current = plan.previous_version
    if current is None:
        return None
    order = compare(current, target.version)
    if order is Order.OLDER and not forced:
        return Refusal("downgrade", f"{target.release} is older than {current}, which "
                       f"{plan.folder} runs")
    old, new = parse_version(current), parse_version(target.version)
    name = plan.folder.rsplit("/", 1)[-1]
    if name.startswith("prod") and old is not None and not forced and (
            new is None or new.scheme != old.scheme):
        return Refusal("policy", f"{plan.folder} runs {current} ({old.scheme}); "
                       f"{target.version!r} is {'in no version scheme' if new is None else 'a ' + new.scheme}"
                       ": a prod overlay does not change version scheme unless forced")
    return None
