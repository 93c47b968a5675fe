"""The installed `cyclone` command as a user runs it: a subprocess against a real stack."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import Runs, counted, numbers, pipeline_body
from tests.waiting import wait_for

CYCLONE = str(Path(sys.executable).parent / "cyclone")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(stack, home: Path) -> dict[str, str]:
    """The stack's address and token in the environment; a config home of the test's own."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CYCLONE_", "NO_COLOR"))}
    return {
        **base,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "xdg"),
        "CYCLONE_SERVER": stack.url,
        "CYCLONE_TOKEN": stack.token,
    }


def cyclone(env: dict[str, str], *args: str, stdin: str = "", timeout: float = 90):
    return subprocess.run(
        [CYCLONE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [CYCLONE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def no_traceback(result) -> None:
    assert "Traceback" not in result.stderr, result.stderr


def test_login_checks_the_token_and_writes_the_file_0600(stack, env, home):
    bare = {k: v for k, v in env.items() if k not in ("CYCLONE_SERVER", "CYCLONE_TOKEN")}
    wrong = cyclone(bare, "login", "--server", stack.url, stdin="not-the-token\n")
    assert wrong.returncode == 4, wrong
    assert "invalid bearer token" in wrong.stderr and "Unauthorized" in wrong.stderr
    no_traceback(wrong)
    config = home / "xdg" / "cyclone" / "config.toml"
    assert not config.exists()

    done = cyclone(bare, "login", "--server", stack.url, stdin=stack.token + "\n")
    assert done.returncode == 0, done
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    assert stack.token in config.read_text()

    # later commands read the file; the environment beats it, a flag beats the environment
    assert cyclone(bare, "projects", "ls").returncode == 0
    env_wins = cyclone({**bare, "CYCLONE_TOKEN": "wrong"}, "projects", "ls")
    assert env_wins.returncode == 4 and "invalid bearer token" in env_wins.stderr
    flag_wins = cyclone(
        {**bare, "CYCLONE_TOKEN": "wrong"}, "projects", "ls", "--token", stack.token
    )
    assert flag_wins.returncode == 0, flag_wins


def test_a_wrong_token_prints_the_api_message_without_a_traceback(env):
    result = cyclone({**env, "CYCLONE_TOKEN": "nope"}, "projects", "ls")
    assert result.returncode == 4
    assert result.stderr.startswith("error: invalid bearer token (Unauthorized, HTTP 401)")
    no_traceback(result)


def test_an_unreachable_server_exits_3_and_a_usage_error_64(env):
    from tools.stack import free_port

    down = cyclone(env, "projects", "ls", "--server", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 3 and "cannot reach" in down.stderr, down
    no_traceback(down)
    bad = cyclone(env, "records", "ls", "no-slash")
    assert bad.returncode == 64 and "PROJECT/PIPELINE" in bad.stderr, bad


def test_apply_creates_then_updates_and_prints_what_changed(env, runs: Runs, git_repo, tmp_path):
    definition = pipeline_body("app", git_repo.url, package=["echo one"])
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(definition))

    created = cyclone(env, "pipelines", "apply", runs.project, "-f", str(path))
    assert created.returncode == 0, created
    assert created.stdout.strip() == f"created pipeline {runs.project}/app"

    definition["build"]["stages"]["package"]["command"] = ["echo two"]
    definition["description"] = "second"
    path.write_text(yaml.safe_dump(definition))
    updated = cyclone(env, "pipelines", "apply", runs.project, "-f", str(path))
    assert updated.returncode == 0, updated
    assert updated.stdout.splitlines() == [
        f"updated pipeline {runs.project}/app:",
        "  ~ build.stages.package.command: ['echo one'] -> ['echo two']",
        "  + description: 'second'",
    ]
    stored = runs.api.get(f"/api/v1/projects/{runs.project}/pipelines/app").json()
    assert stored["build"]["stages"]["package"]["command"] == ["echo two"]

    again = cyclone(
        env, "pipelines", "apply", runs.project, "-f", "-", stdin=json.dumps(definition)
    )
    assert again.stdout.strip() == f"pipeline {runs.project}/app unchanged", again


def test_apply_shows_the_apis_validation_message(env, runs: Runs, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "build": {"stages": {"nope": {}}}}))
    result = cyclone(env, "pipelines", "apply", runs.project, "-f", str(path))
    assert result.returncode == 4, result
    assert "ValidationFailed, HTTP 400" in result.stderr and "nope" in result.stderr
    no_traceback(result)


def test_run_follow_exits_with_the_runs_result(env, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("good", git_repo.url, package=["echo built-$((40 + 2))"]))
    runs.pipeline(pipeline_body("bad", git_repo.url, package=["echo about-to-fail; exit 7"]))

    good = cyclone(env, "run", f"{runs.project}/good", "--ref", "main", "--follow")
    assert good.returncode == 0, good
    record = good.stdout.splitlines()[0]
    assert "built-42" in good.stdout.splitlines()
    assert runs.get("good", record)["status"] == "Success"
    assert f"record {record} ended: Success" in good.stderr

    bad = cyclone(env, "run", f"{runs.project}/bad", "--follow")
    assert bad.returncode == 1, bad
    assert "about-to-fail" in bad.stdout.splitlines()
    no_traceback(bad)


def test_run_follow_of_an_aborted_run_exits_2(env, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("slow", git_repo.url, package=["echo started", "sleep 60"]))
    proc = spawn(env, "run", f"{runs.project}/slow", "--follow")
    try:
        record = proc.stdout.readline().strip()
        assert proc.stdout.readline()  # the log has begun: the record runs
        aborted = cyclone(env, "abort", f"{runs.project}/slow", record)
        assert aborted.returncode == 0 and "Aborted" in aborted.stdout, aborted
        assert proc.wait(60) == 2
    finally:
        proc.kill()
        proc.wait()


def test_logs_follow_attached_mid_run_prints_every_line_once(env, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("live", git_repo.url, package=[counted(3000, 100, 0.05)]))
    record = runs.start("live")["id"]
    # attach once part of the log is stored and more is still to come
    wait_for(lambda: "n-200" in runs.log("live", record).text, 60, "200 lines stored")
    result = cyclone(env, "logs", f"{runs.project}/live", record, "--follow")
    assert result.returncode == 0, result
    assert numbers(result.stdout.splitlines()) == list(range(3000))
    assert result.stdout == runs.log("live", record).text.rstrip("\n") + "\n"


def test_json_output_is_the_apis_object(env, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("json", git_repo.url, package=["echo hi"]))
    record = runs.run("json")["id"]
    shown = cyclone(env, "records", "get", f"{runs.project}/json", record, "-o", "json")
    assert json.loads(shown.stdout) == runs.get("json", record)
    listed = cyclone(env, "-o", "yaml", "records", "ls", f"{runs.project}/json")
    assert yaml.safe_load(listed.stdout)["items"][0]["id"] == record
    project = cyclone(env, "projects", "get", runs.project, "-o", "json")
    assert json.loads(project.stdout) == runs.api.get(f"/api/v1/projects/{runs.project}").json()


def test_tables_for_people_without_colour_when_piped(env, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("table", git_repo.url, package=["echo hi"]))
    record = runs.run("table")["id"]
    listed = cyclone(env, "records", "ls", f"{runs.project}/table")
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == [
        "ID", "NAME", "STATUS", "TRIGGER", "REF", "COMMIT", "STARTED", "DURATION"
    ]  # fmt: skip
    assert row.split()[0] == record and "Success" in row.split()
    assert "\x1b[" not in listed.stdout
    stats = cyclone(env, "stats", runs.project, "--days", "3")
    assert stats.returncode == 0, stats
    assert "1 total, 1 success" in stats.stdout and "#" in stats.stdout
    piped = cyclone(env, "pipelines", "ls", runs.project)
    assert "table" in piped.stdout and "Success" in piped.stdout


def test_ctrl_c_stops_following_and_leaves_the_run_going(env, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("long", git_repo.url, package=["echo going", "sleep 60"]))
    record = runs.start("long")["id"]
    proc = spawn(env, "logs", f"{runs.project}/long", record, "--follow")
    try:
        wait_for(lambda: proc.stdout.readline().strip() == "going" or None, 60, "the log")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
        assert "goes on running" in proc.stderr.read()
        assert runs.get("long", record)["status"] == "Running"
    finally:
        proc.kill()
        proc.wait()
        runs.api.patch(runs.url("long", record, "/status"), json={"status": "Aborted"})


def test_clouds_templates_and_completion(env, api, unique):
    assert api.post("/api/v1/clouds", json={"name": unique, "type": "Local"}).status_code == 201
    clouds = cyclone(env, "clouds", "ls", "-o", "json")
    assert unique in [c["name"] for c in json.loads(clouds.stdout)["items"]], clouds
    ping = cyclone(env, "clouds", "ping", unique)
    assert ping.returncode == 0 and f"{unique}: ok" in ping.stdout, ping
    workers = cyclone(env, "clouds", "workers", unique)
    assert workers.stdout.split()[:5] == ["NAME", "STATUS", "PIPELINE", "RECORD", "CREATED"]
    templates = cyclone(env, "templates", "ls")
    assert "Maven" in templates.stdout
    one = cyclone(env, "templates", "get", "Maven", "-o", "json")
    assert json.loads(one.stdout)["name"] == "Maven"
    missing = cyclone(env, "templates", "get", "Cobol")
    assert missing.returncode == 4 and "known:" in missing.stderr
    for shell in ("bash", "zsh"):
        script = cyclone(env, "completion", shell)
        assert script.returncode == 0 and "_CYCLONE_COMPLETE" in script.stdout


def test_completion_offers_names_from_the_api(env, runs: Runs, git_repo):
    runs.pipeline(pipeline_body("done", git_repo.url, package=["echo hi"]))
    words = f"cyclone run {runs.project}/"
    result = subprocess.run(
        [CYCLONE],
        env={**env, "_CYCLONE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": "2"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert f"plain,{runs.project}/done" in result.stdout.splitlines(), result


def test_logs_follow_resumes_through_a_gateway_restart_without_gap_or_repeat(
    stack, env, runs: Runs, git_repo
):
    """Every gateway process is killed mid-stream; gunicorn starts new ones and the CLI
    reconnects with `from=N`: each line is printed once."""
    runs.pipeline(pipeline_body("cut", git_repo.url, package=[counted(4000, 50, 0.05)]))
    record = runs.start("cut")["id"]
    proc = spawn(env, "logs", f"{runs.project}/cut", record, "--follow")
    try:
        first = [proc.stdout.readline() for _ in range(100)]
        gateway = stack.pids()["api"]
        workers = subprocess.run(["pgrep", "-P", str(gateway)], capture_output=True, text=True)
        assert workers.stdout.split(), f"no gateway workers under {gateway}"
        for pid in workers.stdout.split():
            os.kill(int(pid), signal.SIGKILL)
        # not communicate(): it reads the pipe itself, past what readline() buffered already
        rest = proc.stdout.read()
        err = proc.stderr.read()
        proc.wait(90)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert numbers("".join(first).splitlines() + rest.splitlines()) == list(range(4000))
    assert runs.get("cut", record)["status"] == "Success"


def test_artifacts_download_checked_and_a_rerun_of_the_failed_part(
    env, runs: Runs, git_repo, drop: Path, tmp_path
):
    flag = drop / "flag"
    package = [
        "mkdir -p bin && head -c 300000 /dev/urandom > bin/app",
        f"test -f {flag} || {{ touch {flag}; echo first-time-fails; exit 1; }}",
    ]
    runs.pipeline(pipeline_body("art", git_repo.url, package=package, outputs=["bin/app"]))
    failed = cyclone(env, "run", f"{runs.project}/art", "--ref", "main", "--follow")
    assert failed.returncode == 1 and "first-time-fails" in failed.stdout, failed
    first = failed.stdout.splitlines()[0]

    again = cyclone(env, "rerun", f"{runs.project}/art", first, "--failed", "--follow")
    assert again.returncode == 0, again
    second = again.stdout.splitlines()[0]
    assert runs.get("art", second)["status"] == "Success"

    listed = cyclone(env, "artifacts", "ls", f"{runs.project}/art", second, "-o", "json")
    items = json.loads(listed.stdout)["items"]
    assert [a["path"] for a in items] == ["bin/app"], items
    saved = tmp_path / "app"
    to_file = cyclone(
        env, "artifacts", "get", f"{runs.project}/art", second, "bin/app", "--to", str(saved)
    )
    assert to_file.returncode == 0, to_file
    assert saved.stat().st_size == 300000 == items[0]["size"]
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == items[0]["sha256"]
    piped = subprocess.run(
        [CYCLONE, "artifacts", "get", f"{runs.project}/art", second, "bin/app", "--to", "-"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert piped.returncode == 0 and piped.stdout == saved.read_bytes(), piped.stderr
    archive = tmp_path / "all.tar.gz"
    target = f"{runs.project}/art"
    whole = cyclone(env, "artifacts", "archive", target, second, "--to", str(archive))
    assert whole.returncode == 0, whole
    with tarfile.open(archive) as tar:
        member = tar.extractfile("bin/app")
        assert member is not None and member.read() == saved.read_bytes()
    missing = cyclone(env, "artifacts", "get", f"{runs.project}/art", second, "nope")
    assert missing.returncode == 4 and not list(Path.cwd().glob(".part-*")), missing
