"""Ping of Kubernetes clouds against the fake API server: each auth mode and TLS setting."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.cloud import backends
from shared import kubeclient
from tests.cloud.fakekube import FakeKube

TOKEN = "ping-token"
OK = {"status": "ok", "version": "Kubernetes v1.30.4 (linux/amd64)"}


def ping(**section) -> dict:
    return backends.ping({"name": "k", "type": "Kubernetes", "kubernetes": section})


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    where = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-apiserver")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = where / "cert.pem", where / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def plain() -> Iterator[FakeKube]:
    with FakeKube(token=TOKEN, basic=("root", "123456")) as server:
        yield server


@pytest.fixture(scope="module")
def tls(certs) -> Iterator[FakeKube]:
    with FakeKube(token=TOKEN, tls=(str(certs[0]), str(certs[1]))) as server:
        yield server


def test_bearer_token(plain):
    assert ping(host=plain.url, namespace="ci", bearerToken=TOKEN) == OK
    assert plain.auth_seen[-1] == f"Bearer {TOKEN}"
    answer = ping(host=plain.url, bearerToken="wrong")
    assert answer == {
        "status": "error",
        "message": f"Kubernetes API at {plain.url}: HTTP 401: Unauthorized",
    }


def test_username_and_password(plain):
    assert ping(host=plain.url, username="root", password="123456") == OK
    assert plain.auth_seen[-1] == "Basic " + base64.b64encode(b"root:123456").decode()
    assert "HTTP 401" in ping(host=plain.url, username="root", password="no")["message"]


def test_unreachable_and_unusable_clouds():
    answer = ping(host="http://127.0.0.1:1", bearerToken=TOKEN)
    assert answer == {
        "status": "error",
        "message": "Kubernetes API at http://127.0.0.1:1: connection refused",
    }
    assert ping(bearerToken=TOKEN) == {
        "status": "error",
        "message": "Kubernetes: the cloud names no Kubernetes host",
    }
    answer = ping(inCluster=True)  # this test does not run in a pod
    assert answer["status"] == "error"
    assert "KUBERNETES_SERVICE_HOST" in answer["message"]


def test_tls_ca_file_and_ca_data(tls, certs):
    pem = certs[0].read_text()
    assert ping(host=tls.url, bearerToken=TOKEN, tlsClientConfig={"caFile": str(certs[0])}) == OK
    assert ping(host=tls.url, bearerToken=TOKEN, tlsClientConfig={"caData": pem}) == OK
    as_base64 = base64.b64encode(pem.encode()).decode()  # as a kubeconfig carries it
    assert ping(host=tls.url, bearerToken=TOKEN, tlsClientConfig={"caData": as_base64}) == OK


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_tls_untrusted_unless_insecure(tls):
    answer = ping(host=tls.url, bearerToken=TOKEN)
    assert answer["status"] == "error"
    assert answer["message"].startswith(f"Kubernetes API at {tls.url}: TLS: ")
    assert "not trusted" in answer["message"]
    assert ping(host=tls.url, bearerToken=TOKEN, tlsClientConfig={"insecure": True}) == OK


def test_in_cluster_over_tls(tls, certs, tmp_path, monkeypatch):
    """The service account's token and CA, from the standard files (a folder here)."""
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "ca.crt").write_text(certs[0].read_text())
    monkeypatch.setattr(kubeclient, "SERVICE_ACCOUNT_DIR", tmp_path)  # read at each use
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", tls.url.rsplit(":", 1)[1])
    assert ping(inCluster=True, namespace="ci") == OK
