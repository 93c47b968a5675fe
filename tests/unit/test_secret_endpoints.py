"""A secret follows its endpoint (services/api/domain/secrets.py), and notification URLs are
secrets: sealed, masked, kept by a masked PUT."""

from __future__ import annotations

import copy

import pytest

from services.api.domain import secrets, validation
from services.api.domain.secrets import MASK, SecretRequired
from shared.crypto import SecretBox, is_encrypted

BOX = SecretBox(SecretBox.generate_key())


def sealed(doc, paths, old=None):
    return secrets.seal(copy.deepcopy(doc), old, paths, BOX.encrypt, BOX.reseal)


def project(server="https://github.com", **scm):
    return {"scm": {"type": "Github", "server": server, "username": "u", **scm}}


@pytest.mark.parametrize("sent", [None, MASK], ids=["left out", "masked"])
def test_scm_server_change_with_a_kept_token_is_refused(sent):
    stored = sealed(project(token="t"), secrets.project_paths)
    new = (
        project("https://evil.example.com")
        if sent is None
        else project("https://evil.example.com", token=sent)
    )
    before = copy.deepcopy(new)
    with pytest.raises(SecretRequired) as caught:
        secrets.seal(new, stored, secrets.project_paths, BOX.encrypt, BOX.reseal)
    assert new == before  # nothing changed
    assert caught.value.reason == "SecretRequired"
    assert "scm.server" in caught.value.message and "scm.token" in caught.value.message
    assert caught.value.details[0]["field"] == "scm.token"


def test_a_resent_secret_or_an_unchanged_address_is_fine():
    stored = sealed(project(token="t"), secrets.project_paths)
    moved = sealed(
        project("https://gitlab.example.com", token="new"), secrets.project_paths, stored
    )
    assert BOX.decrypt(moved["scm"]["token"]) == "new"
    # Same address (trailing slash and host case do not count as a move): the stored one stays.
    same = sealed(project("https://GitHub.com/", token=MASK), secrets.project_paths, stored)
    assert same["scm"]["token"] == stored["scm"]["token"]
    # Clearing the secret while moving is fine: nothing is sent anywhere.
    cleared = sealed(project("https://x.example.com", token=""), secrets.project_paths, stored)
    assert "token" not in cleared["scm"]
    # Nothing stored: nothing to leak.
    bare = sealed(project(token=MASK), secrets.project_paths)
    assert sealed(project("https://y.example.com"), secrets.project_paths, bare)["scm"] == {
        "type": "Github",
        "server": "https://y.example.com",
        "username": "u",
    }


def test_registry_password_follows_the_registry_server():
    stored = sealed(
        {
            **project(token="t"),
            "registry": {"server": "r1:5000", "repository": "x", "password": "p"},
        },
        secrets.project_paths,
    )
    new = {**project(token=MASK), "registry": {"server": "r2:5000", "repository": "x"}}
    with pytest.raises(SecretRequired) as caught:
        sealed(new, secrets.project_paths, stored)
    assert [d["field"] for d in caught.value.details] == ["registry.password"]


@pytest.mark.parametrize(
    "change",
    [
        {"host": "https://other:6443"},
        {"inCluster": True},
        {"tlsClientConfig": {"insecure": True}},
    ],
)
def test_cloud_token_follows_the_api_server_and_its_trust(change):
    k8s = {"host": "https://k8s:6443", "namespace": "ci", "bearerToken": "tok"}
    stored = sealed({"name": "c", "type": "Kubernetes", "kubernetes": k8s}, secrets.cloud_paths)
    new = {"name": "c", "type": "Kubernetes", "kubernetes": {**k8s, "bearerToken": MASK, **change}}
    with pytest.raises(SecretRequired):
        sealed(new, secrets.cloud_paths, stored)
    same = {"name": "c", "type": "Kubernetes", "kubernetes": {**k8s, "bearerToken": MASK}}
    assert (
        sealed(same, secrets.cloud_paths, stored)["kubernetes"]["bearerToken"]
        == (stored["kubernetes"]["bearerToken"])
    )


def test_sonarqube_token_follows_the_address():
    sonar = {"address": "https://sonar.example.com", "token": "tok"}
    stored = sealed({"type": "SonarQube", "sonarqube": sonar}, secrets.integration_paths)
    new = {"type": "SonarQube", "sonarqube": {"address": "https://evil.example.com"}}
    with pytest.raises(SecretRequired):
        sealed(new, secrets.integration_paths, stored)


def test_code_source_password_follows_its_url():
    def pipeline(url, password):
        svn = {"url": url, "username": "u", "password": password}
        return {"build": {"stages": {"codeCheckout": {"mainRepo": {"type": "SVN", "svn": svn}}}}}

    stored = sealed(pipeline("svn://a/repo", "pw"), secrets.pipeline_paths)
    with pytest.raises(SecretRequired):
        sealed(pipeline("svn://evil/repo", MASK), secrets.pipeline_paths, stored)


# --- notification URLs ------------------------------------------------------------------------

SLACK = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
HOOK = "https://ci.example.com/hook?token=abc"


def notified(*receivers):
    return {"notification": {"policy": "Always", "receivers": list(receivers)}}


def test_webhook_and_slack_urls_are_sealed_and_masked():
    doc = sealed(
        notified(
            {"type": "slack", "addresses": [SLACK]},
            {"type": "email", "addresses": ["ops@example.com"]},
            {"type": "webhook", "addresses": [HOOK, "https://two.example.com/x"]},
        ),
        secrets.pipeline_paths,
    )
    receivers = doc["notification"]["receivers"]
    assert (
        is_encrypted(receivers[0]["addresses"][0])
        and BOX.decrypt(receivers[0]["addresses"][0]) == SLACK
    )
    assert receivers[1]["addresses"] == ["ops@example.com"]  # mail addresses are not secrets
    assert all(is_encrypted(a) for a in receivers[2]["addresses"])
    shown = secrets.masked(copy.deepcopy(doc), secrets.pipeline_paths)["notification"]
    assert shown["receivers"][0]["addresses"] == [MASK]
    assert shown["receivers"][1]["addresses"] == ["ops@example.com"]
    assert shown["receivers"][2]["addresses"] == [MASK, MASK]


def test_a_masked_url_keeps_the_stored_one_at_its_place():
    stored = sealed(
        notified({"type": "webhook", "addresses": [HOOK, "https://two.example.com/x"]}),
        secrets.pipeline_paths,
    )
    new = sealed(
        notified({"type": "webhook", "addresses": [MASK, "https://three.example.com/y"]}),
        secrets.pipeline_paths,
        stored,
    )
    first, second = new["notification"]["receivers"][0]["addresses"]
    assert first == stored["notification"]["receivers"][0]["addresses"][0]
    assert BOX.decrypt(second) == "https://three.example.com/y"


def test_a_masked_url_with_nothing_stored_there_is_refused():
    stored = sealed(notified({"type": "email", "addresses": ["a@b.c"]}), secrets.pipeline_paths)
    for new in (
        notified({"type": "webhook", "addresses": [MASK]}),  # an email address is not kept
        notified({"type": "email", "addresses": ["a@b.c"]}, {"type": "slack", "addresses": [MASK]}),
    ):
        with pytest.raises(SecretRequired, match="send the URL"):
            sealed(new, secrets.pipeline_paths, stored)


def test_urls_stored_in_clear_before_are_masked_and_sealed_on_the_next_write():
    legacy = notified({"type": "slack", "addresses": [SLACK]})  # as stored before this change
    shown = secrets.masked(copy.deepcopy(legacy), secrets.pipeline_paths)
    assert shown["notification"]["receivers"][0]["addresses"] == [MASK]
    new = sealed(notified({"type": "slack", "addresses": [MASK]}), secrets.pipeline_paths, legacy)
    kept = new["notification"]["receivers"][0]["addresses"][0]
    assert is_encrypted(kept) and BOX.decrypt(kept) == SLACK


def test_validation_accepts_the_mask_and_does_not_echo_a_bad_url():
    body = {
        "name": "p",
        "build": {
            "builderImage": {"image": "local"},
            "stages": {
                "codeCheckout": {
                    "mainRepo": {"type": "other", "otherCodeSource": {"url": "file:///r"}}
                }
            },
        },
        "notification": {"receivers": [{"type": "Slack", "addresses": [MASK]}]},
    }
    assert validation.pipeline_spec(body)["notification"]["receivers"][0]["type"] == "slack"
    secret_path = "https://hooks.slack.com/services/T0/B0/SECRET with space"
    body["notification"]["receivers"][0]["addresses"] = [secret_path]
    with pytest.raises(validation.ValidationFailed) as caught:
        validation.pipeline_spec(body)
    assert "SECRET" not in str(caught.value.message) + str(caught.value.details)
