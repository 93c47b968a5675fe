"""A start the cloud service did not answer in time is asked once more before the record
fails (shared.deadline.again_when_silent): a failover can lose the answer to a start that was
carried out, and the start is idempotent."""

from __future__ import annotations

import eventlet
import pytest

from shared.deadline import PeerSilent, again_when_silent, bounded


class Peer:
    """A peer that answers after `delays[n]` seconds on its n-th call."""

    def __init__(self, *delays: float) -> None:
        self.delays = list(delays)
        self.calls: list[tuple[object, ...]] = []

    def __call__(self, *args: object) -> str:
        self.calls.append(args)
        eventlet.sleep(self.delays[len(self.calls) - 1])
        return f"worker of {args[0]}"


def test_an_answer_lost_once_is_had_by_asking_again():
    peer, said = Peer(1.0, 0.0), []
    start = again_when_silent(bounded(peer, 0.1, "the peer did not start a worker"), said.append)
    assert start("r1", "p") == "worker of r1"
    assert peer.calls == [("r1", "p"), ("r1", "p")]
    assert said == ["the peer did not start a worker within 0.1s; asking once more"]


def test_a_peer_silent_twice_is_given_up():
    peer = Peer(1.0, 1.0)
    start = again_when_silent(bounded(peer, 0.1, "the peer did not start a worker"), print)
    with pytest.raises(PeerSilent, match=r"did not start a worker within 0.1s \(asked twice\)"):
        start("r1")
    assert len(peer.calls) == 2


def test_a_prompt_answer_or_another_error_is_not_asked_again():
    peer = Peer(0.0)
    assert again_when_silent(bounded(peer, 1, "x"), print)("r2") == "worker of r2"
    assert len(peer.calls) == 1

    calls = []

    def refusing(*args: object) -> object:
        calls.append(args)
        raise ValueError("no such cloud")

    with pytest.raises(ValueError):
        again_when_silent(refusing, print)("r3")
    assert len(calls) == 1
