"""The CLI's rules without a server: targets, exit codes, apply's diff, stats bars, settings."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import pytest
import yaml

from cli.domain import (
    MASK,
    BadTarget,
    Target,
    age,
    day_range,
    diff,
    duration,
    exit_code_for,
    parse_target,
    span,
    stats_rows,
)
from cli.render import as_yaml
from cli.settings import DEFAULT_SERVER, BadConfig, config_path, read_file, resolve, write_file

NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


def test_targets():
    assert parse_target("app/build") == Target("app", "build")
    for bad in ("app", "app/", "/build", "a/b/c", ""):
        with pytest.raises(BadTarget):
            parse_target(bad)


def test_exit_codes_tell_the_result_apart():
    assert [exit_code_for(s) for s in ("Success", "Failed", "Aborted", "Running")] == [0, 1, 2, 3]


def test_diff_ignores_server_fields_and_names_each_change():
    stored = {
        "id": "1",
        "name": "app",
        "owner": "ann",
        "creationTime": "t",
        "description": "old",
        "build": {"stages": {"package": {"command": ["a"], "outputs": ["x"]}}},
        "recentRecords": [],
    }
    wanted = {
        "name": "app",
        "build": {"stages": {"package": {"command": ["b"]}, "unitTest": {"command": ["t"]}}},
    }
    assert [c.describe() for c in diff(stored, wanted)] == [
        "~ build.stages.package.command: ['a'] -> ['b']",
        "- build.stages.package.outputs (was ['x'])",
        "+ build.stages.unitTest.command: ['t']",
        "- description (was 'old')",
    ]
    assert diff(stored, {k: v for k, v in stored.items()}) == []


def test_diff_of_secrets_and_lists_of_objects():
    stored = {"env": [{"name": "A", "value": MASK, "secret": True}, {"name": "B", "value": "1"}]}
    same = {"env": [{"name": "A", "value": MASK, "secret": True}, {"name": "B", "value": "1"}]}
    assert diff(stored, same) == []
    sent = {"env": [{"name": "A", "value": "new", "secret": True}, {"name": "B", "value": "1"}]}
    assert [c.describe() for c in diff(stored, sent)] == ["~ env[0].value: (secret) -> 'new'"]


def test_ages_durations_and_spans():
    assert age("2026-12-04T11:58:30.000Z", NOW) == "1m30s ago"
    assert age(None, NOW) == "-" and age("garbage", NOW) == "-"
    assert duration("2026-12-04T10:00:00Z", "2026-12-04T11:05:00Z", NOW) == "1h05m"
    assert duration("2026-12-04T11:59:50Z", None, NOW) == "10s"  # still running
    assert span(3 * 86400 + 7200) == "3d2h" and span(-5) == "0s"


def test_day_range_covers_whole_utc_days_today_included():
    start, end = day_range(3, NOW)
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 12, 2, tzinfo=UTC)
    assert datetime.fromtimestamp(end, UTC) == datetime(2026, 12, 4, 23, 59, 59, tzinfo=UTC)


def test_stats_bars_scale_to_the_busiest_day_and_never_hide_a_failure():
    day = int(datetime(2026, 12, 4, tzinfo=UTC).timestamp())
    rows = stats_rows(
        [
            {"timestamp": day - 86400, "success": 0, "failed": 0, "aborted": 0},
            {"timestamp": day, "success": 99, "failed": 1, "aborted": 0},
        ],
        width=10,
    )
    assert [r.day for r in rows] == ["2026-12-03", "2026-12-04"]
    assert rows[0].bar == ""
    assert rows[1].bar == "#" * 10 + "x"


def test_yaml_output_keeps_commands_readable_and_exact():
    value = {"script": "make\nmake test\n", "one": "line", "odd": " lead\nx"}
    text = as_yaml(value)
    assert "script: |\n  make\n  make test" in text
    assert yaml.safe_load(text) == value


def test_settings_flags_beat_environment_beat_file(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    path = config_path(env)
    assert path == tmp_path / "xdg" / "cyclone" / "config.toml"
    assert config_path({"HOME": str(tmp_path)}) == tmp_path / ".config" / "cyclone" / "config.toml"
    assert resolve(None, None, env) == type(resolve(None, None, env))(DEFAULT_SERVER, "", "")

    write_file(path, "http://file:1/", "file-token")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_file(path) == {"server": "http://file:1/", "token": "file-token"}
    got = resolve(None, None, env)
    assert (got.server, got.token) == ("http://file:1", "file-token")
    env["CYCLONE_TOKEN"] = "env-token"
    env["CYCLONE_SERVER"] = "http://env:2"
    got = resolve(None, None, env)
    assert (got.server, got.token, got.source) == ("http://env:2", "env-token", "CYCLONE_TOKEN")
    got = resolve("http://flag:3", "flag-token", env)
    assert (got.server, got.token, got.source) == ("http://flag:3", "flag-token", "--token")


def test_a_broken_config_file_is_named(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("server = \n")
    with pytest.raises(BadConfig, match=r"config\.toml is not valid TOML"):
        read_file(path)
