"""Secrets in the log: masked by the runtime, also when a command prints one over several lines,
without changing the number of lines or holding a line back for long."""

from __future__ import annotations

import threading
import time
from typing import Any

from services.worker import domain
from services.worker.publisher import BusSink
from services.worker.runtime import MaskingSink, Runner, Sink
from tests.repos import GitRepo
from tests.waiting import wait_for
from tests.worker.conftest import Bus, MemorySink, check_stream, make_job, new_record_id

TOKEN = "s3cr3t-T0ken-42"
SCM_TOKEN = "scm-token-123"


def printed(fmt: str, *slices: str, var: str = "TOKEN") -> str:
    """A command printing `fmt` (printf) filled with slices (`cut -c`) of a secret variable: the
    secret is printed, but it is not in the command (whose echo is logged)."""
    args = "".join(f' "$(printf %s "${var}" | cut -c {c})"' for c in slices)
    return f"printf '{fmt}'{args}"


# Commands printing the secrets over several lines.
SPLIT_COMMANDS = [
    printed(r"token: %s\n%s end\n", "1-7", "8-"),  # two lines
    printed(r"a %s\n%s\n%s b\n", "1-4", "5-10", "11-"),  # three lines
    printed(r"x %s\n%s\n", "1", "2-"),  # split right after its first character
    printed(r"crlf %s\r\n%s\r\n", "1-6", "7-"),  # CRLF line ends
    printed(r"%s\n\n%s\n", "1-5", "6-"),  # an empty line in between
    'echo "$TOKEN" | fold -w 4',  # four lines
    printed(r"scm: %s\n%s\n", "1-7", "8-", var="SCM"),
    'echo "whole $TOKEN twice $TOKEN"',
]
SPLIT_OUTPUT = [
    ["token: ******", "****** end"],
    ["a ******", "******", "****** b"],
    ["x ******", "******"],
    ["crlf ******", "******"],
    ["******", "", "******"],
    ["******"] * 4,
    ["scm: ******", "******"],
    ["whole ****** twice ******"],
]


def split_job(url: str = "file:///nowhere", *, secret: bool = True, **job: Any) -> dict[str, Any]:
    return make_job(
        url,
        unit=SPLIT_COMMANDS,
        env=[
            {"name": "TOKEN", "value": TOKEN, "secret": secret},
            {"name": "SCM", "value": SCM_TOKEN},  # a secret as the project's SCM token
        ],
        scm={"type": "Github", "token": SCM_TOKEN} if secret else None,
        **job,
    )


def expected_unit_test_lines() -> list[str]:
    lines = ["Stage: Unit test status: start"]
    for command, output in zip(SPLIT_COMMANDS, SPLIT_OUTPUT, strict=True):
        lines += [*domain.echo(command), *output]
    return [*lines, "Stage: Unit test status: finish"]


def reconstructs(secret: str, lines: list[str]) -> bool:
    """Whether the secret can be read from consecutive lines, however they are joined."""
    return any(secret in sep.join(lines) for sep in ("", "\n", "\r\n", " "))


def patient(runner: Runner, sink: Sink) -> Runner:
    """The runner with a hold no scheduling delay reaches: a held line goes out with the next
    line, a flush or the end, never by the timer. With the usual 50 ms hold, a reader thread
    held up that long between two lines of one write (a loaded machine) would release the
    first half of a secret unmasked; the timer has its own tests below."""
    runner.sink = MaskingSink(sink, runner.masker, hold=600)
    return runner


def test_a_secret_printed_over_lines_is_masked_and_the_line_count_kept(workspace, sink):
    (workspace / "code").mkdir()
    runner = patient(Runner(split_job(), sink, workspace, threading.Event()), sink)
    masked = runner.run_stage("unitTest")
    assert masked.status == "Success", sink.text()
    assert sink.text() == expected_unit_test_lines()
    assert not reconstructs(TOKEN, sink.text()) and not reconstructs(SCM_TOKEN, sink.text())

    plain = MemorySink()  # the same output with nothing to mask
    Runner(split_job(secret=False), plain, workspace, threading.Event()).run_stage("unitTest")
    assert reconstructs(TOKEN, plain.text()) and len(plain.lines) == len(sink.lines)
    for shown, raw in zip(sink.text(), plain.text(), strict=True):
        assert shown == raw or domain.MASK in shown


def test_a_split_secret_on_the_real_bus_is_masked_numbered_and_counted(
    bus: Bus, git_repo: GitRepo, workspace
):
    record_id = new_record_id()
    job = split_job(git_repo.url)
    job["record_id"] = record_id
    sink = BusSink(bus.uri, record_id)
    assert patient(Runner(job, sink, workspace, threading.Event()), sink).run() == "Success"

    batches = bus.batches(record_id)
    lines = check_stream(batches, record_id)  # numbered from 1, consecutive, eof at total + 1
    texts = [t for _, t in lines]
    assert [t for s, t in lines if s == "unitTest"] == expected_unit_test_lines()
    assert not reconstructs(TOKEN, texts) and not reconstructs(SCM_TOKEN, texts)
    assert TOKEN not in repr(batches) and SCM_TOKEN not in repr(batches)
    finished = bus.events(record_id)[-1][1]
    assert finished["status"] == "Success" and finished["log_lines"] == len(lines)
    checkout_lines = sum(1 for s, _ in lines if s == "codeCheckout")
    assert len(lines) == checkout_lines + len(expected_unit_test_lines())  # no line added or lost


def test_a_held_line_goes_out_once_output_is_quiet_and_the_rest_is_still_masked(
    workspace, sink, tmp_path
):
    (workspace / "code").mkdir()
    gate = tmp_path / "gate"  # the command goes on once the test has seen the held line out
    wait = f"while [ ! -e {gate} ]; do sleep 0.01; done"
    command = "; ".join([printed(r"xx%s\n", "1-6"), wait, printed(r"%s yy\n", "7-")])
    job = make_job(unit=[command], env=[{"name": "TOKEN", "value": TOKEN, "secret": True}])
    runner = Runner(job, sink, workspace, threading.Event())
    stage = threading.Thread(target=runner.run_stage, args=("unitTest",), daemon=True)
    stage.start()
    first, rest = "xxs3cr3t", "****** yy"  # the start alone was not known to be the secret yet
    try:
        # The command is quiet now and prints the rest only once the gate opens: the held line
        # must go out on its own, not be kept back until the next line.
        wait_for(lambda: first in sink.text(), 10, "the held line to go out")
    finally:
        gate.touch()
        stage.join(30)
    assert not stage.is_alive()
    assert sink.text()[2:4] == [first, rest]


def test_masking_sink_releases_held_lines_after_the_hold_time():
    sink = MemorySink()
    masking = MaskingSink(sink, domain.SecretMasker(["abcdef"]), hold=0.05)
    sent_at = time.monotonic()
    masking.line("unitTest", "xxabc")  # held: it may go on with "def"
    wait_for(lambda: sink.lines, 5, "the held line to be released without another line")
    delay = sink.times[0] - sent_at
    print(f"\na held line was released {delay * 1000:.0f} ms after it came")
    assert delay >= 0.05  # kept back for the hold time (the timer never fires early)
    assert sink.lines == [("unitTest", "xxabc")]
    masking.line("unitTest", "defyy")
    assert sink.lines[1] == ("unitTest", "******yy")
    assert masking.end("unitTest") == 2

    # Within the hold time the rest of a secret masks both lines. (A hold no delay of this
    # test's thread reaches: with 50 ms, a pause between the two calls could release "ab".)
    sink = MemorySink()
    masking = MaskingSink(sink, domain.SecretMasker(["abcdef"]), hold=600)
    masking.line("unitTest", "ab")
    masking.line("unitTest", "cdef!")
    assert sink.text() == ["******", "******!"]
    assert masking.end("unitTest") == 2


def test_held_lines_keep_their_stage_and_go_out_before_flush_and_end():
    sink = MemorySink()
    masking = MaskingSink(sink, domain.SecretMasker(["abcdef"]), hold=10)
    masking.line("unitTest", "ends with a")
    masking.line("package", "bcdef")  # another stage: the held line is released first
    assert sink.lines == [("unitTest", "ends with a"), ("package", "******")]
    masking.line("package", "then ab")
    masking.flush()
    assert sink.timeline[-2:] == [("line", "package"), ("flush", "")]
    masking.line("package", "last abc")
    assert masking.end("package") == 4 and sink.text()[-1] == "last abc"
    assert sink.timeline[-2:] == [("line", "package"), ("end", "package")]


def test_a_held_finish_line_is_flushed_before_the_stage_finished_event(workspace, sink):
    (workspace / "code").mkdir()
    secret = "hush-hush"  # "...status: finish" ends with its first character: held
    job = make_job(unit=["echo ok"], env=[{"name": "X", "value": secret, "secret": True}])
    runner = Runner(job, sink, workspace, threading.Event())
    runner.sink = MaskingSink(sink, runner.masker, hold=60)  # only the flush can release it
    runner.run_stage("unitTest")
    assert sink.timeline[-3:] == [
        ("line", "unitTest"),
        ("flush", ""),
        ("stage_finished", "unitTest"),
    ]
    assert sink.text()[-1] == "Stage: Unit test status: finish"


def test_a_secret_over_lines_of_a_command_is_masked_in_its_echo_and_error(workspace, sink):
    (workspace / "code").mkdir()
    job = make_job(unit=[f"exit 1 # {TOKEN[:5]}\n{TOKEN[5:]}"])
    job["pipeline"]["build"]["builderImage"]["envVars"] = [
        {"name": "T", "value": TOKEN, "secret": True}
    ]
    result = Runner(job, sink, workspace, threading.Event()).run_stage("unitTest")
    assert result.error == 'command "exit 1 # ******\n******" exited with code 1'
    assert sink.text()[1:3] == ["$ exit 1 # ******", "> ******"]  # masked before the "> "
    assert not any(TOKEN[:5] in t or TOKEN[5:] in t for t in sink.text())
