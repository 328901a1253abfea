"""The sender's GitHub client and context, through actions-toolkit (``actions_toolkit.github``).

actions-toolkit's ``get_octokit(token)`` gives an Octokit whose ``rest`` is PyGithub's
``Github(token)`` for api.github.com with PyGithub's defaults (up to 10 retries of its own, a
second between writes); its ``Context`` reads the ``GITHUB_*`` variables of the process when it is
made (and ``GITHUB_REPOSITORY`` again each time ``repo`` is read). Here the Octokit keeps the
toolkit's token and headers, and its ``rest`` client is made for the configured API URL (GitHub
Enterprise Server, the tests' local API) with PyGithub's retries and pacing off (ours are in
dispatch.py: 5xx backoff, rate-limit waits). The Context is read from the entrypoint's
``environ`` and copied into a frozen :class:`RunContext`.

The sender already loads PyGithub (and requests) for the dispatch; actions-toolkit adds no other
package. The receiver never imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gitops_release import __version__

REQUEST_TIMEOUT = 30


@dataclass(frozen=True)
class RunContext:
    """What the sender needs of the workflow run (from actions-toolkit's Context)."""

    repository: str  # owner/name of the app repository, "" when unknown
    sha: str
    ref: str
    run_id: int
    server_url: str
    api_url: str

    @property
    def run_url(self) -> str:
        if not self.repository or not self.run_id:
            return ""
        return f"{self.server_url.rstrip('/')}/{self.repository}/actions/runs/{self.run_id}"


@contextmanager
def _process_environ(environ: Mapping[str, str]) -> Iterator[None]:
    """Make ``environ`` the process environment while actions-toolkit reads it (entrypoints run
    one at a time; a runner's own environ is used as it is)."""
    if environ is os.environ:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_context(environ: Mapping[str, str]) -> RunContext:
    """The run's context through ``actions_toolkit.github.Context``."""
    from actions_toolkit.github import Context

    with _process_environ(environ):
        try:
            context = Context()
        except ValueError:  # GITHUB_RUN_ID or GITHUB_RUN_NUMBER not a number (not a runner)
            with _process_environ({k: v for k, v in environ.items()
                                   if k not in ("GITHUB_RUN_ID", "GITHUB_RUN_NUMBER")}):
                context = Context()
        named = os.environ.get("GITHUB_REPOSITORY", "")
        # Context.repo splits GITHUB_REPOSITORY on '/' and fails on anything but owner/name
        owner, name = context.repo if not named or named.count("/") == 1 else (None, None)
    return RunContext(repository=f"{owner}/{name}" if owner and name else "",
                      sha=context.sha, ref=context.ref, run_id=context.run_id,
                      server_url=context.server_url, api_url=context.api_url)


def octokit(token: str, api_url: str) -> Any:
    """actions-toolkit's Octokit for ``token``, its ``rest`` client pointed at ``api_url``."""
    import warnings

    from actions_toolkit.github import get_octokit
    from github import Auth, Github

    with warnings.catch_warnings():  # Github(token) is PyGithub's deprecated login form
        warnings.simplefilter("ignore", DeprecationWarning)
        kit = get_octokit(token)
    kit.rest.close()
    kit.rest = Github(auth=Auth.Token(token), base_url=api_url, lazy=True, retry=None,
                      timeout=REQUEST_TIMEOUT, user_agent=f"gitops-release/{__version__}",
                      seconds_between_requests=None, seconds_between_writes=None)
    return kit
