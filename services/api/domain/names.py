"""Resource names: the spec's regex, and names generated from an alias."""

from __future__ import annotations

import random
import re
import string

from slugify import slugify

# The spec's regex is `^[a-z0-9]+((?:[._-][a-z0-9]+)*){1,29}$`. As written its `{1,29}` bounds
# nothing (the group may match empty), so it says: runs of lower-case letters and digits,
# separated by single '.', '_' or '-'. The length is capped separately: 63 keeps names usable as
# Kubernetes label values. Taken literally, the nested repetition backtracks exponentially (a
# 46-character non-name cost a second), so the same language is written without nesting and
# with possessive quantifiers: a run can only end where a separator or the end follows, and
# nothing is ever given back, so a match costs one pass over the name
# (tests/unit/test_regex_cost.py).
SPEC_NAME_PATTERN = r"^[a-z0-9]+((?:[._-][a-z0-9]+)*){1,29}$"
NAME_RE = re.compile(r"[a-z0-9]++(?:[._-][a-z0-9]++)*+")
# The same language for JSON Schema and the OpenAPI document (ECMA-262 has no possessive
# quantifiers; it needs none: each run must end at a separator or the end, so nothing is tried
# twice). tests/unit/test_merge_and_openapi.py checks that both agree.
NAME_PATTERN = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"
MAX_NAME_LEN = 63


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid resource name, or None when it is."""
    if len(name) > MAX_NAME_LEN:
        return f"must be at most {MAX_NAME_LEN} characters"
    if not NAME_RE.fullmatch(name):
        return (
            f"must match {SPEC_NAME_PATTERN} (lower-case letters and digits, "
            "separated by single '.', '_' or '-')"
        )
    return None


def random_letters(n: int, rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def name_from_alias(alias: str, rng: random.Random | None = None) -> str:
    """A valid name for an alias: transliterated, lower-case, dash-separated.

    Falls back to 9 random letters when nothing usable remains (the original server's rule).
    """
    slug = slugify(alias, max_length=MAX_NAME_LEN - 6, word_boundary=False, separator="-")
    slug = re.sub(r"[^a-z0-9-]", "", slug.lower()).strip("-")
    slug = re.sub(r"-{2,}", "-", slug)
    return slug if slug and not name_problem(slug) else random_letters(9, rng)


def with_suffix(name: str, rng: random.Random | None = None) -> str:
    """A variant of a generated name that collided: `-` plus 5 random letters."""
    return f"{name[: MAX_NAME_LEN - 6]}-{random_letters(5, rng)}"
