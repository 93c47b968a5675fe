"""`python -m bench.chaos [--minutes 15] [--seed N]`: records keep flowing through a stack
with two replicas of every service while processes, the database and the broker's connections
are killed at random; at the end, every invariant is checked.

Its own secantusdb and stack (`CYCLONE_REPLICAS=scheduler=2,logs=2,cloud=2,scm=2`, two
gateway workers) on a private RabbitMQ vhost. For `--minutes`:

- records are POSTed so that about `--running` are unfinished at any time; each runs a
  package stage printing 1,000 numbered lines, is followed by two WebSocket clients (each
  resumes with `from=N` when its connection drops), and notifies a local webhook receiver;
- a GitHub push delivery (signed, a fixture of ../shared) every 10 s, each sent twice with the
  same delivery id, and again until one answer says started or duplicate (as GitHub redelivers);
- a pipeline with a cron trigger every minute;
- every `--fault-every` seconds a fault, the kinds in a shuffled order, each at least twice:
  `kill -9` of a random service replica or gateway worker (the launcher or gunicorn starts it
  again), `kill -9` of the database server (started again on its port and files), all broker
  connections of the vhost closed
  (`rabbitmqctl close_all_connections --vhost`).

Then it stops the load, waits for the system to settle and checks: every record reached a
final status (else stuck); no record ran twice (its numbered lines once each) and each
delivery started one run and each cron tick at most one (else duplicated); every
acknowledged record still exists and every Success record's stored log has its 1,000 lines
in order (else lost); every follower received exactly the stored log (count and sha256);
every finished record's notification arrived at least once; no answer was a 500 (503 during
a fault is counted, not an error). It prints a table and exits 1 when an invariant broke,
0 when all held, 2 when the setup failed, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import hmac
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import websocket

from bench.common import (
    TOKEN,
    Child,
    Lab,
    bench_env,
    client,
    create,
    descendant_pids,
    interrupt_on_sigterm,
    port_open,
    run_and_report,
    say,
    start_stack,
    wait_until,
)
from shared import brokers
from tests.repos import make_git_repo
from tools import rabbit_cluster
from tools.stack import MONGO_FLAGS, free_port

PROJECT = "chaos"
RUNS, HOOKED, CRON = "runs", "hooked", "cron"
LINES = 1000
FINISHED = frozenset({"Success", "Failed", "Aborted"})
REPLICAS = "scheduler=2,logs=2,cloud=2,scm=2"
FAULTS = ("replica", "database", "broker")
NODE_DOWN = 10.0  # seconds a stopped broker node stays down (--broker-cluster)
SECRET = "chaos-hook-secret"
FIXTURE = (
    Path(__file__).resolve().parents[2] / "shared/fixtures/webhooks/github/push.new-branch.json"
)
NUMBERED = re.compile(r"^n=(\d+)$")
SETTLE_TIMEOUT = 300.0
DELIVERY_EVERY = 10.0


# --- what the run saw -------------------------------------------------------------------------


@dataclass
class Seen:
    """Everything the load and the faults observed, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    records: dict[str, str] = field(default_factory=dict)  # acknowledged id -> pipeline
    unacknowledged: int = 0  # POSTs without an answer or with 503: may or may not exist
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    server_errors: list[str] = field(default_factory=list)  # 500 and other non-503 5xx
    followers: dict[str, list[Follower]] = field(default_factory=dict)
    deliveries: dict[str, str] = field(default_factory=dict)  # delivery id -> final status
    faults: collections.Counter[str] = field(default_factory=collections.Counter)
    notified: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def answered(self, resp: httpx.Response, what: str) -> None:
        with self.lock:
            self.statuses[resp.status_code] += 1
            if resp.status_code >= 500 and resp.status_code != 503:
                self.server_errors.append(f"{what}: {resp.status_code} {resp.text[:200]}")


@dataclass
class Follower:
    """One WebSocket client of a record's log, resuming with from=N after a drop."""

    url: str
    lines: list[str] = field(default_factory=list)
    done: bool = False
    error: str = ""
    reconnects: int = 0

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                ws = websocket.create_connection(
                    f"{self.url}?from={len(self.lines)}",
                    header=[f"Authorization: Bearer {TOKEN}"],
                    timeout=60,
                )
            except (OSError, websocket.WebSocketException) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                self.reconnects += 1
                time.sleep(0.5)
                continue
            try:
                while True:
                    opcode, data = ws.recv_data()
                    if opcode == websocket.ABNF.OPCODE_TEXT:
                        self.lines.append(data.decode("utf-8", "replace"))
                    elif opcode == websocket.ABNF.OPCODE_CLOSE:
                        if data and int.from_bytes(data[:2], "big") == 1000:
                            self.done, self.error = True, ""
                            return
                        break
            except (OSError, websocket.WebSocketException) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
            finally:
                ws.close()
            self.reconnects += 1
            time.sleep(0.2)
        self.error = self.error or "gave up"


# --- the webhook receiver of notifications ----------------------------------------------------


def start_receiver(seen: Seen) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                record = json.loads(raw)["record"]["id"]
            except (ValueError, KeyError, TypeError):
                record = ""
            with seen.lock:
                seen.notified.add(record)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/notify"


# --- the stack's parts the faults hit ---------------------------------------------------------


class Database:
    """secantusdb on a fixed port and folder, so a killed one comes back where it was."""

    def __init__(self, lab: Lab, env: dict[str, str]) -> None:
        self.lab, self.env = lab, env
        self.port = free_port()
        self.argv = [
            sys.executable,
            "-m",
            "secantus",
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--storage-path", str(lab.work / "mongo"), "--log-level", "WARNING"),
            *MONGO_FLAGS,
            "--sync-on-commit",  # as the launcher runs it: what it acknowledged is on disk
        ]
        self.url = f"mongodb://127.0.0.1:{self.port}/cyclone?retryWrites=false"
        self.child = self._start()

    def _start(self) -> Child:
        child = Child("secantusdb", self.argv, self.env, self.lab.work / "secantusdb.log")
        wait_until("secantusdb", child, lambda: port_open(self.port), 60)
        return child

    def kill_and_restart(self) -> None:
        index = self.lab.children.index(self.child)
        self.child.proc.kill()
        self.child.proc.wait()
        time.sleep(1)
        self.child = self._start()
        self.lab.children[index] = self.child


def kill_replica(data_dir: Path, rng: random.Random) -> str:
    """A service replica (the launcher starts it again) or a gateway worker process (its
    gunicorn master starts another), chosen at random."""
    pids = json.loads((data_dir / "pids.json").read_text())
    choices = {n: pid for n, pid in pids.items() if n not in ("api", "mongo")}
    for pid in descendant_pids(pids["api"]):  # gunicorn's workers
        choices[f"gateway worker {pid}"] = pid
    name = rng.choice(sorted(choices))
    subprocess.run(["kill", "-9", str(choices[name])], check=False)
    return name


def close_broker_connections(amqp_uri: str) -> None:
    vhost = brokers.vhost_of(amqp_uri)
    if len(brokers.nodes(amqp_uri)) > 1:  # the test cluster: through one of its nodes
        rabbit_cluster.ctl("close_all_connections", "--vhost", vhost, "chaos")
        return
    subprocess.run(
        ["rabbitmqctl", "-q", "close_all_connections", "--vhost", vhost, "chaos"],
        check=False,
        capture_output=True,
        timeout=60,
    )


# --- the load ---------------------------------------------------------------------------------


class Load:
    def __init__(self, lab: Lab, seen: Seen, api_url: str, running: int, repo_sha: str) -> None:
        self.lab, self.seen, self.api_url, self.running = lab, seen, api_url, running
        self.repo_sha = repo_sha
        self.http = client(api_url)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.followers: list[threading.Thread] = []
        self.done: set[str] = set()  # records seen finished
        self.follow_deadline = 0.0

    def records_url(self, pipeline: str, record: str = "") -> str:
        base = f"/api/v1/projects/{PROJECT}/pipelines/{pipeline}/records"
        return f"{base}/{record}" if record else base

    def status(self, pipeline: str, record: str) -> str | None:
        try:
            resp = self.http.get(self.records_url(pipeline, record))
        except httpx.HTTPError:
            return None
        self.seen.answered(resp, "GET record")
        return resp.json().get("status") if resp.status_code == 200 else None

    def post_record(self) -> None:
        try:
            resp = self.http.post(self.records_url(RUNS), json={"ref": "main"})
        except httpx.HTTPError:
            with self.seen.lock:
                self.seen.unacknowledged += 1
            return
        self.seen.answered(resp, "POST record")
        if resp.status_code != 201:
            with self.seen.lock:
                self.seen.unacknowledged += 1
            return
        record = resp.json()["id"]
        ws = self.api_url.replace("http://", "ws://") + self.records_url(RUNS, record)
        followers = [Follower(ws + "/logstream") for _ in range(2)]
        with self.seen.lock:
            self.seen.records[record] = RUNS
            self.seen.followers[record] = followers
        for follower in followers:
            thread = threading.Thread(
                target=lambda f=follower: f.run(self.follow_deadline), daemon=True
            )
            thread.start()
            self.followers.append(thread)

    def unfinished(self) -> int:
        with self.seen.lock:
            known = [r for r in self.seen.records if r not in self.done]
        for record in known:
            if self.status(RUNS, record) in FINISHED:
                self.done.add(record)
        return len(known) - sum(1 for r in known if r in self.done)

    def feed(self) -> None:
        """Keep about `running` records unfinished (the scheduler runs 4 at a time)."""
        while not self.stop.is_set():
            for _ in range(max(0, self.running - self.unfinished())):
                self.post_record()
            self.stop.wait(1.0)

    def deliver(self, pipeline_id: str) -> None:
        """A push delivery every 10 s, each sent twice, and again until it is taken."""
        body = json.loads(FIXTURE.read_bytes())
        body.update(ref="refs/heads/main", after=self.repo_sha)
        raw = json.dumps(body).encode()
        digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        n = 0
        while not self.stop.wait(DELIVERY_EVERY):
            n += 1
            delivery = f"chaos-{n}"
            outcome = ""
            for attempt in range(30):
                if attempt >= 2 and outcome in ("started", "duplicate"):
                    break
                headers = {
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": delivery,
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": f"sha256={digest}",
                }
                url = f"{self.api_url}/api/v1/pipelines/{pipeline_id}/githubwebhook"
                try:
                    resp = httpx.post(url, content=raw, headers=headers, timeout=15)
                except httpx.HTTPError:
                    time.sleep(1)
                    continue
                self.seen.answered(resp, "webhook")
                if resp.status_code == 200:
                    got = resp.json().get("status", "")
                    outcome = outcome if outcome == "started" else got
                else:
                    time.sleep(1)
            with self.seen.lock:
                self.seen.deliveries[delivery] = outcome

    def _thread(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)


# --- the faults -------------------------------------------------------------------------------


def fault_plan(rng: random.Random, count: int, faults: tuple[str, ...] = FAULTS) -> list[str]:
    """The kinds in a shuffled order, each at least twice."""
    kinds = [faults[i % len(faults)] for i in range(max(count, 2 * len(faults)))]
    rng.shuffle(kinds)
    return kinds


def bounce_node(rng: random.Random) -> str:
    """Stop one node of the test cluster, start it again NODE_DOWN seconds later: never two
    at once (this returns once it is back), so the quorum queues keep their majority."""
    letter = rng.choice(rabbit_cluster.LETTERS)
    rabbit_cluster.stop_node(letter)
    time.sleep(NODE_DOWN)
    rabbit_cluster.start_node(letter)
    return f"{rabbit_cluster.node(letter)} down {NODE_DOWN:g}s"


def inject(kind: str, lab: Lab, db: Database, seen: Seen, rng: random.Random) -> None:
    """One fault. Called from the main thread: a child started by another thread would get
    its parent-death signal when that thread ends (PR_SET_PDEATHSIG is per thread)."""
    if kind == "replica":
        what = kill_replica(lab.data_dir, rng)
    elif kind == "database":
        db.kill_and_restart()
        what = f"secantusdb on {db.port}"
    elif kind == "node":
        what = bounce_node(rng)
    else:
        close_broker_connections(lab.amqp_uri)
        what = "every connection of the vhost"
    with seen.lock:
        seen.faults[kind] += 1
    say(f"fault: {kind} ({what})")


# --- the checks ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    records: collections.Counter[str] = field(default_factory=collections.Counter)
    not_success: list[str] = field(default_factory=list)  # why, for the report (not a failure)


def all_records(http: httpx.Client, pipeline: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        resp = http.get(
            f"/api/v1/projects/{PROJECT}/pipelines/{pipeline}/records",
            params={"start": len(items), "limit": 1000},
        )
        resp.raise_for_status()
        page = resp.json()["items"]
        items += page
        if len(page) < 1000:
            return items


def settle(http: httpx.Client, timeout: float) -> None:
    """Until no record is Pending or Running (or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            busy = [
                r
                for p in (RUNS, HOOKED, CRON)
                for r in all_records(http, p)
                if r["status"] not in FINISHED
            ]
        except httpx.HTTPError:
            busy = ["?"]
        if not busy:
            return
        time.sleep(2)


def stored_log(http: httpx.Client, record: str) -> tuple[str, str]:
    """The record's whole stored log, and what went wrong reading it ("" when nothing)."""
    problem = ""
    for _ in range(3):
        try:
            resp = http.get(f"/api/v1/projects/{PROJECT}/pipelines/{RUNS}/records/{record}/logs")
        except httpx.HTTPError as exc:
            problem = f"GET logs: {type(exc).__name__}: {exc}"
        else:
            if resp.status_code == 200:
                return resp.text, ""
            problem = f"GET logs: HTTP {resp.status_code} {resp.text[:200]}"
        time.sleep(1)
    return "", problem


def numbered(log: str) -> list[int]:
    return [int(m.group(1)) for line in log.splitlines() if (m := NUMBERED.match(line))]


def worker_starts(data_dir: Path, record: str) -> int:
    """How many workers the cloud service spawned for a record: its Local driver notes each
    start in the record's worker log (kept after the run)."""
    try:
        text = (data_dir / "workspaces" / f"{record}.worker.log").read_text(errors="replace")
    except OSError:
        return 0
    return text.count(" starting [")


def check(http: httpx.Client, seen: Seen, cron_minutes: float, data_dir: Path) -> Verdict:
    verdict = Verdict()
    by_pipeline = {p: all_records(http, p) for p in (RUNS, HOOKED, CRON)}
    for pipeline, items in by_pipeline.items():
        for item in items:
            verdict.records[item["status"]] += 1
            if item["status"] != "Success":
                why = item.get("errorMessage") or ""
                verdict.not_success.append(f"{pipeline}/{item['id']} {item['status']}: {why}")
            if item["status"] not in FINISHED:
                verdict.stuck.append(f"{pipeline}/{item['id']} {item['status']}")
    runs = {item["id"]: item for item in by_pipeline[RUNS]}
    for record in seen.records:
        item = runs.get(record)
        if item is None:
            verdict.lost.append(f"{record}: acknowledged, not found")
            continue
        log, problem = stored_log(http, record)
        if problem:
            verdict.other.append(f"{record}: {problem}")
        got = numbered(log)
        starts = worker_starts(data_dir, record)
        if starts > 1 or len(got) > LINES or len(set(got)) != len(got):
            verdict.duplicated.append(f"{record}: ran {starts} times ({len(got)} numbered lines)")
        elif item["status"] == "Success" and got != list(range(1, LINES + 1)):
            verdict.lost.append(f"{record}: Success with {len(got)} of {LINES} lines in order")
        stored = log.splitlines()
        digest = hashlib.sha256("\n".join(stored).encode()).hexdigest()
        for n, follower in enumerate(seen.followers.get(record, [])):
            mine = hashlib.sha256("\n".join(follower.lines).encode()).hexdigest()
            if not follower.done or mine != digest:
                verdict.other.append(
                    f"{record} follower {n}: {len(follower.lines)} lines of {len(stored)}, "
                    f"{'closed' if follower.done else 'open: ' + follower.error}, "
                    f"{'same' if mine == digest else 'different'} hash"
                )
    taken = [d for d, outcome in seen.deliveries.items() if outcome in ("started", "duplicate")]
    untaken = sorted(set(seen.deliveries) - set(taken))
    if untaken:
        verdict.other.append(f"deliveries never taken: {untaken}")
    hooked = len(by_pipeline[HOOKED])
    if hooked > len(taken):
        verdict.duplicated.append(f"{hooked} webhook runs for {len(taken)} deliveries")
    elif hooked < len(taken):
        verdict.lost.append(f"{hooked} webhook runs for {len(taken)} deliveries")
    ticks = collections.Counter((item.get("startTime") or "")[:16] for item in by_pipeline[CRON])
    verdict.duplicated += [f"cron tick {t} ran {n} times" for t, n in ticks.items() if n > 1]
    if len(by_pipeline[CRON]) < max(0, int(cron_minutes) - 2):
        verdict.other.append(f"{len(by_pipeline[CRON])} cron runs in {cron_minutes:.1f} minutes")
    finished = [i["id"] for items in by_pipeline.values() for i in items if i["status"] in FINISHED]
    missing = [r for r in finished if r not in seen.notified]
    if missing:
        verdict.other.append(f"{len(missing)} finished records never notified: {missing[:5]}")
    verdict.other += [f"HTTP {e}" for e in seen.server_errors]
    return verdict


def wait_notified(http: httpx.Client, seen: Seen, timeout: float) -> None:
    """Notifications are retried with growing delays: give the outbox time to deliver."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ids = {
                i["id"]
                for p in (RUNS, HOOKED, CRON)
                for i in all_records(http, p)
                if i["status"] in FINISHED
            }
        except httpx.HTTPError:
            ids = {"?"}
        with seen.lock:
            if ids <= seen.notified:
                return
        time.sleep(2)


def report(
    seen: Seen,
    verdict: Verdict,
    minutes: float,
    followers_reconnects: int,
    faults: tuple[str, ...] = FAULTS,
) -> str:
    rows = [
        ("minutes of load", f"{minutes:.1f}"),
        ("records by status", ", ".join(f"{k} {v}" for k, v in sorted(verdict.records.items()))),
        ("records acknowledged (POST 201)", str(len(seen.records))),
        ("POSTs unanswered or 503", str(seen.unacknowledged)),
        ("webhook deliveries (each sent twice)", str(len(seen.deliveries))),
        (
            "followers (2 per record), reconnects",
            f"{2 * len(seen.followers)}, {followers_reconnects}",
        ),
        ("faults", ", ".join(f"{k} {seen.faults[k]}" for k in faults)),
        ("answers by status", ", ".join(f"{k} {v}" for k, v in sorted(seen.statuses.items()))),
        ("lost", str(len(verdict.lost))),
        ("stuck", str(len(verdict.stuck))),
        ("duplicated", str(len(verdict.duplicated))),
        ("other broken invariants", str(len(verdict.other))),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    for title, found in (
        ("not Success", verdict.not_success),
        ("lost", verdict.lost),
        ("stuck", verdict.stuck),
        ("duplicated", verdict.duplicated),
        ("other", verdict.other),
    ):
        lines += [f"  {title}: {line}" for line in found[:20]]
    broken = verdict.lost or verdict.stuck or verdict.duplicated or verdict.other
    lines.append("RESULT: " + ("FAIL" if broken else "PASS (every invariant held)"))
    return "\n".join(lines)


# --- the run ------------------------------------------------------------------------------------


def setup_catalog(http: httpx.Client, repo_url: str, notify_url: str) -> str:
    """The project and the three pipelines; returns the webhook pipeline's id."""
    create(
        http,
        "/api/v1/projects",
        {
            "name": PROJECT,
            "scm": {"type": "Github", "server": "https://scm.example.com", "token": "t"},
        },
    )
    numbers = f"for i in $(seq 1 {LINES}); do echo n=$i; done"
    notification = {
        "policy": "Always",
        "receivers": [{"type": "webhook", "addresses": [notify_url]}],
    }

    def pipeline(name: str, **extra: Any) -> dict[str, Any]:
        stages = {
            "codeCheckout": {"mainRepo": {"type": "other", "otherCodeSource": {"url": repo_url}}},
            "package": {"command": [numbers], "outputs": []},
        }
        body = {
            "name": name,
            "build": {"builderImage": {"image": "local", "envVars": []}, "stages": stages},
            "notification": notification,
            **extra,
        }
        return create(http, f"/api/v1/projects/{PROJECT}/pipelines", body)

    pipeline(RUNS)
    pipeline(CRON, autoTrigger={"cronTrigger": {"crons": [{"expression": "* * * * *"}]}})
    hooked = pipeline(
        HOOKED,
        autoTrigger={
            "scmTrigger": {"webhookSecret": SECRET, "push": {"stages": [], "branches": ["main"]}}
        },
    )
    return str(hooked["id"])


def run(args: argparse.Namespace, lab: Lab) -> tuple[str, bool]:
    """The load under faults, then the checks: (the report, whether an invariant broke)."""
    rng = random.Random(args.seed)
    say(f"seed {args.seed}")
    faults = FAULTS
    if args.broker_cluster:
        rabbit_cluster.start()
        rabbit_cluster.add_vhost(lab.vhost)
        lab.amqp_uri = rabbit_cluster.uri(lab.vhost)
        faults = (*FAULTS, "node")
        say(f"on the three-node cluster: {lab.amqp_uri}")
    env = bench_env()
    db = Database(lab, env)
    lab.children.append(db.child)
    repo = make_git_repo(lab.work / "git")
    seen = Seen()
    receiver, notify_url = start_receiver(seen)
    extra = {
        "CYCLONE_AMQP_URI": lab.amqp_uri,
        "CYCLONE_REPLICAS": REPLICAS,
        "CYCLONE_API_WORKERS": "2",
        "CYCLONE_RECORDS_PER_PIPELINE": "100000",
        "CYCLONE_DELIVERY_RETRY_BASE": "1",
        "CYCLONE_DELIVERY_ATTEMPTS": "12",
    }
    _, lab.api = start_stack(lab.start, lab.work, env, db.url, extra)
    load = Load(lab, seen, lab.api, args.running, repo.main_sha)
    try:
        hooked_id = setup_catalog(load.http, repo.url, notify_url)
        began = time.monotonic()
        end = began + args.minutes * 60
        load.follow_deadline = end + SETTLE_TIMEOUT + 60
        # every planned fault happens before the load ends (the last slot is left out)
        plan = fault_plan(rng, int(args.minutes * 60 / args.fault_every) - 1, faults)
        load._thread(load.feed)
        load._thread(lambda: load.deliver(hooked_id))
        next_fault = began + args.fault_every
        while time.monotonic() < end:
            if plan and time.monotonic() >= next_fault:
                inject(plan.pop(0), lab, db, seen, rng)
                next_fault += args.fault_every
            time.sleep(0.5)
        minutes = (time.monotonic() - began) / 60
        say("load stops; the system settles")
        load.stop.set()
        for thread in load.threads:
            thread.join(120)
        settle(load.http, SETTLE_TIMEOUT)
        last = time.monotonic() + 60  # a follower closes soon after its record ended
        for thread in load.followers:
            thread.join(max(0.1, last - time.monotonic()))
        wait_notified(load.http, seen, 120)
        verdict = check(load.http, seen, minutes, lab.data_dir)
        reconnects = sum(f.reconnects for fs in seen.followers.values() for f in fs)
        broken = verdict.lost or verdict.stuck or verdict.duplicated or verdict.other
        return report(seen, verdict, minutes, reconnects, faults), bool(broken)
    finally:
        load.stop.set()
        receiver.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--running", type=int, default=6, help="records kept unfinished")
    parser.add_argument("--fault-every", type=float, default=20.0, help="seconds between faults")
    parser.add_argument(
        "--broker-cluster",
        action="store_true",
        help="on the three-node RabbitMQ cluster of tools/rabbit-cluster.sh (started if need "
        "be, as root), with the fault: one node stopped and started again",
    )
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1 << 31)
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-chaos-"))
    lab = Lab(work, f"cyclone-bench-chaos-{quote(str(time.time_ns()))}")
    broken: list[bool] = []

    def go() -> str:
        text, failed = run(args, lab)
        broken.append(failed)
        return text

    def stop_all() -> list[str]:
        left = lab.stop_all()
        return left + (["an invariant broke"] if any(broken) else [])  # keeps the logs

    code = run_and_report(work, go, stop_all)
    return 1 if code == 0 and any(broken) else code


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
