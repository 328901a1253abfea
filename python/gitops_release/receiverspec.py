"""What the two receiver commands (``image-update``, ``cronjob-update``) take and give: their
inputs and outputs, and the start of a deploy. Kept free of the planner's imports, so that a
deploy can start rendering its overlay before the rest of the receiver loads (``render_ahead``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from gitops_release import pullrequest
from gitops_release.inputs import CommandSpec, InputSpec
from gitops_release.runner import Runner

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII)
CONTAINER_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
WORKLOAD_RE = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", re.ASCII)
KEY_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,15}", re.ASCII)
VALUES_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}\.ya?ml", re.ASCII)
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
    "refused": "'true' when the deploy was refused (see refused-reason); nothing was pushed.",
    "refused-reason": "Why the deploy was refused: downgrade, held, frozen or policy; empty "
                      "otherwise.",
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
                  "app, else the one running the image's repository (initContainers only when "
                  "named)"),
        InputSpec("workload", "Workload (metadata.name) to update; default: the one named like "
                  "the release's app"),
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
        InputSpec("helm-image-key", "values.yaml key of the image repository, or alone of a "
                  "whole repo:tag string (empty: found from the file's shape)"),
        InputSpec("helm-tag-key", "values.yaml key of the image tag, refused when it holds a "
                  "whole image or a repository (empty: image.tag, or the block whose repository "
                  "is the image's)"),
        InputSpec("helm-registry-key", "values.yaml key of the image registry, when the chart "
                  "splits it from the repository: beside it, or a dotted path from the top "
                  "(empty: global.imageRegistry when set, else a registry key beside the "
                  "repository)"),
        InputSpec("helm-digest-key", "values.yaml key of the image digest (written when the key "
                  "exists or the chart reads it; empty: digest beside the tag)"),
        InputSpec("helm-release-key", "values.yaml key for the release (empty: not written)"),
        InputSpec("helm-values-file", "Values file to edit, in the path folder, e.g. "
                  "values-prod.yaml (empty: values.yaml, refused when another *values*.yaml there "
                  "sets the same image keys)"),
    )


def render_ahead(raw: Mapping[str, str], root: Path, event: str) -> None:
    """Start the renders of the proof in the background, first of all: the "before" render of
    the overlay as checked out, before the receiver's modules load, then the likely "after"
    render (receiver.render_after_ahead). Inputs that do not name an overlay inside the
    repository start nothing (the deploy reports them); a pull-request deploy renders another
    branch, so it starts nothing either."""
    if raw.get("write-mode", "").strip() == "pull-request":
        return
    try:
        from gitops_release import render
        from gitops_release.discovery import Tracked, discover
        from gitops_release.paths import resolve_overlay

        overlay = resolve_overlay(root, raw["config-root"].strip(), raw["path"].strip())
        tree = discover(root, overlay.relative_to(root).as_posix(), Tracked(("",), None))
        render.prerender(tree)
        from gitops_release.receiver import render_after_ahead

        render_after_ahead(root, tree, raw, event)
    except Exception:  # noqa: S110 - the deploy reads the same inputs and files and reports
        pass


def _write_mode(raw: Mapping[str, str], runner: Runner) -> str:
    """The input's write mode, or pull-request where the policy's environments rule for the
    overlay asks for it (the config repo decides: a release cannot push past it). A policy that
    does not load is left to the deploy, which fails on it."""
    mode = pullrequest.parse_mode(raw["write-mode"])
    if mode == "pull-request":
        return mode
    from gitops_release.errors import GitopsReleaseError
    from gitops_release.paths import resolve_overlay
    from gitops_release.policyfile import load_policy

    root = Path.cwd()
    try:
        path = resolve_overlay(root, raw.get("config-root", ".") or ".", raw.get("path", ""))
        required = load_policy(root).settings_for(path.relative_to(root).as_posix()).write_mode
    except (GitopsReleaseError, OSError, ValueError):
        return mode
    if required == "pull-request":
        runner.notice(f"{raw.get('path', '')}: gitops-release.yaml asks for write-mode: "
                      "pull-request there, so the deploy opens a pull request instead of "
                      "pushing", "Write mode")
        return required
    return mode


def receiver_command(event: str, name: str, help_text: str) -> tuple[
        CommandSpec, Callable[[Mapping[str, str], Runner, Mapping[str, str]], None]]:
    """The SPEC and ``execute`` of a receiver command for ``event`` (new-image, new-job-image)."""
    spec = CommandSpec(name=name, help=help_text,
                       inputs=(*receiver_inputs("Deploy {release}"), pullrequest.WRITE_MODE),
                       outputs={**OUTPUTS, **pullrequest.OUTPUT})

    def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
        from gitops_release import deployments

        def deploy(tap: Runner) -> None:
            from gitops_release import receiver

            if _write_mode(raw, tap) == "pull-request":
                pullrequest.deploy(raw, tap, environ, event,
                                   lambda settings, inner: receiver.run(settings, inner, environ,
                                                                        event))
            else:
                receiver.run(raw, tap, environ, event)

        try:
            render_ahead(raw, Path.cwd(), event)
            # The payload's deployment (source.deployment_id) in the app repo hears the outcome.
            deployments.report_around(raw, runner, environ, deploy)
        finally:
            from gitops_release import render

            render.RENDERS.close()  # a render started ahead for a deploy that stopped early

    return spec, execute
