"""Deployments, deployment statuses, pull requests and git refs of the local GitHub API.

The answers follow GitHub's REST reference (API version 2022-11-28), status codes first:

- ``POST /repos/{o}/{r}/deployments`` 201; 409 when ``required_contexts`` names a context that
  is not ``success`` (no commit statuses exist here, so any named context); 422 when ``ref`` is
  missing or names nothing ("No ref found for: X"), or a field has the wrong type.
  ``GET …/deployments`` (filters ``sha``, ``ref``, ``task``, ``environment``; newest first) 200;
  ``GET …/deployments/{id}`` 200, 404 when the id is not a deployment *of this repository*.
- ``POST …/deployments/{id}/statuses`` 201; 422 for a state outside GitHub's seven or a
  description over 140 characters; 404 for a deployment of another repository. A ``success``
  with ``auto_inactive`` (default true) adds an ``inactive`` status to the earlier
  non-transient, non-production deployments of the same environment that ended in success.
  ``GET …/statuses`` (newest first) and ``GET …/statuses/{id}`` 200 / 404.
- ``POST …/pulls`` 201; 422 "Validation Failed" (missing title, unknown head or base, no commits
  between them, an open pull request for the same head and base). ``GET …/pulls`` (``state``,
  ``head`` as ``owner:branch``, ``base``), ``GET``/``PATCH …/pulls/{n}`` 200 / 404 / 422;
  ``GET …/pulls/{n}/merge`` 204 merged / 404; ``PUT …/pulls/{n}/merge`` 200, 405 not mergeable
  (closed, conflicts, a method the repository does not allow), 409 when ``sha`` is not the head,
  422 for an unknown ``merge_method``. Merges are real commits in the repository's bare git
  repo (``git merge-tree``); auto-merge is GraphQL-only on GitHub and not served.
- ``GET …/git/ref/{ref}`` 200 / 404; ``GET …/git/matching-refs/{ref}`` 200;
  ``POST …/git/refs`` 201, 422 (bad name, unknown object, already exists);
  ``PATCH …/git/refs/{ref}`` 200, 422 (not a fast forward without ``force``, no such ref);
  ``DELETE …/git/refs/{ref}`` 204, 422 (no such ref). A repository without a git backing
  answers 409 "Git Repository is empty." as GitHub does for an empty one.

Pull requests and refs need the repository's bare git repo (``GitHubAPI.add_repo(…, git=)``);
a deployment's ``ref`` is resolved in it when there is one, else only a full commit id is taken.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DOCS = "https://docs.github.com/rest"
STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
MERGE_METHODS = ("merge", "squash", "rebase")
_SHA = re.compile(r"[0-9a-f]{40}")
Answer = tuple[int, Any]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, docs: str = DOCS, **extra: Any) -> Answer:
    return status, {"message": message, "documentation_url": docs, **extra}


def _invalid(*errors: Mapping[str, str]) -> Answer:
    return _error(422, "Validation Failed", errors=[dict(e) for e in errors])


@dataclass
class Deployment:
    id: int
    repo: str
    sha: str
    ref: str
    task: str
    payload: Any
    environment: str
    description: str | None
    transient: bool
    production: bool
    creator: str
    created_at: str
    statuses: list[dict[str, Any]] = field(default_factory=list)  # oldest first


@dataclass
class PullRequest:
    number: int
    repo: str
    title: str
    body: str | None
    head: str  # branch name in the same repository
    base: str
    creator: str
    draft: bool
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)


class GitBacking:
    """Refs and merges of one bare repository, through git itself."""

    def __init__(self, bare: Path) -> None:
        self.bare = bare

    def run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        env = {"GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com",
               "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com",
               "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/local/bin:/usr/bin:/bin"}
        return subprocess.run(["git", *args], cwd=self.bare, capture_output=True, text=True,
                              check=check, env=env)

    def commit_of(self, name: str) -> str | None:
        if name.startswith("-"):
            return None
        result = self.run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        return result.stdout.strip() or None

    def ref(self, full: str) -> str | None:
        """The commit a full ref name (``refs/heads/x``) points at, or None."""
        if not full.startswith("refs/"):
            return None
        result = self.run("show-ref", "--verify", "--hash", full)
        return result.stdout.strip() if result.returncode == 0 else None

    def refs(self, prefix: str) -> list[tuple[str, str]]:
        out = self.run("for-each-ref", "--format=%(refname) %(objectname)").stdout
        pairs = [tuple(line.split(" ", 1)) for line in out.splitlines() if line]
        return [(name, sha) for name, sha in pairs if name.startswith(prefix)]

    def is_ancestor(self, old: str, new: str) -> bool:
        return self.run("merge-base", "--is-ancestor", old, new).returncode == 0

    def ahead(self, base: str, head: str) -> int:
        return int(self.run("rev-list", "--count", f"{base}..{head}", check=True).stdout.strip())

    def merge_tree(self, base: str, head: str) -> str | None:
        """The merged tree, or None on conflicts (git merge-tree --write-tree, git ≥ 2.38)."""
        result = self.run("merge-tree", "--write-tree", base, head)
        return result.stdout.split("\n", 1)[0].strip() if result.returncode == 0 else None

    def commit_tree(self, tree: str, parents: list[str], message: str) -> str:
        args = ["commit-tree", tree, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, check=True).stdout.strip()

    def update_ref(self, full: str, new: str, old: str | None = None) -> bool:
        return self.run("update-ref", full, new, *([old] if old else [])).returncode == 0

    def delete_ref(self, full: str) -> bool:
        return self.run("update-ref", "-d", full).returncode == 0


class Resources:
    """The state behind the endpoints; ``route`` answers a request for a repository the token
    may write to (access is checked by the caller), or returns None for an unknown path."""

    def __init__(self, base_url: Any) -> None:
        self._lock = threading.Lock()
        self._base_url = base_url  # a callable: the server's URL is known once it listens
        self.git: dict[str, GitBacking] = {}
        self.deployments: dict[int, Deployment] = {}
        self.pulls: dict[str, dict[int, PullRequest]] = {}
        self.merge_methods: dict[str, tuple[str, ...]] = {}
        self._next_id = 1000
        self._next_status = 5000

    # -- helpers -------------------------------------------------------------------------------
    def _url(self, repo: str, rest: str = "") -> str:
        return f"{self._base_url()}/repos/{repo}{rest}"

    def _ids(self) -> int:
        self._next_id += 1
        return self._next_id

    def route(self, method: str, repo: str, rest: str, query: Mapping[str, str], body: Any,
              login: str) -> Answer | None:
        routes: list[tuple[str, str, Any]] = [
            ("GET", r"/deployments", self._list_deployments),
            ("POST", r"/deployments", self._create_deployment),
            ("GET", r"/deployments/(\d+)", self._get_deployment),
            ("GET", r"/deployments/(\d+)/statuses", self._list_statuses),
            ("POST", r"/deployments/(\d+)/statuses", self._create_status),
            ("GET", r"/deployments/(\d+)/statuses/(\d+)", self._get_status),
            ("GET", r"/pulls", self._list_pulls),
            ("POST", r"/pulls", self._create_pull),
            ("GET", r"/pulls/(\d+)", self._get_pull),
            ("PATCH", r"/pulls/(\d+)", self._update_pull),
            ("GET", r"/pulls/(\d+)/merge", self._is_merged),
            ("PUT", r"/pulls/(\d+)/merge", self._merge_pull),
            ("GET", r"/git/ref/(.+)", self._get_ref),
            ("GET", r"/git/matching-refs/(.*)", self._matching_refs),
            ("POST", r"/git/refs", self._create_ref),
            ("PATCH", r"/git/refs/(.+)", self._update_ref),
            ("DELETE", r"/git/refs/(.+)", self._delete_ref),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, rest)
            if match and verb == method:
                with self._lock:
                    answer: Answer = handler(repo, *match.groups(), query=query, body=body,
                                             login=login)
                    return answer
        return None

    # -- deployments ---------------------------------------------------------------------------
    def deployment_json(self, d: Deployment) -> dict[str, Any]:
        url = self._url(d.repo, f"/deployments/{d.id}")
        return {"url": url, "id": d.id, "node_id": f"DE_{d.id}", "sha": d.sha, "ref": d.ref,
                "task": d.task, "payload": d.payload, "original_environment": d.environment,
                "environment": d.environment, "description": d.description,
                "creator": {"login": d.creator, "type": "User"}, "created_at": d.created_at,
                "updated_at": d.statuses[-1]["updated_at"] if d.statuses else d.created_at,
                "statuses_url": f"{url}/statuses", "repository_url": self._url(d.repo),
                "transient_environment": d.transient, "production_environment": d.production}

    def _resolve(self, repo: str, ref: str) -> str | None:
        backing = self.git.get(repo)
        if backing is not None:
            return backing.commit_of(ref)
        return ref if _SHA.fullmatch(ref) else None

    def _create_deployment(self, repo: str, *, body: Any, login: str, **_: Any) -> Answer:
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not body["ref"]:
            return _invalid({"resource": "Deployment", "code": "missing_field", "field": "ref"})
        for key, kind in (("task", str), ("environment", str), ("description", str),
                          ("auto_merge", bool), ("transient_environment", bool),
                          ("production_environment", bool), ("required_contexts", list)):
            if key in body and body[key] is not None and not isinstance(body[key], kind):
                return _invalid({"resource": "Deployment", "code": "invalid", "field": key})
        sha = self._resolve(repo, body["ref"])
        if sha is None:
            return _error(422, f"No ref found for: {body['ref']}")
        contexts = body.get("required_contexts")
        if contexts:  # no commit statuses exist here: a named context never reached success
            return _error(409, f"Conflict: Commit status checks failed for {body['ref']}.")
        environment = body.get("environment") or "production"
        payload = body.get("payload", {})
        deployment = Deployment(
            id=self._ids(), repo=repo, sha=sha, ref=body["ref"], task=body.get("task") or "deploy",
            payload=payload if payload is not None else {}, environment=environment,
            description=body.get("description"), transient=bool(body.get("transient_environment")),
            production=bool(body.get("production_environment", environment == "production")),
            creator=login, created_at=_now())
        self.deployments[deployment.id] = deployment
        return 201, self.deployment_json(deployment)

    def _list_deployments(self, repo: str, *, query: Mapping[str, str], **_: Any) -> Answer:
        found = [d for d in self.deployments.values() if d.repo == repo and all(
            getattr(d, key) == query[key] for key in ("sha", "ref", "task", "environment")
            if key in query)]
        return 200, [self.deployment_json(d) for d in sorted(found, key=lambda d: -d.id)]

    def _deployment(self, repo: str, number: str) -> Deployment | None:
        found = self.deployments.get(int(number))
        return found if found is not None and found.repo == repo else None

    def _get_deployment(self, repo: str, number: str, **_: Any) -> Answer:
        found = self._deployment(repo, number)
        return (200, self.deployment_json(found)) if found else _error(404, "Not Found")

    def _status_json(self, d: Deployment, status: dict[str, Any]) -> dict[str, Any]:
        url = self._url(d.repo, f"/deployments/{d.id}")
        return {**status, "url": f"{url}/statuses/{status['id']}", "node_id": f"DES_{status['id']}",
                "deployment_url": url, "repository_url": self._url(d.repo)}

    def _add_status(self, d: Deployment, state: str, login: str,
                    fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
        fields = fields or {}
        self._next_status += 1
        log_url = fields.get("log_url") or fields.get("target_url") or ""
        status = {"id": self._next_status, "state": state, "creator": {"login": login},
                  "description": fields.get("description") or "",
                  "environment": fields.get("environment") or d.environment,
                  "target_url": log_url, "log_url": log_url,
                  "environment_url": fields.get("environment_url") or "",
                  "created_at": _now(), "updated_at": _now()}
        d.statuses.append(status)
        return status

    def _create_status(self, repo: str, number: str, *, body: Any, login: str,
                       **_: Any) -> Answer:
        found = self._deployment(repo, number)
        if found is None:
            return _error(404, "Not Found")
        if not isinstance(body, dict) or body.get("state") not in STATES:
            return _invalid({"resource": "DeploymentStatus", "code": "invalid", "field": "state"})
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 140):
            return _invalid({"resource": "DeploymentStatus", "code": "custom", "field":
                             "description", "message": "description is too long (maximum is "
                                                       "140 characters)"})
        status = self._add_status(found, body["state"], login, body)
        if body["state"] == "success" and body.get("auto_inactive", True):
            for other in self.deployments.values():
                if (other is not found and other.repo == repo and other.id < found.id
                        and other.environment == found.environment and not other.transient
                        and not other.production and other.statuses
                        and other.statuses[-1]["state"] == "success"):
                    self._add_status(other, "inactive", login)
        return 201, self._status_json(found, status)

    def _list_statuses(self, repo: str, number: str, **_: Any) -> Answer:
        found = self._deployment(repo, number)
        if found is None:
            return _error(404, "Not Found")
        return 200, [self._status_json(found, s) for s in reversed(found.statuses)]

    def _get_status(self, repo: str, number: str, status_id: str, **_: Any) -> Answer:
        found = self._deployment(repo, number)
        for status in found.statuses if found else []:
            if status["id"] == int(status_id):
                return 200, self._status_json(found, status)  # type: ignore[arg-type]
        return _error(404, "Not Found")

    # -- pull requests -------------------------------------------------------------------------
    def _backing(self, repo: str) -> GitBacking | None:
        return self.git.get(repo)

    def pull_json(self, pr: PullRequest) -> dict[str, Any]:
        backing = self.git[pr.repo]
        owner = pr.repo.split("/")[0]
        head_sha = backing.commit_of(f"refs/heads/{pr.head}") or ""
        base_sha = backing.commit_of(f"refs/heads/{pr.base}") or ""
        mergeable = None
        if pr.state == "open" and head_sha and base_sha:
            mergeable = backing.merge_tree(base_sha, head_sha) is not None
        return {"url": self._url(pr.repo, f"/pulls/{pr.number}"), "id": 70000 + pr.number,
                "number": pr.number, "state": pr.state, "title": pr.title, "body": pr.body,
                "draft": pr.draft, "user": {"login": pr.creator},
                "html_url": f"https://github.com/{pr.repo}/pull/{pr.number}",
                "head": {"ref": pr.head, "sha": head_sha, "label": f"{owner}:{pr.head}"},
                "base": {"ref": pr.base, "sha": base_sha, "label": f"{owner}:{pr.base}"},
                "merged": pr.merged, "mergeable": mergeable,
                "mergeable_state": "unknown" if mergeable is None else
                ("clean" if mergeable else "dirty"),
                "merge_commit_sha": pr.merge_commit_sha, "created_at": pr.created_at,
                "updated_at": pr.updated_at}

    def _create_pull(self, repo: str, *, body: Any, login: str, **_: Any) -> Answer:
        backing = self._backing(repo)
        if backing is None:
            return _error(409, "Git Repository is empty.")
        body = body if isinstance(body, dict) else {}
        if not isinstance(body.get("title"), str) or not body["title"]:
            return _invalid({"resource": "PullRequest", "code": "missing_field", "field": "title"})
        owner = repo.split("/")[0]
        head = str(body.get("head") or "")
        head = head.split(":", 1)[1] if head.startswith(f"{owner}:") else head
        base = str(body.get("base") or "")
        for name, value in (("head", head), ("base", base)):
            if not value or backing.ref(f"refs/heads/{value}") is None:
                return _invalid({"resource": "PullRequest", "code": "invalid", "field": name})
        if backing.ahead(f"refs/heads/{base}", f"refs/heads/{head}") == 0:
            return _invalid({"resource": "PullRequest", "code": "custom",
                             "message": f"No commits between {base} and {head}"})
        pulls = self.pulls.setdefault(repo, {})
        if any(p.state == "open" and p.head == head and p.base == base for p in pulls.values()):
            return _invalid({"resource": "PullRequest", "code": "custom",
                             "message": f"A pull request already exists for {owner}:{head}."})
        number = max(pulls, default=0) + 1
        pulls[number] = PullRequest(number, repo, body["title"], body.get("body"), head, base,
                                    login, bool(body.get("draft")))
        return 201, self.pull_json(pulls[number])

    def _list_pulls(self, repo: str, *, query: Mapping[str, str], **_: Any) -> Answer:
        state = query.get("state", "open")
        found = []
        for pr in self.pulls.get(repo, {}).values():
            owner = repo.split("/")[0]
            if ((state != "all" and pr.state != state)
                    or ("head" in query and query["head"] != f"{owner}:{pr.head}")
                    or ("base" in query and query["base"] != pr.base)):
                continue
            found.append(pr)
        return 200, [self.pull_json(pr) for pr in sorted(found, key=lambda p: -p.number)]

    def _get_pull(self, repo: str, number: str, **_: Any) -> Answer:
        pr = self.pulls.get(repo, {}).get(int(number))
        return (200, self.pull_json(pr)) if pr else _error(404, "Not Found")

    def _update_pull(self, repo: str, number: str, *, body: Any, **_: Any) -> Answer:
        pr = self.pulls.get(repo, {}).get(int(number))
        if pr is None:
            return _error(404, "Not Found")
        body = body if isinstance(body, dict) else {}
        if "state" in body and body["state"] not in ("open", "closed"):
            return _invalid({"resource": "PullRequest", "code": "invalid", "field": "state"})
        if "base" in body and self.git[repo].ref(f"refs/heads/{body['base']}") is None:
            return _invalid({"resource": "PullRequest", "code": "invalid", "field": "base"})
        if pr.merged and body.get("state") == "open":
            return _invalid({"resource": "PullRequest", "code": "custom",
                             "message": "state cannot be changed. The pull request has been "
                                        "merged."})
        for key in ("title", "body", "state", "base"):
            if key in body:
                setattr(pr, key, body[key])
        pr.updated_at = _now()
        return 200, self.pull_json(pr)

    def _is_merged(self, repo: str, number: str, **_: Any) -> Answer:
        pr = self.pulls.get(repo, {}).get(int(number))
        return (204, None) if pr is not None and pr.merged else _error(404, "Not Found")

    def _merge_pull(self, repo: str, number: str, *, body: Any, **_: Any) -> Answer:
        pr = self.pulls.get(repo, {}).get(int(number))
        if pr is None:
            return _error(404, "Not Found")
        body = body if isinstance(body, dict) else {}
        method = body.get("merge_method", "merge")
        if method not in MERGE_METHODS:
            return _invalid({"resource": "PullRequest", "code": "invalid",
                             "field": "merge_method"})
        if method not in self.merge_methods.get(repo, ("merge", "squash")):
            return _error(405, f"{method.capitalize()} merges are not allowed on this repository.")
        backing = self.git[repo]
        head = backing.commit_of(f"refs/heads/{pr.head}")
        base = backing.commit_of(f"refs/heads/{pr.base}")
        if pr.state != "open" or head is None or base is None:
            return _error(405, "Pull Request is not mergeable")
        if body.get("sha") and body["sha"] != head:
            return _error(409, "Head branch was modified. Review and try the merge again.")
        tree = backing.merge_tree(base, head)
        if tree is None:
            return _error(405, "Pull Request is not mergeable")
        title = body.get("commit_title") or (
            f"Merge pull request #{pr.number} from {repo.split('/')[0]}/{pr.head}"
            if method == "merge" else f"{pr.title} (#{pr.number})")
        message = f"{title}\n\n{body.get('commit_message') or pr.title}"
        commit = backing.commit_tree(tree, [base, head] if method == "merge" else [base], message)
        if not backing.update_ref(f"refs/heads/{pr.base}", commit, base):
            return _error(409, "Base branch was modified. Review and try the merge again.")
        pr.state, pr.merged, pr.merge_commit_sha, pr.updated_at = "closed", True, commit, _now()
        return 200, {"sha": commit, "merged": True, "message": "Pull Request successfully merged"}

    # -- git refs ------------------------------------------------------------------------------
    def ref_json(self, repo: str, name: str, sha: str) -> dict[str, Any]:
        return {"ref": name, "node_id": f"REF_{name}", "url": self._url(repo, f"/git/{name}"),
                "object": {"sha": sha, "type": "commit",
                           "url": self._url(repo, f"/git/commits/{sha}")}}

    def _get_ref(self, repo: str, name: str, **_: Any) -> Answer:
        backing = self._backing(repo)
        if backing is None:
            return _error(409, "Git Repository is empty.")
        sha = backing.ref(f"refs/{name}")
        return (200, self.ref_json(repo, f"refs/{name}", sha)) if sha else _error(404, "Not Found")

    def _matching_refs(self, repo: str, name: str, **_: Any) -> Answer:
        backing = self._backing(repo)
        if backing is None:
            return _error(409, "Git Repository is empty.")
        return 200, [self.ref_json(repo, n, s) for n, s in backing.refs(f"refs/{name}")]

    def _create_ref(self, repo: str, *, body: Any, **_: Any) -> Answer:
        backing = self._backing(repo)
        if backing is None:
            return _error(409, "Git Repository is empty.")
        body = body if isinstance(body, dict) else {}
        name, sha = str(body.get("ref") or ""), str(body.get("sha") or "")
        if not name.startswith("refs/") or name.count("/") < 2:
            return _error(422, "Reference name must start with 'refs/' and have at least two "
                               "slashes.")
        if not sha or backing.commit_of(sha) is None:
            return _error(422, "Object does not exist")
        if backing.ref(name) is not None:
            return _error(422, "Reference already exists")
        backing.update_ref(name, sha, "0" * 40)
        return 201, self.ref_json(repo, name, sha)

    def _update_ref(self, repo: str, name: str, *, body: Any, **_: Any) -> Answer:
        backing = self._backing(repo)
        if backing is None:
            return _error(409, "Git Repository is empty.")
        body = body if isinstance(body, dict) else {}
        full, sha = f"refs/{name}", str(body.get("sha") or "")
        old = backing.ref(full)
        if old is None:
            return _error(422, "Reference does not exist")
        if not sha or backing.commit_of(sha) is None:
            return _error(422, "Object does not exist")
        if not body.get("force") and not backing.is_ancestor(old, sha):
            return _error(422, "Update is not a fast forward")
        backing.update_ref(full, sha, old)
        return 200, self.ref_json(repo, full, sha)

    def _delete_ref(self, repo: str, name: str, **_: Any) -> Answer:
        backing = self._backing(repo)
        if backing is None:
            return _error(409, "Git Repository is empty.")
        if backing.ref(f"refs/{name}") is None or not backing.delete_ref(f"refs/{name}"):
            return _error(422, "Reference does not exist")
        return 204, None
