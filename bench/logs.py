"""`python -m bench.logs`: log lines from a worker to storage, to a WebSocket, and back over HTTP.

Starts its own secantusdb and Cyclone stack (`python -m tools.stack`) on a free port with a
fixed API token, on a private RabbitMQ vhost (`cyclone-bench-logs-<pid>`, created by the
launcher with rabbitmqctl, deleted at the end). Then, in one run:

1. ingest: the worker's own `LogPublisher`, for a made-up record id, publishes `--lines` lines
   of 80 bytes as fast as it can, then the end-of-log marker; the logs service's `read_log`
   collection is probed every 20 ms by `_id` for the record's end marker, then until its
   chunks hold every line: the time the whole log was stored. Then the whole log is read back
   through the logs service's `read_log` RPC (a nameko standalone proxy) in chunks and every
   line checked (count, sha256, in order). The probe reads the database directly: following
   the log through read_log while it was written (as this bench did) made the logs service
   encode every line to JSON a second time, a reader's load, not the ingest's.
2. baseline: raw kombu, the same messages (batches of BATCH_LINES, persistent, confirmed) to a
   temporary durable queue of the same vhost, consumed and acked at the same time.
3. latency: a real record whose package command prints `--latency-lines` lines at `--rate`
   lines/s, each with its write time; a WebSocket follower (`.../logstream?token=`) connected
   as soon as the record is created takes receive time - write time of each line.
4. a large record: a real run of `seq 1 <--big-lines>`, then `GET .../logs` streamed with
   httpx, timed, while the RSS of the gateway's gunicorn workers is sampled.

Prints the figures and the targets with PASS/FAIL. Exit status: 0 once the report is printed,
whatever it says; 2 when the setup failed, 130 when interrupted (Ctrl-C or SIGTERM; the
children are stopped and the vhost deleted anyway).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import kombu
import websocket
from pymongo import MongoClient

from bench.common import (
    ROOT,
    TOKEN,
    Lab,
    SetupError,
    client,
    create,
    descendant_pids,
    fmt,
    interrupt_on_sigterm,
    nearest_rank,
    run_and_report,
    say,
)
from bench.summary import Figure, record, targets_lines
from services.logs.domain import MAX_READ_LIMIT, chunk_id
from services.logs.store import COLLECTION as LOG_CHUNKS

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from services.worker.publisher import BATCH_DELAY, BATCH_LINES, LogPublisher
from shared.contracts import rpc, services
from shared.workertoken import WorkerTokens
from tests.repos import make_git_repo

PROJECT = "bench-logs"
SCM = {"type": "Github", "server": "https://scm.example.com", "token": "t"}
FINISHED = frozenset({"Success", "Failed", "Aborted"})
STAGE = "package"
LINE_BYTES = 80
PAD = "abcdefghijklmnopqrstuvwxyz0123456789" * 4  # the text after each line's number
READ_LIMIT = MAX_READ_LIMIT  # lines per read_log call (the logs service's maximum)
FOLLOW_POLL = 0.05  # seconds between read_log calls once the reader has caught up
STORED_POLL = 0.02  # seconds between the ingest's probes for its last line
RPC_TIMEOUT = 60.0
PREFETCH = 20  # the raw consumer's prefetch: nameko's max_workers in the services' config
RSS_EVERY = 0.01  # seconds between RSS samples of the gateway's workers
RECORD_TIMEOUT = 900.0
FOLLOWER_PROCS = 5  # processes the fan-out's followers are spread over (bench/followers.py)
LATENCY_LINE = re.compile(r"(\d+\.\d{6}) (\d+)")

TARGET_INGEST_RATIO = 0.8  # of the raw broker's lines/s in the same run
TARGET_P99_MS = 30.0
TARGET_FANOUT_P99_MS = 100.0


def rpc_proxy(amqp_uri: str) -> Any:
    """A nameko standalone RPC proxy (imported here: nameko warns about eventlet on import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from nameko.standalone.rpc import ClusterRpcProxy

    return ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=RPC_TIMEOUT)


def log_publisher(amqp_uri: str, record_id: str, token: str) -> LogPublisher:
    """The worker's LogPublisher, made as BusSink makes it (the default batch: BATCH_LINES
    lines or BATCH_DELAY), signing its batches with the record's worker token as a worker
    does (the logs service drops unsigned ones)."""
    return LogPublisher(amqp_uri, record_id, token=token)


def make_lines(n: int) -> list[str]:
    """`n` distinct ASCII lines of LINE_BYTES: `line 000000001 ` then text."""
    return [f"line {i:09d} " + PAD[i % 36 : i % 36 + LINE_BYTES - 15] for i in range(1, n + 1)]


class Digest:
    """sha256 of lines as the gateway's GET .../logs sends them (each line and a newline)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.lines = 0

    def add(self, lines: list[str]) -> None:
        if lines:
            self._hash.update(("\n".join(lines) + "\n").encode())
            self.lines += len(lines)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def parse_time(value: object) -> float:
    """Unix seconds of an RFC 3339 time from the API; NaN when absent or malformed."""
    if not isinstance(value, str) or not value:
        return math.nan
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return math.nan


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


# --- reading a record's log through the logs service -----------------------------------------


@dataclass
class Follow:
    """A read of a record's whole log through read_log, from line 0 until `complete`."""

    lines: int
    sha256: str
    calls: int
    complete: bool
    seconds: float  # from `started` (perf_counter) to the complete answer
    done_at: float  # time.time() of the complete answer


def follow_log(
    read: Callable[..., Any],
    record_id: str,
    started: float,
    timeout: float,
    abandon: Callable[[], bool] = lambda: False,
) -> Follow:
    """read_log from after=0, READ_LIMIT lines per call, each call after where the previous
    ended, until the answer is `complete` (the end marker reached with no line missing); waits
    FOLLOW_POLL between calls that are not full (the reader has caught up with the writer).
    Gives up after `timeout` seconds, or once `abandon()` is true (the writer failed)."""
    digest = Digest()
    after = calls = 0
    deadline = time.monotonic() + timeout
    while True:
        chunk = read(record_id, None, None, after, READ_LIMIT)
        calls += 1
        digest.add(chunk["lines"])
        after = max(after, chunk["next"])
        if chunk["complete"] or time.monotonic() > deadline or abandon():
            return Follow(
                digest.lines,
                digest.hexdigest(),
                calls,
                bool(chunk["complete"]),
                time.perf_counter() - started,
                time.time(),
            )
        if len(chunk["lines"]) < READ_LIMIT:
            time.sleep(FOLLOW_POLL)


def wait_stored(
    chunks: Any,
    record_id: str,
    lines: int,
    started: float,
    timeout: float,
    abandon: Callable[[], bool] = lambda: False,
) -> Follow:
    """Poll the logs service's collection every STORED_POLL seconds, by `_id`, for the record's
    end marker (its chunk starts at line `lines` + 1), then until the record's chunks hold
    every line: the time the whole log was stored. Point reads on the database, so that the
    probe costs the service under test nothing (read_log from the end falls back to a scan
    of the record while its last chunk is missing)."""
    calls = 0
    deadline = time.monotonic() + timeout
    eof_id = chunk_id(record_id, lines + 1)
    found = False
    while not (time.monotonic() > deadline or abandon()):
        calls += 1
        if found or chunks.find_one({"_id": eof_id}, projection={"_id": 1}) is not None:
            found = True
            stored = sum(
                doc["n"] for doc in chunks.find({"record_id": record_id}, projection={"n": 1})
            )
            if stored == lines:
                return Follow(lines, "", calls, True, time.perf_counter() - started, time.time())
        time.sleep(STORED_POLL)
    return Follow(0, "", calls, False, time.perf_counter() - started, time.time())


# --- 1. ingest through the worker's LogPublisher ---------------------------------------------


@dataclass
class Ingest:
    lines: int
    messages: int = 0
    publish_s: float = math.nan  # first line -> end() returned (every message confirmed)
    follow: Follow | None = None
    readback: Follow | None = None
    expected_sha: str = ""
    error: str = ""

    @property
    def seconds(self) -> float:
        """First publish -> read_log answered complete for the whole record."""
        return self.follow.seconds if self.follow and self.follow.complete else math.nan

    @property
    def lines_per_s(self) -> float:
        return rate(self.lines, self.seconds)

    def checks(self) -> list[tuple[str, bool]]:
        out = []
        for label, got in (("read back", self.readback),):
            ok = (
                got is not None
                and got.complete
                and got.lines == self.lines
                and got.sha256 == self.expected_sha
            )
            out.append((f"ingest: every line {label} in order (count, sha256)", ok))
        return out


def ingest(
    amqp_uri: str, read: Callable[..., Any], chunks: Any, lines: list[str], tokens: WorkerTokens
) -> Ingest:
    result = Ingest(len(lines))
    expected = Digest()
    expected.add(lines)
    result.expected_sha = expected.hexdigest()
    record_id = secrets.token_hex(12)  # no such record: the logs service stores any id's lines
    publisher = log_publisher(amqp_uri, record_id, tokens.issue(record_id))
    published: dict[str, float] = {}
    failed: list[str] = []

    def publish() -> None:
        try:
            for line in lines:
                publisher.line(STAGE, line)
            publisher.end(STAGE)  # flush, then the end-of-log marker, as the worker ends
            published["at"] = time.perf_counter()
        except Exception as exc:  # noqa: BLE001 - reported
            failed.append(f"publishing: {type(exc).__name__}: {exc}")

    say(f"ingest: {len(lines)} lines through LogPublisher for record {record_id}")
    thread = threading.Thread(target=publish, name="publish", daemon=True)
    started = time.perf_counter()
    thread.start()
    result.follow = wait_stored(
        chunks, record_id, len(lines), started, RECORD_TIMEOUT, abandon=lambda: bool(failed)
    )
    thread.join(RECORD_TIMEOUT)
    result.messages = publisher.messages
    if "at" in published:
        result.publish_s = published["at"] - started
    if failed:
        result.error = failed[0]
    elif not result.follow.complete:
        result.error = f"the log was not complete after {RECORD_TIMEOUT:g}s"
    say(f"ingest: complete after {result.follow.seconds:.2f}s; reading it back")
    result.readback = follow_log(read, record_id, time.perf_counter(), RPC_TIMEOUT)
    return result


# --- 2. the same messages through raw kombu --------------------------------------------------


@dataclass
class Raw:
    messages: int
    lines: int
    publish_s: float = math.nan  # first publish -> last confirmed
    total_s: float = math.nan  # first publish -> last consumed and acked
    consumed: int = 0
    consumed_lines: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.consumed == self.messages


def raw_broker(amqp_uri: str, lines: list[str], batch: int) -> Raw:
    """Publish the LogPublisher's batches (as its bodies, persistent, confirmed, one at a time)
    to a temporary durable queue while a consumer (prefetch PREFETCH) acks them."""
    bodies = [
        {"record_id": "0" * 24, "seq": seq + 1, "stage": STAGE, "lines": lines[seq : seq + batch]}
        for seq in range(0, len(lines), batch)
    ]
    result = Raw(len(bodies), len(lines))
    name = f"bench.raw.{secrets.token_hex(4)}"
    exchange = kombu.Exchange(name, type="direct", durable=True)
    queue = kombu.Queue(name, exchange, routing_key="lines", durable=True)
    ready = threading.Event()
    last_ack: list[float] = []
    problems: list[str] = []

    def on_message(body: Any, message: kombu.Message) -> None:
        result.consumed += 1
        result.consumed_lines += len(body["lines"])
        message.ack()
        if result.consumed == len(bodies):
            last_ack.append(time.perf_counter())

    def consume() -> None:
        try:
            with kombu.Connection(amqp_uri, connect_timeout=10) as conn:
                queue(conn.default_channel).declare()
                with conn.Consumer(
                    queue, callbacks=[on_message], accept=["json"], prefetch_count=PREFETCH
                ):
                    ready.set()
                    deadline = time.monotonic() + RECORD_TIMEOUT
                    while result.consumed < len(bodies) and time.monotonic() < deadline:
                        try:
                            conn.drain_events(timeout=1)
                        except TimeoutError:
                            continue
        except Exception as exc:  # noqa: BLE001 - reported
            problems.append(f"consuming: {type(exc).__name__}: {exc}")
        finally:
            ready.set()

    say(f"raw kombu: {len(bodies)} messages of {batch} lines")
    consumer = threading.Thread(target=consume, name="raw-consume", daemon=True)
    consumer.start()
    ready.wait(30)
    policy = {"max_retries": 10, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}
    with kombu.Connection(
        amqp_uri, transport_options={"confirm_publish": True}, connect_timeout=10
    ) as conn:
        try:
            producer = kombu.Producer(conn.default_channel, exchange=exchange)
            started = time.perf_counter()
            for body in bodies:
                producer.publish(
                    body,
                    routing_key="lines",
                    serializer="json",
                    delivery_mode=2,
                    declare=[queue],
                    retry=True,
                    retry_policy=policy,
                )
            result.publish_s = time.perf_counter() - started
            consumer.join(RECORD_TIMEOUT)
            if last_ack:
                result.total_s = last_ack[0] - started
        except Exception as exc:  # noqa: BLE001 - reported
            problems.append(f"publishing: {type(exc).__name__}: {exc}")
        finally:
            channel = conn.channel()
            try:
                queue(channel).delete()
                exchange(channel).delete()
            finally:
                channel.close()
    if problems:
        result.error = "; ".join(problems)
    elif result.consumed != len(bodies):
        result.error = f"consumed {result.consumed} of {len(bodies)} messages"
    return result


# --- 3. latency from a worker's write to a WebSocket follower --------------------------------


@dataclass
class Latency:
    lines: int
    target_rate: int
    record: str = ""
    status: str = ""
    close_code: int | None = None
    frames: int = 0
    ms: list[float] = field(default_factory=list)
    first_write: float = math.nan
    last_write: float = math.nan
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    same_as_stored: bool = False
    error: str = ""

    def p(self, q: float) -> float:
        return nearest_rank(self.ms, q)

    @property
    def write_rate(self) -> float:
        return rate(self.lines - 1, self.last_write - self.first_write)

    @property
    def exact(self) -> bool:
        return (
            not self.error
            and len(self.ms) == self.lines
            and not self.missing
            and not self.duplicates
            and not self.out_of_order
        )


def paced_printer(n: int, per_s: int) -> str:
    """A shell command: Python printing `n` lines at `per_s` lines/s on a fixed schedule (line i
    at start + i / per_s), each `<time.time() when written> <i>`, flushed at once."""
    code = (
        "import time;t0=time.time();"
        f"[(time.sleep(max(0.0,t0+i/{per_s}-time.time())),"
        "print('%.6f %d'%(time.time(),i),flush=True))"
        f" for i in range({n})]"
    )
    # The system's python3, not this venv's: builds run as the build user when the stack runs
    # as root, and the venv need not be theirs to execute (docs/security.md).
    return f"python3 -c {shlex.quote(code)}"


def latency(api: httpx.Client, base: str, path: str, n: int, per_s: int) -> Latency:
    result = Latency(n, per_s)
    record = create(api, path, {"ref": "main"})
    result.record = record["id"]
    url = base.replace("http://", "ws://", 1) + f"{path}/{result.record}/logstream?token={TOKEN}"
    say(f"latency: record {result.record}, following {url.split('?')[0]}")
    frames: list[tuple[float, bytes]] = []
    try:
        ws = websocket.create_connection(url, timeout=60)
    except (OSError, websocket.WebSocketException) as exc:
        result.error = f"WebSocket: {type(exc).__name__}: {exc}"
        return result
    try:
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            now = time.time()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                result.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                break
            if opcode == websocket.ABNF.OPCODE_TEXT:
                frames.append((now, data))
    except (OSError, websocket.WebSocketException) as exc:
        result.error = f"WebSocket: {type(exc).__name__}: {exc}"
    finally:
        ws.close()
    result.frames = len(frames)
    seen: list[int] = []
    for received, data in frames:
        match = LATENCY_LINE.fullmatch(data.decode("utf-8", "replace"))
        if match:
            written = float(match[1])
            seen.append(int(match[2]))
            result.ms.append((received - written) * 1000)
            if len(seen) == 1:
                result.first_write = written
            result.last_write = written
    result.duplicates = len(seen) - len(set(seen))
    result.missing = len(set(range(n)) - set(seen))
    result.out_of_order = sum(1 for a, b in itertools.pairwise(seen) if b <= a)
    doc = wait_finished(api, f"{path}/{result.record}", RECORD_TIMEOUT)
    result.status = doc.get("status", "")
    stored = api.get(f"{path}/{result.record}/logs")
    result.same_as_stored = stored.status_code == 200 and stored.text.splitlines() == [
        data.decode("utf-8", "replace") for _, data in frames
    ]
    if not result.error and result.status != "Success":
        result.error = f"record {result.status}: {doc.get('errorMessage', '')}"
    elif not result.error and result.close_code != 1000:
        result.error = f"the socket closed with {result.close_code}, not 1000"
    return result


@dataclass
class Fanout:
    """Many followers of one record (step 3b)."""

    followers: int
    procs: int
    lines: int
    record: str = ""
    status: str = ""
    ms: list[float] = field(default_factory=list)
    exact: int = 0  # followers that got every line once, in order
    cpu: list[float] = field(default_factory=list)  # per follower process: CPU s / wall s
    errors: list[str] = field(default_factory=list)

    def p(self, q: float) -> float:
        return nearest_rank(self.ms, q)

    @property
    def all_exact(self) -> bool:
        return self.exact == self.followers and not self.errors and self.status == "Success"


def fan_out(api: httpx.Client, base: str, path: str, n: int, count: int, procs: int) -> Fanout:
    """`count` WebSocket followers of one paced record, in `procs` processes of their own
    (bench/followers.py), connected before its first line (its command sleeps first)."""
    result = Fanout(count, procs, n)
    record = create(api, path, {"ref": "main"})
    result.record = record["id"]
    # batch frames, as the web UI and the CLI follow (docs/api.md "Live logs")
    url = (
        base.replace("http://", "ws://", 1)
        + f"{path}/{result.record}/logstream?batch=true&token={TOKEN}"
    )
    shares = [count // procs + (1 if i < count % procs else 0) for i in range(procs)]
    say(f"fan-out: {count} followers of {result.record} in {procs} processes")
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.followers", url, str(k), str(n)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in shares
        if k
    ]
    for child in children:
        assert child.stdout is not None
        out, _ = child.communicate(timeout=RECORD_TIMEOUT)
        last = out.strip().splitlines()[-1] if out.strip() else "{}"
        report = json.loads(last)
        for follower in report.get("followers", []):
            result.ms.extend(follower.get("ms", []))
            result.exact += bool(follower.get("exact"))
            if follower.get("error"):
                result.errors.append(str(follower["error"]))
        if report.get("wall_s"):
            result.cpu.append(report["cpu_s"] / report["wall_s"])
    doc = wait_finished(api, f"{path}/{result.record}", RECORD_TIMEOUT)
    result.status = doc.get("status", "")
    return result


def wait_finished(api: httpx.Client, path: str, timeout: float) -> dict[str, Any]:
    """GET the record every 200 ms until it has finished; its last view."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            got = api.get(path)
        except httpx.HTTPError:
            got = None
        if got is not None and got.status_code == 200:
            doc = got.json()
            if doc["status"] in FINISHED:
                return doc
        time.sleep(0.2)
    return doc


# --- 4. a large record through GET .../logs --------------------------------------------------


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def gateway_workers(data_dir: Path) -> list[int]:
    """The gunicorn workers: children of the `python -m services.api` process (which execs
    gunicorn's master) named under "api" in the launcher's pids.json."""
    try:
        master = int(json.loads((data_dir / "pids.json").read_text())["api"])
    except (OSError, ValueError, KeyError) as exc:
        raise SetupError(f"no gateway pid in {data_dir / 'pids.json'}: {exc}") from exc
    workers = descendant_pids(master)
    if not workers:
        raise SetupError(f"no gunicorn worker below the gateway's master {master}")
    return workers


class RssSampler:
    """Samples the RSS of `pids` every RSS_EVERY seconds from a thread, keeping the peaks."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before = {pid: rss_kib(pid) or 0 for pid in pids}
        self.peak = dict(self.before)
        self.peak_sum = sum(self.before.values())
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = {pid: rss_kib(pid) or 0 for pid in self.pids}
            for pid, kib in now.items():
                self.peak[pid] = max(self.peak[pid], kib)
            self.peak_sum = max(self.peak_sum, sum(now.values()))
            self.samples += 1
            self._stop.wait(RSS_EVERY)

    @contextmanager
    def sampling(self) -> Iterator[RssSampler]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    @property
    def growth_kib(self) -> int:
        """The largest growth of one worker (the one that served the request)."""
        return max(self.peak[pid] - self.before[pid] for pid in self.pids)


@dataclass
class Big:
    lines: int
    record: str = ""
    status: str = ""
    run_s: float = math.nan  # POST -> the record seen finished
    package_s: float = math.nan  # the package stage's startTime -> endTime
    stored_s: float = math.nan  # the package stage's startTime -> read_log complete
    follow: Follow | None = None
    http_status: int = 0
    bytes: int = 0
    body_lines: int = 0
    first_byte_s: float = math.nan
    download_s: float = math.nan
    numbers_ok: bool = False
    same_as_rpc: bool = False
    rss: RssSampler | None = None
    error: str = ""

    @property
    def streamed(self) -> bool:
        """The serving worker grew by less than the body: it never held the whole log (as
        bytes it would take the body's size, as Python strings several times that). Half the
        body was the bar before, but a streaming worker grows by a few MB whatever the log (the
        allocator's arenas for the chunks in flight: 3.4 MB for `seq 1 1000000`, a 6.9 MB
        body, and 1.7 MB for 2,000,000 lines, 14.9 MB), so that bar failed on a few KiB."""
        return self.rss is not None and self.bytes > 0 and self.rss.growth_kib * 1024 < self.bytes


def big_log(
    api: httpx.Client, base: str, path: str, read: Callable[..., Any], n: int, data_dir: Path
) -> Big:
    result = Big(n)
    started = time.perf_counter()
    record = create(api, path, {"ref": "main"})
    result.record = record["id"]
    say(f"large record {result.record}: seq 1 {n}; following it with read_log until complete")
    result.follow = follow_log(read, result.record, started, RECORD_TIMEOUT)
    doc = wait_finished(api, f"{path}/{result.record}", RECORD_TIMEOUT)
    result.run_s = time.perf_counter() - started
    result.status = doc.get("status", "")
    package = doc.get("stageStatus", {}).get(STAGE, {})
    package_start = parse_time(package.get("startTime"))
    result.package_s = parse_time(package.get("endTime")) - package_start
    result.stored_s = result.follow.done_at - package_start
    if result.status != "Success":
        result.error = f"record {result.status}: {doc.get('errorMessage', '')}"
        return result
    if not result.follow.complete:
        result.error = f"the log was not complete after {RECORD_TIMEOUT:g}s"
        return result
    workers = gateway_workers(data_dir)
    time.sleep(0.5)  # the gateway idle: the RSS before
    say(f"large record: GET .../logs, sampling the RSS of gunicorn workers {workers}")
    parts: list[bytes] = []
    sampler = RssSampler(workers)
    result.rss = sampler
    with (
        sampler.sampling(),
        httpx.Client(
            base_url=base,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=httpx.Timeout(RPC_TIMEOUT),
        ) as http,
    ):
        begun = time.perf_counter()
        try:
            with http.stream("GET", f"{path}/{result.record}/logs") as resp:
                result.http_status = resp.status_code
                for part in resp.iter_bytes():
                    if not parts:
                        result.first_byte_s = time.perf_counter() - begun
                    parts.append(part)
                    result.bytes += len(part)
        except httpx.HTTPError as exc:
            result.error = f"GET .../logs: {type(exc).__name__}: {exc}"
        result.download_s = time.perf_counter() - begun
    body = b"".join(parts)
    result.body_lines = body.count(b"\n")
    result.same_as_rpc = hashlib.sha256(body).hexdigest() == result.follow.sha256
    numbers = [line for line in body.split(b"\n") if line.isdigit()]
    result.numbers_ok = numbers == [str(i).encode() for i in range(1, n + 1)]
    if not result.error and result.http_status != 200:
        result.error = f"GET .../logs: HTTP {result.http_status} {body[:300]!r}"
    return result


# --- the report ------------------------------------------------------------------------------


def mark(ok: bool) -> str:
    return "OK" if ok else "MISMATCH"


def report(
    ing: Ingest, raw: Raw, lat: Latency, fan: Fanout, big: Big, load: tuple[float, float]
) -> str:
    follow = ing.follow
    back = ing.readback
    back_s = back.seconds if back else math.nan
    ratio = rate(ing.lines_per_s, rate(raw.lines, raw.total_s))
    lines = [
        f"bench.logs: CPUs {os.cpu_count()}, CYCLONE_API_WORKERS="
        f"{os.environ.get('CYCLONE_API_WORKERS') or 1}; one stack, its own RabbitMQ vhost",
        f"load average (1 min) at the start {load[0]:.2f}, at the end {load[1]:.2f}: other work on"
        " the machine moves every figure",
        "",
        "1) ingest, worker -> storage: the worker's LogPublisher (batches of "
        f"{BATCH_LINES} lines or {BATCH_DELAY * 1000:g} ms,",
        "   persistent, confirmed) -> cyclone.logs.ingest -> logs service -> secantusdb",
        f"  {ing.lines:,} lines of {LINE_BYTES} bytes, {ing.messages} messages "
        "(the end-of-log marker included), one made-up record id",
        f"  published, every message confirmed      {fmt(ing.publish_s, '8.2f')} s"
        f"  {fmt(rate(ing.lines, ing.publish_s), ',.0f'):>10} lines/s",
        f"  stored: last line and end marker stored  {fmt(ing.seconds, '8.2f')} s"
        f"  {fmt(ing.lines_per_s, ',.0f'):>10} lines/s   (from the first publish)",
        f"    (the database probed every {STORED_POLL * 1000:g} ms for the end marker, then"
        f" every line: {follow.calls if follow else 0} probes)",
        f"  read back whole, read_log in chunks      {fmt(back_s, '8.2f')} s"
        f"  {fmt(rate(ing.lines, back_s), ',.0f'):>10} lines/s"
        f"   ({back.calls if back else 0} calls)",
    ]
    for label, ok in ing.checks():
        lines.append(f"  {label:<60} {mark(ok)}")
    if ing.error:
        lines.append(f"  error: {ing.error}")
    lines += [
        "",
        f"2) baseline, raw broker: kombu, the same messages ({BATCH_LINES} lines each, JSON, "
        "persistent,",
        f"   confirmed one by one) to a temporary durable queue, consumed at the same time "
        f"(prefetch {PREFETCH}, acked)",
        f"  {raw.messages} messages, {raw.lines:,} lines",
        f"  publish alone (all confirmed)            {fmt(raw.publish_s, '8.2f')} s"
        f"  {fmt(rate(raw.messages, raw.publish_s), ',.0f'):>10} msg/s"
        f"  {fmt(rate(raw.lines, raw.publish_s), ',.0f'):>10} lines/s",
        f"  publish + consume (last ack)             {fmt(raw.total_s, '8.2f')} s"
        f"  {fmt(rate(raw.messages, raw.total_s), ',.0f'):>10} msg/s"
        f"  {fmt(rate(raw.lines, raw.total_s), ',.0f'):>10} lines/s",
        f"  consumed {raw.consumed} messages, {raw.consumed_lines:,} lines"
        + (f"; error: {raw.error}" if raw.error else ""),
        f"  ratio Cyclone ingest / raw broker (lines/s): {fmt(ratio, '.2f')}",
        "",
        f"3) latency, a worker's write -> a WebSocket follower, at {lat.target_rate} lines/s",
        f"   (record {lat.record}: package command printing {lat.lines:,} lines with their "
        "write time; the follower connected as soon as the record was created, ?token=)",
        f"  written at {fmt(lat.write_rate, ',.0f')} lines/s; {lat.frames} frames received, "
        f"{len(lat.ms)} timed lines; closed with {lat.close_code}; record {lat.status}",
        f"  receive - write, ms   p50 {fmt(lat.p(50))}   p90 {fmt(lat.p(90))}"
        f"   p99 {fmt(lat.p(99))}   max {fmt(max(lat.ms) if lat.ms else math.nan)}",
        f"  missing {lat.missing}, duplicated {lat.duplicates}, out of order {lat.out_of_order}",
        f"  {'latency: every line once, in order':<60} {mark(lat.exact)}",
        f"  {'latency: the frames = the stored log (GET .../logs)':<60} {mark(lat.same_as_stored)}",
    ]
    if lat.error:
        lines.append(f"  error: {lat.error}")
    cpu = ", ".join(f"{c * 100:.0f}%" for c in fan.cpu) or "-"
    lines += [
        "",
        f"3b) fan-out: {fan.followers} WebSocket followers of one record at {lat.target_rate:,} "
        f"lines/s ({fan.lines:,} lines),",
        f"   in {fan.procs} processes of their own (bench/followers.py), connected before its "
        "first line, with batch frames (?batch=true, as the web UI and the CLI)",
        f"  record {fan.record} {fan.status}",
        f"  receive - write, ms   p50 {fmt(fan.p(50))}   p90 {fmt(fan.p(90))}   "
        f"p99 {fmt(fan.p(99))}   max {fmt(max(fan.ms) if fan.ms else math.nan)}",
        f"  followers with every line once, in order: {fan.exact} of {fan.followers}",
        f"  the followers' own CPU, per process (CPU s / wall s; 100% = one core): {cpu}",
        "  (the machine's cores are shared by the stack and these clients: a client process near",
        "   100% would be the bottleneck, not the stack)",
    ]
    lines += [f"  error: {e}" for e in fan.errors[:5]]
    rss = big.rss
    lines += [
        "",
        f"4) a large record: a real run of `seq 1 {big.lines}`, then GET .../logs streamed (httpx)",
        f"  record {big.record} {big.status}: POST -> finished {fmt(big.run_s, '.2f')} s; "
        f"package stage {fmt(big.package_s, '.2f')} s",
        f"  package start -> log complete in storage {fmt(big.stored_s, '8.2f')} s"
        f"  {fmt(rate(big.follow.lines if big.follow else 0, big.stored_s), ',.0f'):>10}"
        " lines/s   (the real worker's ingest)",
        f"  GET: HTTP {big.http_status}, {big.body_lines:,} lines, "
        f"{big.bytes / 1e6:.2f} MB in {fmt(big.download_s, '.2f')} s: "
        f"{fmt(rate(big.bytes / 1e6, big.download_s), '.2f')} MB/s, "
        f"{fmt(rate(big.body_lines, big.download_s), ',.0f')} lines/s; first byte after "
        f"{fmt(big.first_byte_s * 1000, '.0f')} ms",
    ]
    if rss is not None:
        lines.append(
            f"  gateway workers' RSS (MB), before -> peak during the GET, sampled every "
            f"{RSS_EVERY * 1000:g} ms ({rss.samples} samples):"
        )
        for pid in rss.pids:
            lines.append(
                f"    worker {pid}: {rss.before[pid] / 1024:.1f} -> {rss.peak[pid] / 1024:.1f}"
            )
        lines.append(
            f"    all workers: {sum(rss.before.values()) / 1024:.1f} -> "
            f"{rss.peak_sum / 1024:.1f}; largest growth of one worker "
            f"{rss.growth_kib / 1024:.1f} MB, the body {big.bytes / 1e6:.1f} MB"
        )
    lines += [
        f"  {f'large: lines 1..{big.lines} all there, in order':<60} {mark(big.numbers_ok)}",
        f"  {'large: GET body = the log read through read_log (sha256)':<60} "
        f"{mark(big.same_as_rpc)}",
        f"  {'large: streamed (a worker grew by less than the body)':<60} {mark(big.streamed)}",
    ]
    if big.error:
        lines.append(f"  error: {big.error}")
    p99 = lat.p(99)
    raw_rate = rate(raw.lines, raw.total_s)
    figures = [
        Figure(
            "logs",
            "live log, worker write -> WebSocket, 1,000 lines/s, p99",
            p99,
            "ms",
            "<=",
            TARGET_P99_MS,
            checks=lat.exact,
        ),
        Figure(
            "logs",
            f"live log, {fan.followers} followers of one record, 1,000 lines/s, p99",
            fan.p(99),
            "ms",
            "<=",
            TARGET_FANOUT_P99_MS,
            checks=fan.all_exact,
        ),
        Figure(
            "logs",
            "log ingest / raw broker publish+consume",
            ratio,
            "x",
            ">=",
            TARGET_INGEST_RATIO,
            checks=all(ok for _, ok in ing.checks()) and not raw.error,
        ),
        Figure(
            "logs",
            "log ingest",
            ing.lines_per_s,
            "lines/s",
            ">=",
            TARGET_INGEST_RATIO * raw_rate,
            raw_rate,
            checks=all(ok for _, ok in ing.checks()),
        ),
    ]
    record(figures)
    lines += ["", "targets (a target whose checks above fail is a FAIL too):"]
    lines += targets_lines(figures)
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------


def run(lab: Lab, n_ingest: int, n_latency: int, per_s: int, n_big: int, n_followers: int) -> str:
    try:
        repo = make_git_repo(lab.work / "git")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SetupError(f"making the git repository: {exc}") from exc
    say(f"git repository {repo.url}")
    lab.start_stack({})
    checkout = {"mainRepo": {"type": "other", "otherCodeSource": {"url": repo.url}}}
    paths: dict[str, str] = {}
    with client(lab.api) as api:
        create(api, "/api/v1/projects", {"name": PROJECT, "scm": SCM})
        for name, command in (
            ("latency", paced_printer(n_latency, per_s)),
            # its followers connect while it sleeps, before its first line
            ("fanout", f"sleep 3 && {paced_printer(n_latency, per_s)}"),
            ("big", f"seq 1 {n_big}"),
        ):
            stages = {"codeCheckout": checkout, STAGE: {"command": [command], "outputs": []}}
            create(
                api,
                f"/api/v1/projects/{PROJECT}/pipelines",
                {"name": name, "build": {"builderImage": {"image": "local"}, "stages": stages}},
            )
            paths[name] = f"/api/v1/projects/{PROJECT}/pipelines/{name}/records"
    lines = make_lines(n_ingest)
    load_at_start = os.getloadavg()[0]
    with rpc_proxy(lab.amqp_uri) as cluster:
        read = getattr(getattr(cluster, services.LOGS), rpc.READ_LOG)
        read("0" * 24, None, None, 0, 1)  # the proxy and the service answer
        # the key the launcher made: the bench signs its made-up worker's batches with it
        tokens = WorkerTokens((lab.data_dir / "secret-key").read_text().strip())
        with MongoClient[dict[str, Any]](lab.mongo_url) as db:
            chunks = db.get_default_database()[LOG_CHUNKS]
            ing = ingest(lab.amqp_uri, read, chunks, lines, tokens)
        for child in lab.children:
            child.check()
        raw = raw_broker(lab.amqp_uri, lines, BATCH_LINES)
        with client(lab.api) as api:
            api.timeout = httpx.Timeout(RPC_TIMEOUT)
            lat = latency(api, lab.api, paths["latency"], n_latency, per_s)
            say(f"latency: p99 {fmt(lat.p(99))} ms")
            fan = fan_out(api, lab.api, paths["fanout"], n_latency, n_followers, FOLLOWER_PROCS)
            say(f"fan-out: p99 {fmt(fan.p(99))} ms")
            big = big_log(api, lab.api, paths["big"], read, n_big, lab.data_dir)
    for child in lab.children:
        child.check()
    return report(ing, raw, lat, fan, big, (load_at_start, os.getloadavg()[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.logs", description=__doc__.split("\n")[0]
    )
    # 1M lines, about 2 s: at 200,000 (half a second) the first batches' latency, the 20 ms
    # probe and the final count were a sixth of the time, and the ratio moved 0.45-0.87
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines of the ingest run")
    parser.add_argument(
        "--latency-lines", type=int, default=10_000, help="lines of the latency record"
    )
    parser.add_argument("--rate", type=int, default=1000, help="lines/s of the latency record")
    parser.add_argument(
        "--big-lines", type=int, default=1_000_000, help="lines of the large record"
    )
    parser.add_argument("--followers", type=int, default=50, help="followers of the fan-out")
    args = parser.parse_args(argv)
    if min(args.lines, args.latency_lines, args.rate, args.big_lines, args.followers) < 1:
        parser.error("--lines, --latency-lines, --rate, --big-lines, --followers must be >= 1")
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-logs-"))
    lab = Lab(work, f"cyclone-bench-logs-{os.getpid()}")
    return run_and_report(
        work,
        lambda: run(lab, args.lines, args.latency_lines, args.rate, args.big_lines, args.followers),
        lab.stop_all,
    )


if __name__ == "__main__":
    sys.exit(main())
