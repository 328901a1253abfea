"""`gitops-release image-update`: update a workload's image and release env var in an overlay."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_release.commands import NotImplementedYetError
from gitops_release.inputs import CommandSpec, InputSpec, check_text
from gitops_release.reference import parse_reference
from gitops_release.runner import Runner

SPEC = CommandSpec(
    name="image-update",
    help="Update the image and release env var of a workload in a config-repo overlay.",
    inputs=(
        InputSpec("image", "Full image reference registry/name:tag[@digest]", required=True),
        InputSpec("release", "Release as <name>@<version>", required=True),
        InputSpec("path", "Overlay folder, relative to the config repo", required=True),
    ),
    outputs={"changed": "'true' when a commit was made"},
)


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
    image = parse_reference(raw["image"], "image")
    check_text("release", raw["release"])
    runner.info(f"image {image}")
    raise NotImplementedYetError("image-update is not implemented yet")
