"""The receiver: plan a deploy over the overlay (and its prod-* siblings), check that it moves
forward, write every file only after all were planned, commit and push.

Shared by ``image-update`` (new-image: Deployment, Rollout, StatefulSet, DaemonSet) and
``cronjob-update`` (new-job-image: CronJob, Job); both fall back to Helm ``values.yaml`` and
kustomization ``images:``.
"""

from __future__ import annotations

import difflib
import errno
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitops_release.errors import DowngradeError, InputError, ResourceError
from gitops_release.gitops import Author
from gitops_release.inputs import InputSpec, check_text, parse_bool, parse_int
from gitops_release.manifests import FileChange, Target, find_target, nothing_to_update, plan_file
from gitops_release.paths import check_relative, fan_out_siblings, resolve_overlay
from gitops_release.reference import ImageReference, parse_reference, validate_digest
from gitops_release.runner import Runner, md_escape
from gitops_release.versions import Order, compare

RELEASE_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]{0,127})@([A-Za-z0-9][A-Za-z0-9._+-]{0,127})",
                        re.ASCII)
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII)
CONTAINER_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
KEY_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,15}", re.ASCII)
REPOSITORY_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", re.ASCII)
SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}", re.ASCII)
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
OUTPUTS = {
    "changed": "'true' only when a deploy commit reached the remote (never with push: false or "
    "dry-run).",
    "would-change": "'true' when the deploy has files to change (also in a dry run, with push: "
    "false, and when another deploy's push carried it).",
    "files": "The changed files, one per line, relative to the repository.",
    "commit": "The SHA of the deploy commit, empty when none was made.",
    "previous-image": "The image the target overlay held before the deploy.",
    "refused": "'true' when the deploy was refused as a downgrade.",
}


def receiver_inputs(commit_message: str) -> tuple[InputSpec, ...]:
    """The inputs of image-update and cronjob-update (same names, defaults and meaning)."""
    return (
        InputSpec("image", "Full image reference registry/name:tag[@sha256:<64 hex>]", required=True),
        InputSpec("release", "Release as <name>@<version>, written to the release env var",
                  required=True),
        InputSpec("path", "Overlay folder relative to the repository, e.g. apps/<name>/overlays/dev",
                  required=True),
        InputSpec("digest", "Image digest sha256:<64 hex>, appended to the image as @digest"),
        InputSpec("container", "Container to update; default: the one named like the release's "
                  "app, else the only one (initContainers only when named)"),
        InputSpec("release-env", "Env var that holds the release", default="APP_RELEASEVERSION"),
        InputSpec("config-root", "Folder (relative to the repository) that 'path' must be inside",
                  default="."),
        InputSpec("fan-out", "A prod overlay also updates its sibling prod-* overlays",
                  default="true"),
        InputSpec("allow-downgrade", "Deploy even when the version is older than the deployed one",
                  default="false"),
        InputSpec("push", "Push the commit (false: commit locally only)", default="true"),
        InputSpec("dry-run", "Print the diff; write, commit and push nothing", default="false"),
        InputSpec("commit-message", "Commit subject; {release}, {image} and {path} are replaced",
                  default=commit_message),
        InputSpec("git-user-name", "Commit author and committer name", default=BOT_NAME),
        InputSpec("git-user-email", "Commit author and committer email", default=BOT_EMAIL),
        InputSpec("max-attempts", "Push attempts when racing other pushes (1-20), without group "
                  "commit", default="10"),
        InputSpec("push-timeout", "Seconds a deploy may take to land on the branch (10-3600)",
                  default="300"),
        InputSpec("group-commit", "A deploy that loses the race queues as a pending ref and one "
                  "push carries the whole queue", default="true"),
        InputSpec("source", "JSON object {repository, sha, ref, run_url} for the commit trailers"),
        InputSpec("token", "Token for fetch and push over HTTPS (never stored in .git/config)",
                  secret=True),
        InputSpec("helm-image-key", "values.yaml key of the image repository",
                  default="image.repository"),
        InputSpec("helm-tag-key", "values.yaml key of the image tag", default="image.tag"),
        InputSpec("helm-digest-key", "values.yaml key of the image digest (written when a digest "
                  "is given or the key holds one)", default="image.digest"),
        InputSpec("helm-release-key", "values.yaml key for the release (empty: not written)"),
    )


@dataclass(frozen=True)
class Settings:
    """A receiver's inputs, validated."""

    event: str
    target: Target
    path: str
    config_root: str
    fan_out: bool
    allow_downgrade: bool
    push: bool
    dry_run: bool
    commit_message: str
    author: Author
    max_attempts: int
    trailers: tuple[tuple[str, str], ...]
    token: str


def _match(regex: re.Pattern[str], name: str, value: str, what: str) -> str:
    check_text(name, value, max_length=256)
    if not regex.fullmatch(value):
        raise InputError(f"{value!r} is not {what}", input_name=name)
    return value


def _image(raw: Mapping[str, str]) -> ImageReference:
    image = parse_reference(raw["image"], "image")
    digest = raw["digest"].strip()
    if digest:
        validate_digest(digest, "digest")
        if image.digest and image.digest != digest:
            raise InputError(f"{digest!r} differs from the digest in the image", input_name="digest",
                             hint="Give the digest once, or the same one in both")
        image = ImageReference(image.name, image.tag, digest)
    return image


def _source(raw: str) -> tuple[tuple[str, str], ...]:
    if raw.strip() in ("", "null", "{}"):
        return ()
    check_text("source", raw, multiline=True, max_length=8192)  # toJSON() pretty-prints
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise InputError(f"is not JSON: {exc}", input_name="source") from None
    if not isinstance(data, dict):
        raise InputError("must be a JSON object {repository, sha, ref, run_url}", input_name="source")
    checks = {"repository": (REPOSITORY_RE, "owner/name"), "sha": (SHA_RE, "a commit SHA"),
              "ref": (re.compile(r"refs/[A-Za-z0-9._/+-]{1,250}", re.ASCII), "a git ref"),
              "run_url": (re.compile(r"https?://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]{1,500}", re.ASCII),
                          "an http(s) URL")}
    names = {"repository": "Source-Repository", "sha": "Source-Sha", "ref": "Source-Ref",
             "run_url": "Source-Run"}
    trailers = []
    for key, (regex, what) in checks.items():
        value = data.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise InputError(f"{key} must be a string", input_name="source")
        trailers.append((names[key], _match(regex, "source", value, f"{what} (source.{key})")))
    return tuple(trailers)


def parse_settings(raw: Mapping[str, str], event: str) -> Settings:
    image = _image(raw)
    release = _match(RELEASE_RE, "release", raw["release"].strip(),
                     "<name>@<version> (letters, digits, '.', '_', '-'; '+' in the version)")
    app, version = release.split("@", 1)
    container = raw["container"].strip()
    if container:
        _match(CONTAINER_RE, "container", container, "a container name (a DNS label)")
    keys = {}
    for name in ("helm-image-key", "helm-tag-key", "helm-digest-key", "helm-release-key"):
        value = raw[name].strip()
        keys[name] = _match(KEY_RE, name, value, "a dotted key such as image.tag") if value else ""
    target = Target(image=image, release=release, app=app, version=version,
                    release_env=_match(ENV_NAME_RE, "release-env", raw["release-env"].strip(),
                                       "an env var name"),
                    container=container, helm_image_key=keys["helm-image-key"] or "image.repository",
                    helm_tag_key=keys["helm-tag-key"] or "image.tag",
                    helm_digest_key=keys["helm-digest-key"] or "image.digest",
                    helm_release_key=keys["helm-release-key"])
    path = raw["path"].strip()
    check_text("path", path, max_length=1024)
    check_relative(path, "path")
    check_relative(check_text("config-root", raw["config-root"].strip(), max_length=1024),
                   "config-root")
    message = check_text("commit-message", raw["commit-message"], max_length=200).strip()
    trailers = [("Image", str(image))] + ([("Digest", image.digest)] if image.digest else [])
    trailers += [("Overlay", path)]
    token = raw["token"].strip()
    check_text("token", token, max_length=1024)
    return Settings(
        event=event, target=target, path=path, config_root=raw["config-root"].strip(),
        fan_out=parse_bool("fan-out", raw["fan-out"]),
        allow_downgrade=parse_bool("allow-downgrade", raw["allow-downgrade"]),
        push=parse_bool("push", raw["push"]), dry_run=parse_bool("dry-run", raw["dry-run"]),
        commit_message=message or "Deploy {release}",
        author=Author(check_text("git-user-name", raw["git-user-name"], max_length=200),
                      check_text("git-user-email", raw["git-user-email"], max_length=200)),
        max_attempts=parse_int("max-attempts", raw["max-attempts"], minimum=1, maximum=20),
        trailers=tuple(trailers) + _source(raw["source"]), token=token)


@dataclass
class Plan:
    """Every file a deploy touches, planned before anything is written."""

    root: Path
    changes: list[FileChange] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def shown(self, change: FileChange) -> str:
        return change.path.relative_to(self.root).as_posix()

    @property
    def changed(self) -> list[FileChange]:
        return [c for c in self.changes if c.changed]

    def diff(self) -> str:
        out: list[str] = []
        for change in self.changed:
            name = self.shown(change)
            out.extend(difflib.unified_diff(change.old_text.splitlines(keepends=True),
                                            change.new_text.splitlines(keepends=True),
                                            f"a/{name}", f"b/{name}"))
        return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def plan_deploy(root: Path, s: Settings) -> Plan:
    """Plan the edit of the overlay and, for prod, every prod-* sibling holding a target file."""
    overlay = resolve_overlay(root, s.config_root, s.path)
    plan = Plan(root)
    folders = [overlay] + (fan_out_siblings(overlay) if s.fan_out else [])
    for folder in folders:
        shown = folder.relative_to(root).as_posix()
        found = find_target(folder, s.event, shown)
        if found is None:
            if folder == overlay:
                raise nothing_to_update(shown, s.event)
            plan.skipped.append(shown)
            continue
        path, kind = found
        plan.changes.append(plan_file(path, kind, f"{shown}/{path.name}", s.target, s.event))
    return plan


def check_order(plan: Plan, s: Settings, runner: Runner) -> None:
    """Raise DowngradeError when any file would move back; notice when versions can't be ordered."""
    for change in plan.changes:
        current = change.previous_version
        if current is None:
            continue
        order = compare(current, s.target.version)
        shown = plan.shown(change)
        if order is Order.OLDER and not s.allow_downgrade:
            raise DowngradeError(f"{s.target.release} is older than {current}, which {shown} runs",
                                 hint="Nothing was changed. Set allow-downgrade: true to roll back")
        if order is Order.OLDER:
            runner.notice(f"rolling {shown} back from {current} to {s.target.version} "
                          "(allow-downgrade)", title="Downgrade allowed")
        elif order is Order.INCOMPARABLE:
            runner.notice(f"{shown}: {current!r} and {s.target.version!r} are not in one version "
                          "scheme, so they cannot be ordered; deploying", title="Versions not compared")


def write_files(changes: list[FileChange]) -> None:
    """Atomic writes: every new text goes to a temp file first; then each is renamed into place.
    A full disk is found while writing the temp files, before any file is replaced."""
    staged: list[tuple[Path, Path]] = []
    try:
        for change in changes:
            fd, name = tempfile.mkstemp(dir=change.path.parent, prefix=".gitops-release-")
            temp = Path(name)
            staged.append((temp, change.path))
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                    f.write(change.new_text)
                    f.flush()
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                raise ResourceError(f"the disk is full: {change.path} could not be written",
                                    hint="Free space on the runner and run again; no file was "
                                    "changed") from exc
            temp.chmod(change.path.stat().st_mode & 0o777)
        for temp, path in staged:
            temp.replace(path)
    finally:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)


def commit_message(s: Settings) -> str:
    subject = (s.commit_message.replace("{release}", s.target.release)
               .replace("{image}", str(s.target.image)).replace("{path}", s.path))
    return subject + "\n\n" + "".join(f"{key}: {value}\n" for key, value in s.trailers)


def summary(runner: Runner, s: Settings, plan: Plan, commit: str, note: str = "") -> None:
    lines = [f"### {'Deployed' if commit else 'Deploy'} `{md_escape(s.target.release)}`", ""]
    if note:
        lines += [note, ""]
    lines += ["| File | Before | Changed |", "|---|---|---|"]
    lines += [f"| {md_escape(plan.shown(c))} | {md_escape(c.previous_image)} | "
              f"{'yes' if c.changed else 'no'} |" for c in plan.changes]
    if commit:
        lines += ["", f"Commit: `{commit}`"]
    runner.summary("\n".join(lines) + "\n")


def run(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str], event: str,
        root: Path | None = None) -> None:
    """Run a receiver command: the whole deploy, or nothing (the clone restored)."""
    from gitops_release import delivery  # the write path; it imports this module's planner

    delivery.run(raw, runner, environ, event, root)
