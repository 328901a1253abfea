"""`gitops-release cronjob-update`: point a CronJob or Job of a config-repo overlay at a new image
and release, then commit and push."""

from __future__ import annotations

from gitops_release.receiverspec import receiver_command

EVENT = "new-job-image"
SPEC, execute = receiver_command(
    EVENT, "cronjob-update",
    "Update the image and release env var of a CronJob or Job in a config-repo overlay (prod "
    "also updates prod-*), commit and push.")
