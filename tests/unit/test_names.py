import random

import pytest

from services.api.domain.names import MAX_NAME_LEN, name_from_alias, name_problem, with_suffix


@pytest.mark.parametrize("name", ["a", "a1", "my-project", "v1.2.3", "a_b-c.d", "x" * 63])
def test_valid_names(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "A", "-a", "a-", "a--b", "a.-b", "a b", "ä", "a/b", "x" * 64, "_a"]
)
def test_invalid_names(name):
    assert name_problem(name)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("My Project", "my-project"),
        ("  Hello, World! ", "hello-world"),
        ("Ünïcode Ça", "unicode-ca"),
        ("a__b..c", "a-b-c"),
    ],
)
def test_name_from_alias(alias, name):
    assert name_from_alias(alias) == name


def test_name_from_unusable_alias_is_random_letters():
    got = name_from_alias("!!!", random.Random(1))
    assert len(got) == 9 and got.isalpha() and got.islower()


def test_long_alias_and_suffix_stay_valid():
    name = name_from_alias("word " * 40)
    assert name_problem(name) is None
    suffixed = with_suffix(name)
    assert name_problem(suffixed) is None and len(suffixed) <= MAX_NAME_LEN
