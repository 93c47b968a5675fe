from services.api.domain import postcommit


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
