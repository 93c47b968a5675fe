"""The one settings reader: its parsers, its declared names, and README's table."""

from __future__ import annotations

import pytest

from shared import config, envvars
from tools import envtable


def test_readme_table_is_the_declared_variables() -> None:
    text = envtable.README.read_text()
    assert envtable.with_table(text) == text, "run `python -m tools.envtable`"


@pytest.mark.parametrize(
    ("raw", "want"),
    [("", True), ("on", True), ("1", True), ("YES", True), ("off", False), (" 0 ", False)],
)
def test_one_boolean_parser(raw: str, want: bool) -> None:
    assert envvars.Env({"CYCLONE_SCM_VERIFY": raw}).flag("CYCLONE_SCM_VERIFY", True) is want


def test_a_bad_value_refuses_to_start_naming_the_variable() -> None:
    env = envvars.Env({"CYCLONE_SCM_VERIFY": "maybe", "CYCLONE_MAX_RUNNING": "four"})
    with pytest.raises(SystemExit, match="CYCLONE_SCM_VERIFY must be on or off"):
        env.flag("CYCLONE_SCM_VERIFY", True)
    with pytest.raises(SystemExit, match="CYCLONE_MAX_RUNNING must be an integer, got 'four'"):
        env.integer("CYCLONE_MAX_RUNNING", 4)


def test_an_undeclared_name_cannot_be_read() -> None:
    with pytest.raises(KeyError, match="CYCLONE_NOT_A_SETTING is not declared"):
        envvars.Env({}).text("CYCLONE_NOT_A_SETTING")


def test_unset_and_empty_mean_the_default() -> None:
    env = envvars.Env({"CYCLONE_RPC_TIMEOUT": ""})
    assert env.number("CYCLONE_RPC_TIMEOUT", 10.0) == 10.0
    assert env.integer("CYCLONE_MAX_RUNNING", 4) == 4
    assert not env.is_set("CYCLONE_RPC_TIMEOUT")


@pytest.mark.parametrize(("raw", "want"), [("", 10), ("0", 0), ("19", 19), (" 5 ", 5)])
def test_a_workers_niceness_is_0_to_19(raw: str, want: int) -> None:
    assert config.load({"CYCLONE_WORKER_NICE": raw}).worker_nice == want


@pytest.mark.parametrize("raw", ["-1", "20", "low"])
def test_a_niceness_out_of_range_refuses_to_start(raw: str) -> None:
    with pytest.raises(SystemExit, match="CYCLONE_WORKER_NICE must be"):
        config.load({"CYCLONE_WORKER_NICE": raw})
