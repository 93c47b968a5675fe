"""A TCP proxy a test can cut: its connections closed and new ones refused until it is
opened again, as a network cut or a node going away does to a client; or stall: its
connections kept open but silent, as a peer lost without a word leaves them. The broker's
own `close_connection` closes one connection, but the client reconnects at once; a cut
lasts as long as the test says."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class CutProxy:
    """Forwards 127.0.0.1:`port` to `target` (host, port) from daemon threads."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._silent: list[threading.Event] = []  # one per connection: set, it stops forwarding
        self._stalled: list[socket.socket] = []  # silent, open until the proxy closes
        threading.Thread(target=self._accept, daemon=True, name="cutproxy").start()

    def via(self, uri: str) -> str:
        """`uri` (amqp://user:pass@host:port/vhost) sent through the proxy instead."""
        parts = urlsplit(uri)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def cut(self) -> None:
        """Close every connection through the proxy; refuse new ones until `reopen`."""
        self._open.clear()
        with self._lock:
            cut, self._sockets, self._silent = self._sockets, [], []
        for sock in cut:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def stall(self) -> None:
        """The connections through the proxy go silent both ways, open; new ones work."""
        with self._lock:
            stalled, self._silent = self._silent, []
            self._stalled += self._sockets
            self._sockets = []
        for silent in stalled:
            silent.set()

    def reopen(self) -> None:
        self._open.set()

    def close(self) -> None:
        self.cut()
        for sock in self._stalled:
            sock.close()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            silent = threading.Event()
            with self._lock:
                self._sockets += [client, upstream]
                self._silent.append(silent)
            threading.Thread(target=_pump, args=(client, upstream, silent), daemon=True).start()


def _pump(one: socket.socket, other: socket.socket, silent: threading.Event) -> None:
    """Both directions until either side closes, then both close; nothing once `silent`
    (the sockets stay open until the proxy closes)."""
    peer = {one: other, other: one}
    with selectors.DefaultSelector() as selector:
        for sock in peer:
            selector.register(sock, selectors.EVENT_READ)
        try:
            while not silent.is_set():
                for key, _ in selector.select(timeout=0.1):
                    if silent.is_set():
                        return
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
        except (OSError, ValueError):  # ValueError: a socket `cut` closed meanwhile
            return
        finally:
            if not silent.is_set():
                for sock in peer:
                    sock.close()
