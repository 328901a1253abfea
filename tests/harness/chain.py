"""The whole release chain on this machine, as the end-to-end tests, the demo and the chain
benchmark run it:

    app repo (act: push to main / push of a vX.Y.Z tag, the example app's own workflows)
      → release.yml@v1: build-push to the registry, dispatch to the local GitHub API
      → the API accepts (204) and delivers repository_dispatch to the config repo (act, the
        example config repo's own receiver workflows) → image-update / cronjob-update
      → a deploy commit pushed to the config repo's bare origin.

Everything is real except github.com: the Docker engine and buildx, a registry with auth, git
remotes (bare repos), act running the workflows, and a local server implementing the
repository_dispatch contract.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from tests.harness.act import Act, ActResult
from tests.harness.github_api import ActDelivery, DeliveryRun, GitHubAPI, iter_results
from tests.harness.gitrepo import GitRepo, git, make_repo
from tests.harness.services import REPO_ROOT, Registry

APP_TEMPLATE = REPO_ROOT / "examples" / "app-repo"
CONFIG_TEMPLATE = REPO_ROOT / "examples" / "config-repo"
OWNER = "acme"
CONFIG_NAME = "k8s-configurations"
EXAMPLE_REGISTRY = "registry.example.com/acme/"
DEV_WORKFLOW = ".github/workflows/dev-release-version.yaml"
PROD_WORKFLOW = ".github/workflows/prod-release-version.yaml"


@dataclass
class ChainRun:
    """One release: the app repo's act run and the deliveries its dispatch caused."""

    app: ActResult
    deliveries: list[DeliveryRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.app.ok and bool(self.deliveries) and all(d.ok for d in self.deliveries)

    @property
    def log(self) -> str:
        return self.app.log + "\n".join(d.log for d in self.deliveries)

    def __str__(self) -> str:
        parts = [f"app: {self.app}"] + [f"delivery: {d}" for d in self.deliveries]
        return "\n".join(parts)


class LocalChain:
    """A config repo (from examples/config-repo) on a bare origin, the local GitHub API
    delivering to it, and app repos (from examples/app-repo) released through act."""

    def __init__(self, root: Path, act: Act, registry: Registry, *, token: str,
                 delivery_workers: int = 2, dispatch_backoff: str = "0.2") -> None:
        self.root = root
        self.act = act
        self.registry = registry
        self.token = token
        self.api = GitHubAPI(delivery_workers=delivery_workers)
        self.dispatch_backoff = dispatch_backoff
        self.config: GitRepo | None = None

    def __enter__(self) -> LocalChain:
        self.api.__enter__()
        full_name = f"{OWNER}/{CONFIG_NAME}"
        self.config = make_repo(self.root / "repos", OWNER, CONFIG_NAME, self._config_template())
        self.api.add_repo(full_name, git=self.config.bare)
        # One token for both sides, as an organization's GITHUB_PAT: it dispatches to the config
        # repo, and creates (sender) and reports to (receiver) the app repos' deployments.
        self.api.add_token(self.token)
        self.api.on_dispatch = ActDelivery(self.act, [self.config],
                                           secrets={"GITHUB_PAT": self.token},
                                           env={"GITHUB_API_URL": self.api.url})
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.api.__exit__(exc_type, exc, tb)

    def _config_template(self) -> Path:
        """The example config repo, its apps running images of this chain's registry (as a real
        config repo runs the images its app repos push: the receiver never changes a target's
        image repository on its own)."""
        template = self.root / "config-template"
        shutil.copytree(CONFIG_TEMPLATE, template, dirs_exist_ok=True)
        for path in template.rglob("*.y*ml"):
            text = path.read_text(encoding="utf-8")
            if EXAMPLE_REGISTRY in text:
                path.write_text(text.replace(EXAMPLE_REGISTRY, f"{self.registry.host}/"),
                                encoding="utf-8")
        return template

    @property
    def config_repo(self) -> GitRepo:
        assert self.config is not None, "use LocalChain as a context manager"
        return self.config

    def make_app(self, name: str = "web-api", kind: str = "new-image",
                 prod_inputs: dict[str, str] | None = None) -> GitRepo:
        """An app repo from examples/app-repo whose workflows release ``name`` as ``kind``;
        ``prod_inputs`` are added to the prod workflow's ``with:`` (e.g. ``wait: true``)."""
        repo = make_repo(self.root / "repos", OWNER, name, APP_TEMPLATE)
        self.api.add_repo(repo.full_name, git=repo.bare)
        for workflow in (DEV_WORKFLOW, PROD_WORKFLOW):
            path = repo.work / workflow
            text = re.sub(r"web-api", name, path.read_text(encoding="utf-8"))
            extra = {**({"target_k8s_image_kind": kind} if kind != "new-image" else {}),
                     **(prod_inputs or {} if workflow == PROD_WORKFLOW else {})}
            text = text.replace(f"      image_name: {name}\n", f"      image_name: {name}\n" +
                                "".join(f"      {k}: {v}\n" for k, v in extra.items()))
            path.write_text(text, encoding="utf-8")
        if repo.git("status", "--porcelain").strip():
            repo.commit_all(f"Release {name} as {kind}")
            repo.push()
        # act names the repository after the origin URL as git resolves it: without the
        # insteadOf rewrite it stays github.com/acme/<name> (a release never fetches the app).
        repo.git("config", "--unset", f"url.{repo.bare}.insteadOf")
        return repo

    def release(self, app: GitRepo, ref: str, *, timeout: float = 900) -> ChainRun:
        """Run the app's release for ``ref`` (refs/heads/main → dev, refs/tags/vX.Y.Z → prod)
        and wait for the deliveries it caused."""
        start = time.monotonic()
        before = len(self.api.deliveries)
        workflow = PROD_WORKFLOW if ref.startswith("refs/tags/") else DEV_WORKFLOW
        result = self.act.run(
            app.work, "push",
            # "act": true skips the jobs act cannot run (Release Please), as the workflow says
            {"ref": ref, "act": True,
             "repository": {"full_name": app.full_name, "default_branch": "main"}},
            workflow=workflow,
            secrets={"CR_ENDPOINT": self.registry.host, "CR_USERNAME": self.registry.username,
                     "CR_PASSWORD": self.registry.password, "GITHUB_PAT": self.token},
            env={"GITHUB_API_URL": self.api.url,
                 "GITOPS_RELEASE_DISPATCH_BACKOFF": self.dispatch_backoff,
                 "GITOPS_RELEASE_WAIT_INTERVAL": "0.5"},
            timeout=timeout)
        deliveries = self.api.wait_for_deliveries(timeout)[before:]
        runs = list(iter_results(deliveries))
        return ChainRun(result, runs, time.monotonic() - start)

    def origin_checkout(self) -> Path:
        """A fresh clone of the config repo's origin (what the clusters would sync)."""
        dest = Path(tempfile.mkdtemp(prefix="config-origin-", dir=self.root))
        git(dest, "clone", "-q", "--", str(self.config_repo.bare), ".")
        return dest

    def render(self, overlay: str) -> str:
        """`kubectl kustomize` of an overlay as it is on the config repo's origin."""
        checkout = self.origin_checkout()
        result = subprocess.run(["kubectl", "kustomize", overlay], cwd=checkout,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl kustomize {overlay} failed:\n{result.stderr}")
        return result.stdout
