"""Image tags from docker/metadata-action's rule syntax, with its results.

A rule is one line of comma-separated ``key=value`` attributes, e.g.
``type=semver,pattern={{major}}.{{minor}},prefix=v``. Rules are sorted by ``priority`` (highest
first, ties keep their order), each enabled rule yields at most one tag, the first tag is the
``version`` and the others follow, de-duplicated; a ``latest`` tag is added when the first rule
that yields a tag says so (``flavor`` ``latest=auto``: semver on a release tag, ``ref,event=tag``,
``match``; never ``raw``, ``sha``, branches or pre-releases).

Supported types (default priority): ``schedule`` (1000), ``semver`` (900), ``match`` (800),
``edge`` (700), ``ref`` (600), ``raw`` (200), ``sha`` (100). Expressions are a small, strict
subset of the Handlebars templates metadata-action evaluates: ``{{branch}}``, ``{{tag}}``,
``{{sha}}``, ``{{base_ref}}``, ``{{is_default_branch}}``, ``{{date 'FORMAT' tz='Zone'}}`` (moment.js
format tokens) and, in semver patterns, ``{{raw}}``, ``{{version}}``, ``{{major}}``, ``{{minor}}``,
``{{patch}}``. Anything else is an :class:`InputError` naming ``tags`` rather than a silent
empty string.

The package follows metadata-action's seams: ``context`` (the GitHub context, read once; OCI
labels), ``rules`` (rule and flavor parsing), ``template`` (expressions and date formats) and
``evaluation`` (the rules applied to the context).
"""

from __future__ import annotations

from gitops_release.tags.context import Context, context_from_environ, labels
from gitops_release.tags.evaluation import TagResult, compute_tags, sanitize_tag
from gitops_release.tags.rules import (
    DEFAULT_PRIORITIES,
    DEFAULT_RULES,
    Flavor,
    Rule,
    parse_flavor,
    parse_rule,
    parse_rules,
)
from gitops_release.tags.template import format_moment, render

__all__ = [
    "DEFAULT_PRIORITIES", "DEFAULT_RULES", "Context", "Flavor", "Rule", "TagResult",
    "compute_tags", "context_from_environ", "format_moment", "labels", "parse_flavor",
    "parse_rule", "parse_rules", "render", "sanitize_tag",
]
