"""`python -m bench.stats`: stats and records pages over many finished records.

Starts its own secantusdb and Cyclone stack (`python -m tools.stack`) on a free port with a
fixed API token, on a private RabbitMQ vhost (`cyclone-bench-stats-<pid>`, created by the
launcher with rabbitmqctl, deleted at the end), creates a project and two pipelines through
the API, then SEEDS `--records` FINISHED records STRAIGHT INTO THE SCHEDULER'S `records`
COLLECTION with pymongo `insert_many` (running 100k real records would take hours). Each is
the scheduler's own document (`services.scheduler.domain.records.new_record`), then finished:
status Success/Failed/Aborted at random (fixed seed), startTime spread over the last 30 days,
endTime a few minutes later; 70% go to the first pipeline, 30% to the second.

Then, 3 warm-ups and 30 timed requests each, one at a time on a keep-alive connection:
project stats over the 30 days, pipeline stats, the first records page (`start=0&limit=20`)
and a deep one (`start=50000&limit=20`). Each is also timed without the gateway (the
scheduler's RPC through a nameko standalone proxy) and without the gateway and the RPC (the
scheduler's RecordStore, the same aggregation and find/sort/skip/limit, straight on the
database), to show where the time goes. The stats' counts are checked against what was
inserted. Exit status: 0 once the report is printed; 2 when the setup failed, 130 when
interrupted (the children are stopped and the vhost deleted anyway).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from bench.common import (
    Lab,
    SetupError,
    client,
    create,
    fmt,
    interrupt_on_sigterm,
    nearest_rank,
    run_and_report,
    say,
    settle,
)
from bench.summary import Figure, record, targets_lines
from services.scheduler.counters import StatsCounters
from services.scheduler.domain import records as rec
from services.scheduler.domain import stats as stats_math
from services.scheduler.store import RecordStore
from shared import timefmt
from shared.contracts import rpc, services
from shared.contracts.records import RecordStatus

PROJECT = "bench-stats"
PIPELINES = ("alpha", "beta")
SHARE_FIRST = 0.7  # of the records go to the first pipeline (the deep page needs > 50k)
SCM = {"type": "Github", "server": "https://scm.example.com", "token": "t"}
SEED = 20240601
DAYS = 30
STATUSES = (RecordStatus.SUCCESS, RecordStatus.FAILED, RecordStatus.ABORTED)
STAGES = ["codeCheckout", "package"]
WARMUPS = 3
RUNS = 30
PAGE = 20
DEEP = 50_000
RPC_TIMEOUT = 60.0

TARGET_STATS_MS = 300.0
TARGET_PAGE_MS = 20.0
DEEP_MS = 50.0  # issue 20: a page at any offset, read as one index range
# A record's whole life in the scheduler's store, over the seeded collection: each write by
# `_id`, so it must cost what it costs over an empty one (a findAndModify scanned them all).
LIFECYCLE_MS = 50.0
FAM_RUNS = 3  # findAndModify by _id over the seeded records, the baseline: ~1 s each


# --- seeding -----------------------------------------------------------------------------------


@dataclass
class Seeded:
    """What the bench inserted, counted the way the stats should count it."""

    start: int  # the stats window, unix seconds, inclusive
    end: int
    per_pipeline: Counter[str] = field(default_factory=Counter)  # pipeline id -> records
    overview: dict[str, Counter[str]] = field(default_factory=dict)  # scope id -> status -> n
    days: dict[str, Counter[tuple[int, str]]] = field(default_factory=dict)  # (day, status)
    seconds: float = 0.0

    def count(self, scope_id: str, day: int, status: str) -> None:
        self.overview.setdefault(scope_id, Counter())[status] += 1
        self.days.setdefault(scope_id, Counter())[(day, status)] += 1


def ms_time(t: datetime) -> datetime:
    """Truncated to milliseconds, as MongoDB stores it."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def finished_stages(status: str, start: datetime, end: datetime) -> dict[str, Any]:
    """codeCheckout succeeded; package ended with the run's status."""
    middle = start + (end - start) / 3
    return {
        "codeCheckout": {
            "status": RecordStatus.SUCCESS,
            "startTime": timefmt.rfc3339(start),
            "endTime": timefmt.rfc3339(middle),
        },
        "package": {
            "status": status,
            "startTime": timefmt.rfc3339(middle),
            "endTime": timefmt.rfc3339(end),
        },
    }


def seed(
    db_url: str, project: dict[str, str], pipelines: list[dict[str, str]], n: int, batch: int
) -> Seeded:
    """`n` finished records in the scheduler's `records` collection, `batch` per insert_many."""
    rng = random.Random(SEED)
    end = int(time.time())
    start = end - DAYS * 86400
    seeded = Seeded(start, end)
    started = time.perf_counter()
    with MongoClient(db_url) as mongo:
        records = mongo.get_default_database().records
        counters = StatsCounters(mongo.get_default_database())
        docs: list[dict[str, Any]] = []
        # Created in time order, so sequence numbers follow startTime as they do in a real run.
        offsets = sorted(rng.random() * (end - start) for _ in range(n))
        seqs: Counter[str] = Counter()
        for i in range(n):
            pipeline = pipelines[0] if rng.random() < SHARE_FIRST else pipelines[1]
            begin = ms_time(datetime.fromtimestamp(start + offsets[i], UTC))
            finish = ms_time(begin + timedelta(seconds=rng.uniform(5, 900)))
            status = rng.choice(STATUSES)
            request = {
                "project": project,
                "pipeline": pipeline,
                "params": {"ref": "main"},
                "trigger": "bench",
            }
            doc = rec.new_record(request, STAGES, begin, 7200)
            doc.update(
                name=f"run-{i}",
                status=status,
                startTime=begin,
                startDay=rec.day_of(begin),
                endTime=finish,
                stageStatus=finished_stages(status, begin, finish),
                logLines=12,
            )
            if status != RecordStatus.SUCCESS:
                aborted = status == RecordStatus.ABORTED
                doc["errorMessage"] = "aborted by user" if aborted else "exit 1"
            seqs[pipeline["id"]] += 1
            doc["pipelineSeq"] = seqs[pipeline["id"]]  # what RecordStore.insert assigns
            docs.append(doc)
            seeded.per_pipeline[pipeline["id"]] += 1
            if start <= begin.timestamp() <= end + 0.999:
                for scope in (project["id"], pipeline["id"]):
                    seeded.count(scope, doc["startDay"], status)
            if len(docs) == batch or i == n - 1:
                records.insert_many(docs)
                counters.add_finished(docs)  # what the scheduler counts as runs end
                docs = []
                if (i + 1) % (batch * 4) == 0 or i == n - 1:
                    say(f"seeded {i + 1}/{n} records ({time.perf_counter() - started:.0f}s)")
        for pipeline_id, count in seqs.items():  # RecordStore's per-pipeline counts
            mongo.get_default_database().pipeline_record_counts.update_one(
                {"_id": pipeline_id},
                {"$set": {"seq": count, "stored": count, "floor": 0, "holes": []}},
                upsert=True,
            )
    seeded.seconds = time.perf_counter() - started
    return seeded


# --- timing ----------------------------------------------------------------------------------


@dataclass
class Timing:
    label: str
    ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    last: Any = None  # the last answer, for the checks

    def p(self, q: float) -> float:
        return nearest_rank(self.ms, q)


def timed(label: str, call: Callable[[], Any], warmups: int, runs: int) -> Timing:
    """`warmups` calls, then `runs` timed ones, one after the other."""
    timing = Timing(label)
    for n in range(warmups + runs):
        started = time.perf_counter()
        try:
            answer = call()
        except Exception as exc:  # noqa: BLE001 - counted and shown in the report
            if len(timing.errors) < 3:
                timing.errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
            else:
                timing.errors.append("")
            continue
        if n >= warmups:
            timing.ms.append((time.perf_counter() - started) * 1000)
        timing.last = answer
    say(f"  {label}: p50 {fmt(timing.p(50))} ms, {len(timing.errors)} errors")
    return timing


def rpc_proxy(amqp_uri: str) -> Any:
    """A nameko standalone RPC proxy (imported here: nameko warns about eventlet on import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from nameko.standalone.rpc import ClusterRpcProxy

    return ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=RPC_TIMEOUT)


def http_get(api: httpx.Client, path: str, params: dict[str, int]) -> Callable[[], Any]:
    def call() -> Any:
        resp = api.get(path, params=params)
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code} {resp.text[:300]}")
        return resp.json()

    return call


def lifecycle(store: RecordStore, project: dict[str, str]) -> Callable[[], Any]:
    """A record created, dispatched, given a worker, through two stages to its end, its
    after-effects done, then deleted: the scheduler's store calls, in Runs' order, in a
    pipeline of its own (`bench-lifecycle`, which no catalog knows)."""
    pipeline = {"id": "bench-lifecycle", "name": "bench-lifecycle"}

    def call() -> Any:
        now = timefmt.now()
        request = {"project": project, "pipeline": pipeline, "params": {}, "trigger": "bench"}
        doc, _ = store.insert(rec.new_record(request, STAGES, now, 7200))
        rid = str(doc["_id"])
        store.mark_dispatched(rid, -1, now, 7200, 300.0)
        # (its job goes with the start, built from the record dispatch read: no get_job read)
        store.set_worker(rid, {"name": "bench", "cloud": "local"})
        at = timefmt.rfc3339(now) or ""
        for stage in STAGES:
            store.stage_started(rid, stage, at, now)
            store.stage_finished(rid, stage, RecordStatus.SUCCESS, at, {}, now, started=at)
        ended = store.finish(rid, RecordStatus.SUCCESS, "", now, (RecordStatus.RUNNING,))
        store.after_end_done(rid)
        store.worker_exited(rid, "exit 0", now, True)
        store.delete([doc])
        return ended

    return call


def find_and_modify(store: RecordStore) -> Callable[[], Any]:
    """The baseline: one findAndModify by `_id`, as the store made six per record before."""
    some = store.records.find_one({}, {"_id": 1})

    def call() -> Any:
        return store.records.find_one_and_update({"_id": some["_id"]}, {"$set": {"bench": 1}})

    return call


# --- the report --------------------------------------------------------------------------------


def check(label: str, got: object, want: object) -> str:
    verdict = "OK" if got == want else "MISMATCH"
    line = f"  {label:<68} {verdict}"
    if got != want:
        line += f"\n    got:  {got}\n    want: {want}"
    return line


def expected_stats(seeded: Seeded, scope_id: str) -> dict[str, Any]:
    """What the stats endpoint must answer, from the inserted records alone."""
    by_status = seeded.overview.get(scope_id, Counter())
    total = sum(by_status.values())
    overview = {
        "total": total,
        "success": by_status[RecordStatus.SUCCESS],
        "failed": by_status[RecordStatus.FAILED],
        "aborted": by_status[RecordStatus.ABORTED],
    }
    days = seeded.days.get(scope_id, Counter())
    details = [
        {
            "timestamp": day,
            "success": days[(day, RecordStatus.SUCCESS)],
            "failed": days[(day, RecordStatus.FAILED)],
            "aborted": days[(day, RecordStatus.ABORTED)],
        }
        for day in stats_math.day_buckets(seeded.start, seeded.end)
    ]
    return {"overview": overview, "details": details}


def report(
    n: int,
    batch: int,
    seeded: Seeded,
    rows: list[tuple[str, Timing, Timing, Timing]],
    checks: list[str],
    deep: int,
    ids: list[str],
    warmups: int,
    runs: int,
    life: tuple[Timing, Timing],
) -> str:
    rate = n / seeded.seconds if seeded.seconds else math.nan
    sizes = ", ".join(
        f"{name} {seeded.per_pipeline[pid]}" for name, pid in zip(PIPELINES, ids, strict=True)
    )
    lines = [
        f"bench.stats: {n} finished records SEEDED STRAIGHT INTO THE SCHEDULER'S `records`",
        f"  collection with pymongo insert_many, {batch} per batch (running that many real",
        "  records would take hours): scheduler documents made by records.new_record, then",
        f"  finished; statuses at random (seed {SEED}), startTime over the last {DAYS} days.",
        f"  Seeding took {seeded.seconds:.1f} s ({fmt(rate, '.0f')} records/s).",
        f"  project {PROJECT}, records per pipeline: {sizes}",
        f"each measure: {warmups} warm-up calls, then {runs} timed calls one after the other; "
        f"CPUs: {os.cpu_count()}",
        "  HTTP   = through the gateway (keep-alive httpx client, bearer token)",
        "  RPC    = the scheduler's RPC from a nameko standalone proxy (no gateway)",
        "  direct = the scheduler's RecordStore + domain code on the database (no gateway, no RPC)",
        "",
        f"{'ms':<34} {'HTTP p50':>9} {'p95':>7} | {'RPC p50':>8} {'p95':>7} | "
        f"{'direct p50':>10} {'p95':>7} | {'HTTP/direct':>11}",
    ]
    for label, http, rpc_t, direct in rows:
        ratio = http.p(50) / direct.p(50) if direct.p(50) else math.nan
        lines.append(
            f"{label:<34} {fmt(http.p(50)):>9} {fmt(http.p(95)):>7} | "
            f"{fmt(rpc_t.p(50)):>8} {fmt(rpc_t.p(95)):>7} | "
            f"{fmt(direct.p(50)):>10} {fmt(direct.p(95)):>7} | {fmt(ratio, '.2f'):>11}"
        )
    errors = [(t.label, t.errors) for _, *ts in rows for t in ts if t.errors]
    if errors:
        lines += ["", "ERRORS (their requests are left out of the figures):"]
        for label, errs in errors:
            lines.append(f"  {label}: {len(errs)} errors, e.g.")
            lines += [f"    {e}" for e in errs if e][:3]
    life_t, fam_t = life
    lines += [
        "",
        f"a record's whole life in the scheduler's store over these {n:,} records (insert,",
        "  dispatch, worker, two stages, end, after-effects, exit, delete; ~23 operations):",
        f"  p50 {fmt(life_t.p(50))} ms, p95 {fmt(life_t.p(95))} ms ({runs} lives);"
        f" errors {len(life_t.errors)}",
        f"  baseline: ONE findAndModify by _id on the same collection, p50 {fmt(fam_t.p(50))} ms"
        f" ({FAM_RUNS} calls; the store made six per record before)",
    ]
    lines += ["", "checks (the answers against what the bench inserted):", *checks]
    stats_p50, page_p50, deep_p50 = rows[0][1].p(50), rows[2][1].p(50), rows[3][1].p(50)
    checked = all(line.rstrip().endswith("OK") for line in checks)
    figures = [
        Figure("stats", f"project stats, {DAYS} days, p50", stats_p50, "ms", "<=", TARGET_STATS_MS),
        Figure("stats", "records page start=0, p50", page_p50, "ms", "<=", TARGET_PAGE_MS),
        Figure(
            "stats",
            f"records page start={deep} of {n:,}, p50",
            deep_p50,
            "ms",
            "<=",
            DEEP_MS,
            checks=checked,
        ),
        Figure(
            "stats",
            f"a record's life in the store over {n:,} records, p50",
            life_t.p(50),
            "ms",
            "<=",
            LIFECYCLE_MS,
            baseline=fam_t.p(50),  # one findAndModify
            checks=not life_t.errors,
        ),
    ]
    record(figures)
    lines += ["", "targets (HTTP):", *targets_lines(figures)]
    if deep != DEEP:
        lines.append(f"(the deep page starts at {deep}: the pipeline has fewer than {DEEP + PAGE})")
    return "\n".join(lines)


# --- the run ---------------------------------------------------------------------------------


def run(lab: Lab, n: int, batch: int, warmups: int, runs: int) -> str:
    lab.start_stack({})
    with client(lab.api) as api:
        project = create(api, "/api/v1/projects", {"name": PROJECT, "scm": SCM})
        stages = {
            "codeCheckout": {
                "mainRepo": {"type": "other", "otherCodeSource": {"url": "file:///nonexistent"}}
            },
            "package": {"command": ["true"], "outputs": []},
        }
        pipelines = [
            create(
                api,
                f"/api/v1/projects/{PROJECT}/pipelines",
                {"name": name, "build": {"builderImage": {"image": "local"}, "stages": stages}},
            )
            for name in PIPELINES
        ]
    project_ref = {"id": project["id"], "name": project["name"]}
    pipeline_refs = [{"id": p["id"], "name": p["name"]} for p in pipelines]
    say(f"seeding {n} finished records straight into the scheduler's `records` collection")
    try:
        seeded = seed(lab.mongo_url, project_ref, pipeline_refs, n, batch)
    except PyMongoError as exc:
        raise SetupError(f"seeding: {type(exc).__name__}: {exc}") from exc
    settle(lab.children[0].proc.pid, "secantusdb (writing out what was seeded)")
    first = pipeline_refs[0]
    deep = min(DEEP, max(0, seeded.per_pipeline[first["id"]] - PAGE))
    window = {"startTime": seeded.start, "endTime": seeded.end}
    base = f"/api/v1/projects/{PROJECT}"
    records_path = f"{base}/pipelines/{first['name']}/records"

    rows: list[tuple[str, Timing, Timing, Timing]] = []
    with (
        client(lab.api) as api,
        MongoClient(lab.mongo_url) as mongo,
        rpc_proxy(lab.amqp_uri) as cluster,
    ):
        api.timeout = httpx.Timeout(RPC_TIMEOUT)
        store = RecordStore(mongo.get_default_database())
        counters = StatsCounters(mongo.get_default_database())
        scheduler = getattr(cluster, services.SCHEDULER)
        rpc_stats = getattr(scheduler, rpc.STATS)
        rpc_page = getattr(scheduler, rpc.LIST_RECORDS)

        def direct_stats(scope: str, scope_id: str) -> Callable[[], Any]:
            # what Runs.stats does
            def call() -> Any:
                days = stats_math.day_buckets(seeded.start, seeded.end)
                counts = counters.day_counts(scope, scope_id, days[0], days[-1])
                return stats_math.build(seeded.start, seeded.end, counts)

            return call

        def direct_page(start: int) -> Callable[[], Any]:
            # what Runs.page does
            def call() -> Any:
                total, docs = store.page(first["id"], start, PAGE)
                return {"total": total, "items": [rec.view(d) for d in docs]}

            return call

        measures: list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[], Any]]] = [
            (
                f"project stats, {DAYS} days",
                http_get(api, f"{base}/stats", window),
                lambda: rpc_stats("projectID", project_ref["id"], seeded.start, seeded.end),
                direct_stats("projectID", project_ref["id"]),
            ),
            (
                f"pipeline stats ({first['name']}), {DAYS} days",
                http_get(api, f"{base}/pipelines/{first['name']}/stats", window),
                lambda: rpc_stats("pipelineID", first["id"], seeded.start, seeded.end),
                direct_stats("pipelineID", first["id"]),
            ),
            (
                f"records page start=0&limit={PAGE}",
                http_get(api, records_path, {"start": 0, "limit": PAGE}),
                lambda: rpc_page(first["id"], 0, PAGE),
                direct_page(0),
            ),
            (
                f"records page start={deep}&limit={PAGE}",
                http_get(api, records_path, {"start": deep, "limit": PAGE}),
                lambda: rpc_page(first["id"], deep, PAGE),
                direct_page(deep),
            ),
        ]
        say("timing a record's life in the store, then the findAndModify baseline")
        life = (
            timed("a record's life in the store", lifecycle(store, project_ref), warmups, runs),
            timed("one findAndModify by _id", find_and_modify(store), 1, FAM_RUNS),
        )
        for label, via_http, via_rpc, direct in measures:
            say(f"timing {label}")
            rows.append(
                (
                    label,
                    timed(f"{label} (HTTP)", via_http, warmups, runs),
                    timed(f"{label} (RPC)", via_rpc, warmups, runs),
                    timed(f"{label} (direct)", direct, warmups, runs),
                )
            )
    for child in lab.children:
        child.check()

    def answer(row: int, kind: int) -> Any:
        return rows[row][1 + kind].last or {}

    want_project = expected_stats(seeded, project_ref["id"])
    want_pipeline = expected_stats(seeded, first["id"])
    checks = [
        check(
            "project stats overview (HTTP) = inserted counts",
            {k: v for k, v in answer(0, 0).get("overview", {}).items() if k != "successRatio"},
            want_project["overview"],
        ),
        check(
            "project stats per day (HTTP) = inserted counts",
            answer(0, 0).get("details"),
            want_project["details"],
        ),
        check(
            f"pipeline stats overview ({first['name']}, HTTP) = inserted counts",
            {k: v for k, v in answer(1, 0).get("overview", {}).items() if k != "successRatio"},
            want_pipeline["overview"],
        ),
        check(
            "stats: HTTP = RPC = direct (project, pipeline)",
            [answer(r, k) == answer(r, 0) for r in (0, 1) for k in (1, 2)],
            [True] * 4,
        ),
        check(
            f"records total (HTTP) = inserted into {first['name']}",
            answer(2, 0).get("metadata", {}).get("total"),
            seeded.per_pipeline[first["id"]],
        ),
        check(
            "records pages (HTTP) = the same records in the same order as direct",
            [[i["id"] for i in answer(r, 0).get("items", [])] for r in (2, 3)],
            [[i["id"] for i in answer(r, 2).get("items", [])] for r in (2, 3)],
        ),
    ]
    ids = [p["id"] for p in pipeline_refs]
    return report(n, batch, seeded, rows, checks, deep, ids, warmups, runs, life)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stats", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=100_000, help="finished records to seed")
    parser.add_argument("--batch", type=int, default=5000, help="records per insert_many")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed calls per measure")
    parser.add_argument("--warmups", type=int, default=WARMUPS, help="warm-up calls per measure")
    args = parser.parse_args(argv)
    if args.records < 1 or args.batch < 1 or args.runs < 1 or args.warmups < 0:
        parser.error("--records, --batch and --runs must be >= 1, --warmups >= 0")
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-stats-"))
    lab = Lab(work, f"cyclone-bench-stats-{os.getpid()}")
    return run_and_report(
        work, lambda: run(lab, args.records, args.batch, args.warmups, args.runs), lab.stop_all
    )


if __name__ == "__main__":
    sys.exit(main())
