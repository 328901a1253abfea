"""`gitops-release cronjob-update`: point a CronJob or Job of a config-repo overlay at a new image
and release, then commit and push."""

from __future__ import annotations

from collections.abc import Mapping

from gitops_release import deployments, pullrequest, receiver
from gitops_release.inputs import CommandSpec
from gitops_release.runner import Runner

EVENT = "new-job-image"
SPEC = CommandSpec(
    name="cronjob-update",
    help="Update the image and release env var of a CronJob or Job in a config-repo overlay "
    "(prod also updates prod-*), commit and push.",
    inputs=(*receiver.receiver_inputs("Deploy {release}"), pullrequest.WRITE_MODE),
    outputs={**receiver.OUTPUTS, **pullrequest.OUTPUT},
)


def execute(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
    # The payload's deployment (source.deployment_id) in the app repo hears the outcome.
    deployments.report_around(raw, runner, environ, lambda tap: _deploy(raw, tap, environ))


def _deploy(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str]) -> None:
    if pullrequest.parse_mode(raw["write-mode"]) == "pull-request":
        pullrequest.deploy(raw, runner, environ, EVENT,
                           lambda settings, tap: receiver.run(settings, tap, environ, EVENT))
    else:
        receiver.run(raw, runner, environ, EVENT)
