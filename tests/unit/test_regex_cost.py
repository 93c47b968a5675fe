"""Every validation regex is linear: 10,000 adversarial inputs up to each pattern's length cap,
the worst under 1 ms; and every other regex literal in services/ and shared/ gets the same
treatment on shorter inputs, so a new backtracking pattern fails here, not in production.

Inputs are built from the pattern itself (its literal runs and the characters its classes
accept), as the classic killers are: a unit repeated up to the cap and then a character that
makes the match fail at the end (`"a-" * n + "!"`), and random mixes. A time over the budget is
measured again (the least of five counts): this machine runs other tests at the same time, and
a pattern that backtracks is slow every time, a preempted one only once.
"""

from __future__ import annotations

import ast
import gc
import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import pytest

from services.api.domain import names, schemas, validation

ROOT = Path(__file__).resolve().parents[2]
BUDGET_NS = 1_000_000  # 1 ms
VALIDATION_INPUTS = 10_000
OTHER_INPUTS = 1_000
OTHER_CAP = 256  # parsers of what our own code or a trusted party wrote; linear ones do not care
FAILERS = "!\n\x00 A~/@:#?.-_"


# --- inputs -----------------------------------------------------------------------------------


POOL = [chr(c) for c in range(32, 127)] + ["\t", "\n"]
_CATEGORY_TEST = {
    sre_c.CATEGORY_DIGIT: str.isdigit,
    sre_c.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre_c.CATEGORY_SPACE: str.isspace,
    sre_c.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre_c.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre_c.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}


def _in_class(items: Any, c: str) -> bool:
    negate, hit = False, False
    for kind, value in items:
        if kind is sre_c.NEGATE:
            negate = True
        elif kind is sre_c.LITERAL:
            hit = hit or c == chr(value)
        elif kind is sre_c.RANGE:
            hit = hit or value[0] <= ord(c) <= value[1]
        elif kind is sre_c.CATEGORY:
            hit = hit or _CATEGORY_TEST.get(value, lambda c: False)(c)
    return hit != negate


class Shape:
    """What a pattern is made of: characters it accepts, and random strings it matches."""

    def __init__(self, pattern: str, rng: random.Random) -> None:
        self.parsed = sre_parse.parse(pattern)
        self.rng = rng
        self.chars: set[str] = set()
        self._accepted: dict[int, list[str]] = {}
        self._collect(self.parsed)

    def accepted(self, items: Any) -> list[str]:
        key = id(items)
        if key not in self._accepted:
            self._accepted[key] = [c for c in POOL if _in_class(items, c)]
        return self._accepted[key]

    def _collect(self, items: Any) -> None:
        for op, av in items:
            if op is sre_c.LITERAL:
                self.chars.add(chr(av))
            elif op is sre_c.IN:
                self.chars.update(self.accepted(av))
            elif op is sre_c.ANY:
                self.chars.update("a/ ")
            for sub in self._children(op, av):
                self._collect(sub)

    @staticmethod
    def _children(op: Any, av: Any) -> list[Any]:
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
            return [av[2]]
        if op is sre_c.SUBPATTERN:
            return [av[3]]
        if op is sre_c.ATOMIC_GROUP:
            return [av]
        if op is sre_c.BRANCH:
            return list(av[1])
        if op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
            return [av[1]]
        return []

    def sample(self, items: Any = None) -> str:
        """A string the pattern (mostly) matches: repeats a few times, one branch each."""
        rng, out = self.rng, []
        for op, av in self.parsed if items is None else items:
            if op is sre_c.LITERAL:
                out.append(chr(av))
            elif op is sre_c.NOT_LITERAL:
                out.append(rng.choice([c for c in POOL if c != chr(av)]))
            elif op is sre_c.IN:
                accepted = self.accepted(av)
                out.append(rng.choice(accepted) if accepted else "")
            elif op is sre_c.ANY:
                out.append(rng.choice(POOL[:-1]))
            elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
                low, high, sub = av
                times = rng.randint(low, min(high, low + 3))
                out += [self.sample(sub) for _ in range(times)]
            elif op is sre_c.SUBPATTERN:
                out.append(self.sample(av[3]))
            elif op is sre_c.ATOMIC_GROUP:
                out.append(self.sample(av))
            elif op is sre_c.BRANCH:
                out.append(self.sample(rng.choice(av[1])))
        return "".join(out)


def adversarial(pattern: str, cap: int, count: int, seed: int = 11) -> Iterator[str]:
    """`count` inputs of at most `cap` characters that make a backtracking matcher work: the
    start of a string the pattern matches, then a short unit repeated up to the cap (from a
    matching string, or from the characters the pattern accepts), then a character that
    spoils the end; every third one a random mix instead."""
    rng = random.Random(seed)
    shape = Shape(pattern, rng)
    chars = sorted(shape.chars) or POOL
    for i in range(count):
        length = cap if i % 5 == 0 else rng.randint(1, cap)
        if i % 3 == 2:
            mixed = rng.choices(chars, k=length)
            for _ in range(rng.randint(0, 3)):
                mixed.insert(rng.randrange(length), shape.sample())
            yield "".join(mixed)[:length]
            continue
        start = shape.sample()
        prefix = start[: rng.randint(0, len(start))]
        if i % 3 == 0:
            source = shape.sample() or rng.choice(chars)
            at = rng.randrange(len(source))
            unit = source[at : at + rng.randint(1, 3)]
        else:
            unit = "".join(rng.choice(chars) for _ in range(rng.randint(1, 3)))
        body = unit * max(1, (length - len(prefix)) // len(unit))
        yield (prefix + body)[: cap - 1] + rng.choice(FAILERS)


# --- measuring --------------------------------------------------------------------------------


def _once(check: Callable[[str], object], text: str) -> int:
    start = time.perf_counter_ns()
    check(text)
    return time.perf_counter_ns() - start


def worst_case(check: Callable[[str], object], inputs: Iterator[str]) -> tuple[int, str]:
    """The slowest input and its time in ns (the least of five counts when over budget)."""
    worst, slowest = 0, ""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for text in inputs:
            spent = _once(check, text)
            if spent > BUDGET_NS:
                spent = min(spent, *(_once(check, text) for _ in range(4)))
            if spent > worst:
                worst, slowest = spent, text
    finally:
        if enabled:
            gc.enable()
    return worst, slowest


def assert_linear(check: Callable[[str], object], pattern: str, cap: int, count: int) -> None:
    worst, slowest = worst_case(check, adversarial(pattern, cap, count))
    assert worst < BUDGET_NS, (
        f"{pattern!r}: {worst / 1e6:.2f} ms for {slowest[:80]!r}... ({len(slowest)} chars)"
    )


# --- the validation patterns --------------------------------------------------------------------


def _schema_patterns() -> Iterator[tuple[str, int | None]]:
    def walk(node: Any) -> Iterator[tuple[str, int | None]]:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                yield node["pattern"], node.get("maxLength")
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    seen: dict[str, int | None] = {}
    for value in vars(schemas).values():
        if isinstance(value, dict):
            for pattern, cap in walk(value):
                seen.setdefault(pattern, cap)
    return iter(seen.items())


SCHEMA_PATTERNS = sorted(_schema_patterns(), key=lambda p: p[0])

VALIDATION = [
    ("name_problem", names.name_problem, names.NAME_RE.pattern, names.MAX_NAME_LEN),
    ("NAME_RE", names.NAME_RE.fullmatch, names.NAME_RE.pattern, names.MAX_NAME_LEN),
    (
        "EMAIL_RE",
        validation.EMAIL_RE.fullmatch,
        validation.EMAIL_RE.pattern,
        schemas.ADDRESS_MAX,
    ),
    (
        "HTTP_URL_RE",
        validation.HTTP_URL_RE.fullmatch,
        validation.HTTP_URL_RE.pattern,
        schemas.ADDRESS_MAX,
    ),
    *(
        (f"schema {pattern}", validation.schema_regex(pattern).search, pattern, cap or 0)
        for pattern, cap in SCHEMA_PATTERNS
    ),
]


def test_every_schema_pattern_has_a_length_cap():
    assert SCHEMA_PATTERNS, "schemas.py has no patterns? the walk is broken"
    assert [p for p, cap in SCHEMA_PATTERNS if not cap] == []


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("what", "check", "pattern", "cap"), VALIDATION, ids=lambda v: v)
def test_validation_pattern_is_linear(what, check, pattern, cap):
    assert_linear(check, pattern, cap, VALIDATION_INPUTS)


def test_the_measure_catches_what_it_replaced():
    """The spec's name regex taken literally, and the URL rule with two overlapping runs, are
    over budget on the inputs above: the test would have caught them."""
    spec = re.compile(names.SPEC_NAME_PATTERN)
    worst, _ = worst_case(spec.match, iter(["a-" * 17 + "!"]))
    assert worst > BUDGET_NS
    old_url = r"^https?://[^\s/?#]+[^\s]*$"
    compiled = re.compile(old_url, re.IGNORECASE)
    inputs = adversarial(old_url, schemas.ADDRESS_MAX, 300)
    worst, _ = worst_case(compiled.match, inputs)
    assert worst > BUDGET_NS


def test_name_rule_is_the_spec_language():
    """Same language as the spec's regex (anchored at the real end: no trailing newline),
    over every string of up to 6 characters from the letters that matter."""
    spec = re.compile(names.SPEC_NAME_PATTERN.replace("$", r"\Z"))
    alphabet = "a0._-A!"

    def strings(n: int) -> Iterator[str]:
        if n == 0:
            yield ""
            return
        for head in strings(n - 1):
            for c in alphabet:
                yield head + c

    for n in range(7):
        for text in strings(n):
            assert bool(names.NAME_RE.fullmatch(text)) == bool(spec.match(text)), text
    assert names.name_problem("abc\n") is not None


# --- every other regex literal in the code ------------------------------------------------------

_RE_FUNCTIONS = {"compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall"}


def regex_literals() -> list[tuple[str, str]]:
    """(where, pattern) of every `re.<function>("literal", ...)` in services/ and shared/."""
    found = []
    for path in sorted(
        [*ROOT.joinpath("services").rglob("*.py"), *ROOT.joinpath("shared").rglob("*.py")]
    ):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in _RE_FUNCTIONS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append((where, node.args[0].value))
    return found


LITERALS = regex_literals()


def test_the_scan_finds_the_regexes():
    where = {w.split(":")[0] for w, _ in LITERALS}
    assert "services/api/domain/names.py" in where and "services/api/domain/validation.py" in where


@pytest.mark.timeout(120)
def test_every_regex_in_the_code_is_linear():
    slow = []
    for where, pattern in LITERALS:
        compiled = re.compile(pattern)
        worst, text = worst_case(compiled.search, adversarial(pattern, OTHER_CAP, OTHER_INPUTS))
        if worst >= BUDGET_NS:
            slow.append(f"{where} {pattern!r}: {worst / 1e6:.2f} ms on {text[:60]!r}")
    assert slow == []
