"""``python -m gitops_release``: the same entrypoint as the ``gitops-release`` console script.

A receiver command starts its overlay's first render before the rest loads (see early.py)."""

import sys

from gitops_release import early

if __name__ == "__main__":
    early.start(sys.argv[1:])

from gitops_release.cli import run  # after the render started

if __name__ == "__main__":
    run()
