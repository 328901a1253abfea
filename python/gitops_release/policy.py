"""Trust policy: who may deploy what where, and what holds an overlay still.

The config repo's ``gitops-release.yaml`` (optional; read by :mod:`gitops_release.policyfile`,
schema in ``schemas/gitops-release.schema.json``, reference in ``docs/policy.md``) becomes a
:class:`Policy`. The receiver asks it two things, and both answers are values, not exceptions:

* :meth:`Policy.settings_for` — the target settings of an overlay (container, workload, release
  env var, Helm keys, write mode), ``None`` where the policy says nothing;
* :meth:`Policy.check` — a :class:`Refusal` (``held``, ``frozen``, ``downgrade`` or ``policy``,
  with a message naming the rule and its file:line), or ``None`` when the deploy may go ahead.

Without a policy file the default rules still apply (``Policy()``): the image repository of a
target never changes, the image tag must agree with the release's version, and an overlay named
``prod*`` keeps its version scheme unless the deploy is forced.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import PurePosixPath

from gitops_release.freeze import Window
from gitops_release.reference import ImageReference
from gitops_release.versions import parse_version

POLICY_FILE = "gitops-release.yaml"
REASONS = ("held", "frozen", "downgrade", "policy")
SCHEMES = ("semver", "timestamp", "keep", "any")
WRITE_MODES = ("push", "pull-request")
DEFAULT_GUARDED_ENVIRONMENTS = "prod*"


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay inside one path component; ``**`` spans any number of them
    (``apps/checkout/**`` matches apps/checkout and every folder below it: an app whose
    deployable folder is its own, a Helm chart at apps/checkout, is the app's too)."""
    out = []
    index = 0
    while index < len(pattern):
        if index and index + 3 == len(pattern) and pattern.endswith("/**"):
            out.append("(?:/.*)?")
            index += 3
        elif pattern.startswith("**/", index):
            out.append("(?:[^/]+/)*")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(out), re.ASCII)


def path_matches(pattern: str, path: str) -> bool:
    return glob_regex(pattern.rstrip("/")).fullmatch(path.rstrip("/")) is not None


def scheme_of(version: str | None) -> str:
    """'semver', 'timestamp' or 'other' (a branch name, ``latest``, a commit SHA)."""
    parsed = parse_version(version) if version else None
    return parsed.scheme if parsed is not None else "other"


def tag_agrees(image: ImageReference, version: str) -> bool:
    """Does the image's tag say it is ``version``? The tag must be the version, up to a leading
    ``v`` (``1.2.3`` and ``v1.2.3``) and a ``+`` of semver build metadata written as ``-`` (a
    tag cannot hold ``+``). A digest-only reference says nothing about its version, and a
    timestamp tag does not vouch for a semver release built alongside it: both disagree."""
    tag = image.tag
    if tag is None:
        return False
    if tag == version:
        return True
    bare_tag, bare_version = tag.removeprefix("v"), version.removeprefix("v")
    if bare_tag == bare_version and scheme_of(version) == "semver":
        return True
    return "+" in bare_version and bare_tag == bare_version.replace("+", "-")


@dataclass(frozen=True)
class TargetSettings:
    """What the policy says about an overlay's target; ``None`` where it says nothing (the
    receiver then uses its input or default)."""

    container: str | None = None
    workload: str | None = None
    release_env: str | None = None
    helm_image_key: str | None = None
    helm_tag_key: str | None = None
    helm_digest_key: str | None = None
    helm_release_key: str | None = None
    helm_registry_key: str | None = None
    helm_values_file: str | None = None
    max_attempts: int | None = None
    write_mode: str = "push"
    app_rule: str = ""  # file:line of the app rule that applied, "" when none
    environment_rule: str = ""


@dataclass(frozen=True)
class AppRule:
    match: str
    where: str
    sources: tuple[str, ...] | None = None  # owner/name globs; None: any (not checked)
    images: tuple[str, ...] | None = None  # image repository globs; None: keep the current one
    target: TargetSettings = field(default_factory=TargetSettings)
    verify_source: str = "off"  # off | auto | required (see sourcecheck.py)


@dataclass(frozen=True)
class EnvironmentRule:
    match: str
    where: str
    version_scheme: str | None = None  # semver | timestamp | keep | any
    allow_forced_downgrade: bool = True
    write_mode: str | None = None
    freeze: tuple[Window, ...] = ()


@dataclass(frozen=True)
class Hold:
    """An overlay that deploys leave alone until it is unheld. A hold on a ``prod`` overlay also
    holds its ``prod-*`` siblings (what a deploy to it writes)."""

    path: str
    reason: str
    since: str
    by: str
    where: str
    version: str | None = None
    exists: bool | None = None  # its path is a folder of the repository (None: not looked up)

    def covers(self, path: str) -> bool:
        """The held overlay itself, every overlay below a held folder (``clusters/prod`` holds
        ``clusters/prod/web``: a hold on a folder that is no overlay held nothing), and a held
        ``prod``'s ``prod-*`` siblings."""
        held, other = PurePosixPath(self.path), PurePosixPath(path)
        if held == other or held in other.parents:
            return True
        return held.name == "prod" and other.parent == held.parent and other.name.startswith("prod-")


@dataclass(frozen=True)
class Running:
    """What an overlay the deploy writes runs now."""

    path: str
    image: ImageReference | None
    version: str | None
    unreadable: str = ""  # what runs when it is a variable filled in later (``web:${TAG}``)

    @classmethod
    def of(cls, path: str, image: str, version: str | None) -> Running:
        """From a planner's strings: an image that is empty or not a reference (a template, a
        placeholder) is unknown (None); a variable filled in later is kept as ``unreadable``,
        which the image-repository rule refuses unless the overlay's rule lists images."""
        from gitops_release.errors import ImageReferenceError
        from gitops_release.reference import parse_reference

        try:
            return cls(path, parse_reference(image, "image") if image else None, version)
        except ImageReferenceError:
            # a variable filled in later (Flux's postBuild, envsubst: web:${TAG}); not what a
            # chart's plan shows for a repository or tag it leaves to the chart (web:, {{ }}),
            # which the chart's render or its own refusals judge
            return cls(path, None, version, image if "${" in image else "")


@dataclass(frozen=True)
class DeployRequest:
    """One deploy, as the receiver planned it. ``running`` lists every overlay it writes or
    moves (the overlay named by ``path``, its fan-out siblings, the overlays that build on it and
    take the deploy) with what each runs now."""

    path: str
    image: ImageReference
    version: str
    running: tuple[Running, ...]
    now: datetime
    source_repository: str = ""
    forced: bool = False  # allow-downgrade
    # A deploy made from the config repo itself (rollback): holds, freezes, sources and
    # allow-forced-downgrade: false do not apply; the image rules do.
    operator: bool = False
    # of ``running``, the overlays that build on the one deployed and take the deploy (not
    # written: its edit reaches them)
    builds_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """A deploy that must not happen: reported as a success (exit 0, nothing pushed)."""

    reason: str  # one of REASONS
    message: str
    rule: str  # the rule and its file:line, or "default rule: ..."
    hint: str = ""  # the fix, where the receiver's default one does not fit

    def __str__(self) -> str:
        return f"{self.message} ({self.rule})"


@dataclass(frozen=True)
class Policy:
    """The parsed policy file; ``Policy()`` is the default without one."""

    apps: tuple[AppRule, ...] = ()
    environments: tuple[EnvironmentRule, ...] = ()
    holds: tuple[Hold, ...] = ()
    filename: str = ""  # "" when there is no policy file

    def app_for(self, path: str) -> AppRule | None:
        """The first app rule whose ``match`` glob matches the overlay path."""
        return next((rule for rule in self.apps if path_matches(rule.match, path)), None)

    def environment_for(self, path: str) -> EnvironmentRule | None:
        """The first environment rule whose ``match`` glob matches the overlay's folder name."""
        name = PurePosixPath(path).name
        return next((rule for rule in self.environments if fnmatch.fnmatchcase(name, rule.match)),
                    None)

    def hold_for(self, path: str) -> Hold | None:
        return next((hold for hold in self.holds if hold.covers(path)), None)

    def settings_for(self, path: str) -> TargetSettings:
        app, env = self.app_for(path), self.environment_for(path)
        base = app.target if app is not None else TargetSettings()
        return TargetSettings(**{**base.__dict__,
                                 "write_mode": (env.write_mode if env and env.write_mode else "push"),
                                 "app_rule": app.where if app else "",
                                 "environment_rule": env.where if env else ""})

    def check(self, request: DeployRequest) -> Refusal | None:
        """The first reason the deploy must not happen, in this order: trust (source and image
        repository, tag agreement), holds, freezes, version scheme, downgrade."""
        from gitops_release import policycheck

        return policycheck.check(self, request)

    def scheme_required(self, path: str) -> tuple[str, str]:
        """The version-scheme rule of an overlay and where it comes from: the environment rule's
        ``version-scheme``, else ``keep`` for ``prod*`` overlays and ``any`` for the rest."""
        env = self.environment_for(path)
        if env is not None and env.version_scheme is not None:
            return env.version_scheme, f"{env.where} (environments: {env.match!r})"
        name = PurePosixPath(path).name
        if fnmatch.fnmatchcase(name, DEFAULT_GUARDED_ENVIRONMENTS):
            return "keep", "default rule: an overlay named prod* keeps its version scheme"
        return "any", "default rule"


def overlays_of(request: DeployRequest) -> Sequence[str]:
    paths = [request.path] + [r.path for r in request.running if r.path != request.path]
    return paths
