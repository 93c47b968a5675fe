"""The worker's pure rules: no processes, no broker."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.worker import domain
from services.worker.domain import Failure, GitRef, RefKind
from shared.contracts.records import RecordStatus
from tests.worker.conftest import make_job


def test_run_order_keeps_the_schedulers_order_and_puts_checkout_first():
    assert domain.run_order(["unitTest", "package"]) == ["codeCheckout", "unitTest", "package"]
    assert domain.run_order(["package", "codeCheckout", "package"]) == ["codeCheckout", "package"]
    assert domain.run_order([]) == ["codeCheckout"]


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ("codeCheckout", None),
        ("unitTest", None),
        ("package", None),
        ("codeScan", "stage codeScan needs a Docker engine, and none is configured"),
        ("imageBuild", "stage imageBuild needs a Docker engine, and none is configured"),
        ("integrationTest", "stage integrationTest needs a Docker engine"),
        ("imageRelease", "stage imageRelease needs a Docker engine"),
        ("deploy", "unknown stage deploy"),
    ],
)
def test_unavailable_reason(stage, expected):
    reason = domain.unavailable_reason(stage)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(expected)
    if stage != "deploy":
        assert domain.unavailable_reason(stage, has_engine=True) is None


def test_record_name_is_short_commit_and_utc_time():
    at = datetime(2024, 3, 1, 23, 59, 58, tzinfo=timezone(timedelta(hours=-2)))
    assert domain.record_name("ABCDEF0123456789", at) == "abcdef0-240302015958"
    assert domain.record_name("12", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "12-240102030405"


def test_mask_replaces_every_secret_and_its_url_form():
    mask = domain.SecretMasker(["p@ss word", "p@ss", "abc", "toktoktok"]).mask
    assert mask("x p@ss word y") == "x ****** y"
    assert mask("https://u:p%40ss%20word@host") == "https://u:******@host"
    assert mask("toktoktoktoktoktok") == "******"  # one run of secret characters, one mask
    assert mask("abc stays: too short to mask") == "abc stays: too short to mask"
    assert mask("error: p@\nss word!\r\nnext") == "error: ******\n******!\r\nnext"
    assert domain.SecretMasker([]).mask("nothing to hide") == "nothing to hide"


def stream(masker: domain.SecretMasker, lines: list[str]) -> list[str]:
    """Every line through the masker, then a flush; checks that none is lost or added."""
    out = [masked for line in lines for masked in masker.push(line)] + masker.flush()
    assert len(out) == len(lines)
    return out


def test_a_secret_split_over_two_lines_is_masked_in_both():
    masker = domain.SecretMasker(["abcdef"])
    assert masker.push("xxabc") == []  # it may go on in the next line: held
    assert masker.held == 1
    assert masker.push("defyy") == ["xx******", "******yy"]
    assert masker.held == 0


def test_a_secret_split_over_three_lines():
    masker = domain.SecretMasker(["s3cr3t-T0ken-42"])
    assert stream(masker, ["token: s3cr", "3t-T0k", "en-42 end", "after"]) == [
        "token: ******",
        "******",
        "****** end",
        "after",
    ]
    assert stream(masker, ["s3cr3t", "", "-T0ken-42"]) == ["******", "", "******"]


def test_a_secret_split_right_after_its_first_character():
    masker = domain.SecretMasker(["abcdef"])
    assert masker.push("a") == []
    assert masker.push("bcdef!") == ["******", "******!"]
    assert stream(masker, ["x a", "bcdef"]) == ["x ******", "******"]


def test_each_line_is_released_as_soon_as_no_secret_can_continue():
    masker = domain.SecretMasker(["abcdef"])
    assert masker.push("the ab") == []
    assert masker.push("cx") == ["the ab", "cx"]  # "abcx" is no secret: both go at once
    assert masker.push("ab") == []
    assert masker.push("c") == []
    assert masker.push("") == []  # an empty line does not break a secret printed around it
    assert masker.push("dez") == ["ab", "c", "", "dez"]
    assert masker.push("plain") == ["plain"]


def test_overlapping_secrets_are_masked_as_one_run():
    masker = domain.SecretMasker(["abcdef", "defghi"])
    assert masker.push("abcdefghi") == ["******"]  # "ghi" of the second one is masked too
    assert stream(masker, ["zz abcde", "fghi!", "defgh", "i"]) == [
        "zz ******",
        "******!",
        "******",
        "******",
    ]


def test_a_secret_within_a_longer_one_and_its_prefix_across_lines():
    masker = domain.SecretMasker(["p@ss", "p@ss word"])
    assert masker.push("use p@ss") == []  # masked, but it may be the longer one
    assert masker.push(" word here") == ["use ******", "****** here"]
    assert stream(masker, ["use p@ss", "!"]) == ["use ******", "!"]


def test_a_repeated_secret():
    masker = domain.SecretMasker(["abcdef"])
    assert masker.push("abcdef and abcdef") == ["****** and ******"]
    assert stream(masker, ["abcdefab", "cdef abc", "defabc", "def"]) == [
        "******",
        "****** ******",
        "******",
        "******",
    ]


def test_secrets_next_to_other_text_and_short_values():
    masker = domain.SecretMasker(["abcdef", "xyz"])  # xyz: too short to mask
    assert masker.push("xyz abcdef xyz") == ["xyz ****** xyz"]
    assert stream(masker, ["abcdefg", "hij"]) == ["******g", "hij"]


def test_without_secrets_lines_pass_through_unchanged_and_at_once():
    for masker in (domain.SecretMasker([]), domain.SecretMasker(["abc", ""])):
        for line in ("abc", "", "a", "x\r", "******"):
            assert masker.push(line) == [line]
            assert masker.held == 0
        assert masker.flush() == []


def test_crlf_lines_and_secrets_with_line_breaks():
    masker = domain.SecretMasker(["abcdef"])
    assert stream(masker, ["xxabc\r", "defyy\r"]) == ["xx******\r", "******yy\r"]
    assert masker.mask("xxabc\r\ndefyy") == "xx******\r\n******yy"
    multi = domain.SecretMasker(["-----KEY\r\nline-two\n"])  # as a multi-line value prints
    assert stream(multi, ["-----KEY", "line-two", "end"]) == ["******", "******", "end"]


def test_url_quoted_form_split_over_lines():
    masker = domain.SecretMasker(["p@ss word"])
    assert stream(masker, ["https://u:p%40ss", "%20word@host"]) == [
        "https://u:******",
        "******@host",
    ]


def test_flush_releases_held_lines_and_still_masks_the_rest_of_the_secret():
    masker = domain.SecretMasker(["abcdef"])
    assert masker.push("xxabc") == []
    assert masker.flush() == ["xxabc"]  # released as it is: the secret was not complete yet
    assert masker.push("defyy") == ["******yy"]  # its continuation is masked all the same
    assert masker.flush() == []


def reference_mask(secrets: list[str], lines: list[str]) -> list[str]:
    """The definition, brute force: mask every character of every occurrence in the joined
    text, one `******` per run within a line."""
    joined = "".join(lines)
    covered = [False] * len(joined)
    for secret in secrets:
        for i in range(len(joined)):
            if joined.startswith(secret, i):
                covered[i : i + len(secret)] = [True] * len(secret)
    out, pos = [], 0
    for line in lines:
        text = ""
        for i, char in enumerate(line):
            if not covered[pos + i]:
                text += char
            elif i == 0 or not covered[pos + i - 1]:
                text += domain.MASK
        out.append(text)
        pos += len(line)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_masking_matches_the_definition_on_random_lines(seed):
    rng = random.Random(seed)
    secrets = ["".join(rng.choice("ab") for _ in range(rng.randint(4, 7))) for _ in range(3)]
    text = "".join(rng.choice(["a", "b", "c", *secrets]) for _ in range(60))
    cuts = sorted(rng.sample(range(len(text) + 1), rng.randint(1, 25)))
    lines = [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert stream(domain.SecretMasker(secrets), lines) == reference_mask(secrets, lines)


def test_masking_a_hundred_thousand_lines_is_fast():
    secrets = ["s3cr3t-T0ken-42", "hunter2hunter2", "ghp_0123456789abcdefghij", "p@ssw0rd!", "tok9"]
    lines = [f"[INFO] step {i}: compiling module-{i % 97} ok" for i in range(100_000)]
    for i in range(0, len(lines), 1000):  # now and then a secret, whole or split over lines
        lines[i] += " token=s3cr3t-T0ken-42"
        lines[i + 1] += " pw=hunter2hun"
        lines[i + 2] = "ter2 and tok" + lines[i + 2]
    masker = domain.SecretMasker(secrets)
    started = time.thread_time()  # CPU time: other processes on a busy machine do not count
    out = [masked for line in lines for masked in masker.push(line)] + masker.flush()
    took = time.thread_time() - started
    print(
        f"\nmasking {len(lines):,} lines with {len(secrets)} secrets took {took * 1000:.0f} ms CPU"
    )
    assert len(out) == len(lines)
    assert out[1000].endswith("token=******") and out[1001].endswith("pw=******")
    assert out[1002].startswith("****** and tok[INFO]")
    assert not any(s in "".join(out) for s in secrets)
    assert took < 1.0


def test_job_secrets_are_scm_and_source_passwords_and_secret_env_vars():
    job = make_job(
        scm={"type": "Github", "token": "tok-1234", "password": "pw-5678"},
        env=[
            {"name": "A", "value": "env-secret", "secret": True},
            {"name": "B", "value": "public-value"},
        ],
    )
    job["pipeline"]["build"]["stages"]["codeCheckout"]["mainRepo"]["otherCodeSource"] = {
        "url": "x",
        "password": "src-pass",
    }
    assert set(domain.job_secrets(job)) == {"tok-1234", "pw-5678", "env-secret", "src-pass"}


@pytest.mark.parametrize(
    ("ref", "kind", "name"),
    [
        ("", RefKind.DEFAULT, ""),
        ("HEAD", RefKind.DEFAULT, ""),
        ("main", RefKind.NAME, "main"),
        ("release/1.x", RefKind.NAME, "release/1.x"),
        ("refs/heads/feature/a", RefKind.BRANCH, "feature/a"),
        ("refs/tags/v1", RefKind.TAG, "v1"),
        ("v1.0", RefKind.NAME, "v1.0"),
        ("refs/pull/1/merge", RefKind.REF, "refs/pull/1/merge"),
        ("abcdef1", RefKind.COMMIT, "abcdef1"),
        (
            "ABCDEF0123456789abcdef0123456789abcdef01",
            RefKind.COMMIT,
            "abcdef0123456789" * 2 + "abcdef01",
        ),
        ("abcdef", RefKind.NAME, "abcdef"),  # 6 hex digits: too short for a sha
        ("a" * 41, RefKind.NAME, "a" * 41),
    ],
)
def test_classify_ref(ref, kind, name):
    assert domain.classify_ref(ref) == GitRef(kind, name)


@pytest.mark.parametrize(
    "ref", ["--upload-pack=x", "a..b", "a b", "x~1", "y^", "a:b", "x/", "@{u}"]
)
def test_ref_problem_rejects_option_like_and_malformed_refs(ref):
    assert domain.ref_problem(ref) == f'invalid ref "{ref}"'


@pytest.mark.parametrize("ref", ["main", "refs/pull/1/merge", "v1.0", "feature/x-y_z"])
def test_ref_problem_accepts_ordinary_refs(ref):
    assert domain.ref_problem(ref) is None


@pytest.mark.parametrize(
    ("ref", "url", "rev"),
    [
        ("", "file:///r/trunk", None),
        ("HEAD", "file:///r/trunk", None),
        ("12", "file:///r/trunk", "12"),
        ("r7", "file:///r/trunk", "7"),
        ("branches/x", "file:///r/trunk/branches/x", None),
        ("/tags/v1/", "file:///r/trunk/tags/v1", None),
    ],
)
def test_svn_target(ref, url, rev):
    assert domain.svn_target("file:///r/trunk/", ref) == (url, rev)


def test_git_credentials_per_source_type():
    github = {"type": "Github", "server": "https://github.com", "token": "t0ken"}
    gitlab = {"type": "Gitlab", "server": "https://gl.example.com:8443", "token": "t0ken"}
    account = {
        "type": "Gitlab",
        "server": "https://gl.example.com",
        "username": "ann",
        "password": "pw",
    }
    on_github = {"url": "https://github.com/a/b.git"}
    on_gitlab = {"url": "https://gl.example.com/a/b.git"}
    assert domain.git_credentials("github", github, on_github) == ("x-access-token", "t0ken")
    assert domain.git_credentials("gitlab", gitlab, on_gitlab) == ("oauth2", "t0ken")
    assert domain.git_credentials("gitlab", account, on_gitlab) == ("ann", "pw")
    assert domain.git_credentials("github", gitlab, on_gitlab) is None  # another SCM's token
    # the project's token goes to its SCM's host only, whatever URL the pipeline names
    assert domain.git_credentials("github", github, {"url": "https://evil.example/a/b"}) is None
    assert domain.git_credentials("github", github, {"url": "file:///srv/b.git"}) is None
    api_server = {**github, "server": "https://api.github.com"}
    assert domain.git_credentials("github", api_server, on_github) == ("x-access-token", "t0ken")
    assert domain.git_credentials("other", github, {"username": "u", "password": "p"}) == ("u", "p")
    assert domain.git_credentials("other", github, {}) is None


def test_git_credentials_go_through_the_environment_not_argv():
    env = domain.git_credential_env(("x-access-token", "t/k@n"))
    assert env["CYCLONE_GIT_PASSWORD"] == "t/k@n"
    helpers = [env[f"GIT_CONFIG_VALUE_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))]
    assert helpers[0] == ""  # the host's helpers are cleared first (a `store` would keep it)
    assert "t/k@n" not in helpers[1] and "$CYCLONE_GIT_PASSWORD" in helpers[1]
    assert domain.git_credential_env(None) == {}


def test_the_build_env_is_made_not_inherited():
    job = {
        "record_id": "r1",
        "project": {"name": "proj"},
        "pipeline": {
            "name": "pipe",
            "build": {"builderImage": {"envVars": [{"name": "A", "value": "1"}]}},
        },
        "params": {"ref": "main"},
    }
    built = domain.build_env(job, stage="package", record_name="n", commit="abc", code_dir="/c")
    assert built == {
        "A": "1",
        "CI": "true",
        "CYCLONE_RECORD_ID": "r1",
        "CYCLONE_RECORD_NAME": "n",
        "CYCLONE_PROJECT": "proj",
        "CYCLONE_PIPELINE": "pipe",
        "CYCLONE_STAGE": "package",
        "CYCLONE_REF": "main",
        "CYCLONE_COMMIT_SHA": "abc",
        "CYCLONE_WORKSPACE": "/c",
    }
    assert set(built) - {"A"} == set(domain.BUILD_VARIABLES)
    host = domain.host_env(built, path="/usr/bin", home="/ws/home")
    assert host["PATH"] == "/usr/bin" and host["HOME"] == "/ws/home"
    assert domain.host_env({"PATH": "/mine"}, path="/usr/bin", home="/h")["PATH"] == "/mine"


def test_display_url_hides_a_password_in_the_url():
    assert domain.display_url("https://u:secret@host/r.git") == "https://u:******@host/r.git"
    assert domain.display_url("https://host/r.git") == "https://host/r.git"
    assert domain.display_url("/srv/r.git") == "/srv/r.git"


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("dist/app.tar", None),
        ("**/*.xml", None),
        ("./out", None),
        ("", "output is empty"),
        ("/etc/passwd", 'output "/etc/passwd" must be relative to the code directory'),
        ("../secret", 'output "../secret" must stay inside the code directory'),
        ("a/../../b", 'output "a/../../b" must stay inside the code directory'),
    ],
)
def test_output_problem(path, problem):
    assert domain.output_problem(path) == problem


def test_folder_problem_needs_a_sub_folder():
    assert domain.folder_problem("libs/dep") is None
    assert domain.folder_problem(".") is not None
    assert domain.folder_problem("../x") is not None


def test_run_error_names_the_stopping_failure_then_the_allowed_ones():
    allowed = [Failure("unitTest", 'command "false" exited with code 1')]
    stop = Failure("package", 'output "x" not found')
    assert domain.run_error(None, []) == ""
    assert domain.run_error(stop, []) == 'output "x" not found'
    assert domain.run_error(None, allowed) == (
        'unitTest failed (allowFailure): command "false" exited with code 1'
    )
    assert domain.run_error(stop, allowed).startswith('output "x" not found; unitTest failed')


def test_echo_and_frames():
    assert domain.echo("make test") == ["$ make test"]
    assert domain.echo("a\nb\r\n") == ["$ a", "> b", "> "]
    assert domain.frame_fail("package", "boom") == "Stage: Package status: fail with error: boom"
    assert domain.exit_code(RecordStatus.ABORTED) == 3
    assert domain.exit_code(RecordStatus.SUCCESS) == 0
    assert domain.exit_code(RecordStatus.FAILED) == 1


def test_env_vars_and_commands():
    job = make_job(env=[{"name": "A", "value": 1}, {"value": "nameless"}, {"name": "B"}])
    assert domain.env_vars(job["pipeline"]) == {"A": "1", "B": ""}
    assert domain.commands_of({"command": "echo one"}) == ["echo one"]
    assert domain.commands_of({}) == []
