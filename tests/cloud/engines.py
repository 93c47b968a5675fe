"""Stand-ins for a Docker engine's `/version` (plain or TLS), and hosts that never answer.

No Docker daemon runs on the test machines; pinging only needs an engine's `/version`, so a
small HTTP server answering it (as the Docker Engine API does) shows the whole path through
the docker SDK, TLS with client certificates included.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VERSION = {"Version": "27.3.1", "ApiVersion": "1.47", "MinAPIVersion": "1.24", "Os": "linux"}


class _Engine(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0].endswith("/version"):
            self._reply(200, VERSION)
        else:
            self._reply(404, {"message": "page not found"})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _NotAnEngine(_Engine):
    def do_GET(self) -> None:
        self._reply(404, {"message": "page not found"})


@contextmanager
def engine(tls: ssl.SSLContext | None = None, real: bool = True) -> Iterator[str]:
    """A fake engine on 127.0.0.1; yields its `tcp://` host."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Engine if real else _NotAnEngine)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SilentHost:
    """A listening socket nobody accepts on: clients connect (the kernel's backlog) and wait."""

    listener: socket.socket

    @property
    def host(self) -> str:
        return f"tcp://127.0.0.1:{self.listener.getsockname()[1]}"

    def connected(self) -> bool:
        """Whether a client has connected and now waits for an answer (a pending connection
        makes the listening socket readable)."""
        readable, _, _ = select.select([self.listener], [], [], 0)
        return bool(readable)


@contextmanager
def silent_host() -> Iterator[SilentHost]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield SilentHost(listener)
    finally:
        listener.close()


# --- certificates --------------------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer[0].subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_name(path.stem.replace("cert", "key") + ".pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def make_certs(where: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, laid out as the
    Docker CLI's cert folder (`where/client`: ca.pem, cert.pem, key.pem); returns that folder
    and the server's TLS context, which requires a client certificate of the CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test ca", ca_key, None)
    server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    client_dir, server_dir = where / "client", where / "server"
    client_dir.mkdir(parents=True)
    server_dir.mkdir(parents=True)
    (client_dir / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write(client_dir / "cert.pem", _cert("client", client_key, (ca, ca_key)), client_key)
    _write(server_dir / "cert.pem", _cert("engine", server_key, (ca, ca_key), True), server_key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_dir / "cert.pem", server_dir / "key.pem")
    context.load_verify_locations(client_dir / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return client_dir, context
