"""The rules :meth:`gitops_release.policy.Policy.check` applies, one function each, in order:
trust (source repository, image repository, tag agreement), holds, freezes, version scheme,
downgrade. Each returns a :class:`Refusal` or ``None``; the first refusal wins."""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from pathlib import PurePosixPath

from gitops_release.policy import (
    DeployRequest,
    Policy,
    Refusal,
    glob_regex,
    overlays_of,
    path_matches,
    scheme_of,
    tag_agrees,
)
from gitops_release.reference import same_repository
from gitops_release.versions import Order, compare

Rule = Callable[[Policy, DeployRequest], "Refusal | None"]


def _matches_any(patterns: tuple[str, ...], value: str, *, ignore_case: bool) -> bool:
    if ignore_case:
        value = value.lower()
    return any(glob_regex(p.lower() if ignore_case else p).fullmatch(value) for p in patterns)


def check_spelling(policy: Policy, request: DeployRequest) -> Refusal | None:
    """A hold, an app rule or an environment rule that names an overlay of the deploy only in
    another case (``apps/Web/prod`` for apps/web/prod, ``match: PROD`` for prod): paths and
    folder names are case-sensitive, so it would not apply, and the freeze, the sources rule or
    the hold meant for this overlay would let the deploy through without a word."""
    for path in overlays_of(request):
        low, name = path.lower(), PurePosixPath(path).name
        if not request.operator and policy.hold_for(path) is None:
            for hold in policy.holds:
                if hold.exists:  # a folder of that spelling: it holds that one (apps/Web/prod)
                    continue
                if dataclasses.replace(hold, path=hold.path.lower()).covers(low):
                    return Refusal("held", f"{path} is held as {hold.path!r}, which names it in "
                                   "another case: a hold's path is case-sensitive, so it holds "
                                   "nothing as written", f"{hold.where} (holds: {hold.path})",
                                   hint=f"Nothing was changed. Correct the hold's path in "
                                   f"{policy.filename or 'gitops-release.yaml'} (or lift it with "
                                   f"gitops-release unhold --path {hold.path})")
        for rule in policy.apps:
            if path_matches(rule.match, path):
                break
            if path_matches(rule.match.lower(), low):
                return Refusal("policy", f"the app rule {rule.match!r} matches {path} only "
                               "ignoring case: paths are case-sensitive, so the rule does not "
                               "apply to it as written", f"{rule.where} (apps: {rule.match!r})",
                               hint="Nothing was changed. Correct the rule's match in "
                               f"{policy.filename or 'gitops-release.yaml'}")
        for env in policy.environments:
            if fnmatch.fnmatchcase(name, env.match):
                break
            if fnmatch.fnmatchcase(name.lower(), env.match.lower()):
                return Refusal("policy", f"the environment rule {env.match!r} matches {name} "
                               "only ignoring case: folder names are case-sensitive, so the "
                               "rule does not apply to it as written",
                               f"{env.where} (environments: {env.match!r})",
                               hint="Nothing was changed. Correct the rule's match in "
                               f"{policy.filename or 'gitops-release.yaml'}")
    return None


def check_source(policy: Policy, request: DeployRequest) -> Refusal | None:
    """Every overlay the deploy writes or moves (a fan-out's prod-* siblings, an overlay that
    builds on the one deployed) by its own app rule: a sibling's rule is not the requested
    path's."""
    if request.operator:
        return None  # a rollback comes from the config repo itself, not from a source repository
    for path in overlays_of(request):
        app = policy.app_for(path)
        if app is None or app.sources is None:
            continue
        rule = f"{app.where} (apps: {app.match!r}, sources)"
        allowed = ", ".join(app.sources) or "none"
        if not request.source_repository:
            return Refusal("policy", f"{path} may be deployed only from {allowed}, and the "
                           "release names no source repository", rule,
                           hint=_fan_out_hint(request, path))
        # GitHub owner and repository names are case-insensitive.
        if not _matches_any(app.sources, request.source_repository, ignore_case=True):
            return Refusal("policy", f"{request.source_repository} may not deploy {path}; "
                           f"allowed sources: {allowed}", rule, hint=_fan_out_hint(request, path))
    return None


def check_image_repository(policy: Policy, request: DeployRequest) -> Refusal | None:
    """The new image's repository for every overlay the deploy writes or moves: an app rule's
    ``images`` where its rule lists them (each overlay by its own rule), else the default: the
    repository each runs now."""
    name = request.image.name
    # an overlay that builds on the one deployed runs what its own kustomization makes of the
    # new image (a mirror's newName): the rules on repositories are the written overlays'
    ruled: set[str] = set(request.builds_on)
    for path in overlays_of(request):
        app = policy.app_for(path)
        if app is None or app.images is None or path in request.builds_on:
            continue
        ruled.add(path)
        if not _matches_any(app.images, name, ignore_case=False):
            return Refusal("policy", f"{path} may run only {', '.join(app.images) or 'no'} "
                           f"images; the release brings {name}",
                           f"{app.where} (apps: {app.match!r}, images)",
                           hint=_fan_out_hint(request, path))
    for running in request.running:
        if running.path in ruled:
            continue
        if running.image is None and running.unreadable:
            # a fan-out sibling running web:${TAG}: its own rule decides, not the overlay's
            return Refusal("policy", f"{running.path} runs {running.unreadable!r}, which is no "
                           "image reference (a variable filled in later), so its repository "
                           f"cannot be compared with {name}",
                           "default rule: a target's image repository never changes unless "
                           "apps[].images in gitops-release.yaml allows the new one",
                           hint="Nothing was changed. Name the app's image repositories for "
                           f"{running.path} in gitops-release.yaml (apps[].images), or write the "
                           "image it runs")
        if running.image is not None and not same_repository(running.image.name, name):
            return Refusal("policy", f"{running.path} runs {running.image.name}; the release "
                           f"brings {name}",
                           "default rule: a target's image repository never changes unless "
                           "apps[].images in gitops-release.yaml allows the new one")
    return None


def check_tag(policy: Policy, request: DeployRequest) -> Refusal | None:
    if tag_agrees(request.image, request.version):
        return None
    tag = request.image.tag
    said = f"the image tag {tag!r}" if tag is not None else "the image has no tag, so it"
    return Refusal("policy", f"{said} does not say the release's version {request.version!r}",
                   "default rule: the image tag must be the release's version (up to a leading v)",
                   hint="Nothing was changed. Send the image tag built for that release: no "
                   "policy setting relaxes this rule (it keeps a payload from pairing one "
                   "release's name with another build)")


def check_holds(policy: Policy, request: DeployRequest) -> Refusal | None:
    if request.operator:
        return None
    for path in overlays_of(request):
        hold = policy.hold_for(path)
        if hold is not None:
            pinned = f" at {hold.version}" if hold.version else ""
            return Refusal("held", f"{path} is held{pinned} since {hold.since} by {hold.by}: "
                           f"{hold.reason}",
                           f"{hold.where} (holds: {hold.path}); lift it with "
                           f"gitops-release unhold --path {hold.path}",
                           hint=_fan_out_hint(request, path))
    return None


def check_freezes(policy: Policy, request: DeployRequest) -> Refusal | None:
    if request.operator:
        return None
    for path in overlays_of(request):
        env = policy.environment_for(path)
        if env is None:
            continue
        for window in env.freeze:
            if window.active(request.now):
                return Refusal("frozen", f"{path} is frozen ({window.shown}, UTC): "
                               f"{window.reason}",
                               f"{window.where} (environments: {env.match!r}, freeze)",
                               hint=_fan_out_hint(request, path))
    return None


def _fan_out_hint(request: DeployRequest, path: str) -> str:
    """For a prod-* sibling that stops a fan-out: the whole deploy stopped, and how to deploy
    the requested overlay alone."""
    requested = request.path.rstrip("/")
    if path.rstrip("/") == requested:
        return ""
    if path in request.builds_on:
        return (f"Nothing was changed: {path} builds on {requested}, and its render takes this "
                f"deploy with it, so it is judged as deployed too. Give {path} an image pin of "
                f"its own (an images: entry), or lift what stops it")
    return (f"Nothing was changed: {path} is a sibling in the fan-out of {requested}, and a "
            f"fan-out deploys every overlay or none. fan-out: false deploys {requested} alone")


def _forced_refused(policy: Policy, request: DeployRequest, path: str) -> Refusal | None:
    """A forced move (downgrade or scheme change) on an environment that forbids forcing."""
    env = policy.environment_for(path)
    if request.operator or env is None or env.allow_forced_downgrade:
        return None
    return Refusal("downgrade", f"{path} does not take forced downgrades or scheme changes "
                   "from a release (allow-downgrade is ignored there); roll back with "
                   "gitops-release rollback",
                   f"{env.where} (environments: {env.match!r}, allow-forced-downgrade: false)")


def check_scheme(policy: Policy, request: DeployRequest) -> Refusal | None:
    new = scheme_of(request.version)
    current = {r.path: r.version for r in request.running}
    for path in overlays_of(request):
        required, where = policy.scheme_required(path)
        if required in ("semver", "timestamp") and new != required:
            what = "in neither scheme" if new == "other" else f"a {new} version"
            return Refusal("policy", f"{path} takes only {required} versions; "
                           f"{request.version!r} is {what}", where)
        old = scheme_of(current.get(path))
        if required != "keep" or old == "other" or old == new:
            continue
        if not request.forced:
            return Refusal("policy", f"{path} runs {current.get(path)} ({old}); "
                           f"{request.version!r} is {new if new != 'other' else 'in no scheme'}: "
                           "a change of version scheme needs allow-downgrade: true", where)
        refused = _forced_refused(policy, request, path)
        if refused is not None:
            return refused
    return None


def check_downgrade(policy: Policy, request: DeployRequest) -> Refusal | None:
    # The image's tag too: a version's build metadata is dropped when it is compared
    # (1.1.0+rc.1 is 1.1.0), while the tag that agrees with it (1.1.0-rc.1, as a tag has no
    # '+') is a prerelease of it, older
    tag = request.image.tag
    versions = [request.version] + ([tag] if tag and tag != request.version else [])
    for running in request.running:
        older = next((v for v in versions if running.version is not None
                      and compare(running.version, v) is Order.OLDER), None)
        if older is None:
            continue
        if not request.forced:
            return Refusal("downgrade", f"{older} is older than {running.version}, "
                           f"which {running.path} runs",
                           "default rule: an environment only moves forward; set "
                           "allow-downgrade: true to roll back")
        refused = _forced_refused(policy, request, running.path)
        if refused is not None:
            return refused
    return None


RULES: tuple[Rule, ...] = (check_spelling, check_source, check_image_repository, check_tag, check_holds,
                           check_freezes, check_scheme, check_downgrade)


def check(policy: Policy, request: DeployRequest) -> Refusal | None:
    for rule in RULES:
        refusal = rule(policy, request)
        if refusal is not None:
            return refusal
    return None
