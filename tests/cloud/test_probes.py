"""Pinging clouds on its own: the docker SDK against stand-in engines (plain and TLS)."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest

from services.cloud import backends
from services.cloud.backends.pinging import TIMEOUT
from tests.cloud.engines import VERSION, engine, make_certs, silent_host

OK = {"status": "ok", "version": f"Docker {VERSION['Version']} (API {VERSION['ApiVersion']})"}


def docker_cloud(host: str, **section: object) -> dict:
    return {"name": "d", "type": "Docker", "docker": {"host": host, **section}}


def test_local():
    answer = backends.ping({"name": "l", "type": "Local"})
    assert answer == {
        "status": "ok",
        "version": f"local {platform.system()} {platform.release()}, "
        f"python {platform.python_version()}",
    }


def test_kubernetes_in_cluster_outside_a_pod(monkeypatch):
    """More in test_kube_ping.py, against the fake API server."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    answer = backends.ping({"name": "k", "type": "Kubernetes", "kubernetes": {"inCluster": True}})
    assert answer == {
        "status": "error",
        "message": "Kubernetes: inCluster: KUBERNETES_SERVICE_HOST/PORT are not set "
        "(not running in a pod?)",
    }


def test_docker_engine_answers():
    with engine() as host:
        assert backends.ping(docker_cloud(host)) == OK


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_docker_engine_over_tls_with_client_certificates(tmp_path: Path):
    cert_path, server_tls = make_certs(tmp_path)
    with engine(server_tls) as host:
        assert backends.ping(docker_cloud(host, certPath=str(cert_path))) == OK
        assert backends.ping(docker_cloud(host)) == {  # no certPath: plain HTTP to a TLS port
            "status": "error",
            "message": f"Docker engine at {host}: connection reset by the host "
            "(does it expect TLS?)",
        }
        (cert_path / "ca.pem").write_bytes((tmp_path / "server" / "cert.pem").read_bytes())
        assert backends.ping(docker_cloud(host, certPath=str(cert_path))) == {
            "status": "error",
            "message": f"Docker engine at {host}: TLS: the engine's certificate is not trusted: "
            "self-signed certificate in certificate chain",
        }
        # insecure: the engine's certificate is not checked, the client's is still sent
        assert backends.ping(docker_cloud(host, certPath=str(cert_path), insecure=True)) == OK
        (cert_path / "ca.pem").unlink()
        assert backends.ping(docker_cloud(host, certPath=str(cert_path), insecure=True)) == OK
        assert backends.ping(docker_cloud(host, certPath=str(cert_path)))["message"] == (
            f"Docker engine at {host}: TLS: no ca.pem in certPath {cert_path}"
        )
        (cert_path / "key.pem").unlink()
        assert backends.ping(docker_cloud(host, certPath=str(cert_path), insecure=True)) == {
            "status": "error",
            "message": f"Docker engine at {host}: TLS: no key.pem in certPath {cert_path}",
        }


def test_tls_to_a_plain_engine():
    with engine() as host, TemporaryDirectory() as where:
        cert_path, _ = make_certs(Path(where))
        answer = backends.ping(docker_cloud(host, certPath=str(cert_path)))
    assert answer["message"] == f"Docker engine at {host}: TLS: the host does not speak TLS"


@pytest.mark.parametrize(
    ("host", "section", "reason"),
    [
        ("tcp://127.0.0.1:1", {}, "connection refused"),
        ("unix:///nonexistent/docker.sock", {}, "no such socket"),
        ("tcp://no-such-host.invalid:2375", {}, "cannot resolve the host name"),
        (
            "tcp://127.0.0.1:1",
            {"certPath": "/no"},
            "TLS: no ca.pem, cert.pem, key.pem in certPath /no",
        ),
        ("ftp://example", {}, "Invalid bind address protocol"),
    ],
)
def test_docker_failures_are_answers(host, section, reason):
    answer = backends.ping(docker_cloud(host, **section))
    assert answer["status"] == "error"
    assert answer["message"].startswith(f"Docker engine at {host}: ")
    assert reason in answer["message"]
    assert len(answer["message"]) < 300
    assert "version" not in answer


def test_a_server_that_is_no_engine():
    with engine(real=False) as host:
        answer = backends.ping(docker_cloud(host))
    assert answer == {
        "status": "error",
        "message": f"Docker engine at {host}: HTTP 404: page not found",
    }


def test_a_silent_host_times_out():
    with silent_host() as silent:
        host = silent.host
        began = time.monotonic()
        answer = backends.ping(docker_cloud(host))
        took = time.monotonic() - began
    assert answer == {
        "status": "error",
        "message": f"Docker engine at {host}: no answer within {TIMEOUT} s",
    }
    assert TIMEOUT - 0.5 < took < TIMEOUT + 2


def test_missing_host_or_type():
    assert backends.ping({"name": "d", "type": "Docker"})["message"] == (
        "the cloud names no Docker host"
    )
    assert backends.ping({"name": "x", "type": "Swarm"}) == {
        "status": "error",
        "message": "unknown cloud type 'Swarm'",
    }
