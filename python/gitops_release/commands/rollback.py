"""`gitops-release rollback`: put an overlay back on the image it ran at an earlier version and
hold it there, in one commit.

The image comes from the config repo's own history (:mod:`gitops_release.history`: deploy
commit trailers, confirmed by the overlay's files at that commit, else the files alone), so a
rollback can only go to something that already ran there. The deploy is the receiver's (same
planning, fan-out, checks and push loop, with allow-downgrade), and the hold is added to
``gitops-release.yaml`` in the same commit: the next release is refused (``held``) until
``gitops-release unhold``. Needs the full history (``actions/checkout`` with ``fetch-depth: 0``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

from gitops_release import clock, control, receiver, receiverspec
from gitops_release.errors import GitError, InputError
from gitops_release.gitops import Git
from gitops_release.inputs import CommandSpec, InputSpec, parse_bool
from gitops_release.manifests import FileChange
from gitops_release.paths import check_relative, resolve_overlay
from gitops_release.payload import validate_release
from gitops_release.policy import POLICY_FILE
from gitops_release.policyfile import VERSION_RE
from gitops_release.runner import Runner, md_escape

SPEC = CommandSpec(
    name="rollback",
    help="Roll an overlay (prod also prod-*) back to the image it ran at an earlier version, "
    "found in the config repo's history, and hold it there: one commit, pushed.",
    inputs=(
        InputSpec("path", "Overlay folder relative to the repository, e.g. apps/<name>/overlays/prod",
                  required=True),
        InputSpec("to", "The version to go back to, as the image tag said it (e.g. v1.4.0)",
                  required=True),
        InputSpec("reason", "Why, one line (recorded in the hold and the commit)", required=True),
        InputSpec("app", "App name of the release (<app>@<version>); default: the folder before "
                  "'overlays' in path"),
        InputSpec("event", "new-image or new-job-image; default: new-job-image when the overlay "
                  "holds a cronjob.yaml or job.yaml and no other workload, else new-image"),
        InputSpec("container", "Container to update; default: the one named like the app, else "
                  "the only one"),
        InputSpec("config-root", "Folder (relative to the repository) that 'path' must be inside",
                  default="."),
        InputSpec("fan-out", "A prod overlay also rolls back its sibling prod-* overlays",
                  default="true"),
        *control.control_inputs(),
    ),
    outputs={**receiverspec.OUTPUTS, "image": "The image rolled back to."},
)


def _app(raw: str, path: str) -> str:
    app = raw.strip()
    parts = PurePosixPath(path).parts
    if not app and "overlays" in parts[1:]:
        app = parts[parts.index("overlays", 1) - 1]
    if not app:
        raise InputError("is not given and the path has no '<app>/overlays/' part",
                         input_name="app", hint="Pass --app with the release's app name")
    try:
        validate_release(f"{app}@x", "app")
    except InputError:
        raise InputError(f"{app!r} is not an app name", input_name="app") from None
    return app


def _event(raw: str, overlay: Path) -> str:
    event = raw.strip()
    if event:
        if event not in receiver.KINDS:
            raise InputError(f"{event!r} is not new-image or new-job-image", input_name="event")
        return event
    jobs = re.compile(r"^kind:\s*(CronJob|Job)\s*$", re.MULTILINE)
    workloads = re.compile(r"^kind:\s*(Deployment|StatefulSet|DaemonSet|Rollout)\s*$", re.MULTILINE)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(overlay.iterdir())
             if p.suffix in (".yaml", ".yml") and p.is_file() and not p.is_symlink()]
    has_jobs = any(jobs.search(t) for t in texts)
    return "new-job-image" if has_jobs and not any(workloads.search(t) for t in texts) \
        else "new-image"


def _hold_plan(path: str, reason: str, by: str, since: str,
               version: str) -> Callable[[Path], list[FileChange]]:
    """The hold as the deploy's extra change: replaces a hold already on ``path``."""
    from gitops_release import holds

    def plan(root: Path) -> list[FileChange]:
        text, policy = control.read_policy(root)
        kept = [h.path for h in policy.holds if h.path != path]
        base = holds.delete_hold(text, path) if text is not None and len(kept) < len(
            policy.holds) else text
        new_text = holds.insert_hold(base, holds.NewHold(path, reason, since, by, version))
        holds.verify(text, new_text, policy, [*kept, path])
        return [FileChange(root / POLICY_FILE, text or "", new_text, "", None, "policy")]

    return plan


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str],
            root: Path | None = None) -> None:
    from gitops_release import history

    root = root or Path.cwd()
    path = str(check_relative(raw["path"].strip(), "path"))
    version = raw["to"].strip()
    if not VERSION_RE.fullmatch(version):
        raise InputError(f"{version!r} is not a version", input_name="to")
    reason = control.one_line("reason", raw["reason"])
    app = _app(raw["app"], path)
    s = control.parse_control(raw, environ, root)
    if s.token:
        runner.mask(s.token)
    overlay = resolve_overlay(root, raw["config-root"].strip() or ".", path)
    event = _event(raw["event"], overlay)
    git = Git(root, environ)
    if git.out("rev-parse", "--is-shallow-repository") == "true":
        raise GitError("the clone is shallow, so its history cannot show what ran before",
                       hint="Check out with fetch-depth: 0 (actions/checkout) or run "
                       "git fetch --unshallow")
    found = history.find_image(git, path, version, event, app, raw["container"].strip())
    runner.info(f"{path} ran {found.image} at {version} (commit {found.commit[:12]}, found by "
                f"{found.how})")
    since = clock.now_utc(environ).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = receiver.ExtraChanges(
        plan=_hold_plan(path, reason, s.by, since, version),
        trailers=(("Rollback-Of", found.commit), ("Hold", path), ("Hold-Reason", reason),
                  ("Hold-By", s.by)))
    deploy = {spec.name: spec.default for spec in receiverspec.receiver_inputs("")}
    deploy.update({
        "image": str(found.image), "release": f"{app}@{version}", "path": path,
        "container": raw["container"], "config-root": raw["config-root"],
        "fan-out": "true" if parse_bool("fan-out", raw["fan-out"]) else "false",
        "allow-downgrade": "true", "push": raw["push"], "dry-run": raw["dry-run"],
        "commit-message": "Roll back {path} to {release}", "git-user-name": raw["git-user-name"],
        "git-user-email": raw["git-user-email"], "max-attempts": raw["max-attempts"],
        "token": raw["token"]})
    receiver.run(deploy, runner, environ, event, root, extra=extra)
    runner.set_output("image", str(found.image))
    runner.summary(f"Held `{md_escape(path)}` at {md_escape(version)} by {md_escape(s.by)}: "
                   f"{md_escape(reason)}. Lift the hold with `gitops-release unhold`.\n")
