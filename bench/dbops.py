"""`python -m bench.dbops`: the database commands a trivial record costs, counted, not timed.

On this machine a timed batch varies by 20% from one run to the next, more than most changes
to a record's path move it; a count of the commands the stack sends the embedded server for
each record does not. Starts its own secantusdb and stack (bench/common.py `Lab`, as
bench.runs does), runs one warm-up record, turns the server's profiler on (level 2: every
command into `system.profile`), runs `--records` records at once (CYCLONE_MAX_RUNNING
4), waits `--settle` seconds for their after-effects, turns it off, and prints each kind of
command per record (collection, command, the keys of its filter; for an update, also the
operators and fields it sets), then the totals: reads, writes, and the record's own
updates. Commands that come with time rather than records (the scheduler's upkeep every
second, the outbox timers) are counted too: the shorter the batch, the fewer of them.

The profiler's own writes go to `system.profile`, which the counts leave out; its cost makes
the batch slower, so no time is reported. Exit status as bench.runs'.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from bench.common import Lab, SetupError, client, create, interrupt_on_sigterm, run_and_report, say
from bench.runs import PIPELINE, PROJECT, SCM, run_batch
from tests.repos import make_git_repo

Kind = tuple[str, str, tuple[str, ...], tuple[str, ...]]


def kind_of(entry: dict[str, Any]) -> list[Kind]:
    """What a profiled command was: one kind per statement of an update."""
    ns, command = str(entry.get("ns", "")), entry.get("command") or {}
    name = next(iter(command), "") if isinstance(command, dict) else ""
    if name == "update":
        kinds = []
        for statement in command.get("updates", []):
            change = statement.get("u", {})
            fields = (
                tuple(f"{op} {','.join(sorted(v))}" for op, v in sorted(change.items()))
                if isinstance(change, dict) and all(k.startswith("$") for k in change)
                else ("replace",)
            )
            kinds.append((ns, "update", tuple(sorted(statement.get("q", {}))), fields))
        return kinds
    flt = command.get("filter") if isinstance(command, dict) else None
    keys = tuple(sorted(flt)) if isinstance(flt, dict) else ()
    return [(ns, name, keys, ())]


WRITES = {"update", "insert", "delete"}


def report(counts: Counter[Kind], records: int, errors: list[str]) -> str:
    lines = [
        f"bench.dbops: database commands per record, {records} trivial records at once "
        "(codeCheckout of a file:// repository + package `true`), CYCLONE_MAX_RUNNING 4",
        "",
        "  per record  collection / command / filter keys / update",
    ]
    for (ns, name, keys, fields), n in counts.most_common():
        detail = f" {'; '.join(fields)}" if fields else ""
        lines.append(f"  {n / records:10.2f}  {ns} {name} {list(keys)}{detail}")
    total = sum(counts.values())
    writes = sum(n for k, n in counts.items() if k[1] in WRITES)
    record_updates = sum(n for k, n in counts.items() if k[:2] == ("cyclone.records", "update"))
    lines += [
        "",
        f"  commands per record: {total / records:.2f} "
        f"(reads {(total - writes) / records:.2f}, writes {writes / records:.2f}; "
        f"updates of the record itself {record_updates / records:.2f})",
        f"  errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""),
    ]
    return "\n".join(lines) + "\n"


def run(lab: Lab, records: int, settle: float) -> str:
    try:
        repo = make_git_repo(lab.work / "git")
    except OSError as exc:
        raise SetupError(f"making the git repository: {exc}") from exc
    lab.start_stack({"CYCLONE_MAX_RUNNING": "4", "CYCLONE_RECORDS_PER_PIPELINE": "500"})
    stages = {
        "codeCheckout": {"mainRepo": {"type": "other", "otherCodeSource": {"url": repo.url}}},
        "package": {"command": ["true"], "outputs": []},
    }
    with client(lab.api) as api:
        create(api, "/api/v1/projects", {"name": PROJECT, "scm": SCM})
        create(
            api,
            f"/api/v1/projects/{PROJECT}/pipelines",
            {"name": PIPELINE, "build": {"builderImage": {"image": "local"}, "stages": stages}},
        )
    path = f"/api/v1/projects/{PROJECT}/pipelines/{PIPELINE}/records"
    warm = run_batch(lab.api, path, 1, 60)
    if warm.errors:
        raise SetupError(f"the warm-up record: {warm.errors[0]}")
    with MongoClient(lab.mongo_url) as mongo:
        db = mongo.get_default_database()
        time.sleep(settle)
        db.command("profile", 2, slowms=0)
        say(f"profiling: {records} records at once")
        batch = run_batch(lab.api, path, records, max(120.0, records * 10.0))
        time.sleep(settle)
        db.command("profile", 0)
        counts: Counter[Kind] = Counter()
        for entry in db["system.profile"].find():
            if entry.get("ns") != f"{db.name}.system.profile":
                counts.update(kind_of(entry))
    return report(counts, records, batch.errors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dbops", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=20, help="records in the batch (20)")
    parser.add_argument(
        "--settle", type=float, default=3.0, help="seconds before and after the batch (3)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.records <= 100:
        parser.error("--records must be between 1 and 100")
    interrupt_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="cyclone-bench-dbops-"))
    lab = Lab(work, f"cyclone-bench-dbops-{os.getpid()}")
    return run_and_report(work, lambda: run(lab, args.records, args.settle), lab.stop_all)


if __name__ == "__main__":
    sys.exit(main())
