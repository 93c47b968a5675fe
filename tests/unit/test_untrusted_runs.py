"""An untrusted record (a fork's pull request): stored with its reason, its job without any
secret, and the stages that need one skipped with a reason."""

from datetime import UTC, datetime

from services.scheduler.domain import records as rec
from services.worker import domain
from shared.crypto import SecretBox

BOX = SecretBox(SecretBox.generate_key())
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WHY = "pull request #2 comes from fork mallory/app into acme/app"


def snapshot() -> dict:
    """A record's snapshot as the gateway sends it: secrets sealed."""
    sonar = {"name": "sq", "integration": {"sonarqube": {"address": "http://sq", "token": ""}}}
    sonar["integration"]["sonarqube"]["token"] = BOX.encrypt("sonar-token-1")
    return {
        "project": {
            "id": "p1",
            "name": "acme",
            "scm": {"type": "Github", "server": "https://github.com", "token": BOX.encrypt("ghp")},
            "registry": {
                "server": "reg.example.com",
                "repository": "acme",
                "username": "bot",
                "password": BOX.encrypt("registry-pass"),
            },
        },
        "pipeline": {
            "id": "pl1",
            "name": "app",
            "autoTrigger": {"scmTrigger": {"webhookSecret": BOX.encrypt("hook")}},
            "build": {
                "builderImage": {
                    "image": "busybox",
                    "envVars": [
                        {"name": "PLAIN", "value": "visible"},
                        {"name": "KEY", "value": BOX.encrypt("api-key"), "secret": True},
                    ],
                },
                "stages": {
                    "codeCheckout": {
                        "mainRepo": {"type": "Github", "github": {"url": "https://x/acme/app"}}
                    },
                    "codeScan": {"sonarqube": sonar},
                    "imageRelease": {"releasePolicies": [{"imageName": "app", "type": "Always"}]},
                },
            },
        },
    }


def test_withholding_empties_every_sealed_value_and_names_it():
    snap = snapshot()
    kept, withheld = rec.withhold_secrets(snap)
    assert sorted(withheld) == [
        "pipeline.autoTrigger.scmTrigger.webhookSecret",
        "pipeline.build.builderImage.envVars.1.value",
        domain.SONAR_TOKEN,
        "project.registry.password",
        "project.scm.token",
    ]
    assert kept["project"]["registry"] == {
        "server": "reg.example.com",
        "repository": "acme",
        "username": "bot",
        "password": "",
    }
    assert kept["pipeline"]["build"]["builderImage"]["envVars"] == [
        {"name": "PLAIN", "value": "visible"},
        {"name": "KEY", "value": "", "secret": True},
    ]
    assert "enc:" not in repr(kept)
    assert snap["project"]["registry"]["password"].startswith("enc:")  # the stored copy stays


def test_untrusted_record_keeps_its_reason_and_shows_it():
    request = {
        "project": {"id": "p1", "name": "acme"},
        "pipeline": {"id": "pl1", "name": "app"},
        "params": {"ref": "abc", "stages": []},
        "trigger": "scmTrigger",
        "owner": "",
        "untrusted": WHY,
    }
    doc = rec.new_record(request, ["codeCheckout"], NOW, 60)
    assert doc["untrusted"] == WHY
    view = rec.view({**doc, "_id": "65f0c0ffee0000000000abcd"})
    assert view["trusted"] is False and view["untrustedReason"] == WHY
    trusted = rec.new_record({**request, "untrusted": ""}, ["codeCheckout"], NOW, 60)
    assert "untrusted" not in trusted
    assert "trusted" not in rec.view({**trusted, "_id": "65f0c0ffee0000000000abcd"})


def job(**extra) -> dict:
    return {"record_id": "r", "project": {}, "pipeline": {}, "stages": [], **extra}


def test_untrusted_runs_skip_the_release_and_a_scan_with_a_token():
    untrusted = job(untrusted=WHY, withheld=["project.registry.password", domain.SONAR_TOKEN])
    release = domain.skip_reason("imageRelease", untrusted)
    assert release == (
        f"untrusted run ({WHY}): images are not pushed to the project's registry "
        "(the pipeline may opt in with autoTrigger.scmTrigger.forkSecrets)"
    )
    assert "SonarQube integration's token is withheld" in (
        domain.skip_reason("codeScan", untrusted) or ""
    )
    for stage in ("codeCheckout", "unitTest", "package", "imageBuild", "integrationTest"):
        assert domain.skip_reason(stage, untrusted) is None


def test_untrusted_release_is_skipped_even_without_a_registry_password():
    """Pushing to the project's registry is write access, password or not."""
    untrusted = job(untrusted=WHY, withheld=[])
    assert domain.skip_reason("imageRelease", untrusted)
    assert domain.skip_reason("codeScan", untrusted) is None  # an open SonarQube: it scans


def test_trusted_runs_skip_nothing_and_say_nothing():
    for stage in domain.STAGE_ORDER:
        assert domain.skip_reason(stage, job()) is None
    assert domain.untrusted_notice(job()) == []


def test_untrusted_notice_lists_what_was_withheld():
    lines = domain.untrusted_notice(job(untrusted=WHY, withheld=["project.registry.password"]))
    assert lines[0].startswith(f"Untrusted run: {WHY}. It gets no secrets")
    assert lines[1] == "Secrets withheld: project.registry.password"
    none = domain.untrusted_notice(job(untrusted=WHY, withheld=[]))
    assert none[1] == "Secrets withheld: none were set"
