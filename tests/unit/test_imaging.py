"""Pure rules of the container and image stages (services/worker/imaging.py)."""

from __future__ import annotations

import pytest

from services.worker import imaging


@pytest.mark.parametrize(
    ("name", "record", "registry", "expected"),
    [
        ("app", "r1", None, "app:r1"),
        ("app:v2", "r1", None, "app:v2"),
        ("team/app", "r1", {"server": "reg.io", "repository": "proj"}, "reg.io/proj/team/app:r1"),
        ("app", "r1", {"server": "https://reg.io/", "repository": "/p/"}, "reg.io/p/app:r1"),
        ("app", "r1", {"server": "127.0.0.1:5000", "repository": ""}, "127.0.0.1:5000/app:r1"),
        ("app", "ab c/d", None, "app:ab-c-d"),
        ("app", "", None, "app:latest"),
        ("localhost:5000/app", "r1", None, "localhost:5000/app:r1"),  # a port is not a tag
    ],
)
def test_image_ref(name, record, registry, expected):
    assert imaging.image_ref(name, record, registry) == expected


def test_bare_name_and_split():
    assert imaging.bare_name("app:v1") == "app"
    assert imaging.bare_name("localhost:5000/app") == "localhost:5000/app"
    assert imaging.split_ref("reg:5000/a/b:t") == ("reg:5000/a/b", "t")


@pytest.mark.parametrize(
    ("quota", "expected"),
    [
        ({}, {}),
        ({"limits.cpu": "1"}, {"nano_cpus": 1_000_000_000}),
        (
            {"limits.cpu": "500m", "requests.cpu": "0.25"},
            {"nano_cpus": 500_000_000, "cpu_shares": 256},
        ),
        (
            {"limits.memory": "2Gi", "requests.memory": "1G"},
            {"mem_limit": 2**31, "mem_reservation": 10**9},
        ),
        ({"limits.memory": "512Mi"}, {"mem_limit": 512 * 2**20}),
    ],
)
def test_container_limits(quota, expected):
    assert imaging.container_limits(quota) == expected


@pytest.mark.parametrize(
    "quota",
    [
        {"limits.cpu": "lots"},
        {"limits.cpu": "0"},
        {"limits.memory": "1 GB"},
        {"limits.memory": "1Gi", "requests.memory": "2Gi"},
    ],
)
def test_container_limits_refuse_bad_quantities(quota):
    with pytest.raises(imaging.QuotaError):
        imaging.container_limits(quota)


@pytest.mark.parametrize(
    ("policy", "status", "planned", "expected"),
    [
        ("Always", None, False, None),
        ("Always", "Failed", True, None),
        ("IntegrationTestSuccess", "Success", True, None),
        ("IntegrationTestSuccess", "Failed", True, "integrationTest Failed"),
        ("IntegrationTestSuccess", None, True, "integrationTest did not finish"),
        ("IntegrationTestSuccess", None, False, "integrationTest did not run in this record"),
        ("Sometimes", None, True, "unknown release policy 'Sometimes'"),
    ],
)
def test_release_decision(policy, status, planned, expected):
    assert imaging.release_decision(policy, status, planned) == expected


def test_build_tasks():
    tasks = imaging.build_tasks(
        {
            "buildInfos": [
                {"imageName": "a"},
                {"taskName": "t", "imageName": "b", "contextDir": "x/y"},
            ]
        }
    )
    assert [(t.name, t.image_name, t.context_dir) for t in tasks] == [
        ("a", "a", "."),
        ("t", "b", "x/y"),
    ]
    for bad in ({"buildInfos": []}, {"buildInfos": [{"contextDir": "."}]}):
        with pytest.raises(ValueError):
            imaging.build_tasks(bad)
    with pytest.raises(ValueError, match="must stay inside the code"):
        imaging.build_tasks({"buildInfos": [{"imageName": "a", "contextDir": "../up"}]})


def test_match_outputs_follows_glob_rules():
    paths = ["app.txt", "out", "out/a.jar", "out/sub/b.jar", ".hidden.jar", "out/.c.jar"]
    assert imaging.match_outputs(paths, ["out/*.jar"]) == ["out/a.jar"]
    assert imaging.match_outputs(paths, ["**/*.jar"]) == ["out/a.jar", "out/sub/b.jar"]
    assert imaging.match_outputs(paths, ["app.txt", "out/a.jar", "app.txt"]) == [
        "app.txt",
        "out/a.jar",
    ]
    assert imaging.match_outputs(paths, ["./out"]) == ["out"]
    with pytest.raises(LookupError, match="nothing"):
        imaging.match_outputs(paths, ["app.txt", "nothing"])


def test_labels_name_everything_a_sweep_needs():
    labels = imaging.labels("p", "q", "r", "c", "h")
    assert labels == {
        "io.cyclone.project": "p",
        "io.cyclone.pipeline": "q",
        "io.cyclone.record": "r",
        "io.cyclone.cloud": "c",
        "io.cyclone.host": "h",
    }
