"""`gitops-release hold`: hold an overlay of the config repo — deploys to it (and, for ``prod``,
to its ``prod-*`` siblings) are refused with ``refused-reason: held`` until ``unhold``.

The hold is an entry of ``holds:`` in ``gitops-release.yaml`` (created when absent); only its
lines are added, the rest of the file stays byte for byte. One commit, pushed like a deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitops_release import clock, control
from gitops_release.errors import InputError
from gitops_release.inputs import CommandSpec, InputSpec
from gitops_release.paths import resolve_overlay
from gitops_release.policy import Policy
from gitops_release.policyfile import VERSION_RE
from gitops_release.runner import Runner, md_escape

SPEC = CommandSpec(
    name="hold",
    help="Hold an overlay (prod also holds prod-*): deploys to it are refused until unhold. "
    "Adds the hold to gitops-release.yaml, commits and pushes.",
    inputs=(
        InputSpec("path", "Overlay folder relative to the repository, e.g. apps/<name>/overlays/prod",
                  required=True),
        InputSpec("reason", "Why, one line (shown in every refused deploy)", required=True),
        InputSpec("version", "The version the overlay is held at (informational)"),
        *control.control_inputs(),
    ),
    outputs=control.hold_outputs("added"),
)


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str],
            root: Path | None = None) -> None:
    from gitops_release import holds

    root, path, s = control.start_hold_command(raw, runner, environ, root)
    reason = control.one_line("reason", raw["reason"])
    version = raw["version"].strip() or None
    if version is not None and not VERSION_RE.fullmatch(version):
        raise InputError(f"{version!r} is not a version", input_name="version")
    since = clock.now_utc(environ).strftime("%Y-%m-%dT%H:%M:%SZ")
    new = holds.NewHold(path, reason, since, s.by, version)

    def edit(text: str | None, policy: Policy) -> str:
        resolve_overlay(root, ".", path)  # the overlay must exist: a typo holds nothing
        held = next((h for h in policy.holds if h.path == path), None)
        if held is not None:
            raise InputError(f"{path} is already held since {held.since} by {held.by} "
                             f"({held.where}): {held.reason}", input_name="path",
                             hint="Unhold it first to change the hold")
        new_text = holds.insert_hold(text, new)
        holds.verify(text, new_text, policy, [h.path for h in policy.holds] + [path])
        return new_text

    message = control.message(f"Hold {path}", [("Hold", path), ("Hold-Reason", reason),
                                               ("Hold-By", s.by)])
    commit = control.commit_policy_edit(root, runner, environ, s, edit, message)
    control.finish_hold_command(runner, s, commit, f"### Held `{md_escape(path)}`\n\n"
                                f"{md_escape(reason)}\n\nBy {md_escape(s.by)} since {since}")
