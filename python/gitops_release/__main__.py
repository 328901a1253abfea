"""``python -m gitops_release``: the same entrypoint as the ``gitops-release`` console script."""

from gitops_release.cli import run

if __name__ == "__main__":
    run()
