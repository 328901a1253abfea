"""Discovery: every YAML file an overlay renders from, read once.

An overlay folder with a kustomization is followed through what it pulls in from inside the
repository: ``resources``/``bases``, ``components``, ``patches``/``patchesStrategicMerge``/
``patchesJson6902`` files, generator and replacement files. Never outside the repository, never
through a symlink, never a remote URL (a remote base is noted: only the renderer can follow it).
A folder without a kustomization is a plain folder: its ``*.yaml``/``*.yml`` files are what an
Argo CD directory app applies. Only files that git tracks count: an untracked file in the clone is
not part of the config repo.

A file inside the overlay folder is the overlay's own (a place the deploy may write) unless another
kustomization that git tracks under the overlay folder, not part of the overlay's tree, reaches it
(a base in a subfolder that test overlays beside it build on too): such a file is shared, like a
base outside the folder. A kustomization that builds on the overlay itself takes its changes by
design and shares nothing.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_release import yamledit as y
from gitops_release.errors import ManifestError, PathError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
YAML_SUFFIXES = (".yaml", ".yml")
MAX_TREE_FILES = 2000
MAX_OTHER_KUSTOMIZATIONS = 100  # under one overlay folder, read to find the files they share
BOM = "\ufeff"
REMOTE_MARKS = ("://", "github.com/", "gitlab.com/", "bitbucket.org/", "git@", "?ref=")


@dataclass
class SourceFile:
    """One YAML file of the tree: its text, documents and role."""

    rel: str  # relative to the repository, posix
    path: Path
    text: str
    parsed: y.Parsed
    role: str  # resource | patch | json6902 | kustomization | values
    inside: bool  # inside the overlay folder (a place the deploy may write)
    patch_target: dict[str, str] = field(default_factory=dict)
    bom: str = ""  # a UTF-8 byte order mark the file starts with, kept on write

    def on_disk(self, text: str) -> str:
        return self.bom + text


@dataclass
class Kustomization:
    folder: str  # repo-relative folder
    file: SourceFile
    name_prefix: str = ""
    name_suffix: str = ""


@dataclass
class Tree:
    """What an overlay renders from."""

    root: Path
    overlay: str
    files: dict[str, SourceFile] = field(default_factory=dict)
    kustomizations: list[Kustomization] = field(default_factory=list)  # overlay first
    other_files: set[str] = field(default_factory=set)  # read by the renderer, not parsed
    folders: set[str] = field(default_factory=set)
    remote: list[str] = field(default_factory=list)
    helm_charts: bool = False
    unrestricted: bool = False  # rendered without kustomize's load restrictor (it refused)
    data: dict[str, list[Any]] = field(default_factory=dict)  # a plain folder's documents as data
    shared: dict[str, list[str]] = field(default_factory=dict)  # file → other kustomizations using it
    notes: list[str] = field(default_factory=list)
    inline: list[SourceFile] = field(default_factory=list)  # inline patches as files (inline.py)
    inline_refused: list[tuple[str, str]] = field(default_factory=list)  # (which and why, text)
    dependents: list[str] = field(default_factory=list)  # beside the overlay, building on it
    follows: str = ""  # a fan-out's prod overlay this one builds on (deployed with it)

    @property
    def affixes(self) -> tuple[list[str], list[str]]:
        """The namePrefix and nameSuffix values of its kustomizations, as a rendered object's
        name may carry them (``targets.object_names`` takes them off)."""
        return ([k.name_prefix for k in self.kustomizations],
                [k.name_suffix for k in self.kustomizations])

    def shared_text(self, rels: set[str]) -> str:
        """Which of ``rels`` other kustomizations use ('' when none)."""
        return "; ".join(f"{rel} is also used by {', '.join(users)}"
                         for rel, users in sorted(self.shared.items()) if rel in rels)

    @property
    def kustomization(self) -> Kustomization | None:
        return self.kustomizations[0] if self.kustomizations else None

    def inside(self) -> list[SourceFile]:
        """The files the deploy may edit: the overlay's own, and its inline patches."""
        return [f for f in self.files.values() if f.inside] + self.inline


def read_file(path: Path, shown: str) -> tuple[str, str]:
    """The text of a UTF-8 file without its byte order mark, and the mark ('' when none)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{shown} cannot be read: {exc.strerror}") from None
    if len(data) > y.MAX_FILE_BYTES:
        raise ManifestError(f"{shown} is larger than {y.MAX_FILE_BYTES} bytes",
                            hint="Split it; a manifest this size is not something to edit blindly")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{shown} is not UTF-8 text (byte {exc.start})",
                            hint="Save the file as UTF-8 in the config repo") from None
    return text.removeprefix(BOM), BOM if text.startswith(BOM) else ""  # kept: SourceFile.bom


# A document of a kind the receiver reads (a workload, a HelmRelease, a kustomization), at any
# indentation, quoted or not: a file without one has nothing to edit.
TARGET_KIND = re.compile(rb"^[ \t-]*kind:[ \t]*[\"']?(Deployment|StatefulSet|DaemonSet|Rollout|"
                         rb"CronJob|Job|HelmRelease|Kustomization|Component)\b", re.MULTILINE)


def _may_hold_a_target(path: Path) -> bool:
    """Whether a file too large to parse could hold something the receiver edits (read as
    bytes, so a binary or non-UTF-8 file counts as holding one and is refused when read)."""
    try:
        data = path.read_bytes()
    except OSError:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return TARGET_KIND.search(data) is not None


def tracked_files(root: Path, folders: list[str]) -> set[str] | None:
    """The files git tracks under ``folders`` (repo-relative), None outside a git work tree.
    Listed once per state of the index (a deploy discovers its overlay twice: for the render
    started ahead, then to plan)."""
    key = _index_state(root, folders)
    if key is not None and key in _LISTED:
        return set(_LISTED[key])
    try:
        result = subprocess.run(["git", "ls-files", "-z", "--", *(folders or ["."])], cwd=root,
                                capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    files = {name for name in result.stdout.decode("utf-8", "replace").split("\0") if name}
    if key is not None and key == _index_state(root, folders):  # unchanged while listed
        _LISTED.clear()
        _LISTED[key] = frozenset(files)
    return files


_LISTED: dict[tuple[object, ...], frozenset[str]] = {}


def _index_state(root: Path, folders: list[str]) -> tuple[object, ...] | None:
    """What identifies the index's content (git replaces the file on every write: a new inode
    and time), or None where the index is elsewhere (a linked work tree, GIT_INDEX_FILE)."""
    if "GIT_INDEX_FILE" in os.environ or "GIT_DIR" in os.environ:
        return None
    try:
        info = (root / ".git" / "index").stat()
    except OSError:
        return None
    return (str(root), tuple(folders), info.st_ino, info.st_mtime_ns, info.st_size)


@dataclass(frozen=True)
class Tracked:
    """What git tracks under some folders, listed once for several overlays (a fan-out)."""

    folders: tuple[str, ...]
    files: set[str] | None  # None: not a git work tree
    # per folder, the kustomizations in its subfolders (two levels down) and their texts, and
    # its symlinks with their targets: read once for all the overlays of a fan-out, which share
    # their parent folder (each read them again: quadratic in the siblings, 5 s at 300)
    beside: dict[str, tuple[dict[str, str], list[tuple[str, Path]]]] = field(
        default_factory=dict, compare=False, hash=False)

    @classmethod
    def listing(cls, root: Path, folders: list[str]) -> Tracked:
        return cls(tuple(folders), tracked_files(root, folders))

    def covers(self, folders: list[str]) -> bool:
        """Whether every one of ``folders`` is one of the listed folders or inside one."""
        return all(any(mine in ("", ".") or folder == mine or folder.startswith(mine + "/")
                       for mine in self.folders) for folder in folders)


def _lstat(root: Path, rel: str, shown: str) -> os.stat_result | None:
    """lstat every component of ``rel``: none may be a symlink."""
    current = root
    info = None
    for part in rel.split("/"):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            raise PathError(f"{shown} goes through the symlink {current.relative_to(root)}; "
                            "the receiver never follows symlinks", input_name="path",
                            hint="Replace the symlink with the file or a kustomize reference")
    return info


class _Walker:
    def __init__(self, root: Path, overlay: str,
                 known: dict[str, SourceFile] | None = None) -> None:
        self.root = root
        self.tree = Tree(root, overlay)
        self.seen_dirs: set[str] = set()
        self.known = known  # set: only what is reached counts (files noted, kustomizations reused)
        self.reached: set[str] = set()
        self.absent: set[str] | None = None  # set: a path not in the work tree is noted, not an error

    def inside(self, rel: str) -> bool:
        return rel == self.tree.overlay or rel.startswith(self.tree.overlay.rstrip("/") + "/")

    def resolve(self, folder: str, ref: str, owner: str) -> str | None:
        """A reference of ``owner`` (a kustomization) relative to ``folder``; None when remote."""
        if any(mark in ref for mark in REMOTE_MARKS):
            self.tree.remote.append(f"{owner}: {ref}")
            return None
        joined = posixpath.normpath(posixpath.join(folder, ref))
        if joined.startswith("../") or joined == ".." or posixpath.isabs(ref):
            raise ManifestError(f"{owner} refers to {ref!r}, outside the repository",
                                hint="The receiver reads only the config repository")
        return "" if joined == "." else joined

    def add_file(self, rel: str, role: str, owner: str, target: dict[str, str] | None = None) -> None:
        if rel in self.tree.files or rel in self.reached:
            return
        if len(self.tree.files) + len(self.tree.other_files) + len(self.reached) >= MAX_TREE_FILES:
            raise ManifestError(f"{self.tree.overlay} renders from more than {MAX_TREE_FILES} files",
                                hint="Point 'path' at one app's overlay")
        info = _lstat(self.root, rel, f"{owner} (entry {rel})")
        if self.absent is not None and (info is None or role != "kustomization"):
            if info is None:
                self.absent.add(rel)
            return  # looking for what is absent: only kustomizations are read
        if info is None or not stat.S_ISREG(info.st_mode):
            raise ManifestError(f"{owner} refers to {rel}, which is not a file in the repository",
                                hint="Fix the kustomization")
        if self.known is not None and (role != "kustomization" or rel in self.known):
            self.reached.add(rel)
            if role == "kustomization":
                self.tree.files[rel] = self.known[rel]
            return
        if role == "resource" and info.st_size > y.MAX_FILE_BYTES and \
                not _may_hold_a_target(self.root / rel):
            self.tree.other_files.add(rel)  # e.g. a large CRD: rendered, never parsed or edited
            return
        text, bom = read_file(self.root / rel, rel)
        self.tree.files[rel] = SourceFile(rel, self.root / rel, text, y.parse(text, rel), role,
                                          self.inside(rel), target or {}, bom)

    def add_other(self, rel: str, owner: str) -> None:
        info = _lstat(self.root, rel, f"{owner} (entry {rel})")
        if info is None and self.absent is not None:
            self.absent.add(rel)
            return
        if info is None:
            raise ManifestError(f"{owner} refers to {rel}, which does not exist",
                                hint="Fix the kustomization")
        if stat.S_ISDIR(info.st_mode):
            for entry in sorted(p.name for p in (self.root / rel).iterdir())[:MAX_TREE_FILES]:
                sub = f"{rel}/{entry}" if rel else entry
                if not (self.root / sub).is_symlink():
                    self.add_other(sub, owner)
        else:
            self.tree.other_files.add(rel)

    def walk(self, folder: str, depth: int = 0) -> None:
        if folder in self.seen_dirs:
            return
        if depth > 30:
            raise ManifestError(f"{folder}: kustomizations nest deeper than 30 levels")
        self.seen_dirs.add(folder)
        self.tree.folders.add(folder)
        name = next((n for n in KUSTOMIZATION_FILES
                     if (info := _lstat(self.root, f"{folder}/{n}" if folder else n, folder)) is not None
                     and stat.S_ISREG(info.st_mode)), None)
        if name is None:
            raise ManifestError(f"{folder or '.'} is referenced as a kustomize base but holds no "
                                "kustomization.yaml", hint="Fix the kustomization")
        rel = f"{folder}/{name}" if folder else name
        self.add_file(rel, "kustomization", rel)
        file = self.tree.files[rel]
        if len(file.parsed.docs) != 1 or y.node_kind(file.parsed.docs[0]) != "mapping":
            raise ManifestError(f"{rel} is not one YAML mapping")
        doc = file.parsed.docs[0]
        kust = Kustomization(folder, file, y.scalar(y.get(doc, "namePrefix")) or "",
                             y.scalar(y.get(doc, "nameSuffix")) or "")
        self.tree.kustomizations.append(kust)
        self._entries(folder, doc, rel, depth)

    def _entries(self, folder: str, doc: y.Node, owner: str, depth: int) -> None:
        for key in ("resources", "bases", "components"):
            for item in y.iter_items(y.get(doc, key)):
                ref = y.scalar(item)
                target = self.resolve(folder, ref, owner) if ref else None
                if target is None:
                    continue
                info = _lstat(self.root, target, f"{owner} ({key}: {ref})") if target else None
                if target == "" or (info is not None and stat.S_ISDIR(info.st_mode)):
                    self.walk(target, depth + 1)
                else:
                    self.add_file(target, "resource", owner)
        for key in ("patches", "patchesStrategicMerge", "patchesJson6902"):
            for item in y.iter_items(y.get(doc, key)):
                ref = y.scalar(item) if y.node_kind(item) == "scalar" else y.scalar(y.get(item, "path"))
                if ref is None or "\n" in ref:
                    continue  # an inline patch: the renderer applies it, the probe sees it
                target = self.resolve(folder, ref, owner)
                if target is None:
                    continue
                target_node = y.get(item, "target")
                selector = {str(k.value): y.scalar(v) or "" for k, v in
                            (target_node.value if target_node is not None and
                             y.node_kind(target_node) == "mapping" else [])}
                role = "json6902" if key == "patchesJson6902" else "patch"
                self.add_file(target, role, owner, selector)
                if role == "patch" and target in self.tree.files and \
                        self.tree.files[target].parsed.docs and \
                        y.node_kind(self.tree.files[target].parsed.docs[0]) == "sequence":
                    self.tree.files[target].role = "json6902"
        for key, sub in (("configMapGenerator", ("files", "envs", "env")),
                         ("secretGenerator", ("files", "envs", "env")),
                         ("replacements", ("path",)), ("crds", ()), ("transformers", ()),
                         ("generators", ()), ("validators", ()), ("configurations", ()),
                         ("openapi", ("path",))):
            self._others(folder, y.get(doc, key), sub, owner)
        if y.get(doc, "helmCharts") is not None or y.get(doc, "helmChartInflationGenerator"):
            self.tree.helm_charts = True
            home = y.scalar(y.get(doc, "helmGlobals") and y.get(y.get(doc, "helmGlobals"), "chartHome"))
            target = self.resolve(folder, home or "charts", owner)
            if target is not None and _lstat(self.root, target, owner) is not None:
                self.add_other(target, owner)

    def _others(self, folder: str, node: y.Node, keys: tuple[str, ...], owner: str) -> None:
        if node is None:
            return
        refs: list[str] = []
        for item in ([node] if y.node_kind(node) == "mapping" else list(y.iter_items(node))):
            if y.node_kind(item) == "scalar":
                refs.append(str(item.value))
            for key in keys:
                value = y.get(item, key)
                refs += [str(v.value) for v in y.iter_items(value)] if value is not None and \
                    y.node_kind(value) == "sequence" else ([str(value.value)] if value is not None
                                                           and y.node_kind(value) == "scalar" else [])
        for ref in refs:
            ref = ref.split("=", 1)[-1]  # files: [key=path]
            target = self.resolve(folder, ref, owner)
            if target:
                self.add_other(target, owner)


def absent_paths(root: Path, overlay: str) -> list[str]:
    """What the kustomize tree of ``overlay`` refers to inside the repository that is not in the
    work tree, such as a base outside the folders of a sparse checkout (repo-relative; [] for
    a plain folder). Broken references are left for discovery to report."""
    if not any((root / overlay / n).is_file() for n in KUSTOMIZATION_FILES):
        return []
    walker = _Walker(root, overlay)
    walker.absent = set()
    with contextlib.suppress(ManifestError, PathError):  # discovery reports them
        walker.walk(overlay)
    return sorted(walker.absent)


def discover(root: Path, overlay: str, tracked: Tracked | None = None) -> Tree:
    """The tree of ``overlay`` (a repo-relative folder, already checked to exist); ``tracked``:
    what git tracks, when already listed for the folders the tree reads."""
    walker = _Walker(root, overlay)
    kustomized = any((root / overlay / n).is_file() for n in KUSTOMIZATION_FILES)
    if kustomized:
        walker.walk(overlay)
        tree = walker.tree
        for folder in sorted(tree.folders):
            base = root / folder
            for entry in sorted(p.name for p in base.iterdir()):  # files kustomize may read
                rel = f"{folder}/{entry}" if folder else entry
                if entry.endswith((".env", ".properties", ".json", ".txt", ".conf")) and \
                        (base / entry).is_file() and not (base / entry).is_symlink():
                    tree.other_files.add(rel)
    else:
        tree = walker.tree
        tree.folders.add(overlay)
        for entry in sorted(p.name for p in (root / overlay).iterdir()):
            rel = f"{overlay}/{entry}"
            if entry.endswith(YAML_SUFFIXES) and not entry.startswith("."):
                info = os.lstat(root / rel)
                if stat.S_ISLNK(info.st_mode):
                    raise PathError(f"{rel} is a symlink; the receiver never follows symlinks",
                                    input_name="path", hint="Replace the symlink with the file")
                if stat.S_ISREG(info.st_mode):
                    walker.add_file(rel, "resource", overlay)
    listing = _drop_untracked(tree, tracked)
    if kustomized and listing is not None:
        _mark_shared(tree, listing)
    if listing is not None:  # a plain folder too: one an overlay reads its patches from
        _mark_beside(tree, tracked)
    if kustomized:
        from gitops_release.inline import find

        find(tree)
    return tree


def _mark_shared(tree: Tree, tracked: set[str]) -> None:
    """Files inside the overlay folder that another kustomization under it reaches (following
    its chain inside the repository) are shared: not the overlay's own, never edited."""
    own = {k.file.rel for k in tree.kustomizations}
    prefix = "" if tree.overlay in ("", ".") else tree.overlay.rstrip("/") + "/"
    others = sorted(rel for rel in tracked if rel.startswith(prefix) and rel not in own
                    and posixpath.basename(rel) in KUSTOMIZATION_FILES)
    if len(others) > MAX_OTHER_KUSTOMIZATIONS:
        tree.notes.append(f"{len(others)} other kustomizations under {tree.overlay}: only the "
                          f"first {MAX_OTHER_KUSTOMIZATIONS} were read for files they share")
    for rel in others[:MAX_OTHER_KUSTOMIZATIONS]:
        _share_with(tree, rel)


def _share_with(tree: Tree, rel: str) -> bool:
    """Mark the files of the overlay that the kustomization ``rel`` (outside the overlay's
    tree) reaches as shared; True when it builds on the overlay itself (the overlay's changes
    are its changes: nothing shared)."""
    walker = _Walker(tree.root, tree.overlay, tree.files)
    try:
        walker.walk(posixpath.dirname(rel))
    except (ManifestError, PathError) as exc:  # what it reached so far still counts
        tree.notes.append(f"{rel} was read only in part for files it shares with "
                          f"{tree.overlay}: {exc}")
    if tree.overlay in walker.tree.folders:
        return True
    for reached in sorted(walker.reached | set(walker.tree.files)):
        file = tree.files.get(reached)
        if file is not None and file.inside:
            file.inside = False
            tree.shared.setdefault(reached, []).append(rel)
        elif reached in tree.shared:
            tree.shared[reached].append(rel)
    return False


MAX_BESIDE = 200  # kustomizations beside the overlay that name it, read to see what they reach


def _beside(root: Path, base: Path, memo: Tracked | None) -> tuple[dict[str, str],
                                                                     list[tuple[str, Path]]]:
    """The kustomizations in ``base``'s subfolders and theirs (repo-relative, with their texts;
    symlinks left out), and ``base``'s symlinks with what they resolve to; kept in ``memo``."""
    key = str(base)
    if memo is not None and key in memo.beside:
        return memo.beside[key]
    texts: dict[str, str] = {}
    for path in [path for pattern in ("*/", "*/*/") for kust in KUSTOMIZATION_FILES
                 for path in sorted(base.glob(pattern + kust))]:
        if path.is_symlink():
            continue
        try:
            texts[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8",
                                                                      errors="replace")
        except OSError:
            continue
    links: list[tuple[str, Path]] = []
    with contextlib.suppress(OSError):
        links = [(p.name, p.resolve()) for p in base.iterdir() if p.is_symlink()]
    if memo is not None:
        memo.beside[key] = (texts, links)
    return texts, links


def _mark_beside(tree: Tree, memo: Tracked | None = None) -> None:
    """Kustomizations in the folders beside the overlay (its parent's subfolders, two levels
    down) and above it (its ancestors' own) that name it, or name one of them that builds on it
    (a chain: staging → qa → dev),
    and reach into it: those that build on the overlay are its dependents (the deploy renders
    them too); files of the overlay that others reach (a component in the overlay folder that a
    sibling overlay lists) are shared, as a base is. Found on the work tree, confirmed as
    tracked by git; a folder a sparse checkout leaves out is not seen."""
    overlay = tree.overlay.rstrip("/")
    if overlay in ("", "."):
        return
    parent = posixpath.dirname(overlay)
    base = tree.root / parent if parent else tree.root
    mine = {k.folder for k in tree.kustomizations}
    near, links = _beside(tree.root, base, memo)
    texts = dict(near)
    # and the overlay's own ancestors': a kustomization above it that reads its files (a
    # folder of patches inside prod, sent as the path) or lists it
    for path in [tree.root / folder / kust for folder in Path(overlay).parents
                 for kust in KUSTOMIZATION_FILES if (tree.root / folder / kust).is_file()]:
        if path.is_symlink():
            continue
        try:
            texts[path.relative_to(tree.root).as_posix()] = path.read_text(encoding="utf-8",
                                                                           errors="replace")
        except OSError:
            continue
    for rel in list(texts):
        folder = posixpath.dirname(rel)
        if folder in mine or folder == overlay or folder.startswith(overlay + "/"):
            del texts[rel]
    names = {posixpath.basename(overlay)}
    target = (tree.root / overlay).resolve()
    # a symlink beside it that kustomize follows to it
    names.update(name for name, resolved in links if resolved == target)
    done: set[str] = set()
    tracked: set[str] | None = None
    while len(done) < MAX_BESIDE:  # a round per link of a chain
        found = sorted(rel for rel, text in texts.items()
                       if rel not in done and any(name in text for name in names))
        if not found:
            return
        if len(done) + len(found) > MAX_BESIDE:
            tree.notes.append(f"{len(done) + len(found)} kustomizations beside {overlay} name "
                              f"it: only the first {MAX_BESIDE} were read for what they reach")
            found = found[:MAX_BESIDE - len(done)]
        if tracked is None:
            tracked = tracked_files(tree.root, sorted({posixpath.dirname(r) for r in texts})) \
                or set()
        for rel in found:
            done.add(rel)
            if rel in tracked and (_share_with(tree, rel) or _lists(tree, rel, texts[rel])):
                tree.dependents.append(posixpath.dirname(rel))
                names.add(posixpath.basename(posixpath.dirname(rel)))


def _lists(tree: Tree, rel: str, text: str) -> bool:
    """Whether the kustomization ``rel`` (``text``) lists the overlay (or a folder that builds
    on it) in its resources, bases or components, read as written: a walk of its tree that
    stopped early (a symlink listed first) may not have reached it."""
    try:
        docs = y.parse(text.removeprefix(BOM), rel).docs
    except ManifestError:
        return False
    doc = docs[0] if docs else None
    targets = {tree.overlay.rstrip("/"), *tree.dependents}
    real = {(tree.root / t).resolve() for t in targets}  # kustomize follows a symlink to it
    for key in ("resources", "bases", "components"):
        for item in y.iter_items(y.get(doc, key)) if y.node_kind(doc) == "mapping" else ():
            ref = posixpath.normpath(posixpath.join(posixpath.dirname(rel), y.scalar(item) or ""))
            if ref in targets or (not ref.startswith("../") and (tree.root / ref).resolve() in real):
                return True
    return False


def _drop_untracked(tree: Tree, listed: Tracked | None = None) -> set[str] | None:
    """Untracked files are not part of the config repo: a plain folder ignores them, a
    kustomization that needs one is an error. Returns what git tracks under the tree's folders
    (None outside a git work tree)."""
    folders = sorted(tree.folders | {posixpath.dirname(r) or "." for r in tree.files})
    tracked = listed.files if listed is not None and listed.covers(folders) else \
        tracked_files(tree.root, folders)
    if tracked is None:
        return None
    for rel in list(tree.files):
        if rel in tracked:
            continue
        if tree.kustomization is None:
            del tree.files[rel]
        else:
            raise ManifestError(f"{rel} is read by the overlay's kustomization but git does not "
                                "track it", hint="Commit the file to the config repo, or remove "
                                "it from the clone")
    return tracked
