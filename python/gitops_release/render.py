"""The judge of a deploy: render what the config repo deploys, before and after the planned edit.

An overlay with a kustomization is rendered by the real kustomize (``kustomize build``, else
``kubectl kustomize``) in a scratch copy of exactly the files discovery found, so the "before" and
"after" renders differ only by the planned edit and nothing is written in the clone. A plain folder
renders as the documents of its YAML files (what an Argo CD directory app applies).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops_release import yamledit as y
from gitops_release.discovery import Tree
from gitops_release.errors import ManifestError

RENDER_TIMEOUT = 120
GO_MEMORY_LIMIT = "1GiB"


class RenderError(ManifestError):
    """The overlay does not render."""

    title = "Render failed"


def kustomize_command() -> list[str] | None:
    """``kustomize build`` (fast), else ``kubectl kustomize``; None when neither is on PATH."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def to_data(node: Any) -> Any:
    """A composed node as plain data: mappings, lists and scalar strings. Tags are never
    constructed (a ``!!python/...`` tag stays text), so before and after compare as written."""
    kind = node.id
    if kind == "mapping":
        return {str(k.value) if k.id == "scalar" else repr(to_data(k)):
                str(v.value) if v.id == "scalar" else to_data(v) for k, v in node.value}
    if kind == "sequence":
        return [str(item.value) if item.id == "scalar" else to_data(item) for item in node.value]
    return str(node.value)


def load_documents(text: str, shown: str) -> list[Any]:
    """The documents of a renderer's output as plain data."""
    from ruamel.yaml.error import YAMLError

    try:
        return [to_data(d) for d in y.compose_all(text) if d is not None]
    except (YAMLError, ValueError, RecursionError) as exc:
        raise RenderError(f"{shown} does not load: {str(exc).splitlines()[0]}") from None


class Scratch:
    """A scratch copy of a tree's files, where variants of the planned texts are rendered."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.dir = Path(tempfile.mkdtemp(prefix="gitops-release-render-"))
        self.written: dict[str, str] = {}
        for rel in sorted(set(tree.files) | tree.other_files):
            target = self.dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel in tree.files:
                target.write_text(tree.files[rel].text, encoding="utf-8", newline="")
            else:
                shutil.copyfile(tree.root / rel, target, follow_symlinks=False)
        for folder in tree.folders:
            (self.dir / folder).mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def render(self, texts: Mapping[str, str]) -> list[Any]:
        """Render the overlay with ``texts`` (rel → new text) in place of the files' own."""
        for rel in set(self.written) | set(texts):
            text = texts.get(rel, self.tree.files[rel].text)
            if self.written.get(rel, self.tree.files[rel].text) != text:
                (self.dir / rel).write_text(text, encoding="utf-8", newline="")
            self.written[rel] = text
        return self._kustomize()

    def _kustomize(self) -> list[Any]:
        command = kustomize_command()
        if command is None:
            raise RenderError("neither kustomize nor kubectl is on PATH, so the overlay cannot "
                              "be rendered", hint="Install kustomize (GitHub's Ubuntu runners "
                              "have it)")
        args = [*command, str(self.dir / self.tree.overlay)]
        if self.tree.helm_charts:
            args.append("--enable-helm")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITOPS_RELEASE_")}
        if "GOGC" not in env and "GOMEMLIMIT" not in env:
            # A render is a short-lived Go process: without garbage collection up to a memory
            # limit it takes half the CPU (kustomize's OpenAPI schema load dominates a render
            # with a strategic-merge patch); past the limit the collector runs as usual.
            env.update(GOGC="off", GOMEMLIMIT=GO_MEMORY_LIMIT)
        try:
            result = subprocess.run(args, capture_output=True, text=True, timeout=RENDER_TIMEOUT,
                                    check=False, env=env)
        except subprocess.TimeoutExpired:
            raise RenderError(f"rendering {self.tree.overlay} took longer than "
                              f"{RENDER_TIMEOUT} s") from None
        if result.returncode != 0:
            message = result.stderr.strip().replace(str(self.dir) + "/", "")
            raise RenderError(f"{self.tree.overlay} does not render with {' '.join(command)}: "
                              f"{message[-1500:]}", hint="Fix the overlay so that it renders")
        return load_documents(result.stdout, f"the render of {self.tree.overlay}")


def render_plain(tree: Tree, texts: Mapping[str, str]) -> list[Any]:
    """A plain folder: the documents of its files."""
    out: list[Any] = []
    for rel in sorted(tree.files):
        if rel in texts and texts[rel] != tree.files[rel].text:
            out += [to_data(d) for d in y.parse(texts[rel], rel).docs]
        else:
            if rel not in tree.data:
                tree.data[rel] = [to_data(d) for d in tree.files[rel].parsed.docs]
            out += tree.data[rel]
    return out
