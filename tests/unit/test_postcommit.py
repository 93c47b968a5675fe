import pytest

from services.api.domain import postcommit, validation
from services.api.domain.errors import ValidationFailed


def test_changed_paths_skip_noise():
    body = (
        "U   trunk/a.txt\nA   trunk/dir/\n_U  trunk/b\nwarning: W000 something\n\nD   branches/x\n"
    )
    assert postcommit.changed_paths(body) == ["trunk/a.txt", "trunk/dir", "trunk/b", "branches/x"]


def test_repo_prefix_and_concerns():
    root = "file:///srv/repo"
    assert postcommit.repo_prefix("file:///srv/repo/trunk/", root) == "trunk"
    assert postcommit.repo_prefix("file:///srv/repo", root) == ""
    assert postcommit.repo_prefix("file:///srv/other/trunk", root) is None
    assert postcommit.repo_prefix("file:///srv/repo%20x/a", "file:///srv/repo x") == "a"
    assert postcommit.concerns(["trunk/a.txt"], "trunk")
    assert not postcommit.concerns(["trunkish/a.txt", "branches/x"], "trunk")
    assert postcommit.concerns(["anything"], "") and not postcommit.concerns([], "")


def _svn_pipeline(secret=None):
    trigger = {"postCommit": {"stages": []}}
    if secret is not None:
        trigger["webhookSecret"] = secret
    return {
        "name": "p",
        "build": {
            "builderImage": {"image": "local"},
            "stages": {"codeCheckout": {"mainRepo": {"type": "svn", "svn": {"url": "svn://h/r"}}}},
        },
        "autoTrigger": {"scmTrigger": trigger},
    }


@pytest.mark.parametrize(
    "secret", [None, "", "******", "a" * 16, "Xy7!-_~ inner space ok", "k" * 256]
)
def test_post_commit_secret_accepted(secret):
    doc = validation.pipeline_spec(_svn_pipeline(secret))
    assert doc["autoTrigger"]["scmTrigger"].get("webhookSecret") == secret


@pytest.mark.parametrize(
    "secret",
    [
        "a" * 15,
        " leading-space-secret",
        "trailing-space-secret ",
        "tab\tinside-the-secret",
        "clé-0123456789abcdef",
    ],
)
def test_post_commit_secret_refused_without_echo(secret):
    with pytest.raises(ValidationFailed) as info:
        validation.pipeline_spec(_svn_pipeline(secret))
    (problem,) = info.value.details
    assert problem["field"] == "autoTrigger.scmTrigger.webhookSecret"
    assert secret not in str(info.value) and secret not in problem["error"]


def test_short_secrets_stay_allowed_without_post_commit():
    """GitHub/GitLab secrets are the SCM's business (HMAC key, header): no length rule."""
    body = _svn_pipeline("short")
    del body["autoTrigger"]["scmTrigger"]["postCommit"]
    body["autoTrigger"]["scmTrigger"]["push"] = {}
    validation.pipeline_spec(body)
