"""Where the CLI runs when it is not a GitHub Actions step: other CIs' variables, read as the
``GITHUB_*`` ones the rest of the package reads.

On a GitHub runner (``GITHUB_ACTIONS=true``) nothing changes. Elsewhere, a ``GITHUB_*`` variable
that is set wins; else GitLab CI's (``CI_COMMIT_TAG``, ``CI_COMMIT_BRANCH``, ``CI_COMMIT_SHA``,
``CI_PROJECT_PATH``, ``CI_SERVER_URL``, ``CI_PIPELINE_ID``) fill them in, so a tag pipeline
gets the tag's version instead of a timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping


def from_gitlab(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``GITHUB_*`` values a GitLab CI job's variables give (only those it has)."""
    if environ.get("GITLAB_CI") != "true" and not environ.get("CI_COMMIT_SHA"):
        return {}
    found: dict[str, str] = {}
    tag, branch = environ.get("CI_COMMIT_TAG", ""), environ.get("CI_COMMIT_BRANCH", "")
    if tag:
        found.update(GITHUB_REF=f"refs/tags/{tag}", GITHUB_REF_NAME=tag, GITHUB_EVENT_NAME="push")
    elif branch:
        found.update(GITHUB_REF=f"refs/heads/{branch}", GITHUB_REF_NAME=branch,
                     GITHUB_EVENT_NAME="push")
    for github, gitlab in (("GITHUB_SHA", "CI_COMMIT_SHA"), ("GITHUB_REPOSITORY", "CI_PROJECT_PATH"),
                           ("GITHUB_SERVER_URL", "CI_SERVER_URL"), ("GITHUB_RUN_ID", "CI_PIPELINE_ID")):
        if environ.get(gitlab):
            found[github] = environ[gitlab]
    return found


def effective_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with other CIs' variables mapped in where the ``GITHUB_*`` ones are absent."""
    result = dict(environ)
    if environ.get("GITHUB_ACTIONS") == "true":
        return result
    for key, value in from_gitlab(environ).items():
        result.setdefault(key, value)
        if not result[key]:
            result[key] = value
    return result
