"""JSON for the large messages sent many times a second: log batches (the worker) and live
announcements (the logs service).

orjson encodes a batch of 1,000 log lines in about 7 µs against 190 µs for kombu's encoder
(the standard library's), which made the announcer about a quarter of the logs service's CPU
during an ingest. The value is the same JSON either way, so any reader decodes it (kombu's
`application/json` included). What orjson refuses (a lone surrogate a JSON escape made, which
is not UTF-8; an integer past 64 bits) goes through the standard encoder instead.

`ascii_dumps` is for bytes that must be exact (a signature's canonical form): those of the
standard encoder, taken from orjson whenever they are the same.
"""

from __future__ import annotations

import json

import orjson

# Publish options for a body already encoded: kombu sends it as it is.
CONTENT = {"content_type": "application/json", "content_encoding": "utf-8"}
# Types orjson encodes and the standard encoder does not (or not alike) go to the latter.
_ONLY_JSON = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def dumps(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value).encode()


def ascii_dumps(value: object) -> bytes:
    """What `json.dumps(value, separators=(",", ":"), ensure_ascii=True)` gives, byte for
    byte. orjson's output is the same whenever it is ASCII without DEL (non-ASCII text would
    show as UTF-8, and DEL is the one ASCII character the standard encoder escapes and orjson
    does not; tests/unit/test_fastjson.py compares both on random text): a batch of 1,000
    lines is signed in 0.06 ms instead of 0.36."""
    try:
        fast = orjson.dumps(value, option=_ONLY_JSON)
    except TypeError:
        pass  # not orjson's to encode: the standard encoder's answer, or its error
    else:
        if fast.isascii() and b"\x7f" not in fast:
            return fast
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()
