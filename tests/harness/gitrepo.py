"""Real git repositories for the tests: a working clone whose `origin` is a local bare repo.

The origin URL is GitHub-shaped (``https://github.com/<owner>/<name>.git``), from which the act
helper takes ``GITHUB_REPOSITORY`` (act itself would read the rewritten path), and a
``url.<bare>.insteadOf`` entry in the clone's own config sends
every fetch and push to the bare repo. act copies the workspace with ``.git``, so a workflow's
``git push`` lands in the bare repo too.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_ENV_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
}


def git(cwd: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False,
                            env={**_base_env(), **GIT_ENV_IDENTITY})
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout


def _base_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    return env


@dataclass(frozen=True)
class GitRepo:
    """A working clone (``work``) and its bare origin (``bare``), named ``owner/name``."""

    owner: str
    name: str
    work: Path
    bare: Path

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.name}.git"

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.work, *args, check=check)

    def origin_git(self, *args: str, check: bool = True) -> str:
        """Run git in the bare origin (what was pushed)."""
        return git(self.bare, *args, check=check)

    def origin_log(self, branch: str = "main", fmt: str = "%s") -> list[str]:
        out = self.origin_git("log", f"--format={fmt}", branch)
        return [line for line in out.splitlines() if line]

    def origin_show(self, path: str, ref: str = "main") -> str:
        return self.origin_git("show", f"{ref}:{path}")

    def origin_head(self, branch: str = "main") -> str:
        return self.origin_git("rev-parse", branch).strip()

    def commit_all(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()

    def push(self, *refs: str) -> None:
        self.git("push", "-q", "origin", *(refs or ("HEAD",)))


def make_repo(root: Path, owner: str, name: str, template: Path | None = None,
              branch: str = "main") -> GitRepo:
    """Create ``root/<name>`` (clone) and ``root/<name>.git`` (bare origin) from ``template``."""
    bare = root / f"{name}.git"
    work = root / name
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "--bare", f"--initial-branch={branch}", str(bare))
    git(root, "init", "-q", f"--initial-branch={branch}", str(work))
    repo = GitRepo(owner=owner, name=name, work=work, bare=bare)
    url = repo.url
    repo.git("remote", "add", "origin", url)
    repo.git("config", f"url.{bare}.insteadOf", url)
    repo.git("config", "user.name", "Test Author")
    repo.git("config", "user.email", "author@example.com")
    if template is not None:
        shutil.copytree(template, work, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".git"))
    else:
        (work / "README.md").write_text(f"# {name}\n", encoding="utf-8")
    repo.commit_all("Initial commit")
    repo.git("push", "-q", "-u", "origin", branch)
    return repo


def repo_of_files(tmp_path: Path, files: dict[str, str]) -> GitRepo:
    """A config repo ``acme/config`` (clone and bare origin under ``tmp_path``) holding
    ``files`` (repository path → text) in its first commit."""
    template = tmp_path / "template"
    for rel, text in files.items():
        (template / rel).parent.mkdir(parents=True, exist_ok=True)
        (template / rel).write_text(text)
    return make_repo(tmp_path / "repos", "acme", "config", template)
