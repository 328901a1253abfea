"""Plan one overlay: discover what it renders from, then plan the edit of its workload or of its
Helm values, proven before anything is written (request → plan; writing is the receiver's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from gitops_release import yamledit as y
from gitops_release.clock import now_utc
from gitops_release.discovery import Tracked, discover
from gitops_release.errors import ManifestError
from gitops_release.manifests import (
    BuildsOnError,
    OutsideOverlayError,
    OverlayPlan,
    Refusal,
    Target,
    plan_release_env,
    plan_workload,
)
from gitops_release.payload import Source
from gitops_release.policy import DeployRequest, Policy, Running
from gitops_release.targets import other_event


def _has_workloads(docs: Sequence[y.Node], kinds: Sequence[str]) -> bool:
    return any(y.scalar(y.get(doc, "kind")) in kinds for doc in docs)


def plan_overlay(root: Path, folder: str, target: Target, kinds: Sequence[str],
                 follows: str = "", tracked: Tracked | None = None,
                 base: Mapping[str, str] | None = None) -> OverlayPlan:
    """The plan of the overlay at ``folder`` (repo-relative, checked to exist). A fan-out sibling
    whose kustomize tree builds on ``follows`` (the prod overlay) and decides nothing of its own
    raises OutsideOverlayError: the prod overlay's edit reaches it, so it is left as it is;
    where it sets the release env var itself, that is written (``base``: the prod overlay's
    planned texts, repo-relative). ``tracked``: what git tracks, listed once for all the
    overlays of a fan-out."""
    tree = discover(root, folder, tracked)
    builds_on = bool(follows) and any(k.folder == follows for k in tree.kustomizations)
    tree.follows = follows if builds_on else ""
    # a chart's folder (Chart.yaml, no kustomization) is deployed as the chart: its values files
    # are not manifests, even where one has a top-level kind: Deployment (blackbox-exporter's)
    chart = tree.kustomization is None and (root / folder / "Chart.yaml").is_file()
    workloads = not chart and any(_has_workloads(f.parsed.docs, kinds)
                                  for f in tree.files.values())
    if not workloads and not chart and any(_has_workloads(f.parsed.docs, ("HelmRelease",))
                                           for f in tree.files.values()):
        if builds_on:
            raise BuildsOnError(f"{folder} builds on {follows}")
        from gitops_release.helmvalues import plan_helmrelease  # Helm's modules: only for Helm

        return plan_helmrelease(tree, target, root)
    if tree.kustomization is not None or workloads:
        try:
            return plan_workload(tree, target, kinds, new_entry=not builds_on)
        except OutsideOverlayError:
            if builds_on:  # nothing of its own decides: the prod overlay's edit reaches it
                own_env = plan_release_env(tree, target, kinds, base) \
                    if base is not None else None
                if own_env is not None:  # but its own release env var is written
                    return own_env
                raise BuildsOnError(f"{folder} builds on {follows}") from None
            raise
    from gitops_release.helmvalues import plan_folder_values

    values = plan_folder_values(tree, target, root)
    if values is not None:
        return values
    lists = sorted(f.rel for f in tree.files.values()
                   if any(y.scalar(y.get(d, "kind")) == "List" for d in f.parsed.docs))
    if lists:
        raise ManifestError(f"{folder} has nothing to update: its workloads are items of a kind: "
                            f"List ({', '.join(lists)}), which the receiver does not look into",
                            hint="Write each item as a document of its own (separated by ---), "
                            "or add a kustomization.yaml that lists the file (kustomize expands "
                            "the List)")
    raise ManifestError(f"{folder} has nothing to update: no {'/'.join(kinds)} in its YAML files, "
                        "no kustomization.yaml and no values.yaml",
                        hint=f"Point 'path' at the overlay folder of the app, or "
                        f"{other_event(kinds)}")


def apply_settings(target: Target, policy: Policy, path: str) -> Target:
    """The target with the policy's per-app settings (the config repo's single place of truth)
    in place of the inputs; an app rule listing ``images`` decides the repository itself."""
    settings = policy.settings_for(path)
    app = policy.app_for(path)
    fields = {"container": settings.container, "workload": settings.workload,
              "release_env": settings.release_env, "helm_image_key": settings.helm_image_key,
              "helm_tag_key": settings.helm_tag_key, "helm_digest_key": settings.helm_digest_key,
              "helm_release_key": settings.helm_release_key,
              "helm_registry_key": settings.helm_registry_key,
              "helm_values_file": settings.helm_values_file}
    chosen: dict[str, object] = {key: value for key, value in fields.items() if value is not None}
    if app is not None and app.images is not None:
        chosen["allow_repository_change"] = True
    return replace(target, **chosen)  # type: ignore[arg-type]


def policy_refusal(policy: Policy, plans: Sequence[OverlayPlan], target: Target, path: str, *,
                   source: Source | None, forced: bool, operator: bool, token: str,
                   environ: Mapping[str, str], taken: Sequence[Running] = ()) -> Refusal | None:
    """The policy's verdict on the planned deploy (the default rules without a policy file):
    sources, image repositories, tag agreement, holds, freezes, version scheme, downgrade; then
    the optional source check through the GitHub API."""
    request = DeployRequest(
        path=path, image=target.image, version=target.version,
        running=tuple(Running.of(p.folder, p.previous_image, p.previous_version) for p in plans)
        + tuple(r for r in taken if all(r.path != p.folder for p in plans)),
        now=now_utc(environ), source_repository=source.repository if source else "",
        forced=forced, operator=operator, builds_on=tuple(r.path for r in taken))
    refusal = policy.check(request)
    if refusal is not None:
        return Refusal(refusal.reason, str(refusal), refusal.hint)
    app = policy.app_for(path)
    if app is None or app.verify_source == "off" or operator:
        return None
    from gitops_release.sourcecheck import SourceClaim, verify_source

    verdict = verify_source(
        SourceClaim(source.repository, source.sha, source.run_url) if source else None,
        app.verify_source, api_url=environ.get("GITHUB_API_URL") or "https://api.github.com",
        server_url=environ.get("GITHUB_SERVER_URL") or "https://github.com",
        token=token)
    if verdict.refusal is not None:
        return Refusal(verdict.refusal.reason, str(verdict.refusal))
    if verdict.note and plans:
        plans[0].notes.append(f"source not verified: {verdict.note}")
    return None
