"""Request bodies used across the API tests (shapes from the spec)."""

from __future__ import annotations

from typing import Any


def project(name: str | None = None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": "a test project",
        "scm": {
            "type": "Github",
            "server": "https://github.com",
            "username": "bot",
            "token": "scm-token-123",
        },
        "registry": {
            "server": "127.0.0.1:5000",
            "repository": "team",
            "username": "pusher",
            "password": "registry-pw-456",
        },
    }
    if name:
        body["name"] = name
    body.update(over)
    return body


def pipeline(name: str | None = None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": "a test pipeline",
        "build": {
            "builderImage": {
                "image": "busybox:latest",
                "envVars": [{"name": "GREETING", "value": "hello"}],
            },
            "stages": {
                "codeCheckout": {
                    "codeSources": [
                        {
                            "type": "github",
                            "main": True,
                            "gitHub": {"url": "https://github.com/caicloud/toy", "ref": "master"},
                        }
                    ]
                },
                "unitTest": {"command": ["echo test"], "outputs": []},
                "package": {"command": ["echo package"], "outputs": ["bin/app"]},
                "imageBuild": {
                    "buildInfos": [{"imageName": "toy", "dockerfilePath": "Dockerfile"}]
                },
                "imageRelease": {"releasePolicies": [{"imageName": "toy", "type": "Always"}]},
            },
        },
        "autoTrigger": {
            "cronTrigger": {"crons": [{"expression": "0 2 * * *", "stages": ["codeCheckout"]}]},
            "scmTrigger": {
                "push": {"stages": ["codeCheckout", "package"], "branches": ["master", "release/*"]}
            },
        },
        "notification": {
            "policy": "Failure",
            "receivers": [{"type": "webhook", "addresses": ["http://127.0.0.1:1/x"]}],
        },
        "annotations": {"tenant": "qa"},
    }
    if name:
        body["name"] = name
    body.update(over)
    return body


def integration(name: str | None = None, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "alias": "Sonar",
        "type": "SonarQube",
        "sonarqube": {
            "address": "http://127.0.0.1:9000",
            "token": "sonar-token-789",
            "user": "admin",
            "description": "test sonar",
        },
    }
    if name:
        body["name"] = name
    body.update(over)
    return body
