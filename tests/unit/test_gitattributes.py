"""A deploy commits each file as ``git add`` would store it: the clean side of the path's
attributes runs (a filter driver such as git-crypt's, ``ident``, line-ending normalization with
``eol``/``text`` or ``core.autocrlf``). The commit written from the work-tree bytes used to push
a git-crypt-style file in plaintext, rewrite every line of a CRLF file, expand ``$Id$``, and
leave the clone with a staged change that blocked the next deploy. A tracked file in a folder
that ``.gitignore`` names is committed all the same."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tests.harness.cli import run_cli
from tests.harness.gitrepo import GitRepo, repo_of_files
from tests.unit.test_corpus import deployment

DEPLOYMENT = "# $Id$\n" + deployment(
    "web", "ghcr.io/acme/web:1.0.0",
    env="            - name: APP_RELEASEVERSION\n              value: web@1.0.0\n")


def _deploy(repo: GitRepo, tmp_path: Path) -> str:
    code, log, outputs = run_cli(repo, tmp_path, [
        "image-update", "--image", "ghcr.io/acme/web:1.1.0", "--release", "web@1.1.0",
        "--path", "dev"])
    assert code == 0 and outputs["changed"] == "true", log
    assert repo.git("status", "--porcelain") == "", log  # the next deploy can run
    return log


def _changed_lines(repo: GitRepo) -> list[str]:
    diff = repo.origin_git("diff", "main~1", "main", "--", "dev/deployment.yaml")
    return [line for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def _encoded(repo: GitRepo) -> None:
    """A base64 filter (git-crypt's shape: clean on the way in, smudge on the way out), and the
    manifests stored through it."""
    repo.git("config", "filter.b64.clean", "base64")
    repo.git("config", "filter.b64.smudge", "base64 -d")
    repo.git("config", "filter.b64.required", "true")
    repo.git("add", "--renormalize", ".")
    repo.commit_all("Store the manifests encoded")
    repo.git("push", "-q")


def test_a_filtered_file_is_pushed_through_its_clean_filter(tmp_path: Path) -> None:
    repo = repo_of_files(tmp_path, {"dev/deployment.yaml": DEPLOYMENT,
                                    ".gitattributes": "dev/*.yaml filter=b64\n"})
    _encoded(repo)
    _deploy(repo, tmp_path)
    stored = repo.origin_git("show", "main:dev/deployment.yaml")
    assert "apiVersion" not in stored, "pushed in the clear"
    assert (repo.work / "dev/deployment.yaml").read_text() == DEPLOYMENT.replace(
        "1.0.0", "1.1.0")


def test_line_endings_normalized_by_attributes_stay_as_stored(tmp_path: Path) -> None:
    repo = repo_of_files(tmp_path, {"dev/deployment.yaml": DEPLOYMENT,
                                    ".gitattributes": "*.yaml text eol=crlf\n"})
    (repo.work / "dev/deployment.yaml").unlink()
    repo.git("checkout", "--", "dev/deployment.yaml")  # CR LF in the work tree, LF stored
    assert b"\r\n" in (repo.work / "dev/deployment.yaml").read_bytes()
    _deploy(repo, tmp_path)
    assert len(_changed_lines(repo)) == 4, _changed_lines(repo)
    assert "\r" not in repo.origin_git("show", "main:dev/deployment.yaml")


def test_core_autocrlf_is_honoured(tmp_path: Path) -> None:
    repo = repo_of_files(tmp_path, {"dev/deployment.yaml": DEPLOYMENT})
    repo.git("config", "core.autocrlf", "true")
    (repo.work / "dev/deployment.yaml").unlink()
    repo.git("checkout", "--", "dev/deployment.yaml")
    _deploy(repo, tmp_path)
    assert len(_changed_lines(repo)) == 4, _changed_lines(repo)


def test_an_ident_keyword_is_not_expanded_in_the_commit(tmp_path: Path) -> None:
    repo = repo_of_files(tmp_path, {"dev/deployment.yaml": DEPLOYMENT,
                                    ".gitattributes": "*.yaml ident\n"})
    (repo.work / "dev/deployment.yaml").unlink()
    repo.git("checkout", "--", "dev/deployment.yaml")  # $Id: <sha> $ in the work tree
    assert "$Id: " in (repo.work / "dev/deployment.yaml").read_text()
    _deploy(repo, tmp_path)
    assert repo.origin_git("show", "main:dev/deployment.yaml").startswith("# $Id$\n")
    assert len(_changed_lines(repo)) == 4, _changed_lines(repo)


def test_a_tracked_overlay_in_an_ignored_folder_deploys(tmp_path: Path) -> None:
    """A ``.gitignore`` that names the folder of tracked manifests (``kustomize``): git add
    refused the deploy's own files ("paths are ignored"), which git tracks all the same."""
    repo = repo_of_files(tmp_path, {"dev/deployment.yaml": DEPLOYMENT})
    (repo.work / ".gitignore").write_text("dev\n")
    repo.commit_all("Ignore dev")
    repo.git("push", "-q")
    _deploy(repo, tmp_path)
    assert "ghcr.io/acme/web:1.1.0" in repo.origin_git("show", "main:dev/deployment.yaml")


def test_a_filter_set_in_the_clones_info_attributes_runs(tmp_path: Path) -> None:
    """Attributes from ``.git/info/attributes`` (no .gitattributes in the repository)."""
    repo = repo_of_files(tmp_path, {"dev/deployment.yaml": DEPLOYMENT})
    (repo.work / ".git" / "info").mkdir(exist_ok=True)
    (repo.work / ".git" / "info" / "attributes").write_text("dev/*.yaml filter=b64\n")
    _encoded(repo)
    _deploy(repo, tmp_path)
    assert "apiVersion" not in repo.origin_git("show", "main:dev/deployment.yaml")


def test_a_filter_in_info_attributes_runs_in_a_linked_worktree(tmp_path: Path) -> None:
    """A linked worktree's ``.git`` is a file: git keeps ``info/attributes`` in the common
    folder. Its filter was not seen there, and the smudged text was pushed."""
    repo = repo_of_files(tmp_path, {"dev/deployment.yaml": DEPLOYMENT})
    (repo.work / ".git" / "info").mkdir(exist_ok=True)
    (repo.work / ".git" / "info" / "attributes").write_text("dev/*.yaml filter=b64\n")
    _encoded(repo)
    repo.git("checkout", "-q", "--detach")
    repo.git("worktree", "add", "-q", str(tmp_path / "wt"), "main")
    _deploy(replace(repo, work=tmp_path / "wt"), tmp_path)
    assert "apiVersion" not in repo.origin_git("show", "main:dev/deployment.yaml")


def test_an_attributes_file_named_in_an_included_config_runs(tmp_path: Path) -> None:
    """``core.attributesFile`` set in a config file that the clone's config includes (as the
    XDG config or an ``[include]`` of the user's): git reads it, so the deploy must too."""
    repo = repo_of_files(tmp_path, {"dev/deployment.yaml": DEPLOYMENT})
    (tmp_path / "attributes").write_text("dev/*.yaml filter=b64\n")
    (tmp_path / "included").write_text(f"[core]\n\tattributesFile = {tmp_path / 'attributes'}\n")
    repo.git("config", "include.path", str(tmp_path / "included"))
    _encoded(repo)
    _deploy(repo, tmp_path)
    assert "apiVersion" not in repo.origin_git("show", "main:dev/deployment.yaml")
