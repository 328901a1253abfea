"""`gitops-release promote`: deploy to one overlay (and its prod-* siblings) exactly the image and
release another overlay of the same app runs, by digest, with every check of a deploy, in one
commit with a ``Promoted-From:`` trailer (gitops_release.promote)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitops_release import receiver, receiverspec
from gitops_release.inputs import CommandSpec, InputSpec, check_text
from gitops_release.runner import Runner

_SHARED = ("config-root", "fan-out", "allow-downgrade", "push", "dry-run", "git-user-name",
           "git-user-email", "max-attempts", "token", "release-env")
_RECEIVER = {spec.name: spec for spec in receiverspec.receiver_inputs("Promote {release} to {path}")}
SPEC = CommandSpec(
    name="promote",
    help="Deploy to one overlay the image (by digest) and release another overlay of the same app "
    "runs, with the checks of a deploy, in one commit with a Promoted-From trailer.",
    inputs=(
        InputSpec("from", "Overlay to promote from, e.g. apps/web-api/overlays/dev", required=True),
        InputSpec("to", "Overlay to promote to, e.g. apps/web-api/overlays/prod (prod also "
                  "updates prod-*)", required=True),
        InputSpec("event", "new-image (Deployment, Rollout, ...) or new-job-image (CronJob, Job)",
                  default="new-image"),
        InputSpec("container", "Container of the app; default: the one named like the app, else "
                  "the only one"),
        *(_RECEIVER[name] for name in _SHARED),
    ),
    outputs={**receiverspec.OUTPUTS, "promoted-image": "The image promoted, registry/name:tag@digest",
             "promoted-release": "The release promoted, <app>@<version>"},
)


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
    from gitops_release.payload import validate_event_type
    from gitops_release.promote import plan

    source = check_text("from", raw["from"].strip(), max_length=1024)
    target = check_text("to", raw["to"].strip(), max_length=1024)
    event = validate_event_type(raw["event"].strip(), "event")
    container = check_text("container", raw["container"].strip(), max_length=63)
    promotion = plan(Path.cwd(), raw["config-root"].strip() or ".", source, target, container)
    runner.info(f"promoting {promotion.source.image} ({promotion.release}) from {source} to "
                f"{target}, which runs {promotion.target.image}")
    deploy = {spec.name: spec.default for spec in _RECEIVER.values()}
    deploy.update({name: raw[name] for name in _SHARED})
    deploy.update({"image": str(promotion.source.image), "release": promotion.release,
                   "path": target, "container": promotion.source.container})
    runner.set_outputs({"promoted-image": str(promotion.source.image),
                        "promoted-release": promotion.release})
    receiver.run(deploy, runner, environ, event, extra_trailers=(("Promoted-From", source),))
