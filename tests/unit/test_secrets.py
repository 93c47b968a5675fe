import copy

import pytest

from services.api.domain import secrets
from shared.crypto import SecretBox, is_encrypted

BOX = SecretBox("unit-test-passphrase")


def project(**scm):
    return {"scm": {"type": "Github", "server": "s", **scm}, "registry": {"password": "r"}}


def test_seal_encrypts_and_mask_hides():
    doc = secrets.seal(project(token="t"), None, secrets.project_paths, BOX.encrypt)
    assert is_encrypted(doc["scm"]["token"]) and BOX.decrypt(doc["scm"]["token"]) == "t"
    shown = secrets.masked(copy.deepcopy(doc), secrets.project_paths)
    assert shown["scm"]["token"] == "******" and shown["registry"]["password"] == "******"
    assert "password" not in shown["scm"]


@pytest.mark.parametrize("sent", [None, "******"], ids=["left out", "masked"])
def test_left_out_or_masked_keeps_the_stored_value(sent):
    stored = secrets.seal(project(token="t"), None, secrets.project_paths, BOX.encrypt)
    new = project() if sent is None else project(token=sent)
    new = secrets.seal(new, stored, secrets.project_paths, BOX.encrypt)
    assert new["scm"]["token"] == stored["scm"]["token"]


def test_empty_string_clears_and_new_value_replaces():
    stored = secrets.seal(project(token="t"), None, secrets.project_paths, BOX.encrypt)
    cleared = secrets.seal(project(token=""), stored, secrets.project_paths, BOX.encrypt)
    assert "token" not in cleared["scm"]
    rotated = secrets.seal(project(token="u"), stored, secrets.project_paths, BOX.encrypt)
    assert BOX.decrypt(rotated["scm"]["token"]) == "u"


def test_mask_without_stored_value_stores_nothing():
    doc = secrets.seal(project(token="******"), None, secrets.project_paths, BOX.encrypt)
    assert "token" not in doc["scm"]


def test_secret_env_vars_are_matched_by_name():
    def pipeline(env):
        return {"build": {"builderImage": {"image": "i", "envVars": env}}}

    stored = secrets.seal(
        pipeline([{"name": "A", "value": "a", "secret": True}, {"name": "B", "value": "b"}]),
        None,
        secrets.pipeline_paths,
        BOX.encrypt,
    )
    new = secrets.seal(
        pipeline([{"name": "B", "value": "b"}, {"name": "A", "value": "******", "secret": True}]),
        stored,
        secrets.pipeline_paths,
        BOX.encrypt,
    )
    env = {v["name"]: v["value"] for v in new["build"]["builderImage"]["envVars"]}
    assert env["B"] == "b" and BOX.decrypt(env["A"]) == "a"


def test_box_rejects_foreign_ciphertext():
    other = SecretBox(SecretBox.generate_key())
    with pytest.raises(ValueError, match="cannot be decrypted"):
        BOX.decrypt(other.encrypt("x"))
    with pytest.raises(ValueError):
        BOX.decrypt("plain")


def test_no_process_starts_with_the_placeholder_secrets_of_the_manifests():
    from shared import config

    assert config.placeholder_problem({"CYCLONE_API_TOKEN": "a-real-token"}) is None
    for name in config.SECRET_SETTINGS:
        with pytest.raises(SystemExit, match=name):
            config.load({name: "replace-me-please"})
