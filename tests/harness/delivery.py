"""Delivering an accepted repository_dispatch to a config repo, as GitHub does: the webhook
payload, which workflows listen (``on.repository_dispatch.types``), and act running them on a
fresh clone of the repository's default branch. Used by the local GitHub API
(``tests/harness/github_api.py``) as its ``on_dispatch`` hook."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.harness.act import Act, ActResult
from tests.harness.gitrepo import GitRepo, git

if TYPE_CHECKING:
    from tests.harness.github_api import Delivery


def _repository_json(owner: str, name: str, default_branch: str) -> dict[str, Any]:
    return {"id": abs(hash(f"{owner}/{name}")) % 10**9, "name": name,
            "full_name": f"{owner}/{name}", "private": True,
            "owner": {"login": owner, "type": "Organization"},
            "html_url": f"https://github.com/{owner}/{name}",
            "clone_url": f"https://github.com/{owner}/{name}.git",
            "default_branch": default_branch}


def dispatch_event(owner: str, repo: str, event_type: str, client_payload: Mapping[str, Any],
                   default_branch: str = "main", sender: str = "release-bot") -> dict[str, Any]:
    """The ``repository_dispatch`` webhook payload GitHub gives the receiving workflow."""
    return {"action": event_type, "branch": default_branch,
            "client_payload": dict(client_payload),
            "repository": _repository_json(owner, repo, default_branch),
            "organization": {"login": owner},
            "sender": {"login": sender, "type": "User"}}


def _on_keys(document: Any) -> Any:
    if not isinstance(document, dict):
        return None
    # YAML 1.1 loaders read the key `on` as True
    return document.get("on", document.get(True))


def dispatch_types(workflow: Path) -> list[str] | None:
    """The repository_dispatch types a workflow listens to ([] = all), None if it does not."""
    from ruamel.yaml import YAML

    try:
        triggers = _on_keys(YAML(typ="safe", pure=True).load(workflow.read_text(encoding="utf-8")))
    except Exception:  # a broken workflow: GitHub does not run it either
        return None
    if triggers == "repository_dispatch":
        return []
    if isinstance(triggers, list):
        return [] if "repository_dispatch" in triggers else None
    if not isinstance(triggers, dict) or "repository_dispatch" not in triggers:
        return None
    config = triggers["repository_dispatch"] or {}
    types = config.get("types", []) if isinstance(config, dict) else []
    return [types] if isinstance(types, str) else [str(t) for t in types]


def matching_workflows(workdir: Path, event_type: str) -> list[Path]:
    folder = workdir / ".github" / "workflows"
    found = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []
    matches = []
    for path in found:
        types = dispatch_types(path)
        if types is not None and (not types or event_type in types):
            matches.append(path)
    return matches


@dataclass
class DeliveryRun:
    """act's runs for one delivered event: one per matching workflow (GitHub runs each)."""

    workdir: Path
    runs: dict[str, ActResult]

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.runs.values())

    @property
    def log(self) -> str:
        return "\n".join(f"=== {name}\n{result.log}" for name, result in self.runs.items())

    def __str__(self) -> str:
        return "\n".join(f"=== {name}: {result}" for name, result in self.runs.items()) or \
            f"no workflow matched in {self.workdir}"


class ActDelivery:
    """An ``on_dispatch`` hook delivering events to config repos with act, as GitHub would:
    the repository's default branch as it is on its origin, the event's ``action`` and
    ``client_payload``, every workflow whose ``repository_dispatch`` types match.

    Each delivery gets its own fresh clone of the origin (a ``git fetch`` + ``git reset --hard``
    of a clone could race with a second delivery running at the same time)."""

    def __init__(self, act: Act, repos: Iterable[GitRepo], *,
                 secrets: Mapping[str, str] | None = None,
                 variables: Mapping[str, str] | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = 600) -> None:
        self.act = act
        self.repos = {repo.full_name.lower(): repo for repo in repos}
        self.secrets = dict(secrets or {})
        self.variables = dict(variables or {})
        self.env = dict(env or {})
        self.timeout = timeout

    def checkout(self, repo: GitRepo) -> tuple[Path, str]:
        """A fresh clone of ``repo``'s origin at its default branch → (workdir, branch)."""
        branch = git(repo.bare, "symbolic-ref", "--short", "HEAD").strip()
        workdir = Path(tempfile.mkdtemp(prefix=f"{repo.name}-delivery-", dir=repo.work.parent))
        git(workdir, "clone", "-q", "--branch", branch, "--", str(repo.bare), ".")
        git(workdir, "remote", "set-url", "origin", repo.url)
        git(workdir, "config", f"url.{repo.bare}.insteadOf", repo.url)
        git(workdir, "config", "user.name", "Test Author")
        git(workdir, "config", "user.email", "author@example.com")
        return workdir, branch

    def __call__(self, owner: str, repo: str, event_type: str,
                 client_payload: dict[str, Any]) -> DeliveryRun:
        target = self.repos.get(f"{owner}/{repo}".lower())
        if target is None:
            raise LookupError(f"no config repo {owner}/{repo} to deliver {event_type} to")
        workdir, branch = self.checkout(target)
        event = dispatch_event(owner, repo, event_type, client_payload, branch)
        runs = {}
        for workflow in matching_workflows(workdir, event_type):
            rel = workflow.relative_to(workdir).as_posix()
            # act would take GITHUB_REPOSITORY from the insteadOf-rewritten origin (a path)
            env = {"GITHUB_REPOSITORY": target.full_name, **self.env}
            runs[rel] = self.act.run(workdir, "repository_dispatch", event, workflow=rel,
                                     secrets=self.secrets, variables=self.variables,
                                     env=env, timeout=self.timeout)
        return DeliveryRun(workdir, runs)


def iter_results(deliveries: Iterable[Delivery]) -> Iterator[DeliveryRun]:
    """The DeliveryRun of each delivery, re-raising a hook's failure."""
    for delivery in deliveries:
        if delivery.error is not None:
            raise delivery.error
        yield delivery.result
