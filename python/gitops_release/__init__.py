"""gitops-release: build, tag and push images, dispatch them to a Kubernetes config repo, and
update that repo's Kustomize overlays, one git commit per deploy."""

__version__ = "0.1.0"  # x-release-please-version
