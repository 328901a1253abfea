"""Pull-request mode of the receiver (``write-mode: pull-request``), for config repos whose branch
is protected: the deploy commit goes to a branch of its own per overlay,
``gitops-release/<path>``, and a pull request into the checked-out branch carries it.

The deploy is planned and committed exactly as a push-mode deploy (the receiver with
``push: false``) on a local branch made from the remote base branch, so the downgrade guard and
every other check compare against the base branch. That branch is then force-pushed to
``gitops-release/<path>`` (force only there, never on the base branch), and the one open pull
request of that branch is opened or, when a newer release supersedes the one it holds, updated
(title and body: release, image, digest, the diff, source links). Nothing changed or refused:
no push, no pull request. The API calls use urllib (no GitHub client on the receiver's path).
Auto-merge is GraphQL-only on GitHub and not done here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops_release.errors import GitError, GitopsReleaseError
from gitops_release.inputs import InputSpec
from gitops_release.runner import Runner

MODES = ("push", "pull-request")
BRANCH_PREFIX = "gitops-release/"
WRITE_MODE = InputSpec("write-mode", "push: commit and push to the checked-out branch; "
                       "pull-request: push to gitops-release/<path> and open (or update) one "
                       "pull request per overlay", default="push")
OUTPUT = {"pull-request-url": "The pull request of the deploy (write-mode: pull-request); empty "
          "otherwise."}
TIMEOUT = 30


class PullRequestError(GitopsReleaseError):
    """The pull request of a deploy could not be opened or updated."""

    title = "Pull request failed"


def parse_mode(value: str) -> str:
    from gitops_release.errors import InputError

    mode = value.strip() or "push"
    if mode not in MODES:
        raise InputError(f"{value!r} is not a write mode", input_name="write-mode",
                         hint="Use push or pull-request")
    return mode


def _api(environ: Mapping[str, str], token: str, method: str, path: str,
         body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    from gitops_release.dispatch import validate_api_url

    base = validate_api_url(environ.get("GITHUB_API_URL") or "https://api.github.com",
                            "GITHUB_API_URL")
    request = urllib.request.Request(  # noqa: S310 - validate_api_url allows http(s) only
        f"{base}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                 "X-GitHub-Api-Version": "2022-11-28", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, None
    except (urllib.error.URLError, OSError) as exc:
        raise PullRequestError(f"cannot reach the GitHub API: {getattr(exc, 'reason', exc)}",
                               input_name="token") from None


def _body(raw: Mapping[str, str], diff: str) -> str:
    source: dict[str, Any] = {}
    try:
        loaded = json.loads(raw.get("source") or "{}")
        source = loaded if isinstance(loaded, dict) else {}
    except ValueError:
        pass
    fence = "`" * max(3, max((len(r) for r in diff.split("\n") if set(r) == {"`"}), default=0) + 1)
    lines = [f"Release: {_code(raw['release'].strip())}", f"Image: {_code(raw['image'].strip())}"]
    if raw.get("digest", "").strip():
        lines.append(f"Digest: {_code(raw['digest'].strip())}")
    for key in ("repository", "sha", "run_url"):
        if isinstance(source.get(key), str) and source[key]:
            # a code span: the payload's text is shown as it is, never as markdown or HTML a
            # reviewer would take for the page's own (a link, "Approved by", an image)
            lines.append(f"Source {key.replace('_', ' ')}: {_code(source[key])}")
    return "\n".join([*lines, "", f"{fence}diff", diff.rstrip("\n")[:60000], fence, "",
                      "Opened by gitops-release; a newer release to this overlay updates it."])


def _code(text: str) -> str:
    """``text`` as a markdown code span, whatever backticks it holds (CommonMark: a run of
    backticks longer than any inside it, with a space inside when it starts or ends with one)."""
    text = " ".join(text.split())  # one line
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _repository(environ: Mapping[str, str]) -> str:
    repository = environ.get("GITHUB_REPOSITORY", "")
    if repository.count("/") != 1:
        raise PullRequestError("GITHUB_REPOSITORY is not owner/name", input_name="write-mode")
    return repository


def _failed(status: int, data: Any, branch: str) -> PullRequestError:
    message = data.get("message") if isinstance(data, dict) else "no answer"
    return PullRequestError(f"the GitHub API answered {status} ({message}) for the pull request "
                            f"of {branch}", input_name="token",
                            hint="The token needs 'Pull requests: write' (and Contents: write for "
                                 "the branch) on the config repository")


def find_open(environ: Mapping[str, str], token: str, branch: str, base: str) -> int | None:
    """The number of the open pull request of ``branch`` into ``base``; checked before anything
    is pushed, so a token that cannot see pull requests fails with nothing pushed."""
    repository = _repository(environ)
    owner = repository.partition("/")[0]
    status, found = _api(environ, token, "GET",
                         f"/repos/{repository}/pulls?state=open&head={owner}:{branch}&base={base}")
    if status != 200 or not isinstance(found, list):
        raise _failed(status, found, branch)
    return int(found[0]["number"]) if found else None


def open_or_update(raw: Mapping[str, str], environ: Mapping[str, str], token: str, branch: str,
                   base: str, title: str, diff: str, number: int | None) -> str:
    """The URL of the one open pull request of ``branch`` into ``base``, opened or updated."""
    repository = _repository(environ)
    body = _body(raw, diff)
    if number is not None:
        status, data = _api(environ, token, "PATCH", f"/repos/{repository}/pulls/{number}",
                            {"title": title, "body": body})
    else:
        status, data = _api(environ, token, "POST", f"/repos/{repository}/pulls",
                            {"title": title, "head": branch, "base": base, "body": body})
    if status not in (200, 201) or not isinstance(data, dict):
        raise _failed(status, data, branch)
    return str(data.get("html_url", ""))


def deploy(raw: Mapping[str, str], runner: Runner, environ: Mapping[str, str], event: str,
           run_receiver: Any) -> None:
    """Run the deploy in pull-request mode; ``run_receiver(raw, runner)`` is the receiver."""
    from gitops_release.deployments import OutcomeRunner
    from gitops_release.gitops import Git

    root = Path.cwd()
    token = raw.get("token", "").strip()
    git = Git(root, environ, token, environ.get("GITHUB_SERVER_URL") or "https://github.com")
    up = git.upstream()
    git.ensure_clean()
    git.fetch(up)
    path = raw["path"].strip().strip("/")
    branch = f"{BRANCH_PREFIX}{path}"
    git.run("checkout", "--quiet", "-B", branch, up.tracking)
    tap = OutcomeRunner(runner)
    try:
        run_receiver({**raw, "push": "false"}, tap)
        outputs = tap.outputs
        if outputs.get("commit"):
            number = find_open(environ, token, branch, up.branch)
            diff = git.out("diff", f"{up.tracking}..HEAD")
            result = git.run("push", "--quiet", "--force", "--", up.remote,
                             f"HEAD:refs/heads/{branch}", check=False)
            if result.returncode != 0:
                raise GitError(f"the push to {branch} was refused: "
                               f"{result.stderr.strip()[-300:]}", input_name="token")
            subject = git.out("log", "-1", "--format=%s")
            url = open_or_update(raw, environ, token, branch, up.branch,
                                 f"{subject} ({path})", diff, number)
            runner.info(f"pull request {url} holds {subject}")
            runner.summary(f"Pull request: {url}\n")
            runner.set_output("pull-request-url", url)
        else:
            runner.set_output("pull-request-url", "")
    finally:
        git.run("checkout", "--quiet", up.local, check=False)
