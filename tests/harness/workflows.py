"""Workflows the tests write into throwaway app repos: the root action in one step."""

from __future__ import annotations


def root_action_workflow(image_name: str, *, registry: str = "${{ secrets.CR_ENDPOINT }}",
                         platforms: str = "linux/amd64", event_type: str = "",
                         timeout_minutes: int = 15, last_step: str = "") -> str:
    """A push workflow whose one job checks out and runs ``gitops-release/gitops-release@v1``
    (build, push, dispatch to acme/k8s-configurations), then ``last_step`` if given."""
    event = f"          event-type: {event_type}\n" if event_type else ""
    return f"""\
name: one step
on: push
permissions: {{}}
jobs:
  release:
    runs-on: ubuntu-latest
    timeout-minutes: {timeout_minutes}
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: release
        uses: gitops-release/gitops-release@v1
        with:
          registry: {registry}
          username: ${{{{ secrets.CR_USERNAME }}}}
          password: ${{{{ secrets.CR_PASSWORD }}}}
          image-name: {image_name}
          platforms: {platforms}
          token: ${{{{ secrets.GITHUB_PAT }}}}
          repository: acme/k8s-configurations
{event}          path: apps/{image_name}/overlays/dev
          github-api-url: ''
{last_step}"""
