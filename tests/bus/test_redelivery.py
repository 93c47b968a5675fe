"""A failed event is tried again later, then dead-lettered; never acked undone
(shared/redelivery.py), on the real broker with a real nameko service process."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.publish import EventDispatcher
from tests.support import ROOT
from tests.waiting import holds_for, wait_for
from tools import deadletters

# The event tests/bus/flaky.py handles (not imported: it monkey-patches with eventlet, which
# would take over this pytest process).
SOURCE, EVENT = "probe", "poke"
DELAYS = (0.3, 0.6, 0.9)  # three retries: four tries in all


@pytest.fixture(scope="module")
def service(amqp_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("flaky")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CYCLONE_AMQP_URI": amqp_uri,
        "CYCLONE_DATA_DIR": str(data),
        "CYCLONE_RETRY_DELAYS": ",".join(map(str, DELAYS)),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(data / "flaky.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bus.flaky"], env=env, stdout=log, stderr=log, cwd=ROOT
        )
    try:
        wait_for(lambda: "started" in (data / "flaky.log").read_text(), 30, "the service up")
        yield amqp_uri
    finally:
        proc.terminate()
        proc.wait(30)


def poke(uri: str, **payload: object) -> None:
    EventDispatcher({"AMQP_URI": uri, "serializer": "json"})(SOURCE, EVENT, dict(payload))


def tries(path: Path) -> list[float]:
    return [at for at, _away in outcomes(path)]


def outcomes(path: Path) -> list[tuple[float, bool]]:
    """Each try's time and whether the database was away for it."""
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [(line["at"], line["away"]) for line in lines]


def poke_while_away(uri: str, tmp_path: Path) -> tuple[Path, Path]:
    """An event whose handler fails until the `away` file is removed; its tries go to `log`."""
    away, log = tmp_path / "away", tmp_path / "tries"
    away.touch()
    poke(uri, tries=str(log), fail_while=str(away))
    return away, log


def dead_letters_of(uri: str, log: Path) -> list[deadletters.DeadLetter]:
    """The dead letters of the events that write their tries to `log`."""
    return [d for d in deadletters.list_letters(uri, ["flaky"], 10) if str(log) in d.body]


def test_a_handler_failing_while_its_database_is_away_succeeds_once_it_is_back(
    service: str, tmp_path: Path
) -> None:
    away, log = poke_while_away(service, tmp_path)
    wait_for(lambda: len(tries(log)) >= 2, 20, "a second try")
    away.unlink()  # the database is back: the next try succeeds (the third, or the fourth
    # when this process was slower to look than the third try's 0.6 s delay)
    wait_for(lambda: outcomes(log)[-1][1] is False, 20, "a try with the database back")
    times = tries(log)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= DELAYS[0] * 0.9 and gaps[1] >= DELAYS[1] * 0.9, gaps  # the delays grow
    assert [away for _at, away in outcomes(log)] == [True] * (len(times) - 1) + [False]
    # handled, so not tried again: for longer than any retry's delay
    holds_for(lambda: len(tries(log)) == len(times), 2 * DELAYS[-1], "no try after it")
    assert not dead_letters_of(service, log)


def test_a_handler_failing_every_time_ends_in_the_dead_letter_queue_and_replays(
    service: str, tmp_path: Path
) -> None:
    away, log = poke_while_away(service, tmp_path)

    wait_for(lambda: len(dead_letters_of(service, log)) == 1, 30, "the event dead-lettered")
    assert len(tries(log)) == len(DELAYS) + 1
    letter = dead_letters_of(service, log)[0]
    assert letter.queue == "evt-probe-poke--flaky.poke", letter
    assert letter.tries == len(DELAYS) + 1 and "the database is away" in letter.error, letter
    assert len(dead_letters_of(service, log)) == 1  # listing leaves it there

    away.unlink()  # the cause is fixed: put it back
    assert deadletters.replay(service, "flaky", 10) == 1
    wait_for(lambda: len(tries(log)) == len(DELAYS) + 2, 20, "the replayed event handled")
    assert not dead_letters_of(service, log)


def test_a_poison_message_is_dead_lettered_at_once(service: str, tmp_path: Path) -> None:
    log = tmp_path / "tries"
    poke(service, tries=str(log), fail_while=str(tmp_path / "never"), poison=True)

    wait_for(lambda: len(dead_letters_of(service, log)) == 1, 20, "the poison dead-lettered")
    assert len(tries(log)) == 1 and "Poison" in dead_letters_of(service, log)[0].error
    assert deadletters.purge(service, "flaky") >= 1
    assert not dead_letters_of(service, log)
