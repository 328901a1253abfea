"""A chart's templates read as text (helm cannot run everywhere): which values keys they read, and
which workload templates read them.

A template reads a key when it names it (``.Values.image.tag``) or passes a parent map of it as a
whole (``include "common.images.image" (dict "imageRoot" .Values.image ...)``, ``with
.Values.image``), where the text then reads the key's last name (``.tag``) or hands the map
to a helper the chart does not define (a library chart's, perhaps not vendored: Bitnami's
``common.images.image`` reads registry, repository, tag and digest). A workload template is one
document of a template file with a workload ``kind:``, or that includes a helper of the chart
writing one (``include "demo.deployment"`` in a range over components); the helpers it includes
(``include``/``template``, followed through the chart's ``define`` blocks) count as its text.
The target's templates are the ones named after the app: the workload's ``metadata.name`` as
written (``{{ .Values.frontend.name }}``), else the file (``frontend.yaml``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Rollout", "Job", "CronJob")
# kind: Deployment, or a templated one: kind: {{ ternary "StatefulSet" "Deployment" ... }}
_KIND = re.compile(r"^kind:[ \t]*(?:[\"']?(\w+)|(\{\{[^\n]*))", re.MULTILINE)
_WORKLOAD_KIND = re.compile(r"\b(?:" + "|".join(WORKLOAD_KINDS) + r")\b")
_NAME = re.compile(r"^metadata:[^\n]*\n(?:[ \t]*(?:#|\{\{)[^\n]*\n|[ \t]+[^\s#{][^\n]*\n)*?"
                   r"[ \t]+name:[ \t]*([^\n]*)", re.MULTILINE)
_DEFINE = re.compile(r"\{\{-?\s*define\s+\"([^\"]+)\"\s*-?\}\}")
_INCLUDE = re.compile(r"\b(?:include|template)\s+\"([^\"]+)\"")
_IMAGE = re.compile(r"^[ \t-]*image:[ \t]*([^\n]*)", re.MULTILINE)
_RANGE = re.compile(r"^\{\{-?\s*range\b", re.MULTILINE)  # at the start of a line: the top level


@dataclass(frozen=True)
class Workload:
    """One workload document of a chart's templates."""

    file: str  # templates/frontend.yaml
    kind: str
    name: str  # metadata.name as the template writes it
    text: str  # the document and the helpers it includes
    images: frozenset[str]  # its image: lines as written
    ranged: bool  # a top-level range before it in its file: it renders several workloads

    def shown(self) -> str:
        several = ", in a range: several workloads" if self.ranged else ""
        return f"{self.file} ({self.kind} {self.name or '?'}{several})"


@dataclass(frozen=True)
class Chart:
    """The templates of the chart in a folder."""

    text: str  # every template file but NOTES.txt (it renders no object), helpers included
    workloads: tuple[Workload, ...]
    defined: frozenset[str]  # the helpers the chart's own templates define
    bodies: tuple[tuple[str, str], ...] = ()  # (name, body) of each of them
    name: str = ""  # Chart.yaml's name


def load_chart(root: Path, folder: str) -> Chart | None:
    """The chart in ``folder`` (None when the folder holds no ``Chart.yaml``)."""
    chart = root / folder
    if not (chart / "Chart.yaml").is_file():
        return None
    texts: dict[str, str] = {}
    for path in sorted((chart / "templates").glob("**/*"))[:500]:
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1024 * 1024:
            rel = path.relative_to(chart).as_posix()
            texts[rel] = path.read_text(encoding="utf-8", errors="replace")
    defines = _defines(texts.values())
    workloads = [w for rel, text in texts.items() if _is_manifest(rel)
                 for w in _workloads(rel, text, defines)]
    shown = [text for rel, text in texts.items() if rel != "templates/NOTES.txt"]
    return Chart("\n".join(shown), tuple(workloads), frozenset(defines), tuple(defines.items()),
                 chart_name(chart))


def chart_name(folder: Path) -> str:
    """The ``name`` of the Chart.yaml in ``folder`` ('' where it cannot be read)."""
    try:
        meta = (folder / "Chart.yaml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    named = re.search(r"^name:[ \t]*[\"']?([\w.-]+)", meta, re.MULTILINE)
    return named.group(1) if named else ""


def _is_manifest(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return not name.startswith("_") and name.endswith((".yaml", ".yml", ".tpl"))


def _defines(texts: Iterable[str]) -> dict[str, str]:
    """Each ``define`` block's body: its text up to the next ``define`` of its file."""
    bodies: dict[str, str] = {}
    for text in texts:
        marks = list(_DEFINE.finditer(text))
        ends = [m.start() for m in marks[1:]] + [len(text)] * bool(marks)
        for mark, end in zip(marks, ends, strict=True):
            bodies[mark.group(1)] = text[mark.end():end]
    return bodies


def _expand(text: str, defines: dict[str, str]) -> str:
    """``text`` and the bodies of the helpers it includes, followed to any depth (bounded)."""
    seen: set[str] = set()
    parts = [text]
    todo = _INCLUDE.findall(text)
    while todo and len(seen) < 200:
        name = todo.pop()
        if name in seen or name not in defines:
            continue
        seen.add(name)
        parts.append(defines[name])
        todo.extend(_INCLUDE.findall(defines[name]))
    return "\n".join(parts)


def _workloads(rel: str, text: str, defines: dict[str, str]) -> list[Workload]:
    out = []
    before = ""
    for doc in re.split(r"^---[^\n]*$", text, flags=re.MULTILINE):
        before += doc
        expanded = _expand(doc, defines)
        kind, source = _KIND.search(doc), doc
        if kind is None:  # the object is a helper's, included here (`include "x.deployment"`,
            kind, source = _KIND.search(expanded), expanded  # inside a range perhaps)
        if kind is None or (_kind(kind) not in WORKLOAD_KINDS and
                            not _WORKLOAD_KIND.search(_kind(kind)) and not _IMAGE.search(source)):
            continue  # any object that runs an image counts: a Pod, a ScaledJob, a Tekton Task
        name = _NAME.search(source)
        ranged = _RANGE.search(before, 0, len(before) - len(doc) + kind.start()) \
            if source is doc else _RANGE.search(before)
        out.append(Workload(rel, _kind(kind), name.group(1).strip() if name else "",
                            expanded, frozenset(" ".join(m.split()) for m in _IMAGE.findall(source)),
                            bool(ranged)))
    return out


def _kind(match: re.Match[str]) -> str:
    """The kind written, or the workload kinds a templated kind names (``StatefulSet/Deployment``
    for minio's ``{{ ternary "StatefulSet" "Deployment" ... }}``), else its text."""
    if match.group(1):
        return match.group(1)
    named = list(dict.fromkeys(_WORKLOAD_KIND.findall(match.group(2))))
    return "/".join(named) if named else match.group(2).strip()


_VALUES_KEY = re.compile(r"\.Values\.([\w.]+)")


def image_lines_read_other_keys(chart: Chart, path: tuple[str, ...], app: str,
                                workload: str = "") -> list[str]:
    """The image lines of the app's templates (all workloads' when none is named after it), the
    helpers they include followed, when every one of them names its values keys outright
    (``.Values.runImage``) and none is ``path``, a parent of it, or a helper: the key written
    then reaches no image (it may sit in an annotation). [] when a line reads the key, or reads
    through a helper or a variable, which text cannot follow. A helper the chart defines is read
    as its body (and the helpers it includes), when it names its keys outright too."""
    names = tuple(n.lower() for n in (workload, app) if n)
    mine = _targets(chart.workloads, names) or list(chart.workloads)
    # the lines of the helpers a template includes too (an init container of a helper)
    lines = list(dict.fromkeys(" ".join(m.split()) for w in mine for m in _IMAGE.findall(w.text)))
    dotted = ".".join(path)
    bodies = dict(chart.bodies)
    for line in lines:
        included = _INCLUDE.findall(line)
        if any(name not in bodies for name in included):
            return []  # a helper of a library chart: not followed here
        text = _expand(line, bodies) if included else line
        keys = _VALUES_KEY.findall(text)
        if not keys or "$" in text or re.search(r"\{\{-?\s*\.(?!Values\.)\w", text) or \
                re.search(r"\b(?:with|range)\b", text):
            return []  # a variable or a with-block: not followed here
        if any(dotted == k or dotted.startswith(k + ".") for k in keys):
            return []
    return lines


# Library helpers (a chart's dependency, perhaps not vendored) that read only the pull secrets of
# the image maps handed to them (Bitnami's common.images.pullSecrets and renderPullSecrets): the
# maps' tags reach no container's image through them.
_PULL_SECRETS = re.compile(r"(?:^|\.)(?:render)?(?:image)?pullsecrets(?:list)?$", re.IGNORECASE)
_CALL = re.compile(r"\b(?:include|template)\s+\"([^\"]+)\"\s*")
_COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.DOTALL)
# what prints a map whole, or its values by position: its tag may come out unnamed
_WHOLE = re.compile(r"\b(?:toYaml|toJson|toRawJson|toPrettyJson|toString|toStrings|values|tpl|"
                    r"printf?|dig|pluck)\b|\brange\s+\$\w+\s*,")


def reads(text: str, path: tuple[str, ...], defined: frozenset[str] = frozenset(),
          bodies: Mapping[str, str] | None = None) -> bool:
    """Whether template ``text`` reads the values key ``path``: by name, or by passing a parent
    map of it as a whole where ``text`` then reads the key's last name or a helper that the
    chart does not define (``defined``) takes the map. A map handed to a helper that cannot put
    the key into an image is no read of it, wherever else the text reads the key's name: a
    library's pull-secrets helper (``include "common.images.pullSecrets" (dict "images" (list
    .Values.image .Values.worker.image) ...)``), or a helper of the chart (its body in
    ``bodies``) that never names the key, prints no map whole and hands nothing on to a library
    helper but a pull-secrets one."""
    if re.search(r"\.Values\." + re.escape(".".join(path)) + r"(?!\w)", text):
        return True
    leaf = re.search(r"\.\b" + re.escape(path[-1]) + r"\b", text) is not None
    for i in range(1, len(path)):
        for whole in re.finditer(r"\.Values\." + re.escape(".".join(path[:i])) + r"(?![\w.])",
                                 text):
            start = max(text.rfind("{{", 0, whole.start()), 0)
            end = text.find("}}", whole.end())
            action = text[start:end if end >= 0 else None]
            taker = _taker(action, whole.start() - start)
            verdict = _puts_in_image(taker, path[-1], defined, bodies) if taker else None
            if verdict is not None:
                if verdict:
                    return True
                continue  # the helper that takes the map cannot put the key into an image
            # the map is used in the action itself (with, range, a variable, a pipe) or handed
            # to a helper that prints it whole: the text reads the key's name, or a library
            # helper in the action may take it
            if leaf or any(name not in defined and not _PULL_SECRETS.search(name)
                           for name in _INCLUDE.findall(action)):
                return True
    return False


def without_comments(text: str) -> str:
    """A template's text without its ``{{/* ... */}}`` comments."""
    return _COMMENT.sub("", text)


def _taker(action: str, at: int) -> str | None:
    """The helper whose argument holds the character ``at`` of ``action`` (the innermost
    ``include``/``template`` call around it), or None."""
    best: tuple[int, str] | None = None
    for call in _CALL.finditer(action):
        if call.end() <= at < _argument_end(action, call.end()) and \
                (best is None or call.start() > best[0]):
            best = (call.start(), call.group(1))
    return best[1] if best else None


def _argument_end(action: str, start: int) -> int:
    """The end of the argument that starts at ``start``: a parenthesized expression (quoted
    strings skipped), else one word."""
    if not action.startswith("(", start):
        match = re.compile(r"[^\s()|]*").match(action, start)
        return match.end() if match else start
    depth, quoted, i = 0, False, start
    while i < len(action):
        char = action[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(action)


def _puts_in_image(name: str, leaf: str, defined: frozenset[str],
                   bodies: Mapping[str, str] | None) -> bool | None:
    """Whether the helper ``name``, handed a map, may put its key ``leaf`` into an image: True
    for a library helper (not vendored: its body cannot be read) and for a helper of the chart
    whose body (with the chart's helpers it includes) names ``leaf``; False for a library's
    pull-secrets helper, and for a helper of the chart whose body never names ``leaf``, prints
    no map whole and hands nothing to a library helper but a pull-secrets one; None (not known)
    otherwise, or where the body is not at hand."""
    if name not in defined:
        return not _PULL_SECRETS.search(name)
    if bodies is None or name not in bodies:
        return None
    body = without_comments(_expand(bodies[name], dict(bodies)))
    if re.search(r"\b" + re.escape(leaf) + r"\b", body):
        return True
    if _WHOLE.search(body) or any(other not in defined and not _PULL_SECRETS.search(other)
                                  for other in _INCLUDE.findall(body)):
        return None
    return False


def _targets(workloads: tuple[Workload, ...], names: tuple[str, ...]) -> list[Workload]:
    """The workloads whose name as written is one of ``names``, else those of a file so named."""
    named = [w for w in workloads if any(
        re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", w.name.lower())
        for name in names)]
    if not named:  # {{ include "x.fullname" . }}-frontend: the last part of the name
        named = [w for w in workloads if any(
            re.search(r"-" + re.escape(name) + r"$", w.name.lower().strip()) for name in names)]
    stems = {w: w.file.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower() for w in workloads}
    return named or [w for w in workloads if stems[w] in names] or \
        [w for w in workloads if any(stems[w].endswith("-" + name) for name in names)]


def other_readers(chart: Chart, path: tuple[str, ...], app: str,
                  workload: str = "") -> tuple[list[Workload], bool]:
    """The workload templates other than the target's that read ``path``, and whether the
    target's templates were found. Where none is named after the app (or ``workload``), every
    reader counts once there are several. A reader whose image lines are a target's (or, without
    a target, every reader's) runs the same image and does not count; so does one whose image
    lines that read ``path`` are all image lines of the target's that read it (without a target:
    every reader reads it through the same image lines), its other lines aside (redis's master
    and replicas, each with sidecars of their own, run the redis image from one helper)."""
    names = tuple(n.lower() for n in (workload, app) if n)
    mine = _targets(chart.workloads, names)
    if workload and len(mine) > 1 and len(mine) == len(chart.workloads) and \
            len({_image_lines(w) for w in mine}) > 1:
        mine = _targets(chart.workloads, (app.lower(),))  # a name every template has picks none
    bodies = dict(chart.bodies)
    readers = [w for w in chart.workloads if reads(w.text, path, chart.defined, bodies)]
    keyed = {w: _key_lines(w, path, chart.defined, bodies) for w in {*readers, *mine}}
    if mine:
        images = {_image_lines(w) for w in mine}
        own = frozenset(line for w in mine for line in keyed[w])
        return [w for w in readers if w not in mine and (w.ranged or (
            _image_lines(w) not in images and not (keyed[w] and keyed[w] <= own)))], True
    if len(readers) > 1 and (any(w.ranged for w in readers) or (
            len({_image_lines(w) for w in readers}) > 1 and
            not (all(keyed[w] for w in readers) and len({keyed[w] for w in readers}) == 1))):
        return readers, False
    return [w for w in readers if w.ranged], False


# the labels that name an object's application or component (Kubernetes' recommended labels,
# and the older app label): a chart names workloads after the release, not after the component
OWN_LABELS = ("app.kubernetes.io/component", "app.kubernetes.io/name", "app")
# ... as a template writes them
_OWN_LABEL = re.compile(r"^[ \t]*(" + "|".join(map(re.escape, OWN_LABELS)) + r"):"
                        r"[ \t]*(\S[^\n]*?)[ \t]*$", re.MULTILINE)
_LIST_NAME = re.compile(r"^[ \t]*-[ \t]*name:[ \t]*(\S[^\n]*?)[ \t]*$", re.MULTILINE)
_NAME_CALL = re.compile(r"\{\{-?\s*(?:include|template)\s+\"([^\"]+)\"\s+[.$]\s*-?\}\}")
# helm create's <chart>.name: the chart's name unless nameOverride is set
_NAME_HELPER = re.compile(r"\s*\{\{-?\s*default\s+\.Chart\.Name\s+\.Values\.nameOverride"
                          r"(?:\s*\|\s*(?:trunc\s+\d+|trimSuffix\s+\"-\"))*\s*-?\}\}\s*")
_END = re.compile(r"\{\{-?\s*end\s*-?\}\}")


def resolved(chart: Chart, written: str, name: str) -> str | None:
    """A name or label value as a template writes it, where it is literal but for the chart's
    name helper (``{{ template "x.name" . }}-operator``: ``name`` is what that helper renders,
    the chart's name or nameOverride); None when it holds anything else a render decides."""
    helpers = {h for h, body in chart.bodies if _NAME_HELPER.fullmatch(_END.split(body, 1)[0])}
    text = _NAME_CALL.sub(lambda m: name if m.group(1) in helpers else m.group(0),
                          written.strip().strip("\"'"))
    return None if "{{" in text or not text else text


def own_workloads(chart: Chart, app: str, name: str) -> list[tuple[Workload, str]]:
    """The workload templates that are the app's own, each with why: one labelled as the app
    (``app.kubernetes.io/component: <app>``, name or ``app``), or with a list item (a container)
    named after it, as written or through the chart's name helper (kube-prometheus-stack's
    operator: ``- name: {{ template "kube-prometheus-stack.name" . }}``, its component label
    prometheus-operator). ``name``: what the chart's name helper renders."""
    out = []
    for workload in chart.workloads:
        why = next((f"labelled {key}: {app}" for key, value in _OWN_LABEL.findall(workload.text)
                    if resolved(chart, value, name) == app), "") or next(
            (f"a container named {app}" for value in _LIST_NAME.findall(workload.text)
             if resolved(chart, value, name) == app), "")
        if why:
            out.append((workload, why))
    return out


def image_keys(workload: Workload) -> list[str]:
    """The values keys the workload's image lines name outright."""
    return sorted({key for line in workload.images for key in _VALUES_KEY.findall(line)})


def _key_lines(workload: Workload, path: tuple[str, ...], defined: frozenset[str],
               bodies: Mapping[str, str]) -> frozenset[str]:
    """The image lines of the workload's text (the helpers it includes too) that read
    ``path``, as ``_image_lines`` compares them."""
    lines = {" ".join(m.split()) for m in _IMAGE.findall(workload.text)}
    return frozenset(_same_call(line) for line in lines
                     if reads(_expand(line, dict(bodies)), path, defined, bodies))


def _image_lines(workload: Workload) -> frozenset[str]:
    """The workload's image lines, compared as the image they run: ``template "x" .`` renders
    what ``include "x" .`` does (harbor's migration Job and its core Deployment)."""
    return frozenset(_same_call(line) for line in workload.images)


def _same_call(line: str) -> str:
    return re.sub(r"\btemplate(\s+\")", r"include\1", line)
