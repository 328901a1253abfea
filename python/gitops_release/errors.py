"""The error hierarchy. Library code raises these; only the CLI entrypoint turns them into an
``::error::`` annotation, a step-summary line and exit code 1.

Every message says what is wrong, names the input it came from, and how to fix it.
"""

from __future__ import annotations


class GitopsReleaseError(Exception):
    """Base class of every failure the tool reports to its user."""

    title = "gitops-release failed"

    def __init__(self, message: str, *, input_name: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.input_name = input_name
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.input_name:
            text = f"input '{self.input_name}': {text}"
        if self.hint:
            text = f"{text}. {self.hint}"
        return text


class InputError(GitopsReleaseError):
    """An input (action input, CLI flag or dispatch payload field) is missing or malformed."""

    title = "Invalid input"


class ImageReferenceError(InputError):
    """An image reference does not match the distribution/reference grammar."""

    title = "Invalid image reference"


class PathError(InputError):
    """A path leaves the config root, goes through a symlink, into .git, or does not exist."""

    title = "Invalid path"


class ManifestError(GitopsReleaseError):
    """A manifest in the config repo cannot be read or does not hold what the deploy must change."""

    title = "Manifest error"


class RefusedError(GitopsReleaseError):
    """A deploy the rules refuse (a downgrade, a hold, a freeze, the policy): a success that
    changes nothing (``refused=true``); ``reason`` is the ``refused-reason`` word."""

    title = "Deploy refused"
    reason = "policy"

    def __init__(self, message: str, *, reason: str | None = None, input_name: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, input_name=input_name, hint=hint)
        if reason is not None:
            self.reason = reason


class DowngradeError(RefusedError):
    """The deploy would move an environment to an older version and downgrades are not allowed."""

    title = "Downgrade refused"
    reason = "downgrade"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, reason="downgrade", hint=hint)


class GitError(GitopsReleaseError):
    """A git command failed."""

    title = "Git error"


class PushRejectedError(GitError):
    """The remote refused the push for a reason other than a race (hook, protection, auth)."""

    title = "Push rejected"


class PushIncompleteError(GitError):
    """The push did not complete: the remote could not be reached or hung up before it answered."""

    title = "Push interrupted"


class PushContentionError(GitError):
    """The push lost the race to other writers more times than the retry budget allows."""

    title = "Push retries exhausted"


class BuildError(GitopsReleaseError):
    """Building or pushing the image failed."""

    title = "Build failed"


class RegistryError(BuildError):
    """The registry cannot be reached or refused the credentials."""

    title = "Registry error"


class DispatchError(GitopsReleaseError):
    """The repository_dispatch request failed."""

    title = "Dispatch failed"


class PolicyError(GitopsReleaseError):
    """The policy file (gitops-release.yaml) is malformed: the message names file:line and what is
    wrong. Every deploy fails until it is fixed; nothing is changed."""

    title = "Invalid policy"


class SourceCheckError(GitopsReleaseError):
    """The GitHub API could not be asked whether the release's source run exists (5xx, network)."""

    title = "Source check failed"
class DeploymentError(GitopsReleaseError):
    """The app repository's GitHub Deployment could not be created or read."""

    title = "Deployment not tracked"


class DeployOutcomeError(GitopsReleaseError):
    """The config repo reported that it refused or failed the deploy (``wait: true``)."""

    title = "Deploy refused or failed"


class WaitTimeoutError(GitopsReleaseError):
    """No final deployment status arrived within ``wait-timeout``."""

    title = "Deploy outcome unknown"


class CloneStateError(GitError):
    """The clone is not in a state a deploy can start from (uncommitted changes, untracked files
    in the way, a lock held by another git process, a target git is told to ignore)."""

    title = "Clone not ready"


class RemoteRewrittenError(GitError):
    """The remote branch's history was rewritten (force-pushed) under the clone."""

    title = "Remote history rewritten"


class DeployInterrupted(GitopsReleaseError):
    """A signal (SIGTERM, SIGINT, SIGHUP) stopped the deploy; the clone was restored."""

    title = "Deploy interrupted"

    def __init__(self, message: str, *, signal_number: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.signal_number = signal_number


class ResourceError(GitopsReleaseError):
    """The machine ran out of something the deploy needs (disk space, memory)."""

    title = "Out of resources"
