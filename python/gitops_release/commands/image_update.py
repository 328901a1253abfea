"""`gitops-release image-update`: point a workload (Deployment, Argo Rollout, StatefulSet,
DaemonSet) of a config-repo overlay at a new image and release, then commit and push.

Imports stay light (no Docker or GitHub client, no planner): the receiver loads when the deploy
runs, after the overlay's first render has started (receiverspec.render_ahead).
"""

from __future__ import annotations

from gitops_release.receiverspec import receiver_command

EVENT = "new-image"
SPEC, execute = receiver_command(
    EVENT, "image-update",
    "Update the image and release env var of a workload in a config-repo overlay (prod also "
    "updates prod-*), commit and push.")
