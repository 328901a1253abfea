"""`gitops-release unhold`: lift the hold on an overlay; deploys to it go ahead again.

Removes the hold's lines from ``holds:`` in ``gitops-release.yaml`` (the last one leaves
``holds: []``), the rest of the file stays byte for byte. One commit, pushed like a deploy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitops_release import control
from gitops_release.inputs import CommandSpec, InputSpec
from gitops_release.paths import check_relative
from gitops_release.policy import POLICY_FILE, Policy
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
    outputs={"changed": "'true' when the hold was removed (and, unless push is false, pushed).",
             "commit": "The SHA of the commit, empty when none was made."},
)


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str],
            root: Path | None = None) -> None:
    from gitops_release import holds

    root = root or Path.cwd()
    path = raw["path"].strip().rstrip("/")
    check_relative(path, "path")
    reason = control.one_line("reason", raw["reason"], required=False)
    s = control.parse_control(raw, environ, root)
    if s.token:
        runner.mask(s.token)

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
    runner.summary(f"### Unheld `{md_escape(path)}`\n\nBy {md_escape(s.by)}, in `{POLICY_FILE}`."
                   + (f" Commit: `{commit}`" if commit else " Dry run: nothing written."
                      if s.dry_run else "") + "\n")
    runner.set_outputs({"changed": "false" if s.dry_run else "true", "commit": commit})
