"""A service's log lines name the record a call is about (shared/logcontext.py `record_of`):
the scheduler's dispatch of one record runs from another record's worker, whose record id
travels in the call's context; the cloud service's "started worker of X" was labelled with
that other record."""

from __future__ import annotations

from shared.logcontext import record_of


def test_the_record_a_call_names_comes_before_its_callers():
    context = {"record_id": "caller-record", "request_id": "r1"}
    assert record_of(context, {"record_id": "started-record", "project": "p"}) == "started-record"


def test_a_payload_naming_a_record_comes_before_the_callers():
    assert record_of({"record_id": "a"}, {"payload": {"record_id": "b"}}) == "b"


def test_without_one_in_the_call_the_callers_record_is_kept():
    assert record_of({"record_id": "a"}, {"name": "p", "payload": {"x": 1}}) == "a"
    assert record_of({}, {"name": "p"}) == ""


class _Service:
    def start_worker(self, record_id: str, project: str, *, quiet: bool = False) -> None: ...

    def anything(self, *args: object) -> None: ...


class _Call:
    """The parts of nameko's WorkerContext that `_arguments` reads."""

    def __init__(self, method: str, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
        self.service = _Service()
        self.args, self.kwargs = args, kwargs
        self.entrypoint = type("Entrypoint", (), {"method_name": method})()


def test_a_calls_positional_arguments_are_named_by_its_methods_parameters():
    from shared.logcontext import _arguments

    named = _arguments(_Call("start_worker", ("r1",), {"project": "p", "quiet": True}))  # type: ignore[arg-type]
    assert named == {"record_id": "r1", "project": "p", "quiet": True}
    assert _arguments(_Call("start_worker", ("r1", "p"), {}))["record_id"] == "r1"  # type: ignore[arg-type]
    # what cannot be named by position keeps the keywords only
    assert _arguments(_Call("anything", ("r1",), {"record_id": "k"})) == {"record_id": "k"}  # type: ignore[arg-type]
    assert _arguments(_Call("start_worker", ("a", "b", "c"), {})) == {}  # type: ignore[arg-type]
