"""`gitops-release unhold`: lift the hold on an overlay; deploys to it go ahead again.

Removes the hold's lines from ``holds:`` in ``gitops-release.yaml`` (the last one leaves
``holds: []``), the rest of the file stays byte for byte. One commit, pushed like a deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitops_release import control
from gitops_release.inputs import CommandSpec, InputSpec
from gitops_release.policy import Policy
from gitops_release.runner import Runner, md_escape

SPEC = CommandSpec(
    name="unhold",
    help="Lift the hold on an overlay: removes it from gitops-release.yaml, commits and pushes.",
    inputs=(
        InputSpec("path", "Overlay folder of the hold, as its path: line in gitops-release.yaml",
                  required=True),
        InputSpec("reason", "Why, one line (recorded in the commit)"),
        *control.control_inputs(),
    ),
    outputs=control.hold_outputs("removed"),
)


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str],
            root: Path | None = None) -> None:
    from gitops_release import holds

    root, path, s = control.start_hold_command(raw, runner, environ, root)
    reason = control.one_line("reason", raw["reason"], required=False)

    def edit(text: str | None, policy: Policy) -> str:
        if text is None:
            return holds.delete_hold("", path)  # raises: nothing is held
        new_text = holds.delete_hold(text, path)
        holds.verify(text, new_text, policy, [h.path for h in policy.holds if h.path != path])
        return new_text

    trailers = [("Unhold", path), ("Unhold-By", s.by)] + ([("Unhold-Reason", reason)] if reason
                                                         else [])
    commit = control.commit_policy_edit(root, runner, environ, s, edit,
                                        control.message(f"Unhold {path}", trailers))
    control.finish_hold_command(runner, s, commit,
                                f"### Unheld `{md_escape(path)}`\n\nBy {md_escape(s.by)}")
