"""unitTest and package: real `sh -e -c` commands, streamed output, outputs, allowFailure."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from services.worker.runtime import Runner
from services.worker.stages import process
from tests.repos import GitRepo
from tests.support import pid_alive
from tests.waiting import wait_for
from tests.worker.conftest import MemorySink, make_job


def stage_run(workspace: Path, sink: MemorySink, stage: str = "unitTest", **job: Any) -> Any:
    """Run one command stage on a prepared code directory (no checkout)."""
    (workspace / "code").mkdir(exist_ok=True)
    kwargs = {"unit": [], **job} if stage == "unitTest" else {"package": [], **job}
    runner = Runner(make_job(**kwargs), sink, workspace, threading.Event())
    return runner.run_stage(stage)


def test_commands_run_in_order_in_code_with_merged_output(workspace, sink):
    result = stage_run(
        workspace, sink, unit=["echo one; echo two >&2; echo three", "pwd", "printf 'no eol'"]
    )
    assert result.status == "Success"
    assert sink.text("unitTest") == [
        "Stage: Unit test status: start",
        "$ echo one; echo two >&2; echo three",
        "one",
        "two",
        "three",
        "$ pwd",
        str(workspace / "code"),
        "$ printf 'no eol'",
        "no eol",
        "Stage: Unit test status: finish",
    ]
    assert result.details == {"outputs": []}


def test_sh_e_fails_a_line_on_its_first_failing_step_and_stops_the_stage(workspace, sink):
    result = stage_run(workspace, sink, unit=["echo before", "false; echo x", "echo never"])
    assert result.status == "Failed"
    assert result.error == 'command "false; echo x" exited with code 1'
    text = sink.text()
    assert "x" not in text and "$ echo never" not in text and "never" not in text
    assert (
        text[-1]
        == 'Stage: Unit test status: fail with error: command "false; echo x" exited with code 1'
    )


def test_exit_code_and_signal_are_reported(workspace, tmp_path):
    assert stage_run(workspace, MemorySink(), unit=["exit 7"]).error == (
        'command "exit 7" exited with code 7'
    )
    assert stage_run(workspace, MemorySink(), unit=["kill -9 $$"]).error == (
        'command "kill -9 $$" was killed by signal 9'
    )


def test_env_vars_are_visible_and_secret_values_masked(workspace, sink):
    env = [
        {"name": "GREETING", "value": "hello"},
        {"name": "TOKEN", "value": "tok-very-secret", "secret": True},
        {"name": "PIN", "value": "123", "secret": True},  # too short to mask
    ]
    result = stage_run(
        workspace, sink, env=env, unit=['echo "$GREETING $TOKEN $PIN"', "echo $HOME"]
    )
    assert result.status == "Success"
    assert "hello ****** 123" in sink.text()
    assert sink.text()[sink.text().index("$ echo $HOME") + 1]  # the worker's env is kept


def test_output_is_streamed_while_the_command_runs(workspace, sink, tmp_path):
    gate = tmp_path / "gate"  # the command ends only once the test opens it
    command = f"echo first; while [ ! -e {gate} ]; do sleep 0.01; done; echo second"
    stage = threading.Thread(target=stage_run, args=(workspace, sink), kwargs={"unit": [command]})
    stage.start()
    try:
        wait_for(lambda: "first" in sink.text(), 10, '"first" logged while the command runs')
    finally:
        gate.touch()
        stage.join(30)
    assert not stage.is_alive()
    assert sink.text()[2:] == ["first", "second", "Stage: Unit test status: finish"]


def test_many_lines_arrive_complete_and_in_order(workspace, sink):
    stage_run(workspace, sink, unit=["seq 1 20000"])
    assert sink.text()[2:-1] == [str(i) for i in range(1, 20001)]


def test_undecodable_output_is_replaced_not_fatal(workspace, sink):
    assert stage_run(workspace, sink, unit=[r"printf '\377ok\n'"]).status == "Success"
    assert "\ufffdok" in sink.text()


def test_a_multi_line_command_is_echoed_line_by_line(workspace, sink):
    stage_run(workspace, sink, unit=["echo a\necho b"])
    assert sink.text()[1:5] == ["$ echo a", "> echo b", "a", "b"]


def test_a_background_child_holding_the_pipe_does_not_hang_the_stage(
    workspace, sink, monkeypatch, tmp_path
):
    monkeypatch.setattr(process, "DRAIN_IDLE", 0.5)
    pid_file = tmp_path / "bg.pid"
    result = stage_run(workspace, sink, unit=[f"sleep 60 & echo $! > {pid_file}; echo started"])
    leftover = int(pid_file.read_text())
    try:
        assert result.status == "Success" and "started" in sink.text()
        assert pid_alive(leftover)  # the stage ended while the child still holds the pipe
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover, signal.SIGKILL)


def test_outputs_are_collected_with_globs(workspace, sink):
    result = stage_run(
        workspace,
        sink,
        stage="package",
        package=["mkdir -p dist reports", "touch dist/app.tar reports/b.xml reports/a.xml"],
        package_extra={"outputs": ["dist/app.tar", "reports/*.xml", "**/a.xml"]},
    )
    assert result.status == "Success", sink.text()
    assert result.details == {"outputs": ["dist/app.tar", "reports/a.xml", "reports/b.xml"]}
    assert "output: reports/b.xml" in sink.text()


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("dist/missing.tar", 'output "dist/missing.tar" not found'),
        ("nothing/*", 'output "nothing/*" not found'),
        ("../ws", 'output "../ws" must stay inside the code directory'),
        ("/etc/hostname", 'output "/etc/hostname" must be relative to the code directory'),
        ("link", 'output "link" not found'),  # a symlink out of the code directory
    ],
)
def test_a_missing_or_escaping_output_fails_the_stage(workspace, sink, pattern, error):
    result = stage_run(
        workspace,
        sink,
        stage="package",
        package=["ln -s /etc link"],
        package_extra={"outputs": [pattern]},
    )
    assert (result.status, result.error) == ("Failed", error)


def run_all(git_repo: GitRepo, workspace: Path, sink: MemorySink, **job: Any) -> str:
    return Runner(make_job(git_repo.url, **job), sink, workspace, threading.Event()).run()


def test_a_failed_stage_stops_the_run(git_repo, workspace, sink):
    status = run_all(git_repo, workspace, sink, unit=["exit 3"], package=["echo never"])
    assert status == "Failed"
    assert sink.finished("unitTest")["status"] == "Failed"
    assert not [e for e in sink.events if e[1].get("stage") == "package"]
    assert sink.run_finished["error"] == 'command "exit 3" exited with code 3'
    assert sink.ended == "unitTest"


def test_allow_failure_keeps_the_run_going_and_lists_the_failure(git_repo, workspace, sink):
    status = run_all(
        git_repo,
        workspace,
        sink,
        unit=["exit 2"],
        unit_extra={"allowFailure": True},
        package=["echo packaged"],
    )
    assert status == "Success"
    assert sink.finished("unitTest")["status"] == "Failed"
    assert sink.finished("package")["status"] == "Success"
    assert sink.run_finished["status"] == "Success"
    assert sink.run_finished["error"] == (
        'unitTest failed (allowFailure): command "exit 2" exited with code 2'
    )


def test_each_stage_is_flushed_before_its_finish_event(git_repo, workspace, sink):
    run_all(git_repo, workspace, sink, unit=["echo u"], package=["echo p"])
    kinds = [k for k, _ in sink.timeline]
    for i, kind in enumerate(kinds):
        if kind == "stage_finished":
            assert kinds[i - 1] == "flush", sink.timeline
        if kind == "run_finished":
            assert kinds[i - 1] == "end", sink.timeline
    started = [s for k, s in sink.timeline if k == "stage_started"]
    assert started == ["codeCheckout", "unitTest", "package"]
    assert sink.run_finished["log_lines"] == len(sink.lines)


@pytest.mark.parametrize("unit", [["echo u"], ["exit 3"]])
def test_the_last_stage_ends_inside_the_run_end_when_the_job_says_so(
    git_repo, workspace, sink, unit
):
    """With `end_takes_stage` (the scheduler's jobs), the last stage that ran ends inside
    RUN_FINISHED; the others' ends still go out before the next stage starts, in order."""
    job = make_job(git_repo.url, unit=unit, package=["echo p"])
    status = Runner({**job, "end_takes_stage": True}, sink, workspace, threading.Event()).run()
    last = "package" if status == "Success" else "unitTest"
    kinds = [(k, s) for k, s in sink.timeline if k not in ("line", "flush", "end")]
    ran = ["codeCheckout", "unitTest", "package"][: 3 if last == "package" else 2]
    expected = []
    for stage in ran:
        expected += [("stage_started", stage), ("stage_finished", stage)]
    assert kinds == [*expected[:-1], ("run_finished", "")]
    carried = sink.run_finished["stage"]
    assert carried["stage"] == last and carried["record_id"] == sink.run_finished["record_id"]
    assert carried["status"] == ("Success" if status == "Success" else "Failed")
    assert carried["started"] <= carried["time"] <= sink.run_finished["time"]
    if status != "Success":
        assert carried["error"] == 'command "exit 3" exited with code 3'
    # without it (a job of an older scheduler), every stage's end is an event of its own
    plain, again = MemorySink(), workspace / "again"
    again.mkdir()
    Runner(job, plain, again, threading.Event()).run()
    assert "stage" not in plain.run_finished
    assert [s for k, s in plain.timeline if k == "stage_finished"] == ran


@pytest.mark.parametrize("unit", [["echo u"], ["exit 3"]])
def test_each_stage_ends_inside_the_next_ones_start_when_the_job_says_so(
    git_repo, workspace, sink, unit
):
    """With `start_takes_stage` too (the scheduler's jobs), a stage's end rides in the next
    stage's STAGE_STARTED as `previous`, its lines flushed just before; the last one rides in
    RUN_FINISHED, its lines with the end of the log (no flush of their own)."""
    job = make_job(git_repo.url, unit=unit, package=["echo p"])
    told = {**job, "end_takes_stage": True, "start_takes_stage": True}
    status = Runner(told, sink, workspace, threading.Event()).run()
    ran = ["codeCheckout", "unitTest", "package"][: 3 if status == "Success" else 2]
    kinds = [(k, s) for k, s in sink.timeline if k not in ("line", "flush", "end")]
    assert kinds == [*(("stage_started", stage) for stage in ran), ("run_finished", "")]
    starts = [p for k, p in sink.events if k == "stage_started"]
    assert "previous" not in starts[0]
    for before, start in zip(ran, starts[1:], strict=False):
        carried = start["previous"]
        assert (carried["stage"], carried["status"]) == (before, "Success")
        assert carried["record_id"] == start["record_id"]
        assert carried["started"] <= carried["time"] <= start["time"]
    assert starts[1]["previous"]["details"]["commits"]["mainRepo"]["ID"] == git_repo.main_sha
    assert sink.run_finished["stage"]["stage"] == ran[-1]
    # each carrying start right after a flush; the last stage's lines end the log unflushed
    for i, (what, stage) in enumerate(sink.timeline):
        if what == "stage_started" and stage != "codeCheckout":
            assert sink.timeline[i - 1] == ("flush", ""), sink.timeline[: i + 1]
    ending = sink.timeline.index(("end", ran[-1]))
    assert sink.timeline[ending - 1] == ("line", ran[-1]), sink.timeline
    assert sink.run_finished["log_lines"] == len(sink.lines)


@pytest.mark.parametrize(
    ("stage", "needs"),
    [
        ("codeScan", "a Docker engine"),
        ("imageBuild", "a Docker engine"),
        ("integrationTest", "a Docker engine"),
        ("imageRelease", "a Docker engine"),
    ],
)
def test_stages_needing_docker_or_sonarqube_fail_clearly(git_repo, workspace, sink, stage, needs):
    status = run_all(
        git_repo, workspace, sink, stages=["codeCheckout", stage, "package"], package=["echo never"]
    )
    error = f"stage {stage} needs {needs}, and none is configured for this cloud"
    assert status == "Failed"
    assert sink.finished(stage)["error"] == error
    lines = [t for s, t in sink.lines if s == stage]
    assert lines[0].endswith("status: start") and lines[-1].endswith(f"fail with error: {error}")
    assert "never" not in sink.text()


class FlakySink(MemorySink):
    """Fails once on the 10th line, as a publish that gave up would."""

    def line(self, stage: str, text: str) -> None:
        if len(self.lines) == 9 and not getattr(self, "failed", False):
            self.failed = True
            raise RuntimeError("publishing log lines failed: broker gone")
        super().line(stage, text)


def test_a_failing_sink_fails_the_stage_without_blocking_a_chatty_command(workspace):
    sink = FlakySink()
    started = time.monotonic()
    result = stage_run(workspace, sink, unit=["seq 1 300000"])  # far more than a pipe holds
    assert time.monotonic() - started < 10
    assert result.status == "Failed"
    assert (
        result.error == "internal error: RuntimeError('publishing log lines failed: broker gone')"
    )
