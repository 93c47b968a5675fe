"""Log lines never show a URL's password: kombu masks only the first node of a broker list,
and a traceback may print any URL (shared/logsetup.py `masked`)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared import logsetup

NODES = "amqp://cy:first@n1:5672/v;amqp://cy:second@n2:5672/v;amqps://cy:th%40rd@n3:5671/v"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_password_of_any_node_reaches_a_log_line(fmt: str) -> None:
    out = io.StringIO()
    log = logging.getLogger(f"test.masking.{fmt}")
    log.propagate = False
    log.addHandler(logsetup.handler("scm", out, {"CYCLONE_LOG_FORMAT": fmt}))
    log.warning("Error connecting to broker at %s", NODES)
    try:
        raise ConnectionError("mongodb://cyclone:s3cret@127.0.0.1:1/cyclone unreachable")
    except ConnectionError:
        log.exception("database away")
    text = out.getvalue()
    for secret in ("first", "second", "th%40rd", "s3cret"):
        assert secret not in text, text
    assert text.count("********") >= 4  # the traceback shows the raising line too
    if fmt == "json":
        assert "exc" in json.loads(text.splitlines()[-1])


def test_urls_without_credentials_are_left_alone() -> None:
    text = "see https://example.com/a:b@c and amqp://n1:5672/v"
    assert logsetup.masked(text) == text
