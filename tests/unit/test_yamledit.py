"""The edit engine: positions from the parser's marks, every result re-parsed and compared node by
node with the intended change; what it cannot do exactly is a clear refusal."""

from __future__ import annotations

import gc

import pytest

from gitops_release import yamledit as y
from gitops_release.errors import ManifestError


def _set(text: str, path: tuple[y.PathKey, ...], value: str) -> str:
    parsed = y.parse(text, "f.yaml")
    node = y.get_path(parsed.docs[0], path)
    edit = y.set_scalar(parsed, node, value, "the value")
    new = y.apply_edits(text, [edit] if edit else [], "f.yaml")
    y.verify(parsed, new, [y.Intent("set", 0, path, value)] if edit else [])
    return new


def _add(text: str, path: tuple[y.PathKey, ...], key: str, value: object) -> str:
    parsed = y.parse(text, "f.yaml")
    mapping = y.get_path(parsed.docs[0], path)
    edit = y.add_key(parsed, mapping, key, value, "the mapping")
    new = y.apply_edits(text, [edit], "f.yaml")
    y.verify(parsed, new, [y.Intent("add", 0, (*path, key), value)])
    return new


@pytest.mark.parametrize(("text", "path", "value", "expected"), [
    ("tag: 6.14.1\n", ("tag",), "6.14.2", "tag: 6.14.2\n"),
    ('tag: "1.9"\n', ("tag",), "1.10", 'tag: "1.10"\n'),
    ("tag: 1.9\n", ("tag",), "1.10", 'tag: "1.10"\n'),
    ("tag: 1.10\n", ("tag",), "1.10", 'tag: "1.10"\n'),  # a float that Helm reads as 1.1
    ("tag: '6'\n", ("tag",), "7", "tag: '7'\n"),
    ("tag: v6\n", ("tag",), "7", 'tag: "7"\n'),
    ("tag: !!str 1.0\n", ("tag",), "1.1", "tag: !!str 1.1\n"),
    ("tag: !custom v1  # c\n", ("tag",), "v2", "tag: !custom v2  # c\n"),
    ("tag :\nx: 1\n", ("tag",), "v2", "tag : v2\nx: 1\n"),
    ('"tag" :\nx: 1\n', ("tag",), "v2", '"tag" : v2\nx: 1\n'),
    ("tag: # later\nx: 1\n", ("tag",), "v2", "tag: v2 # later\nx: 1\n"),
    ("a:\r\n  tag: v1\r\n", ("a", "tag"), "v2", "a:\r\n  tag: v2\r\n"),
    ("images:\n- {name: x, newTag: v1, digest: 'sha256:aa'}\n", ("images", 0, "digest"), "",
     "images:\n- {name: x, newTag: v1, digest: ''}\n"),
    ("tag: !<tag:yaml.org,2002:str> v1  # c\n", ("tag",), "v2",
     "tag: !<tag:yaml.org,2002:str> v2  # c\n"),
], ids=["plain-kept", "quoted-kept", "float-quoted", "float-equal-is-not-equal", "single-quotes",
        "int-quoted", "str-tag-kept", "custom-tag-kept", "empty-after-spaced-colon",
        "empty-after-quoted-key", "empty-before-comment", "crlf", "flow-digest-emptied",
        "verbatim-tag-kept"])
def test_set_scalar(text: str, path: tuple[y.PathKey, ...], value: str, expected: str) -> None:
    assert _set(text, path, value) == expected


def test_set_refuses_an_explicit_key_without_value() -> None:
    with pytest.raises(ManifestError, match="a key without a value or ':' \\(an explicit '\\? key'"):
        _set("? tag\nx: 1\n", ("tag",), "v2")


def test_set_refuses_an_anchored_value() -> None:
    with pytest.raises(ManifestError, match="anchor"):
        _set("a: &v v1\nb: *v\n", ("a",), "v2")


def test_set_refuses_a_block_scalar() -> None:
    with pytest.raises(ManifestError, match="spans several lines"):
        _set("tag: |\n  v1\n", ("tag",), "v2")


@pytest.mark.parametrize(("text", "path", "expected"), [
    ("image:\n  tag: v1\n  pullSecrets: [\n    a,\n    b\n  ]\nother: 1\n", ("image",),
     "image:\n  tag: v1\n  pullSecrets: [\n    a,\n    b\n  ]\n  digest: sha256:x\nother: 1\n"),
    ("c:\n  args: |+\n    run\n\n\n", ("c",), "c:\n  args: |+\n    run\n\n\n  digest: sha256:x\n"),
    ("c:\n  args: |\n    run\n  x: 1\nz: 2\n", ("c",),
     "c:\n  args: |\n    run\n  x: 1\n  digest: sha256:x\nz: 2\n"),
    ("e: {name: x, newTag: v1}\n", ("e",), "e: {name: x, newTag: v1, digest: \"sha256:x\"}\n"),
    ("e:\n  k: v", ("e",), "e:\n  k: v\n  digest: sha256:x\n"),
    ("e:\n  k: [a, b]  # trailing\n  # a comment\nf: 1\n", ("e",),
     "e:\n  k: [a, b]  # trailing\n  digest: sha256:x\n  # a comment\nf: 1\n"),
    ("a:\n  k: v\n    # note on v\n  # last entry's own\n# trailing\n", ("a",),
     "a:\n  k: v\n    # note on v\n  digest: sha256:x\n  # last entry's own\n# trailing\n"),
    ("r:\n  - a\n  # - b\n\n# trailing\n", (),
     "r:\n  - a\n  # - b\ndigest: sha256:x\n\n# trailing\n"),
    ("r:\n- a\n# - b\n#   - c\n# trailing", (),
     "r:\n- a\n# - b\n#   - c\ndigest: sha256:x\n# trailing"),
    ("r:\n- a\nc:\n# - b\n# - d\n\n# trailing\n", (),
     "r:\n- a\nc:\n# - b\n# - d\ndigest: sha256:x\n\n# trailing\n"),
    ("r:\n- a\nc: ''\n# - b\n", (), "r:\n- a\nc: ''\ndigest: sha256:x\n# - b\n"),
], ids=["after-multiline-flow-list", "after-keep-block-scalar", "after-clip-block-scalar",
        "flow-mapping", "no-final-newline", "after-flow-with-comment",
        "deeper-comment-stays-with-its-entry", "commented-item-stays-in-its-list",
        "commented-item-of-a-list-at-the-key-column",
        "every-item-commented-out", "an-empty-string-has-no-items"])
def test_add_key_lands_after_the_last_entry(text: str, path: tuple[y.PathKey, ...],
                                            expected: str) -> None:
    assert _add(text, path, "digest", "sha256:x") == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("a: 1\nr:\n- x\n", "a: 1\nr:\n- x\nimages:\n- name: web\n  newTag: v\n"),
    ("a: 1\nr:\n  - x\n", "a: 1\nr:\n  - x\nimages:\n  - name: web\n    newTag: v\n"),
    ("a: 1\n", "a: 1\nimages:\n  - name: web\n    newTag: v\n"),
], ids=["dash-under-the-key", "dash-indented", "no-list-to-follow"])
def test_a_new_list_follows_the_files_list_style(text: str, expected: str) -> None:
    assert _add(text, (), "images", [{"name": "web", "newTag": "v"}]) == expected


def test_append_env_item_in_the_lists_style() -> None:
    text = "env:\n   - name: A\n     value: a\n"
    parsed = y.parse(text, "f.yaml")
    seq = y.get(parsed.docs[0], "env")
    item = {"name": "APP_RELEASEVERSION", "value": "web@v1"}
    new = y.apply_edits(text, [y.append_item(parsed, seq, item, "env")], "f.yaml")
    y.verify(parsed, new, [y.Intent("append", 0, ("env",), item)])
    assert new == text + "   - name: APP_RELEASEVERSION\n     value: web@v1\n"


def test_verify_catches_an_edit_that_changes_more_than_intended() -> None:
    text = "a: 1\nb: 2\n"
    parsed = y.parse(text, "f.yaml")
    with pytest.raises(ManifestError, match="would change more than the target values"):
        y.verify(parsed, "a: 1\nb: 3\n", [])
    with pytest.raises(ManifestError, match="does not parse"):
        y.verify(parsed, "a: [1\nb: 2\n", [])


@pytest.mark.parametrize(("text", "message"), [
    ("[" * 5000 + "]" * 5000, "nests collections deeper than 100 levels"),
    ("a: 1\n" + "---\na: 1\n" * (y.MAX_DOCUMENTS + 1), "holds more than"),
    ("x: " + "y" * (y.MAX_FILE_BYTES + 1), "is larger than"),
    ("a: &a [x, x]\n" + "".join(f"b{i}: [*a, *a]\n" for i in range(11)), "aliases"),
    ("a: 1\na: 2\n", "has the key 'a' twice"),
], ids=["deep", "documents", "size", "aliases", "duplicate-key"])
def test_limits_are_clear_refusals(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        y.parse(text, "f.yaml")


def test_planning_cost_is_linear_in_documents() -> None:
    """100,000 tiny documents are refused by the documents cap, not parsed for minutes."""
    with pytest.raises(ManifestError, match="holds more than"):
        y.parse("a: 1\n---\n" * 100_000, "f.yaml")


@pytest.mark.parametrize(("text", "expected"), [
    ("c:\n  env:\n  x: 1\n", "c:\n  env:\n    - name: A\n      value: a\n  x: 1\n"),
    ("c:\n  env: # none yet\n", "c:\n  env: # none yet\n    - name: A\n      value: a\n"),
], ids=["null", "null-with-comment"])
def test_put_block_fills_an_empty_value(text: str, expected: str) -> None:
    parsed = y.parse(text, "f.yaml")
    mapping = y.get(parsed.docs[0], "c")
    item = [{"name": "A", "value": "a"}]
    new = y.apply_edits(text, [y.put_block(parsed, mapping, "env", item, "env")], "f.yaml")
    y.verify(parsed, new, [y.Intent("put", 0, ("c", "env"), item)])
    assert new == expected


def test_yaml_1_2_flow_scalars_are_read() -> None:
    """libyaml refuses a plain 'a:b' in a flow collection; ruamel's 1.2 parser reads it."""
    text = "holds: [{since: 2026-11-20T09:00:00Z, by: bob}]\n"
    assert _set(text, ("holds", 0, "by"), "alice") == text.replace("bob", "alice")


def test_an_empty_value_after_a_spaced_colon_in_flow() -> None:
    assert _set("e: [{name: A, value: }]\n", ("e", 0, "value"), "a") == "e: [{name: A, value: a}]\n"


@pytest.mark.parametrize(("text", "refused"), [
    ("[" * y.MAX_DEPTH + "x" + "]" * y.MAX_DEPTH, False),
    ("[" * (y.MAX_DEPTH + 1) + "]" * (y.MAX_DEPTH + 1), True),
    ("".join(" " * i + "a:\n" for i in range(y.MAX_DEPTH + 1)) + " " * (y.MAX_DEPTH + 1) + "b: 1\n",
     True),
    ("# " + "[" * 200 + "\nx: [a:b, {c: d}]\n", False),
], ids=["limit-with-scalar", "one-level-more", "block", "brackets-in-a-comment-yaml-1.2"])
def test_nesting_is_counted_while_composing(text: str, refused: bool) -> None:
    """Past the cheap bound (brackets and line prefixes), the composer counts the nesting."""
    if refused:
        with pytest.raises(ManifestError, match="nests collections deeper than 100 levels"):
            y.parse(text, "f.yaml")
    else:
        assert y.parse(text, "f.yaml").docs


def test_the_parse_cache_keeps_few_large_texts() -> None:
    """A parse holds Python objects for every node: large texts are not kept by the dozen."""
    texts = [f"k{i}: [" + ", ".join(f"v{j}" for j in range(40_000)) + "]\n" for i in range(4)]
    parsed = [y.parse(text, "big.yaml") for text in texts]
    held = [key for key in y._CACHE if key[0] == "big.yaml"]
    assert held and sum(len(text) for _, text in held) <= y.CACHE_CHARS + len(texts[-1])
    assert y.parse(texts[-1], "big.yaml") is parsed[-1]  # the newest is kept


def test_the_collector_is_paused_while_planning_and_resumed() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), y.collector_paused():
        assert not gc.isenabled()
        with y.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # an inner pause does not resume it
        raise RuntimeError
    assert gc.isenabled()


@pytest.mark.parametrize(("text", "added"), [
    ("spec:\n  containers:\n  - name: web\n    image: r/web:1\n",
     "    env:\n    - name: E\n      value: \"1\"\n"),
    ("spec:\n  containers:\n    - name: web\n      image: r/web:1\n",
     "      env:\n        - name: E\n          value: \"1\"\n"),
], ids=["file-writes-dashes-at-the-key-column", "file-indents-its-dashes"])
def test_a_containers_new_list_follows_the_first_list_of_the_file(text: str, added: str) -> None:
    """A container with no list of its own: a new env list follows the first block list of the
    file (kustomize's and kubectl's style: the dash at the key's column)."""
    assert _add(text, ("spec", "containers", 0), "env", [{"name": "E", "value": "1"}]) == \
        text + added


@pytest.mark.parametrize(("text", "expected"), [
    ("a: 1\nb: 2\n", "\n"), ("a: 1\r\nb: 2\r\n", "\r\n"),
    ("a: 1\nb: 2\r\nc: 3\nd: 4\n", "\n"),  # one stray CR LF line: the file is LF
    ("a: 1\r\nb: 2\r\nc: 3\n", "\r\n")])
def test_added_lines_take_the_files_line_ending(text: str, expected: str) -> None:
    assert y.newline_of(text) == expected


def test_lines_ending_in_cr_alone_are_refused_where_lines_are_added() -> None:
    """Old Mac OS line endings: where a line starts cannot be told, so a new key landed at the
    end of the file (the render proof caught it, with a long diff and no file named)."""
    with pytest.raises(ManifestError, match=r"lines end in CR alone"):
        _add("e:\r  k: v\rf: 1\r", ("e",), "digest", "sha256:x")
