"""The three-node test cluster of tools/rabbit-cluster.sh, from Python (tests, bench.chaos).

Nodes `cyclone-a`, `-b`, `-c` @localhost on 127.0.0.1:5681-5683; vhosts are made and removed
through whichever node runs (a vhost belongs to the whole cluster).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

SCRIPT = Path(__file__).with_name("rabbit-cluster.sh")
LETTERS = ("a", "b", "c")
PORTS = {"a": 5681, "b": 5682, "c": 5683}


class ClusterError(RuntimeError):
    """The cluster could not be started or driven."""


def node(letter: str) -> str:
    return f"cyclone-{letter}@localhost"


def _script(*args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise ClusterError(f"rabbit-cluster.sh {' '.join(args)}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def start() -> None:
    """Start what is not running and cluster it (idempotent; needs root and rabbitmq-server)."""
    if shutil.which("rabbitmqctl") is None:
        raise ClusterError("rabbitmq-server is not installed (.ci/run installs it)")
    _script("start")


def stop() -> None:
    _script("stop")


def stop_node(letter: str) -> None:
    _script("stop-node", letter, timeout=120)


def start_node(letter: str) -> None:
    _script("start-node", letter, timeout=400)


def running() -> list[str]:
    """The letters of the nodes that run now."""
    lines = _script("status", timeout=120).splitlines()
    return [line.split("@")[0].removeprefix("cyclone-") for line in lines if "running" in line]


def uri(vhost: str, first: str = "a") -> str:
    """CYCLONE_AMQP_URI for `vhost`: every node, `first` first (where clients connect)."""
    order = [first, *(x for x in LETTERS if x != first)]
    path = quote(vhost, safe="")
    return ";".join(f"amqp://guest:guest@127.0.0.1:{PORTS[x]}/{path}" for x in order)


def ctl(*args: str) -> str:
    """`rabbitmqctl` against the first node that answers."""
    problems = []
    for letter in LETTERS:
        done = subprocess.run(
            ["rabbitmqctl", "-q", "-n", node(letter), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout
        problems.append(f"{node(letter)}: {(done.stdout + done.stderr).strip()[-300:]}")
    raise ClusterError(f"rabbitmqctl {' '.join(args)} failed on every node: {problems}")


def add_vhost(vhost: str) -> None:
    ctl("add_vhost", vhost)
    ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")


def delete_vhost(vhost: str) -> None:
    ctl("delete_vhost", vhost)


def queues(vhost: str) -> dict[str, str]:
    """{queue name: type} of a vhost."""
    out = ctl("list_queues", "-p", vhost, "name", "type", "--no-table-headers")
    return dict(line.split("\t")[:2] for line in out.splitlines() if "\t" in line)


def transient_queues(vhost: str) -> set[str]:
    """The names of a vhost's non-durable queues (they go with their node, not wait for it)."""
    out = ctl("list_queues", "-p", vhost, "name", "durable", "--no-table-headers")
    return {
        name
        for name, durable in (line.split("\t")[:2] for line in out.splitlines() if "\t" in line)
        if durable == "false"
    }


def connections_by_node(vhost: str) -> dict[str, int]:
    """How many client connections of `vhost` each node (letter) holds now, by the port
    the client connected to."""
    out = ctl("list_connections", "vhost", "port", "--no-table-headers")
    letter_of = {str(port): letter for letter, port in PORTS.items()}
    counts: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0] == vhost:
            letter = letter_of.get(parts[1].strip(), parts[1])
            counts[letter] = counts.get(letter, 0) + 1
    return counts
