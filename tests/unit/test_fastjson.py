"""shared/fastjson: the same JSON value whichever encoder made it."""

from __future__ import annotations

import datetime
import json
import random

import orjson

from shared import fastjson


def test_a_batch_is_encoded_by_orjson():
    batch = {"record_id": "r", "seq": 1, "stage": "s", "lines": ["a", "é", '"quoted"']}
    assert fastjson.dumps(batch) == orjson.dumps(batch)
    assert json.loads(fastjson.dumps(batch)) == batch


def test_what_orjson_refuses_goes_through_the_standard_encoder():
    """A lone surrogate (from a JSON escape in a worker's message) is not UTF-8, and an
    integer past 64 bits is not orjson's: both still encode, to the same value."""
    for value in ({"lines": ["a\ud800b"]}, {"seq": 2**70}):
        body = fastjson.dumps(value)
        assert isinstance(body, bytes)
        assert json.loads(body.decode("utf-8")) == value


def test_ascii_dumps_is_the_standard_encoders_output_byte_for_byte():
    """Log batches are signed over this (shared/workertoken.batch_mac): a worker and a logs
    service of different versions must make the same bytes, whichever encoder ran."""
    rng = random.Random(20261206)
    alphabet = [chr(i) for i in range(128)] + ["é", "\u2028", "😀", "\ud800", "\\", '"']
    for _ in range(5000):
        lines = ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(6)]
        value = ["rec", rng.randint(-(2**63), 2**63 - 1), "stage", "", lines, rng.random() < 0.5]
        expected = json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()
        assert fastjson.ascii_dumps(value) == expected
    for odd in ([2**70], [datetime.date(2026, 1, 1).isoformat()], {"1": None}, [True, None]):
        expected = json.dumps(odd, separators=(",", ":"), ensure_ascii=True).encode()
        assert fastjson.ascii_dumps(odd) == expected
